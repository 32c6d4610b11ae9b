"""Manual database backups through the real CLI against the sandbox.

``backup`` leaves a tagged manual snapshot and prunes a backup of ours past
its expiry while a foreign manual snapshot and a destroy-style final
snapshot stay; an apply that changes the database takes a snapshot before
its ModifyDBInstance, and an apply that changes nothing takes none.  moto
cannot back-date ``SnapshotCreateTime``, so the expired backup is one whose
``vivr:expires`` tag (which pruning reads first) is in the past.
"""

from __future__ import annotations

import re
import time
from typing import Any

import pytest
import yaml

from tests.conftest import Aws
from tests.pty_cli import PtyCli

pytestmark = pytest.mark.e2e

PRIMARY = "vivr-db"
TARGET = ("--target", f"rds.{PRIMARY}")
OWNERSHIP = [{"Key": "Project", "Value": "vivr"}, {"Key": "Environment", "Value": "production"},
             {"Key": "ManagedBy", "Value": "vivr-provision"}]
EXPIRED = [*OWNERSHIP, {"Key": "vivr:backup", "Value": "pre-deploy"},
           {"Key": "vivr:expires", "Value": "2026-01-01T00:00:00Z"}]


def _manual(aws: Aws) -> dict[str, dict[str, str]]:
    """Manual snapshots of the primary: name -> tags."""
    found = aws.client("rds").describe_db_snapshots(
        DBInstanceIdentifier=PRIMARY, SnapshotType="manual")["DBSnapshots"]
    return {s["DBSnapshotIdentifier"]: {t["Key"]: t["Value"] for t in s.get("TagList", [])}
            for s in found}


def _snapshot(aws: Aws, name: str, tags: list[dict[str, str]]) -> None:
    aws.client("rds").create_db_snapshot(DBInstanceIdentifier=PRIMARY,
                                         DBSnapshotIdentifier=name, Tags=tags)


def _operations(aws: Aws, since: int) -> list[str]:
    return [c["operation"] for c in aws.calls()[since:] if c["mutating"]]


def test_backup_creates_a_tagged_snapshot_and_prunes_only_our_expired_one(aws: Aws) -> None:
    assert aws.cli("apply", "--yes", *TARGET).returncode == 0
    expired = f"{PRIMARY}-production-manual-20260101-000000"
    final = f"{PRIMARY}-production-final-20260101-000000"
    _snapshot(aws, expired, EXPIRED)
    _snapshot(aws, "before-migration", [{"Key": "vivr:backup", "Value": "pre-deploy"},
                                        {"Key": "vivr:expires", "Value": "2026-01-01T00:00:00Z"}])
    _snapshot(aws, final, EXPIRED)  # even with our tags: destroy's snapshots are not backups

    # Off a terminal without --yes: the backup is made, nothing is deleted.
    kept = aws.cli("backup")
    assert kept.returncode == 0, kept.stderr
    assert re.search(rf"^created {PRIMARY}-production-manual-\d{{8}}-\d{{6}} of {PRIMARY} "
                     r"\(us-east-1\), kept until \d{4}-\d\d-\d\dT", kept.stdout, re.M)
    assert f"kept 1 expired backup(s) ({expired})" in kept.stdout
    assert expired in _manual(aws)

    code, report = aws.cli_json("backup", "--yes")
    assert code == 0, report
    created = report["created"]["snapshot"]
    assert [p["snapshot"] for p in report["pruned"]] == [expired]
    assert report["retention_days"] == 90 and report["kept_expired"] == []
    snapshots = _manual(aws)
    assert expired not in snapshots
    assert {"before-migration", final, created} <= set(snapshots)
    tags = snapshots[created]
    assert tags["ManagedBy"] == "vivr-provision" and tags["Environment"] == "production"
    assert tags["Project"] == "vivr" and tags["Name"] == created
    assert tags["vivr:backup"] == "pre-deploy" and tags["vivr:retention-days"] == "90"
    assert tags["vivr:expires"] == report["created"]["expires"]
    # Names have a one-second resolution: when both runs fell in the same second
    # the second found the first's snapshot (ours) and took it as its own.
    sent = [r for r in aws.requests("CreateDBSnapshot") if r["DBSnapshotIdentifier"] == created]
    assert sent and all(r["DBInstanceIdentifier"] == PRIMARY for r in sent)


def test_an_apply_that_changes_the_database_takes_a_backup_first(aws: Aws) -> None:
    assert aws.cli("apply", "--yes", *TARGET).returncode == 0
    mark = len(aws.calls())
    assert aws.cli("apply", *TARGET).returncode == 0
    assert "CreateDBSnapshot" not in _operations(aws, mark), "no change, no backup"

    for extra in ((), ("--yes",)):  # reviewed plan; --yes (no plan: the step's own diff)
        aws.client("rds").modify_db_instance(DBInstanceIdentifier=PRIMARY,
                                             BackupRetentionPeriod=7, ApplyImmediately=True)
        mark = len(aws.calls())
        result = aws.cli("apply", *TARGET, *extra)
        assert result.returncode == 0, result.stderr[-2000:]
        assert re.search(rf"^backup: created {PRIMARY}-production-manual-", result.stderr, re.M)
        done = _operations(aws, mark)
        assert done.index("CreateDBSnapshot") < done.index("ModifyDBInstance"), done
    assert len(_manual(aws)) == 2


def test_the_pre_apply_backup_can_be_turned_off(aws: Aws) -> None:
    document: dict[str, Any] = yaml.safe_load(aws.config.read_text())
    document["dr"]["backups"]["before_apply"] = False
    config = aws.workdir / "no-backups.yaml"
    config.write_text(yaml.safe_dump(document, sort_keys=False))
    assert aws.cli("apply", "--yes", *TARGET, config=config).returncode == 0
    aws.client("rds").modify_db_instance(DBInstanceIdentifier=PRIMARY,
                                         BackupRetentionPeriod=7, ApplyImmediately=True)
    mark = len(aws.calls())
    result = aws.cli("apply", *TARGET, config=config)
    assert result.returncode == 0, result.stderr[-2000:]
    assert _operations(aws, mark) == ["ModifyDBInstance"], "the change, and no backup"
    assert aws.requests("CreateDBSnapshot") == []
    assert _manual(aws) == {}


def test_at_a_terminal_backup_asks_before_pruning(aws: Aws) -> None:
    assert aws.cli("apply", "--yes", *TARGET).returncode == 0
    expired = f"{PRIMARY}-production-manual-20260101-000000"
    _snapshot(aws, expired, EXPIRED)
    with PtyCli(aws, "backup") as run:
        run.expect(r"Delete 1 expired backup snapshot\(s\) of vivr-db\? \[y/N\]")
        run.send("n\n")
        assert run.wait() == 0
    assert f"expired: {expired}" in run.text and expired in _manual(aws)
    time.sleep(1.0)  # names have a one-second resolution: a second backup in the same
    # second finds the first's snapshot and takes it as its own (one snapshot, not two)
    with PtyCli(aws, "backup") as run:
        run.expect(r"\[y/N\]")
        run.send("y\n")
        assert run.wait() == 0
    assert f"pruned  {expired} (expired 2026-01-01T00:00:00Z)" in run.text
    assert expired not in _manual(aws) and len(_manual(aws)) == 2
