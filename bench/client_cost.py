"""What the tool itself costs on a run, with AWS out of the way (issue 13, item 4).

Starts an in-process sandbox (no timing profile: every resource is ready at
once, so the run is bounded by the client), then drives the real CLI in a
child process for: a whole production apply, a no-op re-apply, a destroy,
and a network-only apply (``--target 'rtb.*'`` pulls the
VPC, subnets, gateways and route tables) and its destroy.  For each it
prints wall time, client CPU (user + system of the child), peak RSS, state
file writes and journal appends with their bytes (counted by a shim that
wraps the local state store's two writers in the child), and the AWS calls
the sandbox journalled: in total, per step, mutating, and the ten most
frequent.  It asserts nothing.

The package is compiled to bytecode first (``compileall``, as ``pip install``
leaves an installed tool): a checkout run with ``PYTHONDONTWRITEBYTECODE=1``
(this machine sets it) would otherwise compile every module it edited on
each run, 0.15-0.2 s of the child's CPU that no installed copy pays.

Usage: ``.venv/bin/python bench/client_cost.py [--runs 3]`` (medians over runs;
JSON into ``bench/results/client_cost-<UTC>.json``).
"""

from __future__ import annotations

import argparse
import collections
import compileall
import json
import os
import statistics
import subprocess
import sys
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
CONFIG = REPO / "config" / "production.yaml"

#: Runs in the child: count the store's saves and the bytes they wrote, then run the CLI.
SHIM = """
import atexit, json, os, resource, sys
from vivr_provision.state.store import LocalStateStore
counts = {"saves": 0, "bytes": 0, "appends": 0, "append_bytes": 0}
real_snapshot, real_append = LocalStateStore._write_snapshot, LocalStateStore._append
def write_snapshot(self, payload, *args):
    real_snapshot(self, payload, *args)
    counts["saves"] += 1
    counts["bytes"] += len(payload)
def append(self, line):
    real_append(self, line)
    counts["appends"] += 1
    counts["append_bytes"] += len(line)
LocalStateStore._write_snapshot, LocalStateStore._append = write_snapshot, append
def _write():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    # VmHWM, not ru_maxrss: Linux carries ru_maxrss over exec, so a child forked
    # from this bench (a sandbox of several hundred MB) would report the bench's.
    hwm = next(int(line.split()[1]) for line in open("/proc/self/status")
               if line.startswith("VmHWM:"))
    counts.update(cpu_s=usage.ru_utime + usage.ru_stime, rss_kb=hwm)
    open(os.environ["VIVR_BENCH_COUNTS"], "w").write(json.dumps(counts))
atexit.register(_write)
from vivr_provision.cli import main
sys.argv = ["vivr-provision", *sys.argv[1:]]
main()
"""


def journal(url: str, account: str) -> list[dict[str, Any]]:
    with urllib.request.urlopen(f"{url}/__vivr__/calls?account={account}") as reply:
        return list(json.load(reply))


#: A fixed pure-Python loop, timed in a child just before each phase: this machine's
#: speed drifts (the same loop took 0.37 to 0.76 s of CPU within minutes, host
#: contention), so a CPU figure is read beside the loop's time at that moment.
REFERENCE = """
import resource
s = 0
for i in range(6_000_000):
    s += i * i
usage = resource.getrusage(resource.RUSAGE_SELF)
print(usage.ru_utime + usage.ru_stime)
"""


def reference_cpu() -> float:
    """CPU seconds the :data:`REFERENCE` loop (and its interpreter's start) took now."""
    done = subprocess.run([sys.executable, "-S", "-c", REFERENCE], capture_output=True,
                          text=True, check=True)
    return round(float(done.stdout), 2)


