"""Secret metadata drift: description and key in one UpdateSecret, tags apart, never the value."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.unit.stubbed import ACCOUNT, StubbedAws, production_config
from vivr_provision.config import PlatformConfig
from vivr_provision.log import redact
from vivr_provision.steps.base import Resource
from vivr_provision.steps.secrets import SecretStep, read_secret_string

ARN = f"arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:vivr/production/stripe-AbCdEf"
KEY_ARN = f"arn:aws:kms:us-east-1:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
DR_KEY_ARN = f"arn:aws:kms:us-west-2:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
OUTPUTS = {"kms": {"key_arn": KEY_ARN, "key_id": "1234abcd-12ab-34cd-56ef-1234567890ab",
                   "alias": "alias/vivr-production"},
           # Stripe's key is one the DR standby reads: it has a replica in us-west-2
           # (its rules: test_secret_replicas.py).
           "dr.kms": {"key_arn": DR_KEY_ARN, "key_id": "1234abcd-12ab-34cd-56ef-1234567890ab",
                      "alias": "alias/vivr-production"}}
REPLICATED = [{"Region": "us-west-2", "KmsKeyId": DR_KEY_ARN, "Status": "InSync"}]


@pytest.fixture(scope="module")
def config() -> PlatformConfig:
    return production_config()


def _step(config: PlatformConfig) -> SecretStep:
    return SecretStep(config, "stripe", "vivr/production/stripe", "Stripe secret key (payments)")


def _described(step: SecretStep, **edits: Any) -> dict[str, Any]:
    return {"ARN": ARN, "Name": "vivr/production/stripe", "Description": step.description,
            "KmsKeyId": KEY_ARN, "Tags": [{"Key": k, "Value": v}
                                          for k, v in step.tags().items()],
            "ReplicationStatus": REPLICATED, **edits}


@pytest.mark.parametrize(("edits", "expected"), [
    ({}, []),
    ({"KmsKeyId": "alias/vivr-production"}, []),          # the alias names the same key
    ({"KmsKeyId": "1234abcd-12ab-34cd-56ef-1234567890ab"}, []),
    ({"KmsKeyId": None}, [("kms_key", None, KEY_ARN)]),   # AWS's default key
    ({"Description": "edited"}, [("description", "edited", "Stripe secret key (payments)")]),
])
def test_secret_drift(config: PlatformConfig, edits: dict[str, Any],
                      expected: list[tuple[str, Any, Any]]) -> None:
    step = _step(config)
    with StubbedAws() as aws:  # comparing reads nothing, and never the value
        changes = step.diff(aws.context(config, OUTPUTS), Resource(ARN, _described(step, **edits)))
    assert [(c.field, c.current, c.desired) for c in changes] == expected


def test_description_and_key_go_in_one_update_secret_and_tags_apart(
        config: PlatformConfig) -> None:
    step = _step(config)
    drifted = _described(step, Description="edited", KmsKeyId=None, Tags=[])
    with StubbedAws() as aws:
        ctx = aws.context(config, OUTPUTS)
        changes = step.diff(ctx, Resource(ARN, drifted))
        assert [c.field for c in changes] == ["tags", "description", "kms_key"]
        aws.expect("secretsmanager", "tag_resource", {}, {"SecretId": ARN, "Tags": [
            {"Key": k, "Value": v} for k, v in sorted(step.tags().items())]})
        aws.expect("secretsmanager", "update_secret", {"ARN": ARN}, {
            "SecretId": ARN, "Description": "Stripe secret key (payments)", "KmsKeyId": KEY_ARN})
        aws.expect("secretsmanager", "describe_secret", _described(step),
                   {"SecretId": "vivr/production/stripe"})  # re-read by name
        step.update(ctx, Resource(ARN, drifted), changes)


@pytest.mark.parametrize(("deleted", "live"), [(False, True), (True, False)])
def test_read_by_name_with_inline_tags_and_a_deleted_secret_is_gone(
        config: PlatformConfig, deleted: bool, live: bool) -> None:
    step = _step(config)
    described = _described(step, **({"DeletedDate": "2026-12-01T00:00:00Z"} if deleted else {}))
    with StubbedAws() as aws:  # DescribeSecret carries the tags: no ListTags call
        aws.expect("secretsmanager", "describe_secret", described,
                   {"SecretId": "vivr/production/stripe"})
        found = step.lookup(aws.context(config, OUTPUTS))
    assert (found is not None) is live
    if found is not None:
        assert (found.id, found.data["TagMap"]) == (ARN, step.tags())


def test_create_restores_a_secret_in_its_recovery_window(config: PlatformConfig) -> None:
    """The name is taken until the window ends: the secret (and its value) come back."""
    step = _step(config)
    with StubbedAws() as aws:
        ctx = aws.context(config, OUTPUTS)
        aws.expect("secretsmanager", "describe_secret",
                   _described(step, DeletedDate="2026-12-01T00:00:00Z"),
                   {"SecretId": "vivr/production/stripe"})
        aws.expect("secretsmanager", "restore_secret", {"ARN": ARN}, {"SecretId": ARN})
        aws.expect("secretsmanager", "describe_secret", _described(step),
                   {"SecretId": "vivr/production/stripe"})
        restored = step.create(ctx, "token")
    assert restored.id == ARN
    assert restored.recovered, "the report says recovered, not created"


def test_a_json_secret_redacts_its_password_but_not_the_user_name(config: PlatformConfig) -> None:
    """The credentials' ``username`` ("postgres") and ``engine`` describe the
    connection: redacting them blanked "postgres" out of every note and log path."""
    arn = f"arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:vivr/production/db-AbCdEf"
    document = {"username": "postgres", "password": "Xk9-not-printed-42", "engine": "postgres",
                "port": 5432}
    with StubbedAws() as aws:
        ctx = aws.context(config, {})
        aws.expect("secretsmanager", "get_secret_value",
                   {"SecretString": json.dumps(document), "ARN": arn, "Name": "db"},
                   {"SecretId": arn})
        read_secret_string(ctx, arn)
    assert redact("user postgres, password Xk9-not-printed-42") == \
        "user postgres, password ***redacted***"
