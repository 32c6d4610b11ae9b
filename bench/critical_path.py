"""How close a production apply and destroy come to AWS's critical path.

A run can be no faster than the longest chain of AWS operations in its step
graph (Multi-AZ primary, then the cross-region replica).  This bench starts
an in-process sandbox under a timing profile (``profiles/aws.yaml`` at
``--scale``, so every slow resource takes AWS's time x scale), runs the real
CLI (``apply``, then ``destroy``) in a subprocess at each ``--parallelism``,
and prints, per run: wall time; the critical-path lower bound (the step
graph's ``depends_on`` weighted by the profile's figure for each step's
kind: ``Step.aws_kind()``, the ``timing_kind`` each waiting step declares);
their ratio; waiter polls per step (the CLI's ``-vv`` ``aws.poll`` lines,
matched to steps by the resource ids state recorded); API calls per service
and action (the sandbox's journal); the client's CPU seconds and peak RSS
(``wait4`` of the CLI process).  The bound counts AWS's durations only, so
the ratio also holds the client's own work (its API calls and CPU).

The CLI gets ``VIVR_TIME_SCALE=<scale>`` so its waits run on the sandbox's
clock (vivr_provision/wait_schedule.py).  ``--product DIR`` runs the CLI from
another checkout (a before/after comparison on the same sandbox and graph).
It asserts nothing and is never run by ``make test``; figures go to stdout
and to ``bench/results/critical_path-<UTC>.json``.

Usage: ``.venv/bin/python bench/critical_path.py [--scale 0.002] [--parallelism 1 10]``
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "results"
CONFIG = REPO / "config" / "production.yaml"
#: What apply and destroy take of each kind's profile figures.
OPERATION = {"apply": "create", "destroy": "delete"}


@dataclass
class Run:
    """One command's figures."""

    command: str
    parallelism: int
    exit_code: int
    wall_s: float
    bound_s: float
    cpu_s: float
    peak_rss_mb: float
    calls: int
    calls_by_action: dict[str, int]
    polls_by_step: dict[str, int]
    ratio: float = field(init=False)

    def __post_init__(self) -> None:
        self.ratio = self.wall_s / self.bound_s if self.bound_s else float("nan")


def critical_path(scale: float, profile_path: Path) -> dict[str, tuple[float, list[str]]]:
    """Per command, the longest chain of AWS durations through the graph and its steps."""
    from vivr_provision.config import load_config
    from vivr_provision.engine import StepGraph
    from vivr_provision.steps import build_steps
    from vivr_sandbox.timing import load_profile

    profile = load_profile(profile_path)
    graph = StepGraph(build_steps(load_config(CONFIG, "production")))
    bounds: dict[str, tuple[float, list[str]]] = {}
    for command, operation in OPERATION.items():
        # apply: a step starts after its dependencies; destroy: after its dependents.
        before = graph.deps if command == "apply" else graph.dependents
        order = graph.order if command == "apply" else list(reversed(graph.order))
        done: dict[str, tuple[float, list[str]]] = {}
        for name in order:
            kind = graph.steps[name].aws_kind()
            own = (profile.seconds(kind, operation) or 0.0) * scale if kind else 0.0  # type: ignore[arg-type]
            start, path = max((done[d] for d in before[name]), default=(0.0, []),
                              key=lambda item: item[0])
            done[name] = (start + own, [*path, name] if own else path)
        bounds[command] = max(done.values(), key=lambda item: item[0])
    return bounds


def _journal(url: str, account: str) -> list[dict[str, Any]]:
    with urllib.request.urlopen(f"{url}/__vivr__/calls?account={account}") as reply:
        calls: list[dict[str, Any]] = json.load(reply)
    return calls


def _steps_by_id(state_file: Path) -> dict[str, str]:
    """Resource id -> step name, from the state an apply left."""
    if not state_file.exists():
        return {}
    steps = json.loads(state_file.read_text()).get("steps", {})
    return {str(rec["resource_id"]): name for name, rec in steps.items()
            if rec.get("resource_id")}


def _polls(log_file: Path, ids: dict[str, str]) -> dict[str, int]:
    """``aws.poll`` lines per step (by the resource id in the subject), else per waiter."""
    counts: Counter[str] = Counter()
    for line in log_file.read_text().splitlines():
        if '"aws.poll"' not in line:
            continue
        try:
            event = json.loads(line)
        except ValueError:
            continue
        subject = str(event.get("subject", ""))
        values = {v.strip("[]'\" ") for part in subject.split() for v in part.split("=")[1:]}
        # The step whose id holds most of the values: an ECS service's ARN names its
        # cluster and itself, the cluster's only the cluster.
        score, step = max(((sum(v in rid.split("/") or v == rid for v in values if v), name)
                           for rid, name in ids.items()), default=(0, None))
        step = step if score else None
        counts[step or f"{event.get('what')} {subject}".strip()] += 1
    return dict(sorted(counts.items(), key=lambda item: -item[1]))


def _run(args: list[str], env: dict[str, str], log_file: Path,
         cwd: Path) -> tuple[int, float, float, float]:
    """(exit code, wall s, CPU s, peak RSS MB) of one CLI process."""
    with log_file.open("w") as log:
        started = time.monotonic()
        # cwd: ``python -m`` puts it first on sys.path, before PYTHONPATH.
        process = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=log,
                                   cwd=cwd)
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.monotonic() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    return (process.returncode, wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024)


