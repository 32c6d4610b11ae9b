"""First lookups of IAM roles, alarms, log groups and DB instances from one call per region.

For each kind: N steps' lookups make the list call once, and each step then
sees exactly what its own direct read gives (the data its diff compares),
so a no-op apply cannot tell the two apart.  A resource the batch lacks is
read directly.  Tags are read by ``read_tags`` on both paths (not what
these batches replace), so the tests answer it with the step's own tags.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

import pytest

from tests.unit.stubbed import ACCOUNT, StubbedAws, Unbatched, production_config
from vivr_provision.batch_reads import BatchReads
from vivr_provision.config import PlatformConfig
from vivr_provision.steps import build_steps, common
from vivr_provision.steps.base import Resource, StepContext
from vivr_provision.steps.common import aws_tags
from vivr_provision.steps.iam import INLINE_POLICY, IamRoleStep, managed_policy_arn
from vivr_provision.steps.list_reads import common_prefix, log_groups_by_name
from vivr_provision.steps.logs import LogGroupStep, site_log_group_names
from vivr_provision.steps.monitoring import AlarmStep, alarm_placements
from vivr_provision.steps.rds import DbInstanceBase, DbPrimaryStep, rds_steps


@pytest.fixture(scope="module")
def config() -> PlatformConfig:
    return production_config()


def _context(aws: StubbedAws, config: PlatformConfig, *, batched: bool) -> StepContext:
    ctx = aws.context(config, batched=True)
    if not batched:
        ctx.reads = Unbatched()
    return ctx


@pytest.fixture
def own_tags(monkeypatch: pytest.MonkeyPatch) -> None:
    """``read_tags`` answers each resource with the reading step's ownership tags
    (and the tag batch, tag_batch.py, is out of these tests' way)."""
    def fake(client: Any, kind: Any, target: str) -> dict[str, str]:
        return dict(TAGS_OF[target])
    monkeypatch.setattr(common, "read_tags", fake)
    monkeypatch.setattr(common, "batched_tags", lambda *args, **kwargs: None)


#: Tag target (an ARN) -> the tags the test says it carries.
TAGS_OF: dict[str, dict[str, str]] = {}


# --------------------------------------------------------------------------- IAM

def _role_steps(config: PlatformConfig) -> list[IamRoleStep]:
    """An EC2 role (with an instance profile) and an ECS one (without)."""
    return [IamRoleStep(config, field, getattr(config.iam, field))
            for field in ("pgbouncer_instance_role", "task_role")]


def _document(name: str) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": [
        {"Sid": "Grant", "Effect": "Allow", "Action": ["s3:GetObject"],
         "Resource": [f"arn:aws:s3:::{name}/*"]}]}


def _trust(step: IamRoleStep) -> dict[str, Any]:
    return step.trust_policy(ACCOUNT)


def _role(step: IamRoleStep) -> dict[str, Any]:
    """ListRoles' ``Role`` (GetRole's without tags, boundary and last use), on the wire."""
    name = step.role.name
    return {"Path": "/", "RoleName": name, "RoleId": f"AROA{name.upper()[:16]}",
            "Arn": f"arn:aws:iam::{ACCOUNT}:role/{name}", "CreateDate": "2026-01-01T00:00:00Z",
            "AssumeRolePolicyDocument": quote(json.dumps(_trust(step))),
            "Description": step.role.description, "MaxSessionDuration": 3600}


def _profile(name: str) -> dict[str, Any]:
    return {"Path": "/", "InstanceProfileName": name, "InstanceProfileId": "AIPAEXAMPLEEXAMPLE1",
            "Arn": f"arn:aws:iam::{ACCOUNT}:instance-profile/{name}",
            "CreateDate": "2026-01-01T00:00:00Z",
            "Roles": [{"Path": "/", "RoleName": name, "RoleId": "AROAEXAMPLEEXAMPLE1",
                       "Arn": f"arn:aws:iam::{ACCOUNT}:role/{name}",
                       "CreateDate": "2026-01-01T00:00:00Z"}]}


def _attached(step: IamRoleStep) -> list[dict[str, str]]:
    return [{"PolicyName": n, "PolicyArn": managed_policy_arn(n)}
            for n in step.role.managed_policies]


