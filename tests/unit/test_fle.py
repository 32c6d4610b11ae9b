"""CloudFront field-level encryption (issue 12) on stubbed clients.

The requests AWS receives (CreatePublicKey, CreateFieldLevelEncryptionProfile,
CreateFieldLevelEncryptionConfig with their shapes), drift read the way AWS
spells it, a key pair changed in the secret (new public key first, the
profile moved to it, then the old key deleted with its ETag), the config
rules on the behaviours that can carry it, and that the private key never
reaches a log line.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.unit.stubbed import ACCOUNT, REPO, StubbedAws, production_config
from vivr_provision import log
from vivr_provision.config import load_config
from vivr_provision.errors import ConfigError
from vivr_provision.steps import build_steps
from vivr_provision.steps.base import Resource
from vivr_provision.steps.cloudfront.distribution import DistributionStep
from vivr_provision.steps.cloudfront.fle import ConfigStep, ProfileStep, PublicKeyStep
from vivr_provision.steps.key_pairs import (
    fingerprint,
    generate_private_key_pem,
    public_key_pem,
)
from vivr_provision.steps.secrets import KeyPairSecretStep, secret_steps

SECRET_ARN = (f"arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:"
              "vivr/production/cloudfront/fle-private-key-AbCdEf")
NOTE = "[vivr-provision vivr/production]"
PRIVATE = generate_private_key_pem()
PUBLIC = public_key_pem(PRIVATE)
FP = fingerprint(PUBLIC)
OUTPUTS = {"secret.fle_private_key": {"arn": SECRET_ARN},
           "cloudfront-fle-public-key": {"public_key_id": "K2NEWKEY"},
           "cloudfront-fle-profile": {"profile_id": "P1PROFILE"}}
PROFILE_CONFIG = {
    "Name": "vivr-cdn-fle", "CallerReference": "ref-1",
    "Comment": f"vivr-cdn field-level encryption profile {NOTE}",
    "EncryptionEntities": {"Quantity": 1, "Items": [{
        "PublicKeyId": "K2NEWKEY", "ProviderId": "vivr-production-app",
        "FieldPatterns": {"Quantity": 3, "Items": ["password", "card_number", "cvc"]}}]},
}
FLE_CONFIG = {
    "CallerReference": "ref-2", "Comment": f"vivr-cdn field-level encryption config {NOTE}",
    "QueryArgProfileConfig": {"ForwardWhenQueryArgProfileIsUnknown": False,
                              "QueryArgProfiles": {"Quantity": 0}},
    "ContentTypeProfileConfig": {"ForwardWhenContentTypeIsUnknown": True,
                                 "ContentTypeProfiles": {"Quantity": 1, "Items": [{
                                     "Format": "URLEncoded", "ProfileId": "P1PROFILE",
                                     "ContentType": "application/x-www-form-urlencoded"}]}},
}


def _expect_secret(aws: StubbedAws, value: str = PRIVATE) -> None:
    aws.expect("secretsmanager", "get_secret_value",
               {"ARN": SECRET_ARN, "Name": "vivr/production/cloudfront/fle-private-key",
                "SecretString": value}, {"SecretId": SECRET_ARN})


def _key_reply(key_id: str, public: str, name: str, etag: str = "EK1") -> dict[str, Any]:
    return {"PublicKey": {"Id": key_id, "CreatedTime": "2026-12-06T10:00:00Z",
                          "PublicKeyConfig": {"CallerReference": "r", "Name": name,
                                              "EncodedKey": public,
                                              "Comment": f"vivr-cdn field-level encryption "
                                                         f"key {NOTE}"}},
            "ETag": etag}


# --------------------------------------------------------------------------- the key pair

def test_the_key_pair_is_rsa_2048_and_its_public_half_has_a_stable_fingerprint() -> None:
    key = serialization.load_pem_private_key(PRIVATE.encode(), None)
    assert isinstance(key, rsa.RSAPrivateKey) and key.key_size == 2048
    assert PRIVATE.startswith("-----BEGIN PRIVATE KEY-----")  # PKCS#8
    assert PUBLIC.startswith("-----BEGIN PUBLIC KEY-----")    # SubjectPublicKeyInfo
    assert fingerprint(PUBLIC.rstrip("\n")) == fingerprint(PUBLIC + "\n") == FP
    assert fingerprint(public_key_pem(generate_private_key_pem())) != FP


@pytest.mark.parametrize("value", ["not a key", rsa.generate_private_key(
    public_exponent=65537, key_size=1024).private_bytes(
    serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
    serialization.NoEncryption()).decode()], ids=["garbage", "RSA 1024"])
def test_a_secret_that_is_no_rsa_2048_key_is_one_clear_error_without_the_value(
        value: str) -> None:
    step = PublicKeyStep(production_config())
    with StubbedAws() as aws:
        _expect_secret(aws, value)
        with pytest.raises(RuntimeError) as caught:
            step.wanted(aws.context(step.config, OUTPUTS))
    message = str(caught.value)
    assert message == ("cloudfront-fle-public-key: secret "
                       "vivr/production/cloudfront/fle-private-key does not hold an RSA 2048 "
                       "private key (PEM); put one in it, or delete the secret so that apply "
                       "generates a new key pair")
    assert caught.value.__cause__ is None


def test_the_key_secret_gets_what_every_secret_gets_and_the_app_reads_it() -> None:
    """Resource policy step, both ECS roles' read grant, the container's variable."""
    config = production_config()
    names = {step.name for step in build_steps(config)}
    assert {"secret.fle_private_key", "secret-policy.fle_private_key"} <= names
    for role in (config.iam.task_role, config.iam.task_execution_role):
        [grant] = [g for g in role.grants if g.capability == "SecretsManagerReadSecret"]
        assert "fle_private_key" in grant.resources, role.name
    assert ("CLOUDFRONT_FLE_PRIVATE_KEY", "fle_private_key") in {
        (s.env, s.secret) for s in config.ecs.task_definition.container.secrets}


def test_the_private_key_is_a_generated_secret_redacted_even_with_escaped_newlines() -> None:
    config = production_config()
    [step] = [s for s in secret_steps(config) if s.name == "secret.fle_private_key"]
    assert isinstance(step, KeyPairSecretStep) and step.generated
    assert step.resource_name() == "vivr/production/cloudfront/fle-private-key"
    assert step.replica_region() == "us-west-2", "the standby decrypts after a failover"
    value = step.initial_value(StubbedAws().context(config))
    line = log.redact(f"aws.call params={ {'SecretString': value}!r}")
    body = [part for part in value.splitlines() if not part.startswith("-----")]
    assert not any(part in line for part in body), "a line of the private key was logged"


# --------------------------------------------------------------------------- requests

def test_create_uploads_the_public_half_named_by_its_fingerprint() -> None:
    step = PublicKeyStep(production_config())
    with StubbedAws() as aws:
        ctx = aws.context(step.config, OUTPUTS)
        _expect_secret(aws)
        name = f"vivr-cdn-fle-{FP}"
        aws.expect("cloudfront", "create_public_key", _key_reply("K1", PUBLIC, name), {
            "PublicKeyConfig": {"CallerReference": "token-1", "Name": name,
                                "EncodedKey": PUBLIC,
                                "Comment": f"vivr-cdn field-level encryption key {NOTE}"}})
        created = step.create(ctx, "token-1")
    assert step.outputs(created) == {"id": "K1", "public_key_id": "K1", "name": name,
                                     "fingerprint": FP}
    assert step.depends_on() == ("secret.fle_private_key",)


def test_profile_and_config_requests_carry_the_configured_fields() -> None:
    config = production_config()
    profile, fle = ProfileStep(config), ConfigStep(config)
    with StubbedAws() as aws:
        ctx = aws.context(config, OUTPUTS)
        aws.expect("cloudfront", "create_field_level_encryption_profile", {
            "FieldLevelEncryptionProfile": {"Id": "P1PROFILE",
                                            "LastModifiedTime": "2026-12-06T10:00:00Z",
                                            "FieldLevelEncryptionProfileConfig": {
                                                **PROFILE_CONFIG, "CallerReference": "t1"}},
            "ETag": "EP1"},
            {"FieldLevelEncryptionProfileConfig": {**PROFILE_CONFIG, "CallerReference": "t1"}})
        aws.expect("cloudfront", "create_field_level_encryption_config", {
            "FieldLevelEncryption": {"Id": "C1CONFIG",
                                     "LastModifiedTime": "2026-12-06T10:00:00Z",
                                     "FieldLevelEncryptionConfig": {**FLE_CONFIG,
                                                                    "CallerReference": "t2"}},
            "ETag": "EC1"},
            {"FieldLevelEncryptionConfig": {**FLE_CONFIG, "CallerReference": "t2"}})
        assert profile.outputs(profile.create(ctx, "t1"))["profile_id"] == "P1PROFILE"
        assert fle.outputs(fle.create(ctx, "t2")) == {"id": "C1CONFIG",
                                                      "field_level_encryption_id": "C1CONFIG"}


# --------------------------------------------------------------------------- drift

@pytest.mark.parametrize(("edit", "expected"), [
    (lambda c: c["EncryptionEntities"]["Items"][0]["FieldPatterns"]["Items"].reverse(), []),
    (lambda c: c["EncryptionEntities"]["Items"][0]["FieldPatterns"].update(
        Quantity=2, Items=["password", "cvc"]),
     [("FieldPatterns", ["cvc", "password"], ["card_number", "cvc", "password"])]),
    (lambda c: c["EncryptionEntities"]["Items"][0].update(ProviderId="other"),
     [("ProviderId", ["other"], ["vivr-production-app"])]),
], ids=["patterns in another order", "a pattern removed by hand", "another provider"])
def test_profile_drift(edit: Any, expected: list[tuple[str, Any, Any]]) -> None:
    step = ProfileStep(production_config())
    document = copy.deepcopy(PROFILE_CONFIG)
    edit(document)
    with StubbedAws() as aws:
        changes = step.diff(aws.context(step.config, OUTPUTS),
                            Resource("P1PROFILE", {"Config": document, "ETag": "EP1"}))
    assert [(c.field, c.current, c.desired) for c in changes] == expected


def test_config_drift_forwarding_unknown_content_types_turned_off() -> None:
    step = ConfigStep(production_config())
    document = copy.deepcopy(FLE_CONFIG)
    document["ContentTypeProfileConfig"]["ForwardWhenContentTypeIsUnknown"] = False
    with StubbedAws() as aws:
        ctx = aws.context(step.config, OUTPUTS)
        assert step.diff(ctx, Resource("C1", {"Config": FLE_CONFIG, "ETag": "E"})) == []
        changes = step.diff(ctx, Resource("C1", {"Config": document, "ETag": "E"}))
    assert [(c.field, c.current, c.desired) for c in changes] == \
        [("ForwardWhenContentTypeIsUnknown", False, True)]


# --------------------------------------------------------------------------- a new key pair

def test_a_new_key_in_the_secret_is_uploaded_before_the_old_one_is_deleted() -> None:
    """Create-before-delete: the public key step uploads the new half (the old key
    still serves the profile), the profile moves to it, then the old key goes."""
    config = production_config()
    keys, profile = PublicKeyStep(config), ProfileStep(config)
    old_public = public_key_pem(generate_private_key_pem())
    old = Resource("K1OLDKEY", {"Config": _key_reply("K1OLDKEY", old_public, "x")["PublicKey"][
        "PublicKeyConfig"], "ETag": "EK1", "Fingerprint": fingerprint(old_public)})
    with StubbedAws() as aws:
        ctx = aws.context(config, OUTPUTS)
        _expect_secret(aws)
        changes = keys.diff(ctx, old)
        assert [(c.field, c.current, c.desired) for c in changes] == \
            [("EncodedKey (SHA-256 fingerprint)", fingerprint(old_public), FP)]
        # The update uploads the key the diff read: a run reads the secret once.
        aws.expect("cloudfront", "create_public_key",
                   _key_reply("K2NEWKEY", PUBLIC, f"vivr-cdn-fle-{FP}"))
        assert keys.update(ctx, old, changes).id == "K2NEWKEY"

        on_old_key = copy.deepcopy(PROFILE_CONFIG)
        on_old_key["EncryptionEntities"]["Items"][0]["PublicKeyId"] = "K1OLDKEY"
        resource = Resource("P1PROFILE", {"Config": on_old_key, "ETag": "EP1"})
        moved = profile.diff(ctx, resource)
        assert [(c.field, c.current, c.desired) for c in moved] == \
            [("PublicKeyId", ["K1OLDKEY"], ["K2NEWKEY"])]
        aws.expect("cloudfront", "get_field_level_encryption_profile_config",
                   {"FieldLevelEncryptionProfileConfig": on_old_key, "ETag": "EP2"},
                   {"Id": "P1PROFILE"})
        aws.expect("cloudfront", "update_field_level_encryption_profile", {"ETag": "EP3"},
                   {"Id": "P1PROFILE", "IfMatch": "EP2",
                    "FieldLevelEncryptionProfileConfig": PROFILE_CONFIG})
        # The old key: ours (name prefix and note), deleted with its current ETag.
        reply = _key_reply("K1OLDKEY", old_public, "vivr-cdn-fle-0123456789abcdef", "EK7")
        aws.expect("cloudfront", "get_public_key", reply, {"Id": "K1OLDKEY"})
        aws.expect("cloudfront", "get_public_key", reply, {"Id": "K1OLDKEY"})
        aws.expect("cloudfront", "delete_public_key", {}, {"Id": "K1OLDKEY", "IfMatch": "EK7"})
        aws.expect("cloudfront", "get_field_level_encryption_profile", {
            "FieldLevelEncryptionProfile": {"Id": "P1PROFILE",
                                            "LastModifiedTime": "2026-12-06T10:00:00Z",
                                            "FieldLevelEncryptionProfileConfig": PROFILE_CONFIG},
            "ETag": "EP3"}, {"Id": "P1PROFILE"})
        profile.update(ctx, resource, moved)


def test_a_replaced_key_that_is_not_ours_is_left_alone() -> None:
    step = PublicKeyStep(production_config())
    with StubbedAws() as aws:
        reply = _key_reply("K9", PUBLIC, "someone-elses-key")
        aws.expect("cloudfront", "get_public_key", reply, {"Id": "K9"})
        step.retire(aws.context(step.config), "K9")  # no DeletePublicKey announced


# --------------------------------------------------------------------------- behaviours

def test_post_behaviours_to_the_app_carry_it_and_static_ones_do_not() -> None:
    config = production_config()
    assert [b.path_pattern for b in config.cloudfront.fle_behaviours()] == ["/api/*", "*"]
    step = DistributionStep(config)
    assert "cloudfront-fle-config" in step.depends_on()
    ctx = StubbedAws().context(config, {"cloudfront-fle-config": {
        "field_level_encryption_id": "C1CONFIG"}})
    ids = {b.path_pattern: step.field_level_encryption_id(ctx, b)
           for b in config.cloudfront.behaviours}
    assert ids == {"/api/*": "C1CONFIG", "/_next/static/*": "", "/images/*": "", "*": "C1CONFIG"}


BASE = yaml.safe_load((REPO / "config" / "production.yaml").read_text())


def _problems(tmp_path: Path, edit: Any) -> list[str]:
    data = copy.deepcopy(BASE)
    edit(data)
    path = tmp_path / "production.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError) as caught:
        load_config(path, "production")
    lines = str(caught.value).splitlines()
    if len(lines) == 1:  # "<path>: <problem>"
        return [lines[0].split(": ", 1)[1]]
    return [line.strip() for line in lines[1:]]  # "<path>: N errors", then one each


def test_config_refuses_what_cloudfront_would(tmp_path: Path) -> None:
    def edit(data: dict[str, Any]) -> None:
        data["cloudfront"]["behaviours"][3]["viewer_protocol_policy"] = "allow-all"
        data["cloudfront"]["security"]["field_level_encryption"]["private_key_secret"] = \
            "stripe"

    assert sorted(_problems(tmp_path, edit)) == [
        "cloudfront.behaviours *: field-level encryption needs viewer_protocol_policy "
        "https-only or redirect-to-https",
        "cloudfront.security.field_level_encryption.private_key_secret 'stripe' is not a key "
        "of secrets.key_pairs",
    ]
    overlap = _problems(tmp_path, lambda d: d["cloudfront"]["security"][
        "field_level_encryption"].update(field_patterns=["card*", "card_number"]))
    assert overlap == ["cloudfront.security.field_level_encryption: field patterns 'card*' and "
                       "'card_number' overlap"]
