"""Sandbox fixes for Application Auto Scaling (see :mod:`vivr_sandbox.fixes` for the rules)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from vivr_sandbox.fixes.patching import wrap


def _fix_missing_object_code() -> None:
    """Application Auto Scaling: deleting a policy or deregistering a target that is not
    there answers ObjectNotFoundException, as AWS does.

    moto 5.2.5 answers ``ValidationException``.  AWS documents
    ``ObjectNotFoundException`` for "any operation that deletes or
    deregisters a resource ... if the resource cannot be found" (botocore's
    application-autoscaling model), which is how a DeleteScalingPolicy or
    DeregisterScalableTarget retried after a lost answer is known to be done.
    """
    from moto.applicationautoscaling.models import ApplicationAutoscalingBackend
    from moto.core.exceptions import JsonRESTError

    def aws_code(name: str, missing: str) -> None:
        @wrap(ApplicationAutoscalingBackend, name)
        def answer_as_aws(original: Any, self: Any, *args: Any, **params: Any) -> Any:
            try:
                return original(self, *args, **params)
            except JsonRESTError as exc:
                if exc.error_type == "ValidationException" and missing in str(exc.message):
                    raise JsonRESTError("ObjectNotFoundException", str(exc.message)) from None
                raise

    aws_code("delete_scaling_policy", "No scaling policy found")
    aws_code("deregister_scalable_target", "No scalable target found")


def _fix_replaced_policy_keeps_one_set_of_alarms() -> None:
    """Application Auto Scaling: putting a target tracking policy that exists replaces
    its CloudWatch alarms instead of adding a second set.

    moto 5.2.5 builds a new policy object, with new alarms, and leaves the
    old policy's alarms behind; AWS keeps one set of ``TargetTracking-*``
    alarms per policy.  A PutScalingPolicy retried after a lost answer (or
    any update of the policy) then showed two sets only here.
    """
    from moto.applicationautoscaling.models import (
        ApplicationAutoscalingBackend,
        FakeApplicationAutoscalingPolicy,
    )

    @wrap(ApplicationAutoscalingBackend, "put_scaling_policy")
    def put_scaling_policy(original: Any, self: Any, **params: Any) -> Any:
        # moto's handler passes every parameter by keyword.
        key = FakeApplicationAutoscalingPolicy.formulate_key(
            params["service_namespace"], params["resource_id"],
            params["scalable_dimension"], params["policy_name"])
        old = self.policies.get(key)
        if old is not None:
            old.delete_alarms(self.account_id, self.region_name)
        return original(self, **params)


FIXES: list[Callable[[], None]] = [_fix_missing_object_code,
                                   _fix_replaced_policy_keeps_one_set_of_alarms]
