"""The resource policy on each secret: its document, the requests, drift.

The sandbox keeps a secret's policy but ignores ``BlockPublicPolicy`` (moto
"not yet implemented"), so the flag is proven here on the request.
"""

from __future__ import annotations

import json
from typing import Any

from tests.unit.stubbed import ACCOUNT, StubbedAws, production_config
from vivr_provision.config import PlatformConfig
from vivr_provision.steps import build_steps
from vivr_provision.steps.base import Resource
from vivr_provision.steps.secret_policies import SecretPolicyStep, secret_policy_steps

NAME = "vivr/production/stripe"
ARN = f"arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:{NAME}-AbCdEf"


def _role(name: str) -> str:
    return f"arn:aws:iam::{ACCOUNT}:role/{name}"


def _step(config: PlatformConfig | None = None, key: str = "stripe") -> SecretPolicyStep:
    steps = {s.key: s for s in secret_policy_steps(config or production_config())}
    step = steps[key]
    assert isinstance(step, SecretPolicyStep)
    return step


def test_every_secret_gets_a_policy_step_after_its_secret() -> None:
    config = production_config()
    names = {s.name for s in build_steps(config)}
    policies = {s.name: s.depends_on() for s in secret_policy_steps(config)}
    assert set(policies) == {f"secret-policy.{k}" for k in config.secrets.names()}
    assert all(deps == (f"secret.{name.split('.', 1)[1]}",) and deps[0] in names
               for name, deps in policies.items())


def test_only_this_account_and_the_granted_roles_may_use_a_secret() -> None:
    document = _step().document(StubbedAws().context(production_config()))
    by_sid = {s["Sid"]: s for s in document["Statement"]}
    assert by_sid["DenyOtherAccounts"] == {
        "Sid": "DenyOtherAccounts", "Effect": "Deny", "Principal": "*",
        "Action": "secretsmanager:*", "Resource": "*",
        "Condition": {"StringNotEquals": {"aws:PrincipalAccount": ACCOUNT},
                      "BoolIfExists": {"aws:PrincipalIsAWSService": "false"}}}
    denied = by_sid["DenyRolesWithoutGrant"]["Condition"]["ArnLike"]["aws:PrincipalArn"]
    # Stripe is read by the app's two ECS roles only: every other role of the tool is refused.
    assert _role("vivr-ecs-task-role") not in denied
    assert _role("vivr-ecs-task-execution-role") not in denied
    assert {_role("vivr-pgbouncer-instance-role"), _role("vivr-backup-role"),
            _role("vivr-cloudfront-role"), _role("vivr-rds-monitoring-role")} <= set(denied)
    # The database credentials are also PgBouncer's to read.
    database = _step(key="database_credentials").document(
        StubbedAws().context(production_config()))
    denied_db = database["Statement"][1]["Condition"]["ArnLike"]["aws:PrincipalArn"]
    assert _role("vivr-pgbouncer-instance-role") not in denied_db


def test_the_policy_is_put_with_block_public_policy_and_read_back() -> None:
    step = _step()
    with StubbedAws() as aws:
        ctx = aws.context(step.config)
        document = step.document(ctx)
        aws.expect("secretsmanager", "put_resource_policy", {"ARN": ARN, "Name": NAME},
                   {"SecretId": NAME, "ResourcePolicy": json.dumps(document),
                    "BlockPublicPolicy": True})
        aws.expect("secretsmanager", "get_resource_policy",
                   {"ARN": ARN, "Name": NAME, "ResourcePolicy": json.dumps(document, indent=1)},
                   {"SecretId": NAME})
        created = step.create(ctx, "token")
        # Read back spelled differently, it is the same document: no drift.
        assert step.diff(ctx, created) == []
    assert created.id == ARN


def _drift(policy: Any) -> list[str]:
    step = _step()
    with StubbedAws() as aws:
        ctx = aws.context(step.config)
        return [c.describe() for c in step.diff(ctx, Resource(ARN, {"Policy": policy}))]


def test_a_policy_edited_by_hand_is_drift_and_a_missing_one_is_created() -> None:
    step = _step()
    with StubbedAws() as aws:
        ctx = aws.context(step.config)
        widened = step.document(ctx)
        widened["Statement"] = widened["Statement"][:1]
    assert _drift(widened) == ["policy: 'differs' -> 'the configured policy' (update)"]
    with StubbedAws() as aws:
        aws.expect("secretsmanager", "get_resource_policy", {"ARN": ARN, "Name": NAME},
                   {"SecretId": NAME})
        assert step.lookup(aws.context(step.config)) is None


def test_destroy_removes_the_policy_and_a_gone_secret_is_no_error() -> None:
    step = _step()
    with StubbedAws() as aws:
        ctx = aws.context(step.config)
        aws.expect("secretsmanager", "delete_resource_policy", {"ARN": ARN, "Name": NAME},
                   {"SecretId": NAME})
        aws.expect_error("secretsmanager", "delete_resource_policy",
                         "ResourceNotFoundException", params={"SecretId": NAME})
        step.delete(ctx, Resource(ARN, {}))
        step.delete(ctx, Resource(ARN, {}))


def test_without_the_section_no_policy_is_managed() -> None:
    config = production_config()
    bare = config.model_copy(update={"secrets": config.secrets.model_copy(
        update={"resource_policy": None})})
    assert secret_policy_steps(bare) == []


def test_check_reads_each_secret_through_its_policy_and_names_a_deny_that_locks_out() -> None:
    from vivr_provision.check.access import check_access
    from vivr_provision.check.documents import build_documents
    from vivr_provision.check.policy import NamedPolicy

    config = production_config()
    documents = build_documents(config)
    reads = [r for r in check_access(config, documents)
             if r.actions == ("secretsmanager:GetSecretValue",)]
    assert reads and all(r.ok for r in reads)
    # A policy that refused the app's own role would be caught before apply.
    stripe = documents.secret_policies["stripe"]
    locked = json.loads(json.dumps(stripe.document))
    locked["Statement"][1]["Condition"]["ArnLike"]["aws:PrincipalArn"].append(
        "arn:aws:iam::*:role/vivr-ecs-task-role")
    documents.secret_policies["stripe"] = NamedPolicy(stripe.name, locked)
    failed = [r for r in check_access(config, documents) if not r.ok]
    assert [(r.principal, r.why) for r in failed] == [
        ("ECS task role (vivr-ecs-task-role)", "app reads secret: stripe")]
    assert "explicitly denied by resource policy of vivr/production/stripe" \
        "#DenyRolesWithoutGrant" in failed[0].reason
