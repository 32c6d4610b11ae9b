"""Sorting Prowler's findings: which resource is ours, which FAIL is justified, what is open.

``bench/security_audit.py`` runs Prowler against a sandbox apply; this module
holds the part that needs neither the sandbox nor Prowler, so a unit test can
pin it: reading Prowler's JSON-OCSF output, deciding ownership from the state
file (every id, name and ARN the apply recorded) and the ownership tags,
reading the README's table of justified findings (the README is the one
place a reason is written, so the bench cannot drift from it), and splitting
the FAILs into fixed, justified and open.
"""

from __future__ import annotations

import fnmatch
import json
import re
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

#: The ownership tags every resource of ours carries (README "Steps", "Tags").
OWNERSHIP_TAG = ("ManagedBy", "vivr-provision")
#: Where the justified table lives in the README, and how its rows look:
#: ``| `check_id` | applies to | kind | reason |``.
README_SECTION = "### Justified findings"
_ROW = re.compile(r"^\|\s*`(?P<check>[a-z0-9_]+)`\s*\|\s*(?P<scope>[^|]+?)\s*\|"
                  r"\s*(?P<kind>[^|]+?)\s*\|\s*(?P<reason>.+?)\s*\|\s*$")
#: Identifier pieces too common to mean "this resource": a state output such as
#: ``443``, ``true`` or ``us-east-1`` must not make an unrelated ARN ours.
_MIN_ID_LEN = 6
_NOT_IDS = frozenset({"us-east-1", "us-west-2", "enabled", "disabled", "available"})

#: What issue 12 found, as the Prowler checks that report it: a check listed
#: here that now PASSes on every resource of ours it evaluates is "fixed".
ISSUE_12_CHECKS: Mapping[str, str] = {
    "cloudfront_distributions_field_level_encryption_enabled": "CloudFront field-level encryption",
    "sns_topics_kms_encryption_at_rest_enabled": "SNS alert topics encrypted",
    "secretsmanager_automatic_rotation_enabled": "secrets rotate",
    "vpc_flow_logs_enabled": "VPC flow logs (both VPCs)",
    "wafv2_webacl_logging_enabled": "WAF logging",
    "route53_public_hosted_zones_cloudwatch_logging_enabled": "Route 53 query logging",
    "s3_bucket_server_access_logging_enabled": "S3 server access logging",
    "iam_role_cross_service_confused_deputy_prevention": "trust-policy conditions",
    "rds_instance_deletion_protection": "deletion protection (replicas included)",
    "rds_instance_critical_event_subscription": "RDS event subscriptions",
    "rds_instance_protected_by_backup_plan": "AWS Backup plan for the databases",
    "ecs_task_definitions_containers_readonly_access": "read-only root filesystem",
    "ec2_securitygroup_default_restrict_traffic": "default security groups emptied",
    "ec2_networkacl_allow_ingress_any_port": "default NACLs",
    "ec2_instance_detailed_monitoring_enabled": "PgBouncer detailed monitoring",
}
#: Checks Prowler reports on the account (resource ``...:account``) that judge
#: something this tool builds: RDS event subscriptions to the DevOps topic
#: (issue 12) are ours to create in each region that has our databases.
OWNED_ACCOUNT_CHECKS = frozenset({
    "rds_instance_critical_event_subscription",
    "rds_instance_event_subscription_parameter_groups",
    "rds_instance_event_subscription_security_groups",
})


@dataclass(frozen=True)
class Finding:
    """One Prowler result, reduced to what the report prints."""

    check: str
    service: str
    status: str
    region: str
    uid: str
    name: str
    message: str
    tags: Mapping[str, str] = field(default_factory=dict)
    details: str = ""


@dataclass(frozen=True)
class Justification:
    """One row of the README's table: a check, where it applies, and why it stays."""

    check: str
    scope: str
    """``account`` (account-level: the resource is the account or a resource the
    tool does not own) or a glob on the resource's ARN or name (``*``: any)."""
    kind: str
    reason: str

    def covers(self, finding: Finding, owned: bool) -> bool:
        if finding.check != self.check:
            return False
        if self.scope == "account":
            return not owned
        return any(fnmatch.fnmatchcase(value, self.scope) for value in (finding.uid, finding.name))


def read_findings(path: Path) -> list[Finding]:
    """Prowler v5's ``json-ocsf`` file: a JSON list, one object per check and resource."""
    raw: list[dict[str, Any]] = json.loads(path.read_text() or "[]")
    return [_finding(item) for item in raw]


