"""KMS key drift: what plan shows for each hand-changed setting, and the requests apply sends.

Each case is what AWS answers (``DescribeKey`` edits, the aliases naming
the key, the rotation status, the key policy), a config override of
``kms``, the plan lines, and for converging cases the exact update
requests.  Then the DR replica (its own region, the shared rows only) and
how a key is found without a name: by its alias, or by its tags after a
crash between ``CreateKey`` and ``CreateAlias``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.unit.stubbed import ACCOUNT, StubbedAws, production_config
from vivr_provision.config import PlatformConfig
from vivr_provision.steps.base import Resource, Site
from vivr_provision.steps.common import ForeignResourceError
from vivr_provision.steps.kms import KmsKeyBase, KmsKeyStep, KmsReplicaKeyStep, kms_tags

KEY_ID = "mrk-1234abcd12ab34cd56ef1234567890ab"
ALIAS = "alias/vivr-production"
DESCRIPTION = "VIVR production data key (RDS, ElastiCache, backups, secrets)"


def _config(**kms: Any) -> PlatformConfig:
    config = production_config()
    return config.model_copy(update={"kms": config.kms.model_copy(update=kms)})


def _arn(region: str) -> str:
    return f"arn:aws:kms:{region}:{ACCOUNT}:key/{KEY_ID}"


def _metadata(step: KmsKeyBase, **edits: Any) -> dict[str, Any]:
    return {"AWSAccountId": ACCOUNT, "KeyId": KEY_ID, "Arn": _arn(step.region),
            "CreationDate": "2026-01-01T00:00:00Z", "Enabled": True,
            "Description": DESCRIPTION, "KeyState": "Enabled", "MultiRegion": True, **edits}


def _data(step: KmsKeyBase, tags: dict[str, str] | None = None,
          **edits: Any) -> dict[str, Any]:
    return {**_metadata(step, **edits), "TagMap": step.tags() if tags is None else tags}


def _policy(step: KmsKeyStep) -> str:
    with StubbedAws() as aws:
        return step.key_policy(aws.context(step.config))


def _narrowed_policy() -> str:
    document = json.loads(_policy(KmsKeyStep(_config())))
    document["Statement"] = document["Statement"][:1]
    return json.dumps(document)


def _expect_aliases(aws: StubbedAws, aliases: list[str], region: str = "us-east-1") -> None:
    aws.expect("kms", "list_aliases", {"Aliases": [
        {"AliasName": a, "AliasArn": f"arn:aws:kms:{region}:{ACCOUNT}:{a}",
         "TargetKeyId": KEY_ID} for a in aliases]}, {"KeyId": KEY_ID}, region=region)


def _expect_describe(aws: StubbedAws, step: KmsKeyBase, key: str = KEY_ID,
                     tags: dict[str, str] | None = None, **edits: Any) -> None:
    aws.expect("kms", "describe_key", {"KeyMetadata": _metadata(step, **edits)},
               {"KeyId": key}, region=step.region)
    aws.expect("kms", "list_resource_tags", {"Tags": kms_tags(
        step.tags() if tags is None else tags)}, {"KeyId": KEY_ID}, region=step.region)


@dataclass
class Case:
    id: str
    #: Edits of DescribeKey's KeyMetadata.
    key: dict[str, Any] = field(default_factory=dict)
    tags: dict[str, str] | None = None
    aliases: list[str] = field(default_factory=lambda: [ALIAS])
    rotation: dict[str, Any] = field(default_factory=lambda: {
        "KeyRotationEnabled": True, "RotationPeriodInDays": 365})
    #: The key policy AWS has (JSON text); None: the configured one.
    policy: str | None = None
    #: KmsConfig overrides.
    config: dict[str, Any] = field(default_factory=dict)
    #: What plan shows (``Change.describe()``).
    changes: list[str] = field(default_factory=list)
    #: What apply sends after the reads: (operation, params, reply) in order.
    requests: list[tuple[str, dict[str, Any], dict[str, Any]]] = field(default_factory=list)


def _expect_reads(aws: StubbedAws, step: KmsKeyStep, case: Case) -> None:
    _expect_aliases(aws, case.aliases)
    aws.expect("kms", "get_key_rotation_status", case.rotation, {"KeyId": KEY_ID})
    aws.expect("kms", "get_key_policy", {"Policy": case.policy or _policy(step)},
               {"KeyId": KEY_ID, "PolicyName": "default"})


OURS = KmsKeyStep(_config()).tags()
ALIAS_ARN = f"arn:aws:kms:us-east-1:{ACCOUNT}:{ALIAS}"
CASES = [
    Case("converged"),
    Case("key policy spelled differently is the same document",
         policy=json.dumps(json.loads(_policy(KmsKeyStep(_config()))), indent=4)),
    Case("key policy narrowed by hand", policy=_narrowed_policy(),
         changes=["key_policy: 'differs' -> \"the environment's policy\" (update)"],
         requests=[("put_key_policy", {"KeyId": KEY_ID, "PolicyName": "default",
                                       "Policy": _policy(KmsKeyStep(_config()))}, {})]),
    Case("rotation turned off", rotation={"KeyRotationEnabled": False},
         changes=["rotation: (False, None) -> (True, 365) (update)"],
         requests=[("enable_key_rotation", {"KeyId": KEY_ID, "RotationPeriodInDays": 365},
                    {})]),
    Case("rotation period changed",
         rotation={"KeyRotationEnabled": True, "RotationPeriodInDays": 90},
         changes=["rotation: (True, 90) -> (True, 365) (update)"],
         requests=[("enable_key_rotation", {"KeyId": KEY_ID, "RotationPeriodInDays": 365},
                    {})]),
    Case("a period AWS does not report is not drift", rotation={"KeyRotationEnabled": True}),
    Case("the config turns rotation off", config={"enable_key_rotation": False},
         changes=["rotation: (True, 365) -> (False, 365) (update)"],
         requests=[("disable_key_rotation", {"KeyId": KEY_ID}, {})]),
    Case("rotation off: its period does not count", config={"enable_key_rotation": False},
         rotation={"KeyRotationEnabled": False, "RotationPeriodInDays": 90}),
    Case("description", key={"Description": "edited"},
         changes=[f"description: 'edited' -> {DESCRIPTION!r} (update)"],
         requests=[("update_key_description", {"KeyId": KEY_ID, "Description": DESCRIPTION},
                    {})]),
    Case("alias moved to another key", aliases=[],
         changes=[f"alias: None -> {ALIAS!r} (update)"],
         requests=[("list_aliases", {"KeyId": KEY_ID}, {"Aliases": []}),
                   ("describe_key", {"KeyId": ALIAS}, {"KeyMetadata": {"KeyId": "other"}}),
                   ("update_alias", {"AliasName": ALIAS, "TargetKeyId": KEY_ID}, {})]),
    Case("another alias names the key, ours does not", aliases=["alias/theirs"],
         changes=[f"alias: None -> {ALIAS!r} (update)"]),
    Case("multi-region can only change with a new key", key={"MultiRegion": False},
         changes=["multi_region: False -> True (replace)"]),
    Case("our tag changed, a foreign tag added",
         key={}, changes=["tags: {'Owner': 'someone'} -> {'Owner': 'platform-team'} (update)"],
         requests=[("tag_resource", {"KeyId": KEY_ID, "Tags": [
             {"TagKey": "Owner", "TagValue": "platform-team"}]}, {})]),
]
#: Tags AWS reports, per case (the tag case only).
TAGS = {"our tag changed, a foreign tag added": {**OURS, "Owner": "someone", "team": "x"}}


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_key_drift(case: Case) -> None:
    step = KmsKeyStep(_config(**case.config))
    with StubbedAws() as aws:
        _expect_reads(aws, step, case)
        changes = step.diff(aws.context(step.config),
                            Resource(KEY_ID, _data(step, TAGS.get(case.id), **case.key)))
    assert [c.describe() for c in changes] == case.changes


@pytest.mark.parametrize("case", [c for c in CASES if c.requests],
                         ids=[c.id for c in CASES if c.requests])
def test_key_converges_with_exact_requests(case: Case) -> None:
    step = KmsKeyStep(_config(**case.config))
    with StubbedAws() as aws:
        ctx = aws.context(step.config)
        _expect_reads(aws, step, case)
        drifted = Resource(KEY_ID, _data(step, TAGS.get(case.id), **case.key))
        changes = step.diff(ctx, drifted)
        for operation, params, reply in case.requests:
            aws.expect("kms", operation, reply, params)
        _expect_describe(aws, step)
        updated = step.update(ctx, drifted, changes)
    assert updated.data["TagMap"] == step.tags()


def test_a_missing_alias_is_created() -> None:
    step = KmsKeyStep(_config())
    case = Case("alias deleted", aliases=[])
    with StubbedAws() as aws:
        ctx = aws.context(step.config)
        _expect_reads(aws, step, case)
        changes = step.diff(ctx, Resource(KEY_ID, _data(step)))
        _expect_aliases(aws, [])
        aws.expect_error("kms", "describe_key", "NotFoundException", status=404,
                         params={"KeyId": ALIAS})
        aws.expect("kms", "create_alias", {}, {"AliasName": ALIAS, "TargetKeyId": KEY_ID})
        _expect_describe(aws, step)
        step.update(ctx, Resource(KEY_ID, _data(step)), changes)


def _replica(config: PlatformConfig | None = None) -> KmsReplicaKeyStep:
    return KmsReplicaKeyStep(config or _config(), site=Site(prefix="dr.", region="us-west-2"))


def _without_standby_ecs(*, encrypt_topics: bool = True) -> PlatformConfig:
    """No DR log group at all: neither the standby tier's, the DR VPC's flow logs nor
    the groups RDS exports the DR replica's logs into."""
    config = _config()
    dr = config.dr
    standby = dr.standby.model_copy(update={"ecs": False})
    assert dr.network is not None
    network = dr.network.model_copy(update={"flow_logs": None})
    monitoring = config.monitoring.model_copy(update={"encrypt_topics": encrypt_topics})
    rds = config.rds.model_copy(update={"read_replicas": [
        r for r in config.rds.read_replicas if r.region != dr.region]})
    return config.model_copy(update={"dr": dr.model_copy(update={"standby": standby,
                                                                  "network": network}),
                                     "monitoring": monitoring, "rds": rds})