def _expect_direct(aws: StubbedAws, step: IamRoleStep) -> None:
    """GetRole, ListAttachedRolePolicies, GetRolePolicy (and GetInstanceProfile)."""
    name = step.role.name
    aws.expect("iam", "get_role", {"Role": {
        **_role(step), "Tags": aws_tags(step.tags()), "RoleLastUsed": {}}}, {"RoleName": name})
    aws.expect("iam", "list_attached_role_policies", {"AttachedPolicies": _attached(step)},
               {"RoleName": name})
    aws.expect("iam", "get_role_policy", {
        "RoleName": name, "PolicyName": INLINE_POLICY,
        "PolicyDocument": quote(json.dumps(_document(name)))},
        {"RoleName": name, "PolicyName": INLINE_POLICY})
    if step.needs_instance_profile:
        aws.expect("iam", "get_instance_profile", {"InstanceProfile": _profile(name)},
                   {"InstanceProfileName": name})


def _detail(step: IamRoleStep) -> dict[str, Any]:
    """The role's ``RoleDetail`` in GetAccountAuthorizationDetails, on the wire."""
    name, role = step.role.name, _role(step)
    detail = {k: role[k] for k in ("Path", "RoleName", "RoleId", "Arn", "CreateDate",
                                   "AssumeRolePolicyDocument")}
    return {**detail, "Tags": aws_tags(step.tags()), "RoleLastUsed": {},
            "InstanceProfileList": [_profile(name)] if step.needs_instance_profile else [],
            "RolePolicyList": [{"PolicyName": "hand-made", "PolicyDocument": quote("{}")},
                               {"PolicyName": INLINE_POLICY,
                                "PolicyDocument": quote(json.dumps(_document(name)))}],
            "AttachedManagedPolicies": _attached(step)}


def _observed(step: IamRoleStep, ctx: StepContext) -> dict[str, Any]:
    found = step.lookup(ctx)
    assert found is not None
    return step.observed(ctx, found)


def test_roles_come_from_two_listings_and_look_as_read_one_by_one(
        config: PlatformConfig) -> None:
    steps = _role_steps(config)
    with StubbedAws() as aws:
        for step in steps:
            _expect_direct(aws, step)
        direct = [_observed(step, _context(aws, config, batched=False)) for step in steps]
    foreign = {"Path": "/", "RoleName": "someone-elses", "RoleId": "AROAFOREIGNFOREIGN1",
               "Arn": f"arn:aws:iam::{ACCOUNT}:role/someone-elses",
               "CreateDate": "2026-01-01T00:00:00Z"}
    with StubbedAws() as aws:
        aws.expect("iam", "get_account_authorization_details", {
            "RoleDetailList": [foreign, *(_detail(s) for s in steps)], "IsTruncated": False},
            {"Filter": ["Role"], "MaxItems": 1000})
        aws.expect("iam", "list_roles", {"Roles": [foreign, *(_role(s) for s in steps)],
                                         "IsTruncated": False}, {"MaxItems": 1000})
        ctx = _context(aws, config, batched=True)
        batched = [_observed(step, ctx) for step in steps]
    assert batched == direct
    assert ctx.reads.loads == 1 and ctx.reads.served == len(steps)
    assert [d["InstanceProfileRoles"] for d in batched[:1]] == [[steps[0].role.name]]


def test_a_role_the_listings_lack_is_read_directly(config: PlatformConfig) -> None:
    [step, other] = _role_steps(config)
    with StubbedAws() as aws:
        aws.expect("iam", "get_account_authorization_details", {
            "RoleDetailList": [_detail(other)], "IsTruncated": False})
        aws.expect("iam", "list_roles", {"Roles": [_role(other)], "IsTruncated": False})
        _expect_direct(aws, step)
        data = _observed(step, _context(aws, config, batched=True))
    assert data["RoleName"] == step.role.name
    assert data["InlinePolicy"] == _document(step.role.name)


# --------------------------------------------------------------------------- alarms

def _alarm_steps(config: PlatformConfig) -> list[AlarmStep]:
    names = ("vivr-production-db-connections", "vivr-production-db-storage")
    return [AlarmStep(config, a) for a in config.monitoring.alarms if a.name in names]


def _alarm(step: AlarmStep) -> dict[str, Any]:
    arn = f"arn:aws:cloudwatch:us-east-1:{ACCOUNT}:alarm:{step.alarm_name}"
    TAGS_OF[arn] = step.tags()
    return {"AlarmName": step.alarm_name, "AlarmArn": arn, "ActionsEnabled": True,
            "AlarmActions": [f"arn:aws:sns:us-east-1:{ACCOUNT}:vivr-production-team-alerts"],
            "MetricName": "DatabaseConnections", "Namespace": "AWS/RDS", "Statistic": "Average",
            "Dimensions": [{"Name": "DBInstanceIdentifier", "Value": "vivr-db"}],
            "Period": 300, "EvaluationPeriods": 2, "Threshold": 80.0,
            "ComparisonOperator": "GreaterThanThreshold"}


