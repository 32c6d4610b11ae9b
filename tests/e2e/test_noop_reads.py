"""What a run that changes nothing costs in AWS calls (issue 13, item 4).

A no-op apply and ``status --refresh`` read every resource the state records
(the drift check), so their calls grow with the platform.  Batch reads
(one list call per kind and region, the tagging API for tags, IAM's account
listing) answer most first lookups; what is left is one read per setting
that can drift.  Counted in the sandbox's journal, not timed.
"""

from __future__ import annotations

from collections import Counter

import pytest

from tests.conftest import Aws

pytestmark = pytest.mark.e2e


def _by_operation(calls: list[dict[str, object]]) -> str:
    counts = Counter(f"{c['service']}.{c['operation']}" for c in calls)
    return ", ".join(f"{name} {n}" for name, n in counts.most_common(15))


def test_a_noop_apply_makes_at_most_one_read_per_step_and_no_write(
        applied_production: Aws) -> None:
    aws = applied_production
    mark = len(aws.calls())
    code, report = aws.cli_json("apply", "--yes")
    assert code == 0
    calls = aws.calls()[mark:]
    steps = len(report["steps"])
    assert {s["action"] for s in report["steps"]} == {"unchanged"}
    assert [c for c in calls if c["mutating"]] == []
    assert len(calls) <= steps, f"{len(calls)} calls for {steps} steps: {_by_operation(calls)}"


def test_status_refresh_makes_at_most_one_read_per_step(applied_production: Aws) -> None:
    aws = applied_production
    mark = len(aws.calls())
    code, report = aws.cli_json("status", "--refresh", "--all")
    assert code == 0
    calls = aws.calls()[mark:]
    steps = len(report["steps"])
    assert steps > 150
    assert [c for c in calls if c["mutating"]] == []
    assert len(calls) <= steps, f"{len(calls)} calls for {steps} steps: {_by_operation(calls)}"