def test_without_a_dr_log_group_or_encrypted_topic_the_replica_has_only_the_shared_rows(
) -> None:
    step = _replica(_without_standby_ecs(encrypt_topics=False))
    drifted = Resource(KEY_ID, _data(step, {**OURS, "vivr:step": "kms"},
                                     Description="edited", MultiRegion=False))
    with StubbedAws() as aws:
        ctx = aws.context(step.config)
        _expect_aliases(aws, [ALIAS], region="us-west-2")
        changes = step.diff(ctx, drifted)
        assert [c.describe() for c in changes] == [
            "tags: {'vivr:step': 'kms'} -> {'vivr:step': 'dr.kms'} (update)",
            f"description: 'edited' -> {DESCRIPTION!r} (update)"]
        aws.expect("kms", "tag_resource", {}, {"KeyId": KEY_ID, "Tags": [
            {"TagKey": "vivr:step", "TagValue": "dr.kms"}]}, region="us-west-2")
        aws.expect("kms", "update_key_description", {},
                   {"KeyId": KEY_ID, "Description": DESCRIPTION}, region="us-west-2")
        _expect_describe(aws, step)
        step.update(ctx, drifted, changes)


def _replica_policy(step: KmsReplicaKeyStep) -> dict[str, Any]:
    with StubbedAws() as aws:
        policy = step.key_policy(aws.context(step.config))
    assert policy is not None
    return dict(json.loads(policy))


