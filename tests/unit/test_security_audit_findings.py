"""How bench/security_audit.py sorts Prowler's findings: ours or not, justified, open, fixed.

The bench itself needs Prowler and minutes; the sorting is pure, so it is
pinned here on findings shaped like Prowler 5's JSON-OCSF output.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
ACCOUNT = "000000001212"


@pytest.fixture(scope="module")
def audit() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "security_audit_findings", REPO / "bench" / "security_audit_findings.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


def ocsf(check: str, status: str, uid: str, name: str = "", labels: tuple[str, ...] = (),
         metadata: dict[str, Any] | None = None) -> dict[str, Any]:
    """One finding as Prowler 5.46 writes it (only the fields the bench reads)."""
    return {"metadata": {"event_code": check}, "status_code": status,
            "status_detail": f"{check} {status}", "cloud": {"region": "us-east-1"},
            "resources": [{"uid": uid, "name": name, "region": "us-east-1",
                           "group": {"name": check.split("_", 1)[0]}, "labels": list(labels),
                           "data": {"details": "", "metadata": metadata or {}}}]}


STATE = {"account_id": ACCOUNT, "steps": {
    "vpc": {"resource_id": "vpc-0abc1234", "outputs": {"vpc_id": "vpc-0abc1234"}},
    "dr.vpc": {"resource_id": "vpc-0def5678", "outputs": {}},
    "sns.critical": {"resource_id": f"arn:aws:sns:us-east-1:{ACCOUNT}:vivr-critical",
                     "outputs": {"port": 443, "flag": "true", "region": "us-east-1",
                                 "account": ACCOUNT}},
    "iam-roles": {"resource_id": None,
                  "outputs": {"roles": {"task": f"arn:aws:iam::{ACCOUNT}:role/vivr-task"}}},
}}

README = """\
# vivr

### Justified findings

| check | applies to | kind | why |
|---|---|---|---|
| `iam_root_mfa_enabled` | account | account-level | the root user is not ours |
| `sns_topics_kms_encryption_at_rest_enabled` | `arn:aws:sns:*:vivr-critical` | emulator | moto |

### Another section

| `ec2_securitygroup_default_restrict_traffic` | * | emulator | outside the section: ignored |
"""


def test_ownership_comes_from_tags_state_ids_and_our_vpc(audit: ModuleType) -> None:
    ids = audit.owned_ids(STATE)
    tagged = audit._finding(ocsf("s3_x", "FAIL", "arn:aws:s3:::bucket",
                                 labels=("ManagedBy:vivr-provision", "Name:b")))
    by_arn = audit._finding(ocsf("iam_x", "FAIL", f"arn:aws:iam::{ACCOUNT}:role/vivr-task"))
    by_id_in_arn = audit._finding(
        ocsf("vpc_x", "FAIL", f"arn:aws:ec2:us-east-1:{ACCOUNT}:vpc/vpc-0def5678"))
    default_sg = audit._finding(ocsf("ec2_sg", "FAIL", "arn:aws:ec2:::security-group/sg-1",
                                     metadata={"vpc_id": "vpc-0abc1234"}))
    moto_default_vpc = audit._finding(
        ocsf("vpc_x", "FAIL", f"arn:aws:ec2:us-east-1:{ACCOUNT}:vpc/vpc-default"))
    account = audit._finding(ocsf("iam_root", "FAIL", f"arn:aws:iam::{ACCOUNT}:root"))

    assert [audit.is_owned(f, ids) for f in
            (tagged, by_arn, by_id_in_arn, default_sg, moto_default_vpc, account)] == [
        True, True, True, True, False, False]
    # Short or common outputs (a port, a flag, a region) never make a resource ours.
    assert not {"443", "true", "us-east-1", ACCOUNT} & ids


def test_the_readme_table_is_read_from_its_own_section_only(
        audit: ModuleType, tmp_path: Path) -> None:
    (tmp_path / "README.md").write_text(README)
    rows = audit.read_justifications(tmp_path / "README.md")
    assert [(r.check, r.scope, r.kind) for r in rows] == [
        ("iam_root_mfa_enabled", "account", "account-level"),
        ("sns_topics_kms_encryption_at_rest_enabled", "arn:aws:sns:*:vivr-critical", "emulator")]


def test_fails_split_into_justified_open_and_not_ours(audit: ModuleType, tmp_path: Path) -> None:
    (tmp_path / "README.md").write_text(README)
    topic = f"arn:aws:sns:us-east-1:{ACCOUNT}:vivr-critical"
    raw = [
        ocsf("iam_root_mfa_enabled", "FAIL", f"arn:aws:iam::{ACCOUNT}:root"),
        ocsf("sns_topics_kms_encryption_at_rest_enabled", "FAIL", topic),
        ocsf("vpc_flow_logs_enabled", "FAIL", f"arn:aws:ec2:us-east-1:{ACCOUNT}:vpc/vpc-0def5678"),
        ocsf("vpc_flow_logs_enabled", "PASS", f"arn:aws:ec2:us-east-1:{ACCOUNT}:vpc/vpc-0abc1234"),
        ocsf("vpc_flow_logs_enabled", "FAIL", f"arn:aws:ec2:us-east-1:{ACCOUNT}:vpc/vpc-moto"),
        ocsf("s3_bucket_server_access_logging_enabled", "PASS", "arn:aws:s3:::vivr-logs",
             labels=("ManagedBy:vivr-provision",)),
    ]
    output = tmp_path / "audit.ocsf.json"
    output.write_text(json.dumps(raw))

    report = audit.classify(audit.read_findings(output), audit.owned_ids(STATE),
                            audit.read_justifications(tmp_path / "README.md"))

    assert [(r["check"], r["kind"]) for r in report.justified] == [
        ("iam_root_mfa_enabled", "account-level"),
        ("sns_topics_kms_encryption_at_rest_enabled", "emulator")]
    assert [(r["check"], r["resource"]) for r in report.open] == [
        ("vpc_flow_logs_enabled", f"arn:aws:ec2:us-east-1:{ACCOUNT}:vpc/vpc-0def5678")]
    assert report.not_ours_fail == 1
    # Fixed: an issue-12 check passing on every resource of ours it saw;
    # the flow-log check still fails on the DR VPC, so it is not fixed.
    assert report.fixed == {"s3_bucket_server_access_logging_enabled": ["arn:aws:s3:::vivr-logs"]}
    assert list(report.still_failing) == ["sns_topics_kms_encryption_at_rest_enabled",
                                          "vpc_flow_logs_enabled"]
    assert report.counts["vpc"] == {"FAIL": 2, "PASS": 1}


def test_the_project_readme_justifies_with_known_kinds_only(audit: ModuleType) -> None:
    rows = audit.read_justifications(REPO / "README.md")
    assert rows, "README has no 'Justified findings' table"
    assert {row.kind for row in rows} <= {"account-level", "emulator", "design"}
    assert all(row.reason for row in rows)
