"""Sandbox fixes for Secrets Manager: replicas (multi-Region secrets) and rotation.

Registered by :func:`vivr_sandbox.fixes.apply_moto_fixes` (see that module
for the rules: applied in the sandbox server's own process, never in the
product's code path).  Each fix's docstring says what moto 5.2.5 does,
what AWS does and why the tool needs it; its first paragraph is the line
``apply_moto_fixes`` returns.  moto is imported inside the fixes.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
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


log = logging.getLogger(__name__)
CURRENT, PENDING = "AWSCURRENT", "AWSPENDING"
#: A failed rotation step is tried again (AWS retries a failed rotation on its own
#: schedule; here a few quick attempts, enough for a distribution to deploy).
STEP_ATTEMPTS, STEP_PAUSE_S = 5, 1.0


def _run_rotation(backend: Any, secret: Any, token: str, steps: list[str],
                  test_only: bool) -> None:
    """Invoke the rotation function for each step, in order, after RotateSecret answered."""
    from moto.awslambda.utils import get_backend

    lambda_backend = get_backend(backend.account_id, backend.region_name)
    try:
        for step in steps:
            event = {"Step": step, "SecretId": secret.arn, "ClientRequestToken": token}
            for attempt in range(1, STEP_ATTEMPTS + 1):
                headers: dict[str, Any] = {}
                lambda_backend.invoke(secret.rotation_lambda_arn, None, json.dumps(event), {},
                                      headers)
                if "x-amz-function-error" not in headers:
                    break
                log.info("rotation of %s: %s failed (attempt %d)", secret.name, step, attempt)
                if attempt == STEP_ATTEMPTS:
                    return  # AWSPENDING stays on its version: the rotation is unfinished
                time.sleep(STEP_PAUSE_S)
        if not test_only:
            secret.last_rotation_date = int(time.time())
    finally:
        if test_only:
            # "The test creates an AWSPENDING version of the secret and then removes it."
            secret.versions.pop(token, None)


def _fix_rotation_runs_after_the_answer_as_aws_does() -> None:
    """Secrets Manager: RotateSecret answers first and runs the rotation function
    afterwards; AWSCURRENT moves only when the function's finishSecret moves it.

    moto 5.2.5 invokes the function inside the RotateSecret request (AWS:
    "starts the asynchronous process"), so a function that calls back into
    the same account waits for the request that waits for it; it refuses a
    new rotation when AWSPENDING and AWSCURRENT share a version (AWS refuses
    only when AWSPENDING is on another version: a rotation in progress); it
    moves AWSCURRENT itself after the steps, and sets LastRotatedDate even
    when a step failed; with RotateImmediately false it leaves the test's
    AWSPENDING version behind (AWS: "the test creates an AWSPENDING version
    of the secret and then removes it"); a repeat with the same
    ClientRequestToken starts a second rotation.  Its UpdateSecretVersionStage moves
    the AWSCURRENT label without making that version the one GetSecretValue
    returns by default.  The fix follows AWS on each point; a failed step is
    tried again a few times, as AWS retries a failed rotation.
    """
    from moto.secretsmanager.exceptions import (
        InvalidParameterException,
        InvalidRequestException,
        OperationNotPermittedOnReplica,
        ResourceNotFoundException,
        SecretNotFoundException,
    )
    from moto.secretsmanager.models import ReplicaSecret, SecretsManagerBackend

    @wrap(SecretsManagerBackend, "rotate_secret")
    def rotate_secret(original: Any, self: Any, *, secret_id: str,
                      client_request_token: str | None = None,
                      rotation_lambda_arn: str | None = None,
                      rotation_rules: dict[str, Any] | None = None,
                      rotate_immediately: bool = True) -> str:
        if not self._is_valid_identifier(secret_id):
            raise SecretNotFoundException()
        secret = self.secrets[secret_id]
        if isinstance(secret, ReplicaSecret):
            raise OperationNotPermittedOnReplica
        lambda_arn = rotation_lambda_arn or secret.rotation_lambda_arn
        if secret.is_deleted() or not lambda_arn or not secret.versions:
            # moto's own answers for these (deleted, no function, no version).
            return original(  # type: ignore[no-any-return]
                self, secret_id=secret_id, client_request_token=client_request_token,
                rotation_lambda_arn=rotation_lambda_arn, rotation_rules=rotation_rules,
                rotate_immediately=rotate_immediately)
        if client_request_token and client_request_token in secret.versions:
            # A repeat (a retry after a lost answer): the rotation it started stands
            # ("ensure that Secrets Manager doesn't attempt to create a secret version twice").
            return secret.to_short_dict(  # type: ignore[no-any-return]
                version_id=client_request_token)
        if any(PENDING in v["version_stages"] and CURRENT not in v["version_stages"]
               for v in secret.versions.values()):
            raise InvalidRequestException("A previous rotation isn't complete. That rotation "
                                          "will be reattempted.")
        from moto.awslambda.utils import get_backend

        try:
            get_backend(self.account_id, self.region_name).get_function(lambda_arn)
        except Exception:
            raise ResourceNotFoundException(
                f"Resource not found for ARN '{lambda_arn}'.") from None
        days = (rotation_rules or {}).get("AutomaticallyAfterDays")
        if days is not None:
            if not 1 <= int(days) <= 1000:
                raise InvalidParameterException(
                    "RotationRules.AutomaticallyAfterDays must be within 1-1000.")
            secret.auto_rotate_after_days = int(days)
            secret.next_rotation_date = int(time.time()) + int(days) * 86400
        secret.rotation_lambda_arn = lambda_arn
        secret.rotation_requested = True
        secret.rotation_enabled = secret.auto_rotate_after_days > 0
        token = client_request_token or str(uuid.uuid4())
        for version in secret.versions.values():  # AWSPENDING left on the current version
            if PENDING in version["version_stages"]:
                version["version_stages"].remove(PENDING)
        pending: dict[str, Any] = {"createdate": int(time.time()), "version_id": token,
                                   "version_stages": [PENDING]}
        if not rotate_immediately and secret.secret_string is not None:
            pending["secret_string"] = secret.secret_string
        secret.versions[token] = pending
        steps = (["createSecret", "setSecret", "testSecret", "finishSecret"]
                 if rotate_immediately else ["testSecret"])
        threading.Thread(target=_run_rotation, args=(self, secret, token, steps,
                                                     not rotate_immediately),
                         name=f"rotate-{secret.name}", daemon=True).start()
        return secret.to_short_dict(version_id=token)  # type: ignore[no-any-return]

    @wrap(SecretsManagerBackend, "update_secret_version_stage")
    def update_secret_version_stage(original: Any, self: Any, *, secret_id: str,
                                    version_stage: str, remove_from_version_id: str,
                                    move_to_version_id: str) -> Any:
        answer = original(self, secret_id=secret_id, version_stage=version_stage,
                          remove_from_version_id=remove_from_version_id,
                          move_to_version_id=move_to_version_id)
        if version_stage == CURRENT and move_to_version_id:
            self.secrets[secret_id].default_version_id = move_to_version_id
        return answer


#: The fixes of this module, in application order (``apply_moto_fixes`` runs them).
FIXES: list[Callable[[], None]] = [_fix_replica_keeps_its_kms_key,
                                   _fix_rotation_runs_after_the_answer_as_aws_does]
