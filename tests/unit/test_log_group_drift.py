"""Log group lookup and drift: a prefix listing read by exact name, tags through the kind,
retention and key as rows (each converged by its own call).

Each drift case is what DescribeLogGroups and ListTagsForResource answered
(edited as someone changed the group by hand), the changes plan lists and the
exact requests apply sends before it re-reads the group.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.unit.stubbed import ACCOUNT, StubbedAws, production_config
from vivr_provision.config import PlatformConfig
from vivr_provision.steps.common import ForeignResourceError
from vivr_provision.steps.logs import (
    LogGroupStep,
    RdsExportLogGroupStep,
    rds_export_steps,
    site_log_group_names,
)
from vivr_provision.steps.rds import DbReplicaStep

NAME = "/vivr/production/app"
ARN = f"arn:aws:logs:us-east-1:{ACCOUNT}:log-group:{NAME}"
KEY_ARN = f"arn:aws:kms:us-east-1:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
OUTPUTS = {"kms": {"key_arn": KEY_ARN}}
DR_KEY_ARN = f"arn:aws:kms:us-west-2:{ACCOUNT}:key/mrk-1234abcd12ab34cd56ef1234567890ab"
DR_GROUP_ARN = f"arn:aws:logs:us-west-2:{ACCOUNT}:log-group:/aws/rds/instance/vivr-db-dr/postgresql"


@pytest.fixture(scope="module")
def config() -> PlatformConfig:
    return production_config()


def _step(config: PlatformConfig) -> LogGroupStep:
    return LogGroupStep(config, "app", config.logs.groups["app"])


def _listed(name: str, **edits: Any) -> dict[str, Any]:
    """DescribeLogGroups' page: a longer name sharing the prefix, then the group."""
    arn = f"arn:aws:logs:us-east-1:{ACCOUNT}:log-group:{name}"
    group = {"logGroupName": name, "arn": f"{arn}:*", "retentionInDays": 30, "kmsKeyId": KEY_ARN,
             **edits}
    return {"logGroups": [{"logGroupName": f"{name}-old", "arn": f"{arn}-old:*"},
                          {k: v for k, v in group.items() if v is not None}]}


def _announce_lookup(aws: StubbedAws, tags: dict[str, str], name: str = NAME,
                     **edits: Any) -> None:
    aws.expect("logs", "describe_log_groups", _listed(name, **edits),
               {"logGroupNamePrefix": name})
    arn = f"arn:aws:logs:us-east-1:{ACCOUNT}:log-group:{name}"
    aws.expect("logs", "list_tags_for_resource", {"tags": tags}, {"resourceArn": arn})


@pytest.mark.parametrize(("edits", "tags", "expected", "requests"), [
    ({}, "ours", [], []),
    ({"retentionInDays": 3653}, "ours", [("retention_days", 3653, 30)],
     [("put_retention_policy", {"logGroupName": NAME, "retentionInDays": 30})]),
    ({"kmsKeyId": None}, "ours", [("kms_key", None, KEY_ARN)],
     [("associate_kms_key", {"logGroupName": NAME, "kmsKeyId": KEY_ARN})]),
    ({}, "ours and a foreign one, Name removed", [("tags", {"Name": None}, {"Name": NAME})],
     # TagResource adds and overwrites: only the wrong ones are sent.
     [("tag_resource", {"resourceArn": ARN, "tags": {"Name": NAME}})]),
])
def test_log_group_drift(config: PlatformConfig, edits: dict[str, Any], tags: str,
                         expected: list[tuple[str, Any, Any]],
                         requests: list[tuple[str, dict[str, Any]]]) -> None:
    step = _step(config)
    ours = step.tags()
    live = ours if tags == "ours" else {
        **{k: v for k, v in ours.items() if k != "Name"}, "team": "theirs"}
    with StubbedAws() as aws:
        ctx = aws.context(config, OUTPUTS)
        _announce_lookup(aws, live, **edits)
        found = step.lookup(ctx)
        assert found is not None and found.id == ARN
        changes = step.diff(ctx, found)
        assert [(c.field, c.current, c.desired) for c in changes] == expected
        for operation, params in requests:
            aws.expect("logs", operation, {}, params)
        if changes:
            _announce_lookup(aws, ours)
            step.update(ctx, found, changes)


