"""The standby's secrets replicated to dr.region with the DR key: requests and drift rules."""

from __future__ import annotations

from typing import Any

import pytest

from tests.unit.stubbed import ACCOUNT, REPO, StubbedAws, production_config
from vivr_provision import aws_errors
from vivr_provision.config import PlatformConfig, load_config
from vivr_provision.config.dr_secrets import standby_secret_keys
from vivr_provision.steps.base import Resource
from vivr_provision.steps.secrets import SecretStep, secret_steps

NAME = "vivr/production/stripe"
ARN = f"arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:{NAME}-AbCdEf"
KEY_ID = "mrk-1234abcd12ab34cd56ef1234567890ab"
KEY_ARN = f"arn:aws:kms:us-east-1:{ACCOUNT}:key/{KEY_ID}"
DR_KEY_ARN = f"arn:aws:kms:us-west-2:{ACCOUNT}:key/{KEY_ID}"
OUTPUTS = {"kms": {"key_arn": KEY_ARN, "key_id": KEY_ID, "alias": "alias/vivr-production"},
           "dr.kms": {"key_arn": DR_KEY_ARN, "key_id": KEY_ID, "alias": "alias/vivr-production"}}
REPLICA = {"Region": "us-west-2", "KmsKeyId": DR_KEY_ARN, "Status": "InSync",
           "StatusMessage": "Replication succeeded"}


@pytest.fixture(scope="module")
def config() -> PlatformConfig:
    return production_config()


def _step(config: PlatformConfig, key: str = "stripe") -> SecretStep:
    [step] = [s for s in secret_steps(config) if s.key == key]
    assert isinstance(step, SecretStep)
    return step


def _tags(step: SecretStep) -> list[dict[str, str]]:
    return [{"Key": k, "Value": v} for k, v in sorted(step.tags().items())]


def _described(step: SecretStep, *replicas: dict[str, Any], **edits: Any) -> dict[str, Any]:
    described: dict[str, Any] = {
        "ARN": ARN, "Name": step.secret_name, "Description": step.description,
        "KmsKeyId": KEY_ARN, "Tags": [{"Key": k, "Value": v} for k, v in step.tags().items()],
        **edits}
    if replicas:
        described["ReplicationStatus"] = list(replicas)
    return described


def test_the_standby_reads_the_container_secrets_and_the_origin_verify_secret(
        config: PlatformConfig) -> None:
    assert standby_secret_keys(config) == {
        "database_credentials", "redis_auth_token", "stripe", "sendgrid", "cloudinary",
        "sentry", "origin_verify", "fle_private_key"}
    replicated = {s.name: s.depends_on() for s in secret_steps(config)}
    assert replicated["secret.stripe"] == ("kms", "dr.kms")
    # issue 12: the standby decrypts field-level encrypted fields after a failover
    assert replicated["secret.fle_private_key"] == ("kms", "dr.kms")
    assert replicated["secret.datadog"] == ("kms",), "PgBouncer's key: no standby reads it"
    staging = load_config(REPO / "config" / "staging.yaml", "staging")
    assert {s.depends_on() for s in secret_steps(staging)} == {("kms",)}


def test_create_adds_the_replica_with_the_dr_key(config: PlatformConfig) -> None:
    step = _step(config)
    with StubbedAws() as aws:
        ctx = aws.context(config, OUTPUTS)
        aws.expect_error("secretsmanager", "describe_secret", "ResourceNotFoundException",
                         params={"SecretId": NAME})
        aws.expect("secretsmanager", "create_secret", {"ARN": ARN, "Name": NAME}, {
            "Name": NAME, "Description": step.description, "KmsKeyId": KEY_ARN,
            "Tags": _tags(step), "ClientRequestToken": "t" * 32,
            "AddReplicaRegions": [{"Region": "us-west-2", "KmsKeyId": DR_KEY_ARN}]})
        aws.expect("secretsmanager", "describe_secret",
                   _described(step, dict(REPLICA, Status="InProgress")), {"SecretId": NAME})
        created = step.create(ctx, "t" * 32)
        assert not step.is_ready(created), "the replica is still being made"
        aws.expect("secretsmanager", "describe_secret", _described(step, REPLICA),
                   {"SecretId": NAME})
        ready = step.wait(ctx, created)
    assert step.outputs(ready)["dr_arn"] == \
        f"arn:aws:secretsmanager:us-west-2:{ACCOUNT}:secret:{NAME}-AbCdEf"


