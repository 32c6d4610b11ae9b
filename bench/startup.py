"""How long the commands that make no AWS call take, and whether they import the AWS SDK.

Issue 10 asks that ``--help``, ``status``, ``graph``, ``cost``, ``check``
(and ``output``, ``show`` once they exist) answer in 0.3 s or less and never
import boto3 or botocore: an operator runs them many times a day, and CI in
loops.  This script runs each command ``--runs`` times in a fresh
interpreter, as the console script does, against the real
``config/production.yaml`` and a state file with a ready record for every
step (written here, as a completed apply leaves it).  Per command it prints
the median and fastest wall time and the median CPU time (user + system:
what the command costs, less disturbed by the other processes of a shared
machine), after one uncounted warm-up run that writes the bytecode and fills
the file cache; then it runs the command once more under a probe that
reports whether boto3, botocore or structlog were imported.  ``check-cold``
is ``check`` with an empty cache every run: the first check of a config,
which imports parliament.

It asserts nothing: it prints figures (``tests/unit/test_cli_imports.py``
holds the import line; a timed test would only be flaky on a shared
machine).  A command this version does not have prints ``not available``.

Usage: ``.venv/bin/python bench/startup.py [--runs 11] [--command status ...]``
"""

from __future__ import annotations

import argparse
import contextlib
import fnmatch
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import NamedTuple

REPO = Path(__file__).resolve().parent.parent
CONFIG = REPO / "config" / "production.yaml"
TARGET_S = 0.3
#: Modules whose presence the probe reports: the AWS SDK (never needed without
#: an AWS call) and structlog (only needed by a command that logs).
WATCHED = ("boto3", "botocore", "structlog")
#: Command name -> arguments after ``vivr-provision``; ``{state}``, ``{config}`` and
#: ``{plan}`` (a saved plan of every step, nothing to change) are filled in.
COMMANDS: dict[str, list[str]] = {
    "--help": ["--help"],
    "status": ["status", "--config", "{config}", "--state", "{state}"],
    "graph": ["graph", "--config", "{config}", "--state", "{state}"],
    "cost": ["cost", "--config", "{config}", "--state", "{state}"],
    "check": ["check", "--config", "{config}", "--state", "{state}"],
    "check-cold": ["check", "--config", "{config}", "--state", "{state}"],
    "output": ["output", "--config", "{config}", "--state", "{state}"],
    "state-list": ["state", "list", "--config", "{config}", "--state", "{state}"],
    "show": ["show", "{plan}"],
}
#: Commands run with an empty cache directory every time: ``check`` as it runs the first
#: time for a config, when parliament is imported (``vivr_provision/check/findings_cache.py``).
COLD = {"check-cold"}
#: Runs the CLI like the console script, then prints which watched modules it loaded.
PROBE = f"""
import atexit, json, sys
atexit.register(lambda: print("LOADED=" + json.dumps(sorted(
    {{m.split(".")[0] for m in sys.modules}} & set({list(WATCHED)!r})))))
sys.argv = ["vivr-provision", *sys.argv[1:]]
from vivr_provision.cli import main
main()
"""


def _environment(cache: Path) -> dict[str, str]:
    """No AWS or VIVR settings but a cache directory of the bench's own; bytecode
    written and reused, as an installed package has it.

    With ``PYTHONDONTWRITEBYTECODE`` every run would compile the ~100 modules
    from source again (~0.2 s), which no installed copy does.
    """
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("AWS_", "VIVR_")) and k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPATH"] = str(REPO)
    env["VIVR_CACHE_DIR"] = str(cache)
    return env


def _write_state(path: Path) -> int:
    """A state as a completed apply leaves it: every step ready, with an id and the
    outputs ``output`` reads (dummy values)."""
    sys.path.insert(0, str(REPO))
    from vivr_provision.config import load_config
    from vivr_provision.outputs import OUTPUTS
    from vivr_provision.state import State, StepRecord, utc_now
    from vivr_provision.state.codec import encode
    from vivr_provision.steps import build_steps

    now = utc_now()
    steps = build_steps(load_config(CONFIG, "production"))
    state = State(project="vivr", environment="production", account_id="123456789012",
                  region="us-east-1", serial=len(steps), created_at=now, updated_at=now)
    for index, step in enumerate(steps):
        arn = f"arn:aws:{step.service}:us-east-1:123456789012:{step.name}-{index:04d}"
        keys = {key for spec in OUTPUTS if fnmatch.fnmatch(step.name, spec.step)
                for key in re.findall(r"\{(\w+)\}", spec.key) or [spec.key]}
        state.steps[step.name] = StepRecord(
            status="ready", resource_id=arn, origin="created", updated_at=now,
            token=f"vivr-production-{step.name}-0",
            outputs={"arn": arn, **{key: f"{step.name}-{key}" for key in sorted(keys)}})
    path.write_bytes(encode(state))
    return len(steps)