def test_a_same_named_group_without_our_tags_is_refused(config: PlatformConfig) -> None:
    step = _step(config)
    with StubbedAws() as aws:
        _announce_lookup(aws, {"team": "theirs"})
        with pytest.raises(ForeignResourceError, match="log group /vivr/production/app"):
            step.lookup(aws.context(config, OUTPUTS))


def test_rds_own_untagged_export_group_is_adopted(config: PlatformConfig) -> None:
    """RDS creates its export group itself (no tags) when exports came first."""
    step = RdsExportLogGroupStep(config, "vivr-db", "postgresql", key_step="kms")
    name = "/aws/rds/instance/vivr-db/postgresql"
    with StubbedAws() as aws:
        _announce_lookup(aws, {}, name=name, retentionInDays=None, kmsKeyId=None)
        found = step.lookup(aws.context(config, OUTPUTS))
        assert found is not None
        assert [c.field for c in step.diff(aws.context(config, OUTPUTS), found)] == [
            "tags", "retention_days", "kms_key"]


def test_a_missing_group_is_none(config: PlatformConfig) -> None:
    step = _step(config)
    with StubbedAws() as aws:  # the run's batch lacks it; only longer names share the prefix
        aws.expect("logs", "describe_log_groups", {"logGroups": []},
                   {"logGroupIdentifiers": site_log_group_names(config, "")})
        aws.expect("logs", "describe_log_groups", {"logGroups": [
            {"logGroupName": f"{NAME}-old", "arn": f"{ARN}-old:*"}]},
            {"logGroupNamePrefix": NAME})
        assert step.lookup(aws.context(config, OUTPUTS, batched=True)) is None


def test_the_dr_replica_exports_into_a_group_encrypted_with_the_dr_key(
        config: PlatformConfig) -> None:
    """Issue 12 (cloudwatch_log_group_kms_encryption_enabled): RDS would create
    ``/aws/rds/instance/vivr-db-dr/postgresql`` itself, unencrypted; the group is
    made first, in us-west-2, under the DR key whose policy names it."""
    steps = {s.name: s for s in rds_export_steps(config)}
    dr = steps["dr.logs.vivr-db-dr.postgresql"]
    assert (dr.region, dr.key_step, dr.depends_on()) == ("us-west-2", "dr.kms", ("dr.kms",))
    assert dr.name in DbReplicaStep(config, config.rds.read_replicas[-1]).depends_on()
    assert steps["logs.vivr-db.postgresql"].key_step == "kms"
    with StubbedAws() as aws:
        aws.expect("logs", "create_log_group", {}, {
            "logGroupName": "/aws/rds/instance/vivr-db-dr/postgresql", "tags": dr.tags(),
            "kmsKeyId": DR_KEY_ARN}, region="us-west-2")
        aws.expect("logs", "put_retention_policy", {}, {
            "logGroupName": "/aws/rds/instance/vivr-db-dr/postgresql",
            "retentionInDays": config.logs.database.retention_days}, region="us-west-2")
        aws.expect("logs", "describe_log_groups", {"logGroups": [{
            "logGroupName": "/aws/rds/instance/vivr-db-dr/postgresql", "kmsKeyId": DR_KEY_ARN,
            "arn": f"{DR_GROUP_ARN}:*", "retentionInDays": config.logs.database.retention_days}]},
            {"logGroupNamePrefix": "/aws/rds/instance/vivr-db-dr/postgresql"}, region="us-west-2")
        aws.expect("logs", "list_tags_for_resource", {"tags": dr.tags()},
                   {"resourceArn": DR_GROUP_ARN}, region="us-west-2")
        created = dr.create(aws.context(config, {"dr.kms": {"key_arn": DR_KEY_ARN}}), "t")
    assert created.data["kmsKeyId"] == DR_KEY_ARN


def test_without_a_multi_region_key_the_dr_replica_group_keeps_cloudwatch_encryption(
        config: PlatformConfig) -> None:
    single = config.model_copy(update={"kms": config.kms.model_copy(
        update={"multi_region": False})})
    dr = {s.name: s for s in rds_export_steps(single)}["dr.logs.vivr-db-dr.postgresql"]
    assert dr.key_step is None and dr.depends_on() == ()