def test_a_secret_no_standby_reads_is_created_without_a_replica(
        config: PlatformConfig) -> None:
    step = _step(config, "datadog")
    with StubbedAws() as aws:
        aws.expect_error("secretsmanager", "describe_secret", "ResourceNotFoundException")
        aws.expect("secretsmanager", "create_secret", {"ARN": ARN, "Name": step.secret_name}, {
            "Name": step.secret_name, "Description": step.description, "KmsKeyId": KEY_ARN,
            "Tags": _tags(step), "ClientRequestToken": "t" * 32})  # no AddReplicaRegions
        aws.expect("secretsmanager", "describe_secret", _described(step))
        created = step.create(aws.context(config, OUTPUTS), "t" * 32)
    assert "dr_arn" not in step.outputs(created)


OTHER = dict(REPLICA, KmsKeyId="alias/aws/secretsmanager")
FAILED = dict(REPLICA, Status="Failed",
              StatusMessage="Secret with this name already exists in this region")


@pytest.mark.parametrize(("replicas", "expected"), [
    ((REPLICA,), []),
    ((dict(REPLICA, KmsKeyId=KEY_ID),), []),                   # the same key, by id
    ((dict(REPLICA, KmsKeyId="alias/vivr-production"),), []),  # ... or by alias
    ((), [("dr_replica", None, DR_KEY_ARN)]),                  # missing
    ((OTHER,), [("dr_replica", "alias/aws/secretsmanager", DR_KEY_ARN)]),
    ((FAILED,), [("dr_replica", "failed: Secret with this name already exists in this region",
                  DR_KEY_ARN)]),
    # A replica elsewhere is not ours to judge.
    ((REPLICA, dict(REPLICA, Region="eu-west-1")), []),
])
def test_replica_drift(config: PlatformConfig, replicas: tuple[dict[str, Any], ...],
                       expected: list[tuple[str, Any, Any]]) -> None:
    step = _step(config)
    with StubbedAws() as aws:
        changes = step.diff(aws.context(config, OUTPUTS),
                            Resource(ARN, _described(step, *replicas)))
    assert [(c.field, c.current, c.desired) for c in changes] == expected


def test_a_replica_of_a_secret_no_standby_reads_is_drift_to_none(
        config: PlatformConfig) -> None:
    step = _step(config, "datadog")
    with StubbedAws() as aws:
        changes = step.diff(aws.context(config, OUTPUTS),
                            Resource(ARN, _described(step, REPLICA)))
    assert [(c.field, c.current, c.desired) for c in changes] == \
        [("dr_replica", DR_KEY_ARN, None)]


def test_a_missing_replica_is_replicated_with_the_dr_key(config: PlatformConfig) -> None:
    step = _step(config)
    drifted = Resource(ARN, _described(step))
    with StubbedAws() as aws:
        ctx = aws.context(config, OUTPUTS)
        changes = step.diff(ctx, drifted)
        aws.expect("secretsmanager", "replicate_secret_to_regions",
                   {"ARN": ARN, "ReplicationStatus": [REPLICA]},
                   {"SecretId": ARN,
                    "AddReplicaRegions": [{"Region": "us-west-2", "KmsKeyId": DR_KEY_ARN}]})
        aws.expect("secretsmanager", "describe_secret", _described(step, REPLICA),
                   {"SecretId": NAME})
        step.update(ctx, drifted, changes)


@pytest.mark.parametrize("wrong", [OTHER, FAILED])
def test_a_replica_with_another_key_or_failed_is_removed_then_replicated_again(
        config: PlatformConfig, wrong: dict[str, Any]) -> None:
    """A replica's key is fixed when it is made: remove it, then replicate again."""
    step = _step(config)
    drifted = Resource(ARN, _described(step, wrong))
    with StubbedAws() as aws:
        ctx = aws.context(config, OUTPUTS)
        changes = step.diff(ctx, drifted)
        aws.expect("secretsmanager", "remove_regions_from_replication",
                   {"ARN": ARN, "ReplicationStatus": []},
                   {"SecretId": ARN, "RemoveReplicaRegions": ["us-west-2"]})
        aws.expect("secretsmanager", "describe_secret", _described(step), {"SecretId": NAME})
        aws.expect("secretsmanager", "replicate_secret_to_regions",
                   {"ARN": ARN, "ReplicationStatus": [REPLICA]},
                   {"SecretId": ARN,
                    "AddReplicaRegions": [{"Region": "us-west-2", "KmsKeyId": DR_KEY_ARN}]})
        aws.expect("secretsmanager", "describe_secret", _described(step, REPLICA),
                   {"SecretId": NAME})
        step.update(ctx, drifted, changes)


