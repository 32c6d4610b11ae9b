"""Shared fixtures: one sandbox (moto server) per test session, one AWS account per test.

Accounts isolate tests that share the server: the sandbox routes an access
key ending in 12 digits to that account, so each test sees an empty
emulator with only AWS's defaults in it.
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pytest

from vivr_sandbox.server import SandboxServer

REPO = Path(__file__).resolve().parent.parent
FAULTS = Path(__file__).resolve().parent / "faults"
_account_numbers = itertools.count(1)


@pytest.fixture(scope="session")
def sandbox() -> Iterator[SandboxServer]:
    server = SandboxServer("127.0.0.1", 0).start()
    yield server
    server.stop()


def new_account() -> str:
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw") or "0"
    return f"{int(worker) + 1:03d}{os.getpid() % 10000:04d}{next(_account_numbers):05d}"


@dataclass
class Aws:
    """One isolated AWS account on the shared sandbox, plus the CLI to drive it."""

    sandbox: SandboxServer
    account: str
    workdir: Path
    config: Path = REPO / "config" / "production.yaml"
    _clients: dict[tuple[str, str], Any] = field(default_factory=dict)

    @property
    def access_key(self) -> str:
        return f"sandbox{self.account}"

    @property
    def state_path(self) -> Path:
        return self.workdir / "state" / "production.json"

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("AWS_", "VIVR_", "BOTO"))}
        env.update(
            AWS_ACCESS_KEY_ID=self.access_key,
            AWS_SECRET_ACCESS_KEY="sandbox",
            AWS_ENDPOINT_URL=self.sandbox.url,
            AWS_CONFIG_FILE=str(self.workdir / "no-aws-config"),
            AWS_SHARED_CREDENTIALS_FILE=str(self.workdir / "no-aws-credentials"),
            PYTHONPATH=os.pathsep.join([str(FAULTS), str(REPO)]),
            VIVR_RECORD_CALLS=str(self.record_path),
            VIVR_STRICT_REQUESTS=str(self.strict_path),
        )
        env.update(extra)
        return env

    @property
    def record_path(self) -> Path:
        return self.workdir / "requests.jsonl"

    @property
    def strict_path(self) -> Path:
        """Where the CLI writes what its requests break in the service model (sitecustomize)."""
        return self.workdir / "strict-requests.jsonl"

    def strict_findings(self) -> list[dict[str, str]]:
        if not self.strict_path.exists():
            return []
        return [json.loads(line) for line in self.strict_path.read_text().splitlines()]

    def requests(self, operation: str, service: str | None = None) -> list[dict[str, Any]]:
        """Parameters of every ``operation`` call the CLI made, as botocore received them."""
        if not self.record_path.exists():
            return []
        calls = [json.loads(line) for line in self.record_path.read_text().splitlines()]
        return [c["params"] for c in calls if c["operation"] == operation
                and (service is None or c["service"] == service)]

    def cli(self, *args: str, env: dict[str, str] | None = None,
            state: Path | str | None = None, config: Path | None = None,
            timeout: float = 180) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "vivr_provision", *args,
                   "--config", str(config or self.config),
                   "--state", str(state or self.state_path)]
        return subprocess.run(command, cwd=self.workdir, env=self.env(**(env or {})),
                              capture_output=True, text=True, timeout=timeout, check=False)

    def cli_json(self, *args: str, **kwargs: Any) -> tuple[int, dict[str, Any]]:
        result = self.cli(*args, "--output", "json", **kwargs)
        try:
            return result.returncode, json.loads(result.stdout)
        except json.JSONDecodeError:
            raise AssertionError(f"no JSON on stdout: {result.stdout!r} {result.stderr!r}") \
                from None

    def popen(self, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
        command = [sys.executable, "-m", "vivr_provision", *args,
                   "--config", str(self.config), "--state", str(self.state_path)]
        return subprocess.Popen(command, cwd=self.workdir, env=self.env(**(env or {})),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def client(self, service: str, region: str = "us-east-1") -> Any:
        key = (service, region)
        if key not in self._clients:
            self._clients[key] = boto3.client(
                service, region_name=region, endpoint_url=self.sandbox.url,
                aws_access_key_id=self.access_key, aws_secret_access_key="sandbox")
        return self._clients[key]

    def calls(self) -> list[dict[str, Any]]:
        url = f"{self.sandbox.url}/__vivr__/calls?account={self.account}"
        with urllib.request.urlopen(url) as reply:
            return list(json.load(reply))

    def mutating_calls(self, since: int = 0) -> list[str]:
        return [f"{c['service']}.{c['operation']}" for c in self.calls()[since:] if c["mutating"]]

    def inventory(self) -> dict[str, Any]:
        """Everything in this account, both regions and IAM (see tests/e2e/inventory.py)."""
        from tests.e2e.inventory import account_inventory

        return account_inventory(self.client)


class StrictRequestWarning(UserWarning):
    """A request member whose model pattern the strict checker cannot translate."""


def _strict_verdict(aws: Aws) -> tuple[list[str], list[str]]:
    """(violations, unchecked patterns) the CLI's requests produced, deduplicated."""
    violations: dict[str, None] = {}
    unchecked: dict[str, None] = {}
    for finding in aws.strict_findings():
        line = f"{finding['service']}.{finding['message']}"
        target = unchecked if finding["rule"] == "unchecked-pattern" else violations
        target[line] = None
    return list(violations), list(unchecked)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    """Fail a test whose CLI runs sent a request AWS would reject (enum, max/min, pattern).

    The checker runs inside the CLI subprocess (tests/faults/strict_requests.py);
    this turns its findings into the test's own failure, so the test that
    sent the request is the one that goes red.
    """
    try:
        result = yield
    except BaseException:
        aws = getattr(item, "funcargs", {}).get("aws")
        if isinstance(aws, Aws):
            violations, _ = _strict_verdict(aws)
            if violations:
                item.add_report_section("call", "strict requests", "\n".join(violations))
        raise
    aws = getattr(item, "funcargs", {}).get("aws")
    if isinstance(aws, Aws):
        violations, unchecked = _strict_verdict(aws)
        for line in unchecked:
            item.warn(StrictRequestWarning(line))
        if violations:
            pytest.fail("requests AWS would reject (botocore service model: enum, max/min, "
                        "pattern):\n  " + "\n  ".join(violations), pytrace=False)
    return result


@pytest.fixture
def aws(sandbox: SandboxServer, tmp_path: Path) -> Aws:
    return Aws(sandbox, new_account(), tmp_path)


@pytest.fixture(scope="session")
def applied_production(sandbox: SandboxServer,
                       tmp_path_factory: pytest.TempPathFactory) -> Aws:
    """An account holding a whole production apply, made once per test process.

    A whole apply is the suite's most expensive step, so tests that only
    read it (a reference inventory, a no-op apply's call count) share one.
    Tests must leave it as they found it: read it, or apply with no change.
    """
    applied = Aws(sandbox, new_account(), tmp_path_factory.mktemp("applied-production"))
    result = applied.cli("apply", "--yes")
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    return applied
