"""Every role of ours, with its policies and instance profiles, in two paginated calls.

A no-op apply used to read each role with ``GetRole``,
``ListAttachedRolePolicies`` and ``GetRolePolicy`` (and ``GetInstanceProfile``
for EC2's roles): three or four calls per role.  Two account-wide listings
answer all of them at once (:mod:`vivr_provision.batch_reads`):

* ``GetAccountAuthorizationDetails(Filter=["Role"])`` returns each role's
  trust policy, inline policies (with their documents), attached managed
  policies, tags and the instance profiles that hold it.  Its ``RoleDetail``
  has no ``Description`` and no ``MaxSessionDuration`` (botocore model), so
* ``ListRoles`` adds them: its ``Role`` is ``GetRole``'s shape without
  ``Tags``, ``PermissionsBoundary`` and ``RoleLastUsed`` (IAM API reference,
  ListRoles), which the first call carries.

Together they give the step the same members ``GetRole`` does, and the
policy documents in the same form: botocore's ``after-call.iam`` handler
(``json_decode_policies``) decodes every ``policyDocumentType`` member of any
IAM reply, nested lists included, into a dict.

Cost: neither call filters by name or tag.  ``ListRoles`` takes only a
``PathPrefix``, and our roles use the default path ``/`` (the config has no
role path), so it could not narrow anything; both therefore list every role
of the account (IAM's quota: 1,000 roles by default, 5,000 at most), at
most 1,000 per page (``MaxItems``, botocore model ``maxItemsType``).
``GetAccountAuthorizationDetails`` pages also carry every role's inline
documents: on a large account this is a few large pages instead of four
small calls per role of ours, and only roles carrying our ownership tags
are kept.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from vivr_provision.steps.base import MANAGED_BY
from vivr_provision.steps.common import tag_map
from vivr_provision.steps.policy_documents import parsed

#: The largest page both listings allow (``MaxItems``: 1..1000).
PAGE_SIZE = 1000
#: ``RoleDetail`` members that ``ListRoles``' ``Role`` lacks and ``GetRole`` has.
DETAIL_MEMBERS = ("Tags", "PermissionsBoundary", "RoleLastUsed")
#: What :meth:`IamRoleStep.observed <vivr_provision.steps.iam.IamRoleStep.observed>`
#: otherwise reads with calls of its own; a batched item carries them.
ATTACHED, INLINE, PROFILE_ROLES = "AttachedPolicyArns", "InlinePolicy", "InstanceProfileRoles"


def _pages(iam: Any, operation: str, key: str, **params: Any) -> list[dict[str, Any]]:
    pages = iam.get_paginator(operation).paginate(
        **params, PaginationConfig={"PageSize": PAGE_SIZE})
    return [item for page in pages for item in page.get(key, [])]


def _owned(tags: Mapping[str, str], ours: Mapping[str, str]) -> bool:
    return (tags.get("ManagedBy") == MANAGED_BY and tags.get("Project") == ours["Project"]
            and tags.get("Environment") == ours["Environment"])


def role_item(role: Mapping[str, Any], detail: Mapping[str, Any],
              inline_policy: str) -> dict[str, Any]:
    """``GetRole``'s ``Role`` rebuilt from both listings, plus what ``observed`` reads:
    the attached policies' ARNs, the document of ``inline_policy`` (None when the
    role has none of that name) and, when the instance profile named like the role
    holds it, that profile's roles (a profile listed under no role of the batch is
    read directly)."""
    item = {**role, **{k: detail[k] for k in DETAIL_MEMBERS if k in detail}}
    item[ATTACHED] = {p["PolicyArn"] for p in detail.get("AttachedManagedPolicies", [])}
    item[INLINE] = next((parsed(p.get("PolicyDocument")) for p in detail.get("RolePolicyList", [])
                         if p.get("PolicyName") == inline_policy), None)
    for profile in detail.get("InstanceProfileList", []):
        if profile.get("InstanceProfileName") == role["RoleName"]:
            item[PROFILE_ROLES] = [r["RoleName"] for r in profile.get("Roles", [])]
    return item


def our_roles(iam: Any, ours: Mapping[str, str], inline_policy: str) -> dict[str, dict[str, Any]]:
    """Role name -> :func:`role_item` for every role carrying the ownership tags ``ours``
    (``Project``, ``Environment``; ``ManagedBy`` is ours by definition).  A role one
    listing has and the other lacks (made or deleted between the two calls) is left
    out: its step reads it directly."""
    details = {d["RoleName"]: d for d in _pages(iam, "get_account_authorization_details",
                                                "RoleDetailList", Filter=["Role"])
               if _owned(tag_map(d.get("Tags")), ours)}
    if not details:
        return {}
    return {role["RoleName"]: role_item(role, details[role["RoleName"]], inline_policy)
            for role in _pages(iam, "list_roles", "Roles") if role["RoleName"] in details}
