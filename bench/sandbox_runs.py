"""What the fault benches share: an in-process sandbox, one account per run, the real CLI.

Each run gets its own sandbox account (an access key ending in 12 digits),
drives ``python -m vivr_provision`` as a user would, through an endpoint
that is either the sandbox itself or a :class:`~vivr_sandbox.faults.FaultProxy`
in front of it, and reads the account back with the e2e suite's inventory.
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from tempfile import mkdtemp
from typing import Any

import boto3

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.e2e.inventory import account_inventory  # noqa: E402

CONFIG = REPO / "config" / "production.yaml"
DESTROY_FLAGS = ("--yes", "--skip-final-snapshot", "--disable-deletion-protection")
_numbers = itertools.count(1)


@dataclass
class Account:
    """One sandbox account and a state file of its own."""

    sandbox_url: str
    prefix: int
    number: int = field(default_factory=lambda: next(_numbers))

    def __post_init__(self) -> None:
        self.id = f"{self.prefix:03d}{os.getpid() % 10000:04d}{self.number:05d}"
        self.workdir = Path(mkdtemp(prefix=f"vivr-bench-{self.id}-"))
        self._clients: dict[tuple[str, str], Any] = {}

    def env(self, endpoint: str | None = None) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "VIVR_"))}
        env.update(AWS_ACCESS_KEY_ID=f"sandbox{self.id}", AWS_SECRET_ACCESS_KEY="sandbox",
                   AWS_ENDPOINT_URL=endpoint or self.sandbox_url,
                   AWS_CONFIG_FILE=str(self.workdir / "none"),
                   AWS_SHARED_CREDENTIALS_FILE=str(self.workdir / "none"),
                   PYTHONPATH=str(REPO))
        return env

    def command(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "vivr_provision", *args, "--config", str(CONFIG),
                "--state", str(self.workdir / "state.json")]

    def cli(self, *args: str, endpoint: str | None = None,
            timeout: float = 1800) -> subprocess.CompletedProcess[str]:
        return subprocess.run(self.command(*args), env=self.env(endpoint), cwd=self.workdir,
                              capture_output=True, text=True, timeout=timeout, check=False)

    def popen(self, *args: str, endpoint: str | None = None) -> subprocess.Popen[str]:
        return subprocess.Popen(self.command(*args), env=self.env(endpoint), cwd=self.workdir,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def report(self, *args: str, endpoint: str | None = None) -> tuple[int, dict[str, Any]]:
        """(exit code, the JSON report) of one command."""
        result = self.cli(*args, "--output", "json", "-q", endpoint=endpoint)
        try:
            return result.returncode, json.loads(result.stdout)
        except ValueError:
            return result.returncode, {"error": result.stderr.strip().splitlines()[-1:]}

    def client(self, service: str, region: str = "us-east-1") -> Any:
        key = (service, region)
        if key not in self._clients:
            self._clients[key] = boto3.client(
                service, region_name=region, endpoint_url=self.sandbox_url,
                aws_access_key_id=f"sandbox{self.id}", aws_secret_access_key="sandbox")
        return self._clients[key]

    def inventory(self) -> dict[str, Any]:
        return account_inventory(self.client)

    def mutating_calls(self) -> list[str]:
        url = f"{self.sandbox_url}/__vivr__/calls?account={self.id}"
        with urllib.request.urlopen(url) as reply:
            return [f"{c['service']}.{c['operation']}" for c in json.load(reply)
                    if c["mutating"]]


def counts(inventory: Mapping[str, Any]) -> dict[str, int]:
    """How many of each kind, per region (ids differ between accounts, counts do not)."""
    flat: dict[str, int] = {}
    for key, value in inventory.items():
        if isinstance(value, dict):
            for kind, items in value.items():
                flat[f"{key}/{kind}"] = len(items)
        else:
            flat[key] = len(value)
    return flat


def surplus(found: Mapping[str, int], reference: Mapping[str, int]) -> dict[str, int]:
    """Kinds with more (duplicates, leftovers) or fewer (missing) than the reference."""
    return {kind: found.get(kind, 0) - reference.get(kind, 0)
            for kind in sorted(set(found) | set(reference))
            if found.get(kind, 0) != reference.get(kind, 0)}


__all__ = ["CONFIG", "DESTROY_FLAGS", "REPO", "Account", "counts", "surplus"]
