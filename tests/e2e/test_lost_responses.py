"""Lost responses: a call AWS applied whose answer never arrived, retried by botocore.

The CLI talks to the sandbox through the fault proxy
(:mod:`vivr_sandbox.faults`), which forwards the first call of every
operation, lets the sandbox apply it, and then closes the connection
without the answer.  botocore retries; the retry meets the work already
done ("already exists", "duplicate", "conflict", "not found").  The runs
must still succeed, leave exactly what a clean apply builds (no twin of a
create that takes no idempotency token), and a destroy must leave nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.conftest import Aws
from vivr_sandbox.faults import FaultPlan, FaultProxy, FaultRates

pytestmark = pytest.mark.e2e

Lossy = Callable[[], FaultProxy]


@pytest.fixture
def lossy(aws: Aws) -> Iterator[Lossy]:
    """Start a proxy that loses the first answer of every operation."""
    proxies: list[FaultProxy] = []

    def start() -> FaultProxy:
        plan = FaultPlan(FaultRates(lose=1.0), once=True)
        proxies.append(FaultProxy(aws.sandbox.url, plan).start())
        return proxies[-1]

    yield start
    for proxy in proxies:
        proxy.stop()


def _run(aws: Aws, proxy: FaultProxy, *args: str) -> Any:
    return aws.cli(*args, env={"AWS_ENDPOINT_URL": proxy.url}, timeout=600)


def _lost(proxy: FaultProxy) -> set[str]:
    return {f"{c.service}.{c.operation}" for c in proxy.calls if c.fault == "lose"}


def _mutating(proxy: FaultProxy) -> set[str]:
    return {f"{c.service}.{c.operation}" for c in proxy.calls if c.mutating}


def _counts(listing: dict[str, Any]) -> dict[str, int]:
    """How many of each kind (ids differ between accounts, counts do not)."""
    return {f"{key}/{kind}": len(items) for key, value in listing.items()
            for kind, items in (value.items() if isinstance(value, dict) else [("", value)])}


def test_every_call_of_a_whole_apply_and_destroy_losing_its_first_answer(
        aws: Aws, lossy: Lossy, applied_production: Aws) -> None:
    """Each operation of a production apply, then of a destroy, has its first answer
    lost after the sandbox applied it: the runs succeed, the account holds what a clean
    apply builds (no twin of a create without idempotency token), and nothing is left."""
    before = aws.inventory()
    reference = applied_production  # a clean apply of the same config
    proxy = lossy()
    applied = _run(aws, proxy, "apply")
    assert applied.returncode == 0, applied.stdout[-3000:] + applied.stderr[-3000:]
    assert _mutating(proxy) <= _lost(proxy), "every mutating operation lost one answer"
    assert len(_mutating(proxy)) > 70  # 79 kinds of mutating call in a production apply
    assert "AWS calls retried: " in applied.stdout, "botocore's retries are reported"
    assert _counts(aws.inventory()) == _counts(reference.inventory())
    mark = len(aws.calls())
    assert aws.cli("apply").returncode == 0
    assert aws.mutating_calls(mark) == []

    proxy = lossy()
    destroyed = _run(aws, proxy, "destroy", "--yes", "--skip-final-snapshot",
                     "--disable-deletion-protection")
    assert destroyed.returncode == 0, destroyed.stdout[-3000:] + destroyed.stderr[-3000:]
    assert _mutating(proxy) <= _lost(proxy)
    assert aws.inventory() == before


def test_a_whole_apply_and_destroy_on_a_throttling_failing_lossy_network(
        aws: Aws, applied_production: Aws) -> None:
    """One seed of bench/faulted_runs.py in the suite: 10 % throttling, 2 % 5xx, 1 %
    requests dropped, 1 % answers lost, on every request of apply and of destroy."""
    before = aws.inventory()
    reference = applied_production  # a clean apply of the same config
    rates = FaultRates.parse("throttle=0.1,error=0.02,drop=0.01,lose=0.01")
    proxy = FaultProxy(aws.sandbox.url, FaultPlan(rates, seed=3)).start()
    try:
        applied = _run(aws, proxy, "apply")
        assert applied.returncode == 0, applied.stdout[-3000:] + applied.stderr[-3000:]
        assert {c.fault for c in proxy.calls} >= {"throttle", "error", "drop", "lose"}
        assert _counts(aws.inventory()) == _counts(reference.inventory())
        mark = len(aws.calls())
        assert aws.cli("apply").returncode == 0
        assert aws.mutating_calls(mark) == []
        destroyed = _run(aws, proxy, "destroy", "--yes", "--skip-final-snapshot",
                         "--disable-deletion-protection")
        assert destroyed.returncode == 0, destroyed.stdout[-3000:] + destroyed.stderr[-3000:]
    finally:
        proxy.stop()
    assert aws.inventory() == before