def test_the_replica_policy_admits_cloudwatch_logs_of_its_region_for_the_standby_group() -> None:
    statements = {s["Sid"]: s for s in _replica_policy(_replica())["Statement"]}
    assert set(statements) == {"AccountAdministration", "CloudWatchLogsOfThisEnvironment",
                               "PublishToEncryptedTopics"}
    logs = statements["CloudWatchLogsOfThisEnvironment"]
    assert logs["Principal"] == {"Service": "logs.us-west-2.amazonaws.com"}
    # The standby tasks' group, the DR VPC's flow-log group and the group RDS
    # exports the DR replica's PostgreSQL log into (issue 12).
    assert logs["Condition"] == {"ArnLike": {"kms:EncryptionContext:aws:logs:arn": [
        f"arn:aws:logs:us-west-2:{ACCOUNT}:log-group:/vivr/production/dr/app",
        f"arn:aws:logs:us-west-2:{ACCOUNT}:log-group:/vivr/production/dr/vpc-flow",
        f"arn:aws:logs:us-west-2:{ACCOUNT}:log-group:/aws/rds/instance/vivr-db-dr/postgresql"]}}


def test_a_narrowed_replica_policy_is_drift_put_back_in_the_replica_region() -> None:
    step = _replica()
    narrowed = _replica_policy(step)
    narrowed["Statement"] = narrowed["Statement"][:1]
    resource = Resource(KEY_ID, _data(step))
    with StubbedAws() as aws:
        ctx = aws.context(step.config)
        _expect_aliases(aws, [ALIAS], region="us-west-2")
        aws.expect("kms", "get_key_policy", {"Policy": json.dumps(narrowed)},
                   {"KeyId": KEY_ID, "PolicyName": "default"}, region="us-west-2")
        changes = step.diff(ctx, resource)
        assert [c.describe() for c in changes] == [
            "key_policy: 'differs' -> \"the environment's policy\" (update)"]
        aws.expect("kms", "put_key_policy", {}, {
            "KeyId": KEY_ID, "PolicyName": "default",
            "Policy": step.key_policy(ctx)}, region="us-west-2")
        _expect_describe(aws, step)
        step.update(ctx, resource, changes)


