"""Kill the CLI at any mutating call of apply or destroy; the next run must finish cleanly.

A clean apply and destroy through a pass-through proxy give the sequence
of mutating calls.  For a seeded sample of those calls, a fresh account
runs the same command through the proxy, which SIGKILLs the CLI either
just before the chosen call reaches the sandbox (the call never happens)
or just after the sandbox applied it (its answer never arrives), as
``kill -9`` or a lost machine would.  The same command is then run again
without the proxy: it must exit 0, an apply must leave exactly the clean
apply's resources (no duplicate, none missing), a destroy must leave the
account as it was.  It prints figures and asserts nothing.

Usage: ``.venv/bin/python bench/crash_anywhere.py [--points 50] [--seed 1] [--workers 2]``
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from sandbox_runs import DESTROY_FLAGS, Account, counts, surplus

from vivr_sandbox.faults import FaultPlan, FaultProxy, FaultRates, Phase, ProxiedCall
from vivr_sandbox.server import SandboxServer


@dataclass(frozen=True)
class Point:
    command: str
    call: int  # the n-th mutating call (1-based) of the command
    phase: Phase


@dataclass(frozen=True)
class Outcome:
    point: Point
    killed_at: str
    resumed: int
    differs: dict[str, int]
    error: str


def run_point(server_url: str, point: Point, built: dict[str, int]) -> Outcome:
    account = Account(server_url, 981 if point.command == "apply" else 982)
    empty = counts(account.inventory())
    if point.command == "destroy" and account.cli("apply", "-q").returncode != 0:
        return Outcome(point, "", -1, {}, "the clean apply before the destroy failed")
    pid: list[int] = [0]
    seen = [0]
    lock = threading.Lock()
    where: list[str] = []

    def observe(call: ProxiedCall, phase: Phase) -> bool:
        if not call.mutating or where:
            return False
        with lock:
            if phase == "before":
                seen[0] += 1
            if seen[0] != point.call or phase != point.phase or where:
                return False
            where.append(f"{call.service}.{call.operation}")
        os.kill(pid[0], signal.SIGKILL)
        return phase == "before"

    proxy = FaultProxy(server_url, FaultPlan(FaultRates()), observe=observe).start()
    args = ("apply",) if point.command == "apply" else ("destroy", *DESTROY_FLAGS)
    try:
        process = account.popen(*args, "-q", endpoint=proxy.url)
        pid[0] = process.pid
        process.communicate(timeout=1800)
    finally:
        proxy.stop()
    resumed = account.cli(*args, "-q")
    differs = surplus(counts(account.inventory()), built if point.command == "apply" else empty)
    error = resumed.stderr.strip().splitlines()[-1] if resumed.returncode else ""
    return Outcome(point, where[0] if where else "(not reached)", resumed.returncode,
                   differs, error)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=50, help="kill points per command")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()

    server = SandboxServer("127.0.0.1", 0).start()
    try:
        reference = Account(server.url, 980)
        empty = counts(reference.inventory())
        if reference.cli("apply", "-q").returncode != 0:
            raise SystemExit("a clean apply failed: the bench needs a working tree")
        built = counts(reference.inventory())
        applied = len(reference.mutating_calls())
        if reference.cli("destroy", *DESTROY_FLAGS, "-q").returncode != 0:
            raise SystemExit("a clean destroy failed")
        destroyed = len(reference.mutating_calls()) - applied
        if surplus(counts(reference.inventory()), empty):
            raise SystemExit("a clean destroy left resources behind")
        chooser = random.Random(args.seed)
        points = [Point(command, call, chooser.choice(("before", "after")))
                  for command, total in (("apply", applied), ("destroy", destroyed))
                  for call in sorted(chooser.sample(range(1, total + 1),
                                                    min(args.points, total)))]
        print(f"clean apply: {applied} mutating calls, destroy: {destroyed}; "
              f"{len(points)} kill points, seed {args.seed}")
        started = time.monotonic()
        with ThreadPoolExecutor(args.workers) as pool:
            outcomes = list(pool.map(lambda p: run_point(server.url, p, built), points))
        for command in ("apply", "destroy"):
            mine = [o for o in outcomes if o.point.command == command]
            bad = [o for o in mine if o.resumed != 0 or o.differs]
            print(f"{command}: {len(mine)} kill points, {len(mine) - len(bad)} resumed to a "
                  f"clean result, {len(bad)} did not")
            for outcome in bad:
                print(f"  call {outcome.point.call} {outcome.point.phase} "
                      f"{outcome.killed_at}: exit {outcome.resumed} {outcome.error[:160]} "
                      f"{outcome.differs or ''}")
        print(f"wall time {time.monotonic() - started:.0f}s")
    finally:
        server.stop()


if __name__ == "__main__":
    main()
