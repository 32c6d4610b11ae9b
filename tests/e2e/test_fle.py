"""Field-level encryption's key pair when its secret is deleted by hand (issue 12).

The full read-back (config, profile, key, behaviours, secret) rides on
tests/e2e/test_cloudfront.py's apply.  This applies only what field-level
encryption needs (``--target cloudfront-fle-config``: the KMS keys, the secret,
the public key, the profile, the config) and shows the choice made for a
secret deleted without recovery: apply generates a new key pair and moves
CloudFront to its public half before deleting the old one, so the two halves
never disagree and nothing is left behind.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.conftest import Aws
from vivr_provision.steps.key_pairs import fingerprint, public_key_pem

pytestmark = pytest.mark.e2e

TARGET = ("--target", "cloudfront-fle-config")
SECRET = "vivr/production/cloudfront/fle-private-key"


def _profile_key(aws: Aws) -> dict[str, Any]:
    """The public key the profile encrypts with."""
    cloudfront = aws.client("cloudfront")
    [profile] = cloudfront.list_field_level_encryption_profiles()[
        "FieldLevelEncryptionProfileList"]["Items"]
    [entity] = profile["EncryptionEntities"]["Items"]
    return dict(cloudfront.get_public_key(Id=entity["PublicKeyId"])["PublicKey"])


def _secret_fingerprint(aws: Aws) -> str:
    value = aws.client("secretsmanager").get_secret_value(SecretId=SECRET)["SecretString"]
    return fingerprint(public_key_pem(str(value)))


def test_a_secret_deleted_by_hand_regenerates_both_halves_then_destroy_removes_all(
        aws: Aws) -> None:
    code, report = aws.cli_json("apply", "--yes", *TARGET)
    assert code == 0, report
    first = _profile_key(aws)
    assert fingerprint(first["PublicKeyConfig"]["EncodedKey"]) == _secret_fingerprint(aws)

    # Deleted by hand without a recovery window (its DR replica first, as AWS demands).
    secrets = aws.client("secretsmanager")
    secrets.remove_regions_from_replication(SecretId=SECRET, RemoveReplicaRegions=["us-west-2"])
    secrets.delete_secret(SecretId=SECRET, ForceDeleteWithoutRecovery=True)

    code, report = aws.cli_json("apply", "--yes", *TARGET)
    assert code == 0, report
    actions = {s["step"]: s["action"] for s in report["steps"]}
    assert (actions["secret.fle_private_key"], actions["cloudfront-fle-public-key"],
            actions["cloudfront-fle-profile"], actions["cloudfront-fle-config"]) == \
        ("created", "updated", "updated", "unchanged")
    second = _profile_key(aws)
    assert second["Id"] != first["Id"]
    assert fingerprint(second["PublicKeyConfig"]["EncodedKey"]) == _secret_fingerprint(aws), \
        "CloudFront encrypts with the public half of the new private key"
    keys = aws.client("cloudfront").list_public_keys()["PublicKeyList"]["Items"]
    assert [k["Id"] for k in keys] == [second["Id"]], "the old public key was deleted"
    calls = [json.loads(line)["operation"] for line in aws.record_path.read_text().splitlines()]
    assert calls.index("UpdateFieldLevelEncryptionProfile") < calls.index("DeletePublicKey"), \
        "create-before-delete: the profile moves to the new key before the old one goes"

    mark = len(aws.calls())
    code, report = aws.cli_json("apply", "--yes", *TARGET)
    assert code == 0 and {s["action"] for s in report["steps"]} == {"unchanged"}
    assert aws.mutating_calls(since=mark) == []

    # Destroying the secret takes everything that reads it along, in reverse order.
    code, report = aws.cli_json("destroy", "--yes", "--target", "secret.fle_private_key")
    assert code == 0, report
    assert {s["step"] for s in report["steps"] if s["action"] == "deleted"} == {
        "secret.fle_private_key", "cloudfront-fle-public-key", "cloudfront-fle-profile",
        "cloudfront-fle-config"}
    cloudfront = aws.client("cloudfront")
    assert not cloudfront.list_field_level_encryption_configs()[
        "FieldLevelEncryptionList"].get("Items")
    assert not cloudfront.list_field_level_encryption_profiles()[
        "FieldLevelEncryptionProfileList"].get("Items")
    assert not cloudfront.list_public_keys()["PublicKeyList"].get("Items")