def _write_plan(path: Path) -> None:
    """A plan as ``plan --out`` saves it: every step, none to change."""
    from vivr_provision.config import load_config
    from vivr_provision.plan import Plan, PlannedStep
    from vivr_provision.state import utc_now
    from vivr_provision.steps import build_steps

    steps = build_steps(load_config(CONFIG, "production"))
    Plan(kind="apply", project="vivr", environment="production", region="us-east-1",
         account_id="123456789012", created_at=utc_now(), state_serial=len(steps),
         state_lineage="vivr/production", config_digest="0" * 64,
         steps=[PlannedStep(step=s.name, action="no-op") for s in steps]).save(path)


class Run(NamedTuple):
    wall_s: float
    cpu_s: float
    """User + system time of the child: what the command costs, less the machine's load."""
    code: int
    output: str


def _run(argv: list[str], env: dict[str, str], cwd: Path) -> Run:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    result = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True,
                            check=False)
    elapsed = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return Run(elapsed, cpu, result.returncode, result.stdout + result.stderr)


def _cold(env: dict[str, str], cwd: Path) -> dict[str, str]:
    return {**env, "VIVR_CACHE_DIR": tempfile.mkdtemp(dir=cwd, prefix="cold-cache-")}


def _loaded(args: list[str], env: dict[str, str], cwd: Path) -> str:
    output = _run([sys.executable, "-c", PROBE, *args], env, cwd).output
    lines = [x for x in output.splitlines() if x.startswith("LOADED=")]
    names = json.loads(lines[0].removeprefix("LOADED=")) if lines else ["?"]
    return ", ".join(names) or "-"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=11, help="runs per command (median)")
    parser.add_argument("--command", dest="commands", nargs="+", choices=list(COMMANDS),
                        default=list(COMMANDS))
    args = parser.parse_args()

    with TemporaryDirectory() as tmp:
        cwd = Path(tmp)
        env = _environment(cwd / "cache")
        state = cwd / "production.json"
        records = _write_state(state)
        plan = cwd / "plan.json"
        with contextlib.suppress(ImportError):  # a version without saved plans
            _write_plan(plan)
        bare = statistics.median(
            _run([sys.executable, "-c", "pass"], env, cwd).wall_s for _ in range(args.runs))
        print(f"python {sys.version.split()[0]}, {os.cpu_count()} cores, load average "
              f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}; {args.runs} runs per command; "
              f"state with {records} ready steps; bare interpreter {bare:.3f} s")
        print(f"{'command':<10} {'median s':>8} {'min s':>6} {'cpu s':>6}  "
              f"{'<= ' + str(TARGET_S):<7} imported")
        for name in args.commands:
            argv = [a.format(state=state, config=CONFIG, plan=plan) for a in COMMANDS[name]]
            command = [sys.executable, "-m", "vivr_provision", *argv]
            _run(command, env, cwd)  # warm-up: bytecode and file cache, not counted
            runs = [_run(command, _cold(env, cwd) if name in COLD else env, cwd)
                    for _ in range(args.runs)]
            if runs[0].code != 0:
                output = runs[0].output
                reason = ("not available" if "No such command" in output
                          else f"exit {runs[0].code}: {output.strip().splitlines()[-1][:60]}")
                print(f"{name:<10} {reason}")
                continue
            median = statistics.median(r.wall_s for r in runs)
            cpu = statistics.median(r.cpu_s for r in runs)
            verdict = "yes" if median <= TARGET_S else "NO"
            print(f"{name:<10} {median:>8.3f} {min(r.wall_s for r in runs):>6.3f} {cpu:>6.3f}  "
                  f"{verdict:<7} {_loaded(argv, env, cwd)}")


if __name__ == "__main__":
    main()