@pytest.mark.usefixtures("own_tags")
def test_alarms_of_a_site_come_from_one_prefix_listing(config: PlatformConfig) -> None:
    steps = _alarm_steps(config)
    with StubbedAws() as aws:
        for step in steps:
            aws.expect("cloudwatch", "describe_alarms", {"MetricAlarms": [_alarm(step)]},
                       {"AlarmNames": [step.alarm_name]})
        ctx = _context(aws, config, batched=False)
        direct = [step.lookup(ctx) for step in steps]
    with StubbedAws() as aws:
        aws.expect("cloudwatch", "describe_alarms",
                   {"MetricAlarms": [_alarm(s) for s in steps]},
                   {"AlarmNamePrefix": "vivr-production-", "MaxRecords": 100})
        ctx = _context(aws, config, batched=True)
        batched = [step.lookup(ctx) for step in steps]
    assert batched == direct and all(isinstance(r, Resource) for r in batched)
    assert ctx.reads.loads == 1


def test_the_prefix_is_what_the_sites_alarm_names_share(config: PlatformConfig) -> None:
    for site in ("", "dr."):
        names = [p.name for p in alarm_placements(config) if p.site.prefix == site]
        assert len(names) > 1 and common_prefix(names) == "vivr-production-"
    assert common_prefix(["b-x", "a-x"]) == "" and common_prefix([]) == ""


# --------------------------------------------------------------------------- log groups

def _group(name: str) -> dict[str, Any]:
    arn = f"arn:aws:logs:us-east-1:{ACCOUNT}:log-group:{name}"
    return {"logGroupName": name, "arn": f"{arn}:*", "logGroupArn": arn,
            "creationTime": 1767225600000, "retentionInDays": 30, "storedBytes": 0,
            "kmsKeyId": f"arn:aws:kms:us-east-1:{ACCOUNT}:key/abcd"}


def _group_steps(config: PlatformConfig) -> list[LogGroupStep]:
    steps = [LogGroupStep(config, key, config.logs.groups[key]) for key in ("app", "waf")]
    for step in steps:
        arn = _group(step.group.name)["logGroupArn"]
        TAGS_OF[arn] = step.tags()
    return steps


@pytest.mark.usefixtures("own_tags")
def test_log_groups_of_a_site_come_from_one_call_naming_them(config: PlatformConfig) -> None:
    steps = _group_steps(config)
    with StubbedAws() as aws:
        for step in steps:
            name = step.group.name
            aws.expect("logs", "describe_log_groups",
                       {"logGroups": [_group(name), _group(f"{name}-other")]},
                       {"logGroupNamePrefix": name})
        ctx = _context(aws, config, batched=False)
        direct = [step.lookup(ctx) for step in steps]
    names = site_log_group_names(config, "")
    assert {s.group.name for s in steps} <= set(names)
    with StubbedAws() as aws:
        aws.expect("logs", "describe_log_groups",
                   {"logGroups": [_group(s.group.name) for s in steps]},
                   {"logGroupIdentifiers": names})
        ctx = _context(aws, config, batched=True)
        batched = [step.lookup(ctx) for step in steps]
    assert batched == direct and all(isinstance(r, Resource) for r in batched)
    assert ctx.reads.loads == 1


def test_each_site_names_exactly_the_groups_its_steps_manage(config: PlatformConfig) -> None:
    """Each site's call names its own region's groups: every group step's, no other."""
    groups = [s for s in build_steps(config) if isinstance(s, LogGroupStep)]
    for site in ("", "dr."):
        assert site_log_group_names(config, site) == sorted(
            s.group.name for s in groups if s.site.prefix == site)
    assert "/vivr/production/dr/vpc-flow" in site_log_group_names(config, "dr.")


def test_more_than_fifty_names_take_one_call_per_fifty() -> None:
    names = [f"/vivr/test/{i:03d}" for i in range(51)]
    with StubbedAws() as aws:
        aws.expect("logs", "describe_log_groups", {"logGroups": [_group(names[0])]},
                   {"logGroupIdentifiers": names[:50]})
        aws.expect("logs", "describe_log_groups", {"logGroups": [_group(names[50])]},
                   {"logGroupIdentifiers": names[50:]})
        found = log_groups_by_name(aws.client("logs"), reversed(names))
    assert sorted(found) == [names[0], names[50]]