def run(url: str, account: str, workdir: Path, *args: str) -> dict[str, Any]:
    """One CLI command in a child process; what it cost and what it called."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "VIVR_"))}
    counts_path = workdir / "counts.json"
    env.update(AWS_ACCESS_KEY_ID=f"sandbox{account}", AWS_SECRET_ACCESS_KEY="sandbox",
               AWS_ENDPOINT_URL=url, AWS_CONFIG_FILE=str(workdir / "none"),
               AWS_SHARED_CREDENTIALS_FILE=str(workdir / "none"), PYTHONPATH=str(REPO),
               VIVR_BENCH_COUNTS=str(counts_path))
    before = len(journal(url, account))
    reference = reference_cpu()
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-c", SHIM, *args, "--config", str(CONFIG),
         "--state", str(workdir / "state.json"), "--output", "json"],
        env=env, capture_output=True, text=True, check=False)
    wall = time.monotonic() - started
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed ({result.returncode}): "
                         f"{result.stderr.strip()[-400:]}")
    report = json.loads(result.stdout)
    steps = len(report.get("steps", []))
    calls = journal(url, account)[before:]
    counts = json.loads(counts_path.read_text())
    return {
        "wall_s": round(wall, 2),
        # Measured by the child itself at exit (user + system CPU, its own peak RSS).
        "cpu_s": round(counts["cpu_s"], 2),
        "reference_cpu_s": reference,
        "peak_rss_mb": round(counts["rss_kb"] / 1024),
        "steps": steps,
        "state_saves": counts["saves"],
        "state_bytes": counts["bytes"],
        "journal_appends": counts["appends"],
        "journal_bytes": counts["append_bytes"],
        "calls": len(calls),
        "calls_per_step": round(len(calls) / steps, 2) if steps else None,
        "mutating_calls": sum(1 for c in calls if c["mutating"]),
        "top_calls": collections.Counter(
            f"{c['service']}.{c['operation']}" for c in calls).most_common(10),
    }


def one_round(url: str, number: int) -> dict[str, dict[str, Any]]:
    account = f"{900000000000 + number:012d}"
    network = f"{910000000000 + number:012d}"
    destroy = ("destroy", "--yes", "--skip-final-snapshot", "--disable-deletion-protection")
    with TemporaryDirectory() as one, TemporaryDirectory() as two:
        results = {
            "network_apply": run(url, network, Path(two), "apply", "--yes", "--target",
                                 "rtb.*"),
            "network_destroy": run(url, network, Path(two), *destroy),
            "apply": run(url, account, Path(one), "apply", "--yes"),
            "noop_apply": run(url, account, Path(one), "apply", "--yes"),
            "destroy": run(url, account, Path(one), *destroy),
        }
    return results


def median(rounds: list[dict[str, dict[str, Any]]]) -> dict[str, dict[str, Any]]:
    summary: dict[str, dict[str, Any]] = {}
    for phase in rounds[0]:
        runs = [r[phase] for r in rounds]
        summary[phase] = {key: (statistics.median(r[key] for r in runs)
                                if isinstance(runs[0][key], (int, float)) else runs[-1][key])
                          for key in runs[0]}
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    compileall.compile_dir(REPO / "vivr_provision", quiet=1)  # see the module docstring
    from vivr_sandbox.server import SandboxServer

    server = SandboxServer()
    server.start()
    try:
        rounds = [one_round(server.url, n) for n in range(1, args.runs + 1)]
    finally:
        server.stop()
    summary = median(rounds)
    print(f"client cost, median of {args.runs} (sandbox, no timing profile, "
          f"{os.cpu_count()} cores)")
    print(f"{'phase':<16}{'wall s':>8}{'cpu s':>7}{'ref s':>6}{'rss MB':>8}{'saves':>7}"
          f"{'KB saved':>10}"
          f"{'appends':>8}{'KB appended':>12}{'calls':>7}{'/step':>7}{'mut':>5}")
    for phase, r in summary.items():
        print(f"{phase:<16}{r['wall_s']:>8}{r['cpu_s']:>7}{r['reference_cpu_s']:>6}"
              f"{r['peak_rss_mb']:>8}"
              f"{r['state_saves']:>7}{r['state_bytes'] // 1024:>10}"
              f"{r['journal_appends']:>8}{r['journal_bytes'] // 1024:>12}{r['calls']:>7}"
              f"{r['calls_per_step'] or 0:>7}{r['mutating_calls']:>5}")
    print("no-op apply, most frequent calls:",
          ", ".join(f"{name} {n}" for name, n in summary["noop_apply"]["top_calls"]))
    out = REPO / "bench" / "results" / f"client_cost-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"
    out.write_text(json.dumps({"runs": args.runs, "cpus": os.cpu_count(),
                               "median": summary, "rounds": rounds}, indent=2) + "\n")
    print(f"written: {out.relative_to(REPO)}")


if __name__ == "__main__":
    main()
