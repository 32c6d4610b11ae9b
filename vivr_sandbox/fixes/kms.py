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


FIXES: list[Callable[[], None]] = [_fix_kms_replicate_key_policy]