def run_pair(url: str, account: str, parallelism: int, *, product: Path, scale: float,
             bounds: dict[str, tuple[float, list[str]]], work: Path) -> list[Run]:
    """apply then destroy of the production config in a fresh sandbox account."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "VIVR_"))}
    env.update(AWS_ACCESS_KEY_ID=f"sandbox{account}", AWS_SECRET_ACCESS_KEY="sandbox",
               AWS_ENDPOINT_URL=url, VIVR_TIME_SCALE=f"{scale:g}", PYTHONPATH=str(product))
    state = work / f"state-{account}.json"
    common = ["--state", str(state), "--config", str(CONFIG), "-vv", "--log-format", "json",
              "--parallelism", str(parallelism)]
    commands = {"apply": ["apply", "--yes", *common],
                "destroy": ["destroy", "--yes", "--disable-deletion-protection",
                            "--skip-final-snapshot", *common]}
    runs: list[Run] = []
    ids: dict[str, str] = {}
    seen = 0
    for command, argv in commands.items():
        log_file = work / f"{command}-{account}.log"
        code, wall, cpu, rss = _run([sys.executable, "-m", "vivr_provision", *argv], env,
                                    log_file, product)
        if command == "apply":
            ids = _steps_by_id(state)
        calls = _journal(url, account)[seen:]
        seen += len(calls)
        by_action = Counter(f"{c['service']}:{c['operation']}" for c in calls)
        runs.append(Run(command, parallelism, code, round(wall, 2), round(bounds[command][0], 3),
                        round(cpu, 2), round(rss, 1), len(calls),
                        dict(by_action.most_common()), _polls(log_file, ids)))
        if code != 0:
            print(f"  {command} exited {code}; last log lines:\n"
                  + "\n".join(log_file.read_text().splitlines()[-5:]), file=sys.stderr)
    return runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", type=Path, default=REPO / "profiles" / "aws.yaml")
    parser.add_argument("--scale", type=float, default=0.002,
                        help="the sandbox's --time-scale (and the CLI's VIVR_TIME_SCALE)")
    parser.add_argument("--parallelism", type=int, nargs="+", default=[1, 10])
    parser.add_argument("--product", type=Path, default=REPO,
                        help="checkout whose vivr_provision the CLI runs (default: this one)")
    parser.add_argument("--label", default="", help="stored with the results (e.g. before)")
    args = parser.parse_args()

    sys.path.insert(0, str(REPO))
    from vivr_sandbox.server import SandboxServer
    from vivr_sandbox.timing import Timing, load_profile

    bounds = critical_path(args.scale, args.profile)
    server = SandboxServer("127.0.0.1", 0, Timing(load_profile(args.profile), args.scale))
    server.start()
    started = datetime.now(UTC)
    machine = {"cpus": os.cpu_count(), "platform": platform.platform(),
               "python": platform.python_version(), "loadavg_start": os.getloadavg()}
    print(f"profile {args.profile.name} x {args.scale:g}; critical path: apply "
          f"{bounds['apply'][0]:.2f} s ({' -> '.join(bounds['apply'][1])}), destroy "
          f"{bounds['destroy'][0]:.2f} s ({' -> '.join(bounds['destroy'][1])})")
    print(f"{'command':>8} {'par':>4} {'wall s':>7} {'bound s':>7} {'ratio':>6} "
          f"{'cpu s':>6} {'rss MB':>6} {'calls':>6} {'polls':>6}")
    runs: list[Run] = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for index, parallelism in enumerate(args.parallelism):
                account = f"{int(time.time()) % 10**6:06d}{index:06d}"
                for run in run_pair(server.url, account, parallelism,
                                    product=args.product.resolve(), scale=args.scale,
                                    bounds=bounds, work=Path(tmp)):
                    runs.append(run)
                    print(f"{run.command:>8} {run.parallelism:>4} {run.wall_s:>7.2f} "
                          f"{run.bound_s:>7.2f} {run.ratio:>6.2f} {run.cpu_s:>6.2f} "
                          f"{run.peak_rss_mb:>6.1f} {run.calls:>6} "
                          f"{sum(run.polls_by_step.values()):>6}", flush=True)
    finally:
        server.stop()
    for run in runs:
        top = ", ".join(f"{step} {n}" for step, n in list(run.polls_by_step.items())[:6])
        print(f"{run.command} p{run.parallelism} polls: {top}")
    machine["loadavg_end"] = os.getloadavg()
    stamp = started.strftime("%Y%m%dT%H%M%SZ")
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"critical_path-{stamp}.json"
    out.write_text(json.dumps({
        "label": args.label, "started": started.isoformat(), "machine": machine,
        "profile": str(args.profile.relative_to(REPO) if args.profile.is_relative_to(REPO)
                       else args.profile),
        "scale": args.scale, "product": str(args.product),
        "critical_path": {cmd: {"seconds": round(b[0], 3), "steps": b[1]}
                          for cmd, b in bounds.items()},
        "runs": [asdict(run) for run in runs]}, indent=2) + "\n")
    print(f"results: {out.relative_to(REPO)}")


if __name__ == "__main__":
    main()
