"""A resource policy on each secret: ``secret-policy.<key>`` (``secrets.resource_policy``).

Identity policies decide who may read a secret; a resource policy is the
second lock that still holds when an identity policy is too broad (a role
given ``secretsmanager:*`` by hand, another account trusted by mistake).
Two deny statements, nothing allowed here (the readers' grants allow):

* ``DenyOtherAccounts``: any principal of another account, except AWS
  services acting for us (``aws:PrincipalIsAWSService``);
* ``DenyRolesWithoutGrant`` (``deny_other_roles``): the tool's own roles that
  hold no ``SecretsManagerReadSecret`` grant on this secret, by
  ``aws:PrincipalArn`` (a role session's principal ARN is the role's).

The operators who run the tool are not named: they keep what their own IAM
policies give (the tool reads generated values to hand them to RDS,
ElastiCache and CloudFront).  ``BlockPublicPolicy`` makes Secrets Manager
refuse a document that would let anyone in (Secrets Manager user guide,
"Attach a permissions policy to a secret"); it is a request flag, not a
readable setting.  AWS copies a primary's resource policy to its replicas
(user guide, "Replicate a secret to other Regions": tags and resource
policy travel with the secret), so the DR replica needs no step of its own.
"""

from __future__ import annotations

import json
from typing import Any

from vivr_provision.config import PlatformConfig
from vivr_provision.config.data import SecretPolicyConfig
from vivr_provision.steps.base import Change, NamedStep, Resource, Step, StepContext
from vivr_provision.steps.common import absent_on, gone_on
from vivr_provision.steps.drift import Field, converge, drift
from vivr_provision.steps.iam import IamRoleStep, iam_steps
from vivr_provision.steps.kinds import SECRET
from vivr_provision.steps.policy_documents import Labelled, parsed
from vivr_provision.steps.redis_export import redis_export_steps
from vivr_provision.steps.secret_rotation import SECRET_KEY as ROTATED_SECRET
from vivr_provision.steps.secret_rotation import role_steps as rotation_role_steps

POLICY_FAMILY = "secret-policy"


def tool_roles(config: PlatformConfig) -> list[IamRoleStep]:
    """Every role this tool builds for the config (the redis export's and the
    origin-verify rotation function's included)."""
    steps = [*iam_steps(config), *redis_export_steps(config), *rotation_role_steps(config)]
    return [step for step in steps if isinstance(step, IamRoleStep)]


def reader_names(config: PlatformConfig, key: str) -> list[str]:
    """The roles granted ``SecretsManagerReadSecret`` on secret ``key``, and the
    rotation function's role on the secret it rotates (its inline policy)."""
    readers = {step.role.name for step in tool_roles(config)
               if any(g.capability == "SecretsManagerReadSecret" and key in g.resources
                      for g in step.role.grants)}
    if key == ROTATED_SECRET:
        readers.update(step.role.name for step in rotation_role_steps(config))
    return sorted(readers)


def secret_policy(config: PlatformConfig, rules: SecretPolicyConfig, key: str,
                  account: str) -> dict[str, Any]:
    """The document for secret ``key`` (``Resource: *`` is the secret itself)."""
    statements: list[dict[str, Any]] = [{
        "Sid": "DenyOtherAccounts", "Effect": "Deny", "Principal": "*",
        "Action": "secretsmanager:*", "Resource": "*",
        "Condition": {"StringNotEquals": {"aws:PrincipalAccount": account},
                      "BoolIfExists": {"aws:PrincipalIsAWSService": "false"}}}]
    readers = set(reader_names(config, key))
    others = sorted(f"arn:aws:iam::{account}:role/{step.role.name}"
                    for step in tool_roles(config) if step.role.name not in readers)
    if rules.deny_other_roles and others:
        statements.append({
            "Sid": "DenyRolesWithoutGrant", "Effect": "Deny", "Principal": "*",
            "Action": "secretsmanager:*", "Resource": "*",
            "Condition": {"ArnLike": {"aws:PrincipalArn": others}}})
    return {"Version": "2012-10-17", "Statement": statements}


class SecretPolicyStep(NamedStep):
    """The resource policy of the secret ``secret.<key>`` builds, read with GetResourcePolicy."""

    family = POLICY_FAMILY
    service = "secretsmanager"
    kinds = (SECRET,)

    def __init__(self, config: PlatformConfig, key: str, rules: SecretPolicyConfig) -> None:
        super().__init__(config, key)
        self.rules = rules

    @property
    def secret_key(self) -> str:
        assert self.key is not None
        return self.key

    def resource_name(self) -> str:
        return self.config.secrets.name_of(self.secret_key)

    def depends_on(self) -> tuple[str, ...]:
        return (f"secret.{self.secret_key}",)

    def sm(self, ctx: StepContext) -> Any:
        return ctx.client("secretsmanager", self.region)

    def document(self, ctx: StepContext) -> dict[str, Any]:
        return secret_policy(self.config, self.rules, self.secret_key, ctx.account_id)

    def lookup(self, ctx: StepContext) -> Resource | None:
        """The secret's policy; None when it has none (or the secret is gone)."""
        reply = absent_on(SECRET.not_found, self.sm(ctx).get_resource_policy,
                          SecretId=self.resource_name())
        if reply is None or not reply.get("ResourcePolicy"):
            return None
        return Resource(str(reply["ARN"]), {"Policy": parsed(reply["ResourcePolicy"])})

    FIELDS = (Field("policy", lambda d: Labelled(d["Policy"], "differs"),
                    lambda s, ctx: Labelled(s.document(ctx), "the configured policy"),
                    apply="put"),)

    def diff(self, ctx: StepContext, resource: Resource) -> list[Change]:
        return drift(self, ctx, resource.data, self.FIELDS)

    def _put(self, ctx: StepContext) -> Resource:
        self.sm(ctx).put_resource_policy(
            SecretId=self.resource_name(), ResourcePolicy=json.dumps(self.document(ctx)),
            BlockPublicPolicy=self.rules.block_public_policy)
        found = self.lookup(ctx)
        assert found is not None, f"the policy of {self.resource_name()} is attached"
        return found

    def put(self, ctx: StepContext, resource: Resource, changes: list[Change]) -> None:
        self._put(ctx)

    def create(self, ctx: StepContext, token: str) -> Resource:
        return self._put(ctx)

    def update(self, ctx: StepContext, resource: Resource, changes: list[Change]) -> Resource:
        converge(self, ctx, resource, changes, self.FIELDS)
        found = self.lookup(ctx)
        assert found is not None, f"the policy of {self.resource_name()} is attached"
        return found

    def delete(self, ctx: StepContext, resource: Resource) -> None:
        gone_on(SECRET.not_found, self.sm(ctx).delete_resource_policy,
                SecretId=self.resource_name())

    def outputs(self, resource: Resource) -> dict[str, Any]:
        return {"id": resource.id, "secret_arn": resource.id}


def secret_policy_steps(config: PlatformConfig) -> list[Step]:
    """One per secret of ``secrets`` when ``secrets.resource_policy`` is set."""
    rules = config.secrets.resource_policy
    if rules is None:
        return []
    return [SecretPolicyStep(config, key, rules) for key in config.secrets.names()]
