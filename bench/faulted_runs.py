"""Full production apply, then destroy, on a network that throttles, fails and loses answers.

Per seed: a fresh sandbox account; ``apply`` through the fault proxy
(:mod:`vivr_sandbox.faults`: by default 10 % throttling in each protocol's
real error shape, 2 % 5xx, 1 % requests dropped before the server, 1 %
answers lost after the server applied the call); the account's inventory
against a clean apply's (duplicates or missing resources); a second apply
without faults (its mutating calls: 0 means the faulted run converged);
``destroy`` through the proxy; what is left against the empty account.
It prints figures and asserts nothing.

Usage: ``.venv/bin/python bench/faulted_runs.py [--seeds 1 2 3] [--rates throttle=0.1,...]``
"""

from __future__ import annotations

import argparse
import time
from collections import Counter

from sandbox_runs import DESTROY_FLAGS, Account, counts, surplus

from vivr_sandbox.faults import FaultPlan, FaultProxy, FaultRates
from vivr_sandbox.server import SandboxServer

DEFAULT_RATES = "throttle=0.1,error=0.02,drop=0.01,lose=0.01"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3, 4, 5])
    parser.add_argument("--rates", default=DEFAULT_RATES)
    args = parser.parse_args()
    rates = FaultRates.parse(args.rates)

    server = SandboxServer("127.0.0.1", 0).start()
    try:
        reference = Account(server.url, 971)
        empty = counts(reference.inventory())
        code, _ = reference.report("apply")
        if code != 0:
            raise SystemExit("a clean apply failed: the bench needs a working tree")
        built = counts(reference.inventory())
        print(f"faults per request: {args.rates}; clean apply builds "
              f"{sum(built.values()) - sum(empty.values())} resources")
        print(f"{'seed':>4} {'apply':>6} {'s':>5} {'faults':>24} {'dupl.':>5} {'no-op':>5} "
              f"{'destroy':>7} {'s':>5} {'left':>4}  retries")
        totals: Counter[str] = Counter()
        for seed in args.seeds:
            account = Account(server.url, 972)
            before = counts(account.inventory())
            proxy = FaultProxy(server.url, FaultPlan(rates, seed)).start()
            started = time.monotonic()
            apply_code, applied = account.report("apply", endpoint=proxy.url)
            apply_s = time.monotonic() - started
            duplicates = {k: n for k, n in surplus(counts(account.inventory()), built).items()}
            mark = len(account.mutating_calls())
            account.report("apply")
            noop = len(account.mutating_calls()) - mark
            proxy.stop()
            proxy = FaultProxy(server.url, FaultPlan(rates, seed + 1000)).start()
            started = time.monotonic()
            destroy_code, destroyed = account.report("destroy", *DESTROY_FLAGS,
                                                     endpoint=proxy.url)
            destroy_s = time.monotonic() - started
            left = surplus(counts(account.inventory()), before)
            faults = Counter(c.fault for c in proxy.calls if c.fault)
            proxy.stop()
            retries = Counter(applied.get("retries", {})) + Counter(
                destroyed.get("retries", {}))
            totals.update(retries)
            fault_text = ",".join(f"{k}{n}" for k, n in sorted(faults.items()))
            print(f"{seed:>4} {apply_code:>6} {apply_s:>5.0f} {fault_text:>24} "
                  f"{sum(duplicates.values()):>5} {noop:>5} {destroy_code:>7} "
                  f"{destroy_s:>5.0f} {sum(left.values()):>4}  "
                  + ", ".join(f"{s} {n}" for s, n in sorted(retries.items())))
            for what, found in (("apply", applied), ("destroy", destroyed)):
                for step in found.get("steps", []):
                    if step.get("error"):
                        print(f"      {what} {step['step']}: {step['error'][:150]}")
            if duplicates or left:
                print(f"      differs from a clean run: {duplicates or ''} left: {left or ''}")
        print("retries per service, all seeds: "
              + ", ".join(f"{s} {n}" for s, n in totals.most_common()))
    finally:
        server.stop()


if __name__ == "__main__":
    main()
