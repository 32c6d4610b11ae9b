"""Sandbox fixes for Secrets Manager replicas (multi-Region secrets).

Registered by :func:`vivr_sandbox.fixes.apply_moto_fixes` (see that module
for the rules: applied in the sandbox server's own process, never in the
product's code path).  Each fix's docstring says what moto 5.2.5 does,
what AWS does and why the tool needs it; its first paragraph is the line
``apply_moto_fixes`` returns.  moto is imported inside the fixes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from vivr_sandbox.fixes.patching import wrap


def _fix_replica_keeps_its_kms_key() -> None:
    """Secrets Manager: a replica keeps the KmsKeyId it was replicated with
    (CreateSecret / ReplicateSecretToRegions AddReplicaRegions).

    moto 5.2.5 drops the requested key: every replica reports
    ``alias/aws/secretsmanager`` in the primary's ``ReplicationStatus``, and
    the replica's own DescribeSecret (in its region) shows the primary's
    key.  AWS encrypts the replica with the key the request names and
    reports it in both places (botocore's model: ``ReplicaRegionType`` and
    ``ReplicationStatusType`` carry ``KmsKeyId``).  Without the fix every
    replica encrypted with the DR key looked like one with the default key,
    so each apply saw drift and replicated again.
    """
    from moto.secretsmanager.models import FakeSecret, ReplicaSecret

    @wrap(FakeSecret, "create_replicas")
    def create_replicas(original: Any, self: Any, replica_regions: Any,
                        force_overwrite: bool) -> Any:
        replicas = original(self, replica_regions, force_overwrite=force_overwrite)
        for replica, asked in zip(replicas, replica_regions or [], strict=True):
            if asked.get("KmsKeyId"):
                replica.config["KmsKeyId"] = asked["KmsKeyId"]
        return replicas

    @wrap(ReplicaSecret, "to_dict")
    def to_dict(original: Any, self: Any) -> Any:
        described = original(self)
        described["KmsKeyId"] = self.config["KmsKeyId"]
        return described


#: The fixes of this module, in application order (``apply_moto_fixes`` runs them).
FIXES: list[Callable[[], None]] = [_fix_replica_keeps_its_kms_key]
