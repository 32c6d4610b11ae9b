"""A StepContext whose dependency outputs are symbolic ARNs, for building documents offline.

``check`` proves the policies the steps would send, so it calls the steps'
own builders (``IamRoleStep.inline_policy``, ``KmsKeyStep.key_policy``,
``BucketStep.desired_policy`` ...) instead of re-deriving them.  Those read
ARNs of other steps through ``ctx.output``; here every such output is the ARN
AWS would assign, spelled from the config with a fake account id, and any
attempt to reach AWS fails loudly (the check makes no call).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from vivr_provision.config import PlatformConfig
from vivr_provision.steps.base import StepContext
from vivr_provision.steps.secret_replicas import replica_region
from vivr_provision.steps.secrets import replica_arn
from vivr_provision.steps.service_linked_roles import AUTOSCALING_SLR_STEP

#: The example account of AWS's own documentation: never a real one.
ACCOUNT_ID = "111122223333"
#: Secrets Manager appends "-" and six random characters to a secret's name in its ARN.
SECRET_SUFFIX = "-AbCdEf"
#: A key id in KMS's format; multi-Region keys carry the "mrk-" prefix.
KEY_ID = "1234abcd12ab34cd56ef1234567890ab"


class OfflineCall(RuntimeError):
    """A document builder tried to call AWS while ``check`` was building it."""


class NoAwsClients:
    """Stands in for :class:`~vivr_provision.aws.ClientFactory`: every client is refused."""

    def client(self, service: str, region: str | None = None, *, quick: bool = False) -> Any:
        raise OfflineCall(f"check makes no AWS call, but a builder asked for {service}")


def key_id(config: PlatformConfig) -> str:
    return ("mrk-" if config.kms.multi_region else "") + KEY_ID


def key_arn(config: PlatformConfig, region: str) -> str:
    return f"arn:aws:kms:{region}:{ACCOUNT_ID}:key/{key_id(config)}"


def secret_arn(config: PlatformConfig, key: str) -> str:
    return (f"arn:aws:secretsmanager:{config.aws.region}:{ACCOUNT_ID}:secret:"
            f"{config.secrets.name_of(key)}{SECRET_SUFFIX}")


#: Where IAM puts EC2 Auto Scaling's service-linked role (its ARN's path and name).
AUTOSCALING_SLR_PATH = "aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling"


def role_arn(name: str) -> str:
    return f"arn:aws:iam::{ACCOUNT_ID}:role/{name}"


def symbolic_outputs(config: PlatformConfig, step: str) -> Mapping[str, Any] | None:
    """The outputs ``step`` would record, as far as the document builders read them."""
    if step in ("kms", "dr.kms"):
        region = config.aws.region if step == "kms" else config.dr.region
        return {"id": key_id(config), "key_id": key_id(config),
                "key_arn": key_arn(config, region), "alias": config.kms.alias}
    if step == AUTOSCALING_SLR_STEP:
        arn = f"arn:aws:iam::{ACCOUNT_ID}:role/{AUTOSCALING_SLR_PATH}"
        return {"id": arn, "role_arn": arn, "role_name": "AWSServiceRoleForAutoScaling"}
    family, _, key = step.partition(".")
    if family == "secret" and key in config.secrets.names():
        arn = secret_arn(config, key)
        outputs: dict[str, Any] = {"id": arn, "arn": arn, "name": config.secrets.name_of(key)}
        replica = replica_region(config, key)
        if replica is not None:
            outputs["dr_arn"] = replica_arn(arn, replica)
        return outputs
    roles = config.iam.roles()
    if family == "iam" and key in roles:
        arn = role_arn(roles[key].name)
        return {"id": arn, "role_arn": arn, "role_name": roles[key].name}
    if family == "s3" and key in config.s3.buckets:
        return _bucket(config.s3.bucket_name(key), config.aws.region)
    if step.startswith("dr.s3.") and (name := config.s3.replica_bucket_name(step[6:])):
        return _bucket(name, config.dr.region)
    return None


def _bucket(name: str, region: str) -> dict[str, Any]:
    return {"id": name, "bucket": name, "arn": f"arn:aws:s3:::{name}",
            "regional_domain_name": f"{name}.s3.{region}.amazonaws.com", "region": region}


def symbolic_context(config: PlatformConfig) -> StepContext:
    """A context for calling document builders with no AWS and no state."""
    return StepContext(config=config, clients=NoAwsClients(),  # type: ignore[arg-type]
                       outputs_of=lambda step: symbolic_outputs(config, step),
                       account_id=ACCOUNT_ID)