def test_delete_removes_the_replicas_before_scheduling_the_deletion(
        config: PlatformConfig) -> None:
    """AWS refuses to delete a primary that still has replicas."""
    step = _step(config)
    with StubbedAws() as aws:
        ctx = aws.context(config, OUTPUTS)
        aws.expect("secretsmanager", "remove_regions_from_replication",
                   {"ARN": ARN, "ReplicationStatus": []},
                   {"SecretId": ARN, "RemoveReplicaRegions": ["us-west-2"]})
        aws.expect("secretsmanager", "describe_secret", _described(step), {"SecretId": ARN})
        aws.expect("secretsmanager", "delete_secret", {"ARN": ARN, "Name": NAME},
                   {"SecretId": ARN, "RecoveryWindowInDays": 30})
        kept = step.delete(ctx, Resource(ARN, _described(step, REPLICA)))
    assert kept[0].startswith(f"secret {NAME} recoverable for 30 days")
    assert "replica(s) in us-west-2 were deleted at once" in kept[1]


def test_a_removal_answered_with_an_error_after_the_replicas_went_is_done(
        config: PlatformConfig) -> None:
    """A retry after a lost answer finds nothing to remove: reading settles it."""
    step = _step(config)
    with StubbedAws() as aws:
        ctx = aws.context(config, OUTPUTS)
        aws.expect_error("secretsmanager", "remove_regions_from_replication",
                         "InvalidParameterException")
        aws.expect("secretsmanager", "describe_secret", _described(step), {"SecretId": ARN})
        aws.expect("secretsmanager", "describe_secret", _described(step), {"SecretId": ARN})
        aws.expect("secretsmanager", "delete_secret", {"ARN": ARN, "Name": NAME})
        step.delete(ctx, Resource(ARN, _described(step, REPLICA)))


def test_restore_in_the_recovery_window_replicates_again(config: PlatformConfig) -> None:
    """The replica was deleted at once by destroy; the restored primary has none."""
    step = _step(config)
    with StubbedAws() as aws:
        ctx = aws.context(config, OUTPUTS)
        aws.expect("secretsmanager", "describe_secret",
                   _described(step, DeletedDate="2026-12-01T00:00:00Z"), {"SecretId": NAME})
        aws.expect("secretsmanager", "restore_secret", {"ARN": ARN}, {"SecretId": ARN})
        aws.expect("secretsmanager", "describe_secret", _described(step), {"SecretId": NAME})
        aws.expect("secretsmanager", "replicate_secret_to_regions",
                   {"ARN": ARN, "ReplicationStatus": [REPLICA]},
                   {"SecretId": ARN,
                    "AddReplicaRegions": [{"Region": "us-west-2", "KmsKeyId": DR_KEY_ARN}]})
        aws.expect("secretsmanager", "describe_secret", _described(step, REPLICA),
                   {"SecretId": NAME})
        restored = step.create(ctx, "token")
    assert restored.recovered
    assert step.is_ready(restored)


def test_a_failed_replication_stops_the_wait_with_aws_message(config: PlatformConfig) -> None:
    step = _step(config)
    with StubbedAws() as aws, pytest.raises(RuntimeError) as raised:
        step.wait(aws.context(config, OUTPUTS), Resource(ARN, _described(step, FAILED)))
    assert str(raised.value) == (f"replication of {NAME} to us-west-2 failed: Secret with this "
                                 "name already exists in this region")


def test_a_replication_refused_after_a_lost_answer_is_settled_by_reading(
        config: PlatformConfig) -> None:
    """botocore's retry meets the replica its first attempt made: done, not failed."""
    step = _step(config)
    drifted = Resource(ARN, _described(step))
    with StubbedAws() as aws:
        ctx = aws.context(config, OUTPUTS)
        changes = step.diff(ctx, drifted)
        aws.expect_error("secretsmanager", "replicate_secret_to_regions",
                         "InvalidParameterException")
        aws.expect("secretsmanager", "describe_secret", _described(step, REPLICA))
        aws.expect("secretsmanager", "describe_secret", _described(step, REPLICA))
        step.update(ctx, drifted, changes)
        aws.expect_error("secretsmanager", "replicate_secret_to_regions", "AccessDeniedException")
        aws.expect("secretsmanager", "describe_secret", _described(step))
        with pytest.raises(aws_errors.ClientError):
            step.update(ctx, drifted, changes)
