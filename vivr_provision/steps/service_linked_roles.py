"""AWS service-linked roles the platform's key policy has to name.

A service-linked role belongs to AWS and to the whole account: one
``AWSServiceRoleForAutoScaling`` serves every Auto Scaling group of every
stack in it.  AWS creates it implicitly on first use by the console, but
not before: an account that has never had an Auto Scaling group has none.
That matters because a KMS key policy may only name principals that exist
(``CreateKey``/``PutKeyPolicy`` answer ``MalformedPolicyDocumentException``
otherwise), and with ``ecs.launch_type: ec2`` the key policy must name this
role, or the group cannot launch instances whose volumes the key encrypts
(EC2 Auto Scaling user guide "Required AWS KMS key policy for use with
encrypted volumes").

So this step runs before the key: it adopts the role when it exists
(``GetRole``), else creates it (``CreateServiceLinkedRole``, which takes no
tags and no idempotency token; a concurrent creator makes it answer
``InvalidInput`` "has been taken", and the role is then adopted).  Destroy
never deletes it: other stacks and AWS itself may rely on it, and AWS
refuses the deletion while any group uses it.  The destroy report says so.
"""

from __future__ import annotations

from typing import Any

from vivr_provision import aws_errors
from vivr_provision.aws import error_code
from vivr_provision.config import PlatformConfig
from vivr_provision.config.app import ServiceLinkedRoleConfig
from vivr_provision.log import get_logger
from vivr_provision.retry import until_found
from vivr_provision.steps.base import NamedStep, Resource, Step, StepContext
from vivr_provision.steps.common import absent_on
from vivr_provision.steps.kinds import IAM_ROLE

AUTOSCALING_SLR_STEP = "iam-slr.autoscaling"
events = get_logger("vivr.iam")


def autoscaling_role_wanted(config: PlatformConfig) -> bool:
    """Only the EC2 launch type has an Auto Scaling group (and CMK-encrypted volumes in it)."""
    return config.ecs.launch_type == "ec2"


class ServiceLinkedRoleStep(NamedStep):
    """One service-linked role: adopted or created, never deleted."""

    family = "iam-slr"
    service = "iam"
    expected_seconds = 2.0

    def __init__(self, config: PlatformConfig, key: str, role: ServiceLinkedRoleConfig) -> None:
        super().__init__(config, key)
        self.role = role

    def resource_name(self) -> str:
        return self.role.role_name

    def iam(self, ctx: StepContext) -> Any:
        return ctx.client("iam", self.region)

    @property
    def path(self) -> str:
        """Where AWS puts every service-linked role of this service."""
        return f"/aws-service-role/{self.role.service_name}/"

    def lookup(self, ctx: StepContext) -> Resource | None:
        """The role by its fixed name.  AWS's role carries no tags (``CreateServiceLinkedRole``
        takes none), so it is told from a same-named role of someone else's by its path."""
        reply = absent_on(IAM_ROLE.not_found, self.iam(ctx).get_role, RoleName=self.role.role_name)
        if reply is None:
            return None
        role = dict(reply["Role"])
        if role.get("Path") != self.path:
            raise RuntimeError(
                f"{self.name}: IAM role {self.role.role_name} exists but is not the "
                f"service-linked role of {self.role.service_name} (path {role.get('Path')!r}, "
                f"expected {self.path!r}); rename or delete that role")
        return Resource(str(role["Arn"]), role)

    def create(self, ctx: StepContext, token: str) -> Resource:
        try:
            self.iam(ctx).create_service_linked_role(AWSServiceName=self.role.service_name,
                                                     Description=self.role.description)
            events.info("iam.service_linked_role.created", step=self.name,
                        role=self.role.role_name)
        except aws_errors.ClientError as exc:
            taken = error_code(exc) == "EntityAlreadyExists" or (
                error_code(exc) == "InvalidInput" and "taken" in str(exc))
            if not taken:
                raise
            # Made by someone else meanwhile (another stack, the console): adopt it.
        return until_found(f"role {self.role.role_name}", lambda: self.lookup(ctx))

    def delete(self, ctx: StepContext, resource: Resource) -> list[str]:
        """Keep it: account-wide, shared with every other Auto Scaling user of the account."""
        return [f"service-linked role {self.role.role_name} kept: it is account-wide (every "
                f"Auto Scaling group of the account uses it); `aws iam "
                f"delete-service-linked-role --role-name {self.role.role_name}` removes it once "
                "nothing uses it"]

    def outputs(self, resource: Resource) -> dict[str, Any]:
        return {"id": resource.id, "role_arn": resource.id, "role_name": self.role.role_name}


def service_linked_role_steps(config: PlatformConfig) -> list[Step]:
    """The Auto Scaling service-linked role, with the EC2 launch type only."""
    if not autoscaling_role_wanted(config):
        return []
    role = config.iam.autoscaling_service_linked_role
    return [ServiceLinkedRoleStep(config, "autoscaling", role)]


__all__ = ["AUTOSCALING_SLR_STEP", "ServiceLinkedRoleStep", "autoscaling_role_wanted",
           "service_linked_role_steps"]
