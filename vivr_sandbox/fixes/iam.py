"""Sandbox fixes for IAM (see :mod:`vivr_sandbox.fixes` for the rules)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from vivr_sandbox.fixes.patching import wrap


def _fix_remove_absent_role_from_instance_profile() -> None:
    """IAM: RemoveRoleFromInstanceProfile of a role the profile does not hold answers
    NoSuchEntity.

    moto 5.2.5 fails with a 500 (``list.remove(x): x not in list``); AWS
    answers ``NoSuchEntity`` (botocore's iam model lists it for this call),
    which is how a removal retried after a lost answer is known to be done.
    """
    from moto.iam.exceptions import NotFoundException
    from moto.iam.models import IAMBackend

    @wrap(IAMBackend, "remove_role_from_instance_profile")
    def remove_role(original: Any, self: Any, profile_name: str, role_name: str) -> Any:
        profile = self.get_instance_profile(profile_name)
        if all(role.name != role_name for role in profile.roles):
            raise NotFoundException(
                f"The role {role_name} is not in instance profile {profile_name}.")
        return original(self, profile_name, role_name)


FIXES: list[Callable[[], None]] = [_fix_remove_absent_role_from_instance_profile]