def _finding(item: Mapping[str, Any]) -> Finding:
    resources = item.get("resources") or [{}]
    resource: Mapping[str, Any] = resources[0]
    labels = resource.get("labels") or []
    tags = dict(label.split(":", 1) if ":" in label else (label, "") for label in labels)
    group = resource.get("group") or {}
    check = str(item.get("metadata", {}).get("event_code", ""))
    return Finding(
        check=check,
        service=str(group.get("name") or check.split("_", 1)[0]),
        status=str(item.get("status_code", "")),
        region=str(resource.get("region") or item.get("cloud", {}).get("region", "")),
        uid=str(resource.get("uid", "")),
        name=str(resource.get("name", "")),
        message=str(item.get("status_detail", "")),
        tags=tags,
        details=json.dumps(resource.get("data", {}), sort_keys=True, default=str),
    )


def owned_ids(state: Mapping[str, Any]) -> frozenset[str]:
    """Every id, name and ARN the apply recorded (resource ids and outputs, nested).

    The account id is left out even where an output carries it: every
    account-level ARN has it, and the account is not the tool's.
    """
    found: set[str] = set()
    for record in (state.get("steps") or {}).values():
        found.update(_strings([record.get("resource_id"), record.get("outputs")]))
    found.discard(str(state.get("account_id", "")))
    return frozenset(s for s in found if len(s) >= _MIN_ID_LEN and s not in _NOT_IDS)


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, Iterable):
        for item in value:
            yield from _strings(item)


_SEPARATORS = re.compile(r"[:/]")


def is_owned(finding: Finding, ids: frozenset[str]) -> bool:
    """Ours by tag, by id/name/ARN from the state, or by the VPC or ARN the resource hangs on.

    A default security group or NACL carries no tags and is not in the state,
    but its details name our VPC's id: it belongs to what we built.
    """
    if finding.tags.get(OWNERSHIP_TAG[0]) == OWNERSHIP_TAG[1]:
        return True
    if finding.uid in ids or finding.name in ids or finding.check in OWNED_ACCOUNT_CHECKS:
        return True
    if any(part in ids for part in _SEPARATORS.split(finding.uid)):
        return True
    return any(f'"{vpc}"' in finding.details for vpc in ids if vpc.startswith("vpc-"))


def read_justifications(readme: Path) -> list[Justification]:
    """The rows of the README's justified-findings table (section :data:`README_SECTION`)."""
    rows: list[Justification] = []
    inside = False
    for line in readme.read_text().splitlines():
        if line.startswith("#"):
            inside = line.strip() == README_SECTION
            continue
        match = _ROW.match(line) if inside else None
        if match:
            scope = match["scope"].strip("`")
            rows.append(Justification(match["check"], scope, match["kind"], match["reason"]))
    return rows


@dataclass
class Report:
    """What the bench prints and writes as JSON."""

    counts: dict[str, dict[str, int]]
    """Service -> status -> number of results (every resource, ours or not)."""
    justified: list[dict[str, str]]
    open: list[dict[str, str]]
    fixed: dict[str, list[str]]
    """Issue-12 check -> the resources of ours it now passes on."""
    still_failing: dict[str, list[str]]
    not_evaluated: list[str]
    """Issue-12 checks Prowler produced no result for on a resource of ours."""
    not_ours_fail: int

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def _row(finding: Finding, owned: bool, why: Justification | None = None) -> dict[str, str]:
    row = {"check": finding.check, "region": finding.region,
           "resource": finding.uid or finding.name,
           "owned": "yes" if owned else "no (account-level)", "message": finding.message}
    if why is not None:
        row.update(kind=why.kind, reason=why.reason)
    return row


def classify(findings: Iterable[Finding], ids: frozenset[str],
             justifications: Iterable[Justification]) -> Report:
    """Split the FAILs: justified by a README row, open (ours, unjustified), or neither."""
    rules = list(justifications)
    counts: dict[str, Counter[str]] = {}
    justified: list[dict[str, str]] = []
    open_: list[dict[str, str]] = []
    passed: dict[str, set[str]] = {}
    failed: dict[str, set[str]] = {}
    not_ours_fail = 0
    for finding in findings:
        counts.setdefault(finding.service, Counter())[finding.status] += 1
        owned = is_owned(finding, ids)
        resource = finding.uid or finding.name
        if owned and finding.check in ISSUE_12_CHECKS:
            seen = failed if finding.status == "FAIL" else passed
            seen.setdefault(finding.check, set()).add(resource)
        if finding.status != "FAIL":
            continue
        why = next((rule for rule in rules if rule.covers(finding, owned)), None)
        if why is not None:
            justified.append(_row(finding, owned, why))
        elif owned:
            open_.append(_row(finding, owned))
        else:
            not_ours_fail += 1
    fixed = {check: sorted(passed[check]) for check in passed if check not in failed}
    return Report(
        counts={service: dict(sorted(c.items())) for service, c in sorted(counts.items())},
        justified=justified, open=open_, fixed=fixed,
        still_failing={check: sorted(resources) for check, resources in failed.items()},
        not_evaluated=sorted(set(ISSUE_12_CHECKS) - set(passed) - set(failed)),
        not_ours_fail=not_ours_fail,
    )
