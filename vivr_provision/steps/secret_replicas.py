"""Secrets Manager replicas of the secrets the DR standby reads, in ``dr.region``.

The standby application in the DR region must start while the primary
region is down, so the secrets it reads cannot live only there: with
``dr.standby.replicate_secrets`` each of them has a replica in
``dr.region`` encrypted with the DR key (``dr.kms``, the multi-Region
key's replica there).  Which secrets: :mod:`vivr_provision.config.dr_secrets`
(the ECS container's and the standby ALB's origin-verify secret).

How AWS behaves (botocore's secretsmanager model and the Secrets Manager
user guide, "Delete a secret" / "Replicate a secret"):

* ``CreateSecret`` takes ``AddReplicaRegions`` ``[{"Region", "KmsKeyId"}]``;
  an existing secret is replicated with ``ReplicateSecretToRegions``.
* ``DescribeSecret``'s ``ReplicationStatus`` lists each replica: ``Region``,
  ``KmsKeyId``, ``Status`` (``InProgress``, ``InSync``, ``Failed`` ...) and
  ``StatusMessage``.
* A replica's key is set when it is made; a replica with another key (or a
  failed one) is removed (``RemoveRegionsFromReplication``) and replicated
  again, as Terraform's AWS provider does for a changed replica.
* A primary secret with replicas cannot be deleted: the replicas go first,
  and a removed replica is deleted at once (no recovery window).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from vivr_provision import aws_errors
from vivr_provision.config import PlatformConfig
from vivr_provision.config.dr_secrets import replicated_secret_keys
from vivr_provision.steps.base import StepContext

#: The step whose outputs name the DR key.
DR_KEY_STEP = "dr.kms"
#: What a healthy replica reports.
IN_SYNC = "InSync"
FAILED = "Failed"
#: How long a removal or a replication may take to show in DescribeSecret.
SETTLE_BUDGET_S = 300.0


def replica_region(config: PlatformConfig, key: str | None) -> str | None:
    """``dr.region`` when secret ``key`` is replicated there, else None."""
    return config.dr.region if key in replicated_secret_keys(config) else None


def replica_entry(description: Mapping[str, Any], region: str) -> dict[str, Any] | None:
    """The ``ReplicationStatus`` entry of ``region`` in a DescribeSecret reply."""
    for entry in description.get("ReplicationStatus") or []:
        if entry.get("Region") == region:
            return dict(entry)
    return None


def replica_key(description: Mapping[str, Any], region: str) -> str | None:
    """What the drift row compares: the replica's key, a failed replica as its
    message (never a key spelling, so it always differs), None without one."""
    entry = replica_entry(description, region)
    if entry is None:
        return None
    if entry.get("Status") == FAILED:
        return f"failed: {entry.get('StatusMessage', 'no message')}"
    return str(entry.get("KmsKeyId")) if entry.get("KmsKeyId") else None


def dr_key_spellings(ctx: StepContext) -> tuple[str, ...]:
    """The DR key as a replica may report it: its ARN first (what we send), id, alias."""
    return tuple(str(ctx.output(DR_KEY_STEP, field)) for field in ("key_arn", "key_id", "alias"))


def add_replica_regions(ctx: StepContext, region: str) -> list[dict[str, str]]:
    """The ``AddReplicaRegions`` member: one replica, encrypted with the DR key."""
    return [{"Region": region, "KmsKeyId": str(ctx.output(DR_KEY_STEP, "key_arn"))}]


def replicated_regions(description: Mapping[str, Any]) -> list[str]:
    """Every region a secret is replicated to (any status)."""
    return [str(e["Region"]) for e in description.get("ReplicationStatus") or []
            if e.get("Region")]


def remove_replicas(ctx: StepContext, sm: Any, secret_arn: str, regions: Sequence[str],
                    describe: Any) -> None:
    """``RemoveRegionsFromReplication`` for ``regions``, then wait until
    ``describe()`` lists none of them (a DeleteSecret sent before that is refused).

    A call answered with an error after a lost first answer (the replicas
    are already gone) is settled by reading: the error stands only while a
    replica is still listed.
    """
    if not regions:
        return
    try:
        sm.remove_regions_from_replication(SecretId=secret_arn,
                                           RemoveReplicaRegions=list(regions))
    except aws_errors.ClientError:
        if set(regions) & set(replicated_regions(describe())):
            raise
    ctx.poll(f"replicas of {secret_arn} in {', '.join(regions)} removed",
             lambda: not set(regions) & set(replicated_regions(describe())),
             budget_s=SETTLE_BUDGET_S, delay_s=2.0)


def replica_ready(description: Mapping[str, Any], region: str) -> bool:
    """Whether the replica in ``region`` is in sync; a failed one raises with AWS's message."""
    entry = replica_entry(description, region)
    if entry is None:
        return False
    if entry.get("Status") == FAILED:
        raise RuntimeError(f"replication of {description.get('Name')} to {region} failed: "
                           f"{entry.get('StatusMessage', 'no message')}")
    return entry.get("Status") == IN_SYNC


__all__ = ["DR_KEY_STEP", "add_replica_regions", "dr_key_spellings", "remove_replicas",
           "replica_entry", "replica_key", "replica_ready", "replica_region",
           "replicated_regions"]
