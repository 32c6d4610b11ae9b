"""How long a full apply/destroy takes when every AWS call is slow, by parallelism.

Real AWS answers a mutating EC2 call in 100-300 ms; moto answers in ~5 ms,
which hides whether the engine overlaps independent steps.  This script
starts an in-process sandbox, adds a fixed latency to every request with a
botocore ``before-send`` hook, and runs the real CLI entry points
(``apply`` then ``destroy``) at several ``--parallelism`` values, printing
wall time and request counts.  It asserts nothing: it prints figures.

Usage: ``.venv/bin/python bench/apply_latency.py [--latency 0.1] [--parallelism 1 4 10]``
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from tempfile import TemporaryDirectory

REPO = Path(__file__).resolve().parent.parent
FAULTS = REPO / "tests" / "faults"


def _run(command: list[str], env: dict[str, str]) -> float:
    started = time.monotonic()
    result = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(command[3:5])} failed:\n{result.stderr[-2000:]}")
    return time.monotonic() - started


def _calls(url: str, account: str) -> int:
    with urllib.request.urlopen(f"{url}/__vivr__/calls?account={account}") as reply:
        return len(json.load(reply))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency", type=float, default=0.1, help="seconds added per request")
    parser.add_argument("--parallelism", type=int, nargs="+", default=[1, 4, 10])
    args = parser.parse_args()

    sys.path.insert(0, str(REPO))
    from vivr_sandbox.server import SandboxServer

    server = SandboxServer("127.0.0.1", 0).start()
    print(f"latency {args.latency * 1000:.0f} ms per request, sandbox {server.url}")
    print(f"{'parallelism':>11} {'apply s':>8} {'destroy s':>9} {'requests':>8}")
    try:
        for index, parallelism in enumerate(args.parallelism):
            account = f"{900000000000 + index:012d}"
            with TemporaryDirectory() as tmp:
                env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
                env.update(
                    AWS_ACCESS_KEY_ID=f"sandbox{account}", AWS_SECRET_ACCESS_KEY="sandbox",
                    AWS_ENDPOINT_URL=server.url, VIVR_FAULT_DELAY_S=str(args.latency),
                    PYTHONPATH=os.pathsep.join([str(FAULTS), str(REPO)]),
                )
                base = [sys.executable, "-m", "vivr_provision"]
                common = ["--state", f"{tmp}/state.json", "--config",
                          str(REPO / "config" / "production.yaml"), "-q"]
                apply_s = _run([*base, "apply", *common, "--parallelism", str(parallelism)], env)
                destroy_s = _run([*base, "destroy", "--yes", "--disable-deletion-protection",
                                  "--skip-final-snapshot", *common,
                                  "--parallelism", str(parallelism)], env)
            print(f"{parallelism:>11} {apply_s:>8.1f} {destroy_s:>9.1f} "
                  f"{_calls(server.url, account):>8}")
    finally:
        server.stop()


if __name__ == "__main__":
    main()
