"""``status --refresh`` as a check for automation: exit 2 on drift, and what it found
stays in state, so a later ``status`` (no AWS call) does not say ``ready`` for a
resource deleted by hand (issue 10, item 4)."""

from __future__ import annotations

import json

from tests.conftest import Aws

TARGET = ("--target", "logs.app")


def _status(aws: Aws) -> dict[str, dict[str, object]]:
    code, report = aws.cli_json("status")
    assert code == 0
    return {s["step"]: s for s in report["steps"]}


def test_refresh_exit_codes_and_what_it_found_is_recorded(aws: Aws) -> None:
    assert aws.cli("apply", *TARGET).returncode == 0
    in_sync = aws.cli("status", "--refresh", "--detailed-exitcode")
    assert in_sync.returncode == 0, in_sync.stderr
    assert "Status in sync: 0 drifted, 0 missing, 2 in sync" in in_sync.stdout

    logs = aws.client("logs")
    [group] = logs.describe_log_groups(logGroupNamePrefix="/vivr/production/app")["logGroups"]
    logs.delete_log_group(logGroupName=group["logGroupName"])
    drift = aws.cli("status", "--refresh", "--detailed-exitcode")
    assert drift.returncode == 2, drift.stderr
    assert "Status drift found: 0 drifted, 1 missing, 1 in sync" in drift.stdout
    assert aws.cli("status", "--refresh").returncode == 0, "2 only when asked for"

    before = len(aws.calls())
    shown = _status(aws)["logs.app"]
    assert len(aws.calls()) == before, "status reads the state only"
    assert shown["status"] == "missing"
    assert json.loads(aws.state_path.read_text())["steps"]["logs.app"]["observed"]["result"] \
        == "missing"
    text = aws.cli("status").stdout
    assert "found it missing" in text

    assert aws.cli("apply", *TARGET).returncode == 0
    again = _status(aws)["logs.app"]
    assert again["status"] == "ready" and again["observed"] is None
