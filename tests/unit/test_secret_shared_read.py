"""One ``DescribeSecret`` of the origin-verify secret for its step and its rotation step.

The secret step's first read is handed, once, to the rotation step (which
depends on it), so the pair costs one call; each step's data is what its own
direct read gives.  An answer that shows rotation off is read again; the
rotation step read first (destroy's order) loads nothing; a missing secret is
asked once, not twice; other secrets are read as before.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.unit.stubbed import ACCOUNT, StubbedAws, Unbatched, production_config
from vivr_provision.config import PlatformConfig
from vivr_provision.steps import build_steps
from vivr_provision.steps.base import StepContext
from vivr_provision.steps.secret_rotation import SecretRotationStep
from vivr_provision.steps.secrets import SecretStep

ARN = f"arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:origin-verify-AbCdEf"
FUNCTION_ARN = (f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:"
                "vivr-production-origin-verify-rotation")


@pytest.fixture(scope="module")
def config() -> PlatformConfig:
    return production_config()


def _steps(config: PlatformConfig) -> tuple[SecretStep, SecretRotationStep]:
    steps = {s.name: s for s in build_steps(config)}
    secret, rotation = steps["secret.origin_verify"], steps["secret-rotation.origin_verify"]
    assert isinstance(secret, SecretStep) and isinstance(rotation, SecretRotationStep)
    return secret, rotation


def _described(step: SecretStep, **edits: Any) -> dict[str, Any]:
    return {"ARN": ARN, "Name": step.secret_name, "Description": step.description,
            "KmsKeyId": "alias/vivr-production",
            "Tags": [{"Key": k, "Value": v} for k, v in step.tags().items()],
            "RotationEnabled": True, "RotationLambdaARN": FUNCTION_ARN,
            "RotationRules": {"AutomaticallyAfterDays": 30},
            "VersionIdsToStages": {"v" * 32: ["AWSCURRENT"]}, **edits}


def _context(aws: StubbedAws, config: PlatformConfig, *, batched: bool = True) -> StepContext:
    ctx = aws.context(config, batched=True)
    if not batched:
        ctx.reads = Unbatched()
    return ctx


def test_the_rotation_step_takes_the_secret_steps_describe(config: PlatformConfig) -> None:
    secret, rotation = _steps(config)
    described = _described(secret)
    with StubbedAws() as aws:
        direct = _context(aws, config, batched=False)
        aws.expect("secretsmanager", "describe_secret", described, {"SecretId": ARN})
        aws.expect("secretsmanager", "describe_secret", described,
                   {"SecretId": secret.secret_name})
        expected = (secret.find(direct, ARN), rotation.find(direct, ARN))
        ctx = _context(aws, config)
        aws.expect("secretsmanager", "describe_secret", described, {"SecretId": ARN})
        shared = (secret.find(ctx, ARN), rotation.find(ctx, ARN))
    assert shared == expected
    assert shared[1] is not None and shared[1].data == {"RotationLambdaARN": FUNCTION_ARN,
                                                        "Days": 30}
    assert ctx.reads.loads == 1 and ctx.reads.served == 2


def test_each_step_reads_directly_after_its_first_read(config: PlatformConfig) -> None:
    """The engine's confirming read and the re-read after a write ask AWS."""
    secret, rotation = _steps(config)
    described = _described(secret)
    with StubbedAws() as aws:
        ctx = _context(aws, config)
        aws.expect("secretsmanager", "describe_secret", described, {"SecretId": ARN})
        secret.find(ctx, ARN)
        rotation.find(ctx, ARN)
        aws.expect("secretsmanager", "describe_secret", described, {"SecretId": ARN})
        aws.expect("secretsmanager", "describe_secret", described,
                   {"SecretId": secret.secret_name})
        assert secret.find(ctx, ARN) is not None
        assert rotation.find(ctx, ARN) is not None


@pytest.mark.parametrize("edits", [{"RotationEnabled": False},
                                   {"DeletedDate": "2026-12-06T13:00:00Z"}],
                         ids=["rotation off", "scheduled for deletion"])
def test_an_answer_without_rotation_is_read_again(config: PlatformConfig,
                                                  edits: dict[str, Any]) -> None:
    """The secret step may have restored the secret since: the shared answer never
    makes the rotation step create what a direct read would find."""
    secret, rotation = _steps(config)
    with StubbedAws() as aws:
        ctx = _context(aws, config)
        aws.expect("secretsmanager", "describe_secret", _described(secret, **edits),
                   {"SecretId": ARN})
        if "DeletedDate" in edits:  # gone until restored: then looked up by name
            aws.expect("secretsmanager", "describe_secret", _described(secret, **edits),
                       {"SecretId": secret.secret_name})
        secret.find(ctx, ARN)
        aws.expect("secretsmanager", "describe_secret", _described(secret),
                   {"SecretId": secret.secret_name})
        found = rotation.find(ctx, ARN)
    assert found is not None and found.id == ARN


def test_the_rotation_step_read_first_loads_nothing(config: PlatformConfig) -> None:
    """Destroy walks the rotation step first (and turns rotation off): each reads its own."""
    secret, rotation = _steps(config)
    described = _described(secret)
    with StubbedAws() as aws:
        ctx = _context(aws, config)
        aws.expect("secretsmanager", "describe_secret", described,
                   {"SecretId": secret.secret_name})
        assert rotation.find(ctx, ARN) is not None
        aws.expect("secretsmanager", "describe_secret", {**described, "RotationEnabled": False},
                   {"SecretId": ARN})
        found = secret.find(ctx, ARN)
    assert found is not None and found.data["RotationEnabled"] is False


def test_a_missing_secret_is_not_asked_again_for_the_batch(config: PlatformConfig) -> None:
    """Gone since state recorded its ARN: the secret step asks by ARN then by name,
    the rotation step by name (twice: by id, then as a lookup), all as before."""
    secret, rotation = _steps(config)
    with StubbedAws() as aws:
        ctx = _context(aws, config)
        for secret_id in (ARN, *[secret.secret_name] * 3):
            aws.expect_error("secretsmanager", "describe_secret", "ResourceNotFoundException",
                             params={"SecretId": secret_id})
        assert secret.find(ctx, ARN) is None
        assert rotation.find(ctx, ARN) is None


def test_a_secret_without_a_rotation_step_is_read_as_before(config: PlatformConfig) -> None:
    stripe = next(s for s in build_steps(config)
                  if isinstance(s, SecretStep) and s.key == "stripe")
    described = {**_described(stripe), "ARN": ARN.replace("origin-verify", "stripe")}
    with StubbedAws() as aws:
        ctx = _context(aws, config)
        aws.expect("secretsmanager", "describe_secret", described,
                   {"SecretId": described["ARN"]})
        assert stripe.find(ctx, described["ARN"]) is not None
    assert ctx.reads.loads == 0