# --------------------------------------------------------------------------- DB instances

def _instance(step: DbInstanceBase, status: str = "available") -> dict[str, Any]:
    return {"DBInstanceIdentifier": step.identifier, "DBInstanceStatus": status,
            "DBInstanceArn": f"arn:aws:rds:{step.region}:{ACCOUNT}:db:{step.identifier}",
            "Engine": "postgres", "EngineVersion": "16.4", "DBInstanceClass": "db.t3.small",
            "TagList": aws_tags(step.tags())}


def test_db_instances_of_a_site_come_from_one_filtered_call(config: PlatformConfig) -> None:
    steps = [s for s in rds_steps(config) if isinstance(s, DbInstanceBase) and not s.site.prefix]
    assert [s.identifier for s in steps] == ["vivr-db", "vivr-db-replica-1"]
    with StubbedAws() as aws:
        for step in steps:
            aws.expect("rds", "describe_db_instances", {"DBInstances": [_instance(step)]},
                       {"DBInstanceIdentifier": step.identifier})
        ctx = _context(aws, config, batched=False)
        direct = [step.describe_by_id(ctx, step.identifier) for step in steps]
    with StubbedAws() as aws:
        aws.expect("rds", "describe_db_instances",
                   {"DBInstances": [_instance(s) for s in steps]},
                   {"Filters": [{"Name": "db-instance-id", "Values": ["vivr-db",
                                                                      "vivr-db-replica-1"]}],
                    "MaxRecords": 100})
        ctx = _context(aws, config, batched=True)
        batched = [step.describe_by_id(ctx, step.identifier) for step in steps]
    assert batched == direct and all(isinstance(r, Resource) for r in batched)
    assert ctx.reads.loads == 1


def test_an_instance_being_deleted_is_gone_from_the_batch_too(config: PlatformConfig) -> None:
    [primary] = [s for s in rds_steps(config) if isinstance(s, DbPrimaryStep)]
    with StubbedAws() as aws:
        aws.expect("rds", "describe_db_instances",
                   {"DBInstances": [_instance(primary, "deleting")]})
        assert primary.describe_by_id(_context(aws, config, batched=True), "vivr-db") is None


def test_the_pre_apply_backup_check_and_the_walk_share_one_read(
        config: PlatformConfig) -> None:
    """``apply --yes`` diffs the primary before its walk (is a backup wanted?): through the
    walk's batches, as a reader of its own, so the site's one DescribeDBInstances answers
    the check and then the primary's step, which is still handed its item once."""
    from types import SimpleNamespace

    from vivr_provision.catalog import Catalog
    from vivr_provision.cli.backup import wanted_before_apply
    from vivr_provision.engine import StepGraph
    from vivr_provision.state.model import State, StepRecord

    steps = [s for s in rds_steps(config) if isinstance(s, DbInstanceBase) and not s.site.prefix]
    [primary] = [s for s in steps if isinstance(s, DbPrimaryStep)]
    state = State(project="vivr", environment="production", created_at="t", updated_at="t",
                  steps={primary.name: StepRecord(status="ready",
                                                  resource_id=primary.identifier)})
    with StubbedAws() as aws:
        aws.expect("rds", "describe_db_instances",
                   {"DBInstances": [_instance(s) for s in steps]})
        run = SimpleNamespace(config=config, graph=StepGraph(build_steps(config)),
                              clients=aws, catalog=Catalog())
        reads = BatchReads()
        # Dependencies not recorded here: the check cannot diff, so it wants a backup.
        assert wanted_before_apply(run, state, None, (), reads)  # type: ignore[arg-type]
        walk = aws.context(config, batched=True)
        walk.reads = reads
        found = primary.describe_by_id(walk, primary.identifier)
        # A second find (the engine confirming drift) reads directly.
        aws.expect("rds", "describe_db_instances", {"DBInstances": [_instance(primary)]},
                   {"DBInstanceIdentifier": primary.identifier})
        again = primary.describe_by_id(walk, primary.identifier)
    assert found is not None and found.data["DBInstanceIdentifier"] == primary.identifier
    assert again == found
    assert reads.loads == 1 and reads.served_to(primary.name) == 1