def test_a_key_is_found_through_its_alias() -> None:
    step = KmsKeyStep(_config())
    with StubbedAws() as aws:
        _expect_describe(aws, step, ALIAS)
        found = step.find(aws.context(step.config), None)
    assert found is not None
    assert (found.id, found.data["TagMap"], step.tag_target(found)) == (
        KEY_ID, step.tags(), KEY_ID)


def test_a_foreign_key_behind_our_alias_is_refused() -> None:
    step = KmsKeyStep(_config())
    with StubbedAws() as aws:
        _expect_describe(aws, step, ALIAS, tags={"team": "theirs"})
        with pytest.raises(ForeignResourceError, match=f"KMS key {ALIAS} already exists"):
            step.find(aws.context(step.config), None)


def test_without_its_alias_our_key_is_found_by_its_tags_and_dead_keys_are_skipped() -> None:
    step = KmsKeyStep(_config())
    with StubbedAws() as aws:
        aws.expect_error("kms", "describe_key", "NotFoundException", status=404,
                         params={"KeyId": ALIAS})
        aws.expect("kms", "list_keys", {"Keys": [
            {"KeyId": "dead", "KeyArn": _arn("us-east-1")},
            {"KeyId": KEY_ID, "KeyArn": _arn("us-east-1")}]})
        aws.expect("kms", "describe_key", {"KeyMetadata": _metadata(
            step, KeyId="dead", KeyState="PendingDeletion")}, {"KeyId": "dead"})
        _expect_describe(aws, step)
        found = step.find(aws.context(step.config), None)
    assert found is not None and found.id == KEY_ID


# --------------------------------------------------------------------------- issue 12: topics
#: What both keys grant the services that publish to the encrypted topics.
PUBLISHERS = {"Sid": "PublishToEncryptedTopics", "Effect": "Allow",
              "Principal": {"Service": ["cloudwatch.amazonaws.com", "events.rds.amazonaws.com"]},
              "Action": ["kms:Decrypt", "kms:GenerateDataKey*"], "Resource": "*",
              "Condition": {"StringEquals": {"aws:SourceAccount": ACCOUNT}}}


def test_the_primary_policy_admits_alarms_and_rds_events_of_this_account_only() -> None:
    step = KmsKeyStep(_config())
    with StubbedAws() as aws:
        policy = json.loads(step.key_policy(aws.context(step.config)))
    assert PUBLISHERS in policy["Statement"]


def test_the_replica_alone_for_dr_topics_gets_its_own_policy_without_a_logs_grant() -> None:
    """No DR log group but encrypted dr.sns.* copies: the replica's policy admits the
    publishers, and no logs statement with an empty (malformed) ArnLike list."""
    step = _replica(_without_standby_ecs())
    assert [s["Sid"] for s in _replica_policy(step)["Statement"]] == [
        "AccountAdministration", "PublishToEncryptedTopics"]
    assert _replica_policy(step)["Statement"][1] == PUBLISHERS


def test_unencrypted_topics_grant_the_publishers_nothing() -> None:
    config = _config()
    plain = config.model_copy(update={"monitoring": config.monitoring.model_copy(
        update={"encrypt_topics": False})})
    with StubbedAws() as aws:
        policy = json.loads(KmsKeyStep(plain).key_policy(aws.context(plain)))
    assert "PublishToEncryptedTopics" not in {s["Sid"] for s in policy["Statement"]}


def test_a_recorded_key_behind_its_alias_costs_one_describe_and_no_alias_listing() -> None:
    step = KmsKeyStep(_config())
    with StubbedAws() as aws:
        ctx = aws.context(step.config)
        _expect_describe(aws, step, ALIAS)
        found = step.find(ctx, KEY_ID)
        assert found is not None
        assert KmsKeyBase.observed(step, ctx, found)["Alias"] == ALIAS


def test_a_recorded_key_the_alias_no_longer_names_is_read_by_id_and_shows_the_alias() -> None:
    step = KmsKeyStep(_config())
    other = "mrk-0ther"
    with StubbedAws() as aws:
        ctx = aws.context(step.config)
        aws.expect("kms", "describe_key", {"KeyMetadata": _metadata(step, KeyId=other)},
                   {"KeyId": ALIAS})
        aws.expect("kms", "list_resource_tags", {"Tags": kms_tags(step.tags())},
                   {"KeyId": other})
        _expect_describe(aws, step, KEY_ID)
        found = step.find(ctx, KEY_ID)
        assert found is not None and found.id == KEY_ID
        _expect_aliases(aws, [])
        assert KmsKeyBase.observed(step, ctx, found)["Alias"] is None
