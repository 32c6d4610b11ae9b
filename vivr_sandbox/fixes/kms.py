"""Sandbox fixes for KMS (multi-Region key replicas).

Registered by :func:`vivr_sandbox.fixes.apply_moto_fixes` (see that module
for the rules: applied in the sandbox server's own process, never in the
product's code path).  moto is imported inside the fixes.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from vivr_sandbox.fixes.patching import wrap


def _fix_kms_replicate_key_policy() -> None:
    """KMS: ReplicateKey gives the replica the Policy of the request (else KMS's default).

    moto 5.2.5 ignores ``Policy``: the replica is a copy of the primary key,
    policy included, and the reply's ``ReplicaPolicy`` is a default policy
    the replica does not have.  AWS attaches the request's policy to the
    replica, or the default key policy without one (KMS API reference,
    ReplicateKey: "If you do not specify a key policy, AWS KMS attaches the
    default key policy"; a replica never shares its primary's policy).  The
    tool gives the DR replica a policy admitting CloudWatch Logs for the
    standby's log group; with moto's copy every plan showed it as drift.
    """
    from moto.kms.models import KmsBackend, kms_backends
    from moto.kms.responses import KmsResponse

    @wrap(KmsResponse, "replicate_key")
    def replicate_key(original: Any, self: Any) -> Any:
        answer = json.loads(original(self))
        key_id = KmsBackend.get_key_id(str(self._get_param("KeyId")))
        region = str(self._get_param("ReplicaRegion"))
        replica = kms_backends[self.current_account][region].keys[key_id]
        replica.policy = self._get_param("Policy") or replica.generate_default_policy()
        answer["ReplicaPolicy"] = replica.policy
        return json.dumps(answer)


def _fix_kms_replica_has_its_own_aliases() -> None:
    """KMS: a replica key starts with no alias, and its aliases are its own.

    moto 5.2.5 makes the replica a shallow copy of the primary key, so both
    share one ``aliases`` dict: the replica lists the primary's alias, and
    deleting the replica's alias in the DR region deletes the primary's in
    us-east-1 too.  On AWS an alias is a regional resource that is never
    replicated or shared ("Aliases ... are not shared", KMS developer guide,
    "Multi-Region keys in AWS KMS").  A destroy of the DR side alone
    (``destroy --target 'dr.*'``) deletes the replica's alias and must leave
    the primary's.
    """
    from moto.kms.models import KmsBackend

    @wrap(KmsBackend, "replicate_key")
    def replicate_key(original: Any, self: Any, key_id: str, replica_region: str) -> Any:
        replica = original(self, key_id, replica_region)
        replica.aliases = {}
        return replica


FIXES: list[Callable[[], None]] = [_fix_kms_replicate_key_policy,
                                   _fix_kms_replica_has_its_own_aliases]
