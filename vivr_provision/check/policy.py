"""A small IAM policy evaluator: enough of AWS's evaluation logic to prove our own documents.

No well-kept Python library evaluates a request against identity, resource
and key policies together: ``policyuniverse`` parses and expands, ``iam-ape``
and ``policyglass`` summarise a principal's effective permissions from IAM
documents only, and AWS's own simulator is an API call.  This module
implements the part of "Policy evaluation logic" (IAM User Guide) that our
documents use:

* an explicit Deny in any applicable statement wins;
* ``Action``/``NotAction`` with ``*`` and ``?`` (case-insensitive), and
  ``Resource``/``NotResource`` matched per colon-separated ARN segment, as
  ``ArnLike`` does;
* ``Principal`` ``*``, ``AWS`` (a role ARN, or an account root which
  delegates to that account's IAM policies) and ``Service``;
* same account: an identity policy Allow or a resource policy Allow naming
  the principal suffices, except for KMS, where the key policy must allow
  the principal itself or delegate to the account root, and then the IAM
  policy must allow too (KMS Developer Guide, "Key policies");
* service principals and other accounts have no identity policy here: the
  resource policy must allow them.

Conditions: the operators ``String*``, ``Arn*``, ``Bool`` and ``Null``
(``IfExists`` too) are evaluated against the request context the caller
states (e.g. ``aws:SecureTransport=true``, ``aws:SourceArn``,
``kms:EncryptionContext:...``).  Anything else is treated conservatively: an
Allow whose condition cannot be evaluated grants nothing, and a Deny whose
condition cannot be evaluated applies.  A negated operator over a key the
context lacks is true in AWS; for an Allow it is treated as not granting.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

Document = Mapping[str, Any]


@dataclass(frozen=True)
class Principal:
    """Who calls: a role of the account (``arn``) or an AWS service (``service``)."""

    label: str
    arn: str | None = None
    service: str | None = None
    #: The account the principal belongs to (a service principal: None).
    account: str | None = None


@dataclass(frozen=True)
class NamedPolicy:
    """A policy document and the name shown when it decides a request."""

    name: str
    document: Document


@dataclass(frozen=True)
class Request:
    principal: Principal
    action: str
    resource: str
    context: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str


def _values(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list | tuple) else [value]


@lru_cache(maxsize=4096)
def _glob(pattern: str, ignore_case: bool) -> re.Pattern[str]:
    body = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile(f"^{body}$", re.IGNORECASE | re.DOTALL if ignore_case else re.DOTALL)


def glob_match(pattern: str, value: str, *, ignore_case: bool = False) -> bool:
    return _glob(pattern, ignore_case).match(value) is not None


def arn_match(pattern: str, arn: str) -> bool:
    """``ArnLike``: each of the six colon-separated parts is matched on its own."""
    if pattern == "*":
        return True
    wanted, have = pattern.split(":", 5), arn.split(":", 5)
    if len(wanted) != 6 or len(have) != 6:
        return glob_match(pattern, arn)
    return all(glob_match(w, h) for w, h in zip(wanted, have, strict=True))


def action_match(patterns: Iterable[str], action: str) -> bool:
    return any(glob_match(p, action, ignore_case=True) for p in patterns)


def _matches_action(statement: Document, action: str) -> bool:
    if "NotAction" in statement:
        return not action_match(_values(statement["NotAction"]), action)
    return action_match(_values(statement.get("Action")), action)


def _matches_resource(statement: Document, resource: str) -> bool:
    """A statement without Resource/NotResource is a trust policy's: its resource is the role."""
    if "Resource" not in statement and "NotResource" not in statement:
        return True
    if "NotResource" in statement:
        return not any(arn_match(p, resource) for p in _values(statement["NotResource"]))
    return any(arn_match(p, resource) for p in _values(statement.get("Resource")))


def principal_match(statement: Document, principal: Principal) -> str | None:
    """"direct" when the statement names the principal, "account" when it names its
    account's root (delegation to IAM), else None.  NotPrincipal is never matched
    for an Allow and always for a Deny (conservative; our documents do not use it)."""
    if "NotPrincipal" in statement:
        return "direct" if statement.get("Effect") == "Deny" else None
    named = statement.get("Principal")
    if named == "*":
        return "direct"
    if not isinstance(named, Mapping):
        return None
    for arn in _values(named.get("AWS")):
        if arn == "*" or (principal.arn is not None and arn == principal.arn):
            return "direct"
        if principal.account is not None and arn in (
                principal.account, f"arn:aws:iam::{principal.account}:root"):
            return "account"
    if principal.service is not None and principal.service in _values(named.get("Service")):
        return "direct"
    return None


_STRING_OPS: dict[str, Callable[[str, str], bool]] = {
    "StringEquals": lambda p, v: p == v,
    "StringEqualsIgnoreCase": lambda p, v: p.lower() == v.lower(),
    "StringLike": glob_match,
    "ArnEquals": lambda p, v: p == v,
    "ArnLike": arn_match,
    "Bool": lambda p, v: str(p).lower() == v.lower(),
}
_NEGATED = {"StringNotEquals": "StringEquals",
            "StringNotEqualsIgnoreCase": "StringEqualsIgnoreCase",
            "StringNotLike": "StringLike", "ArnNotEquals": "ArnEquals", "ArnNotLike": "ArnLike"}


def _condition_holds(operator: str, key: str, wanted: Any, context: Mapping[str, str],
                     deny: bool) -> bool:
    """One operator/key pair; unknown operators resolve against the statement (see module)."""
    lowered = {k.lower(): v for k, v in context.items()}
    value = lowered.get(key.lower())
    if_exists = operator.endswith("IfExists") and operator != "IfExists"
    base = operator.removesuffix("IfExists") if if_exists else operator
    if base == "Null":
        return all((value is None) == (str(w).lower() == "true") for w in _values(wanted))
    if value is None:
        if if_exists:
            return True
        if base in _NEGATED:
            return deny  # true in AWS; an Allow is not credited with it
        return False
    if base in _STRING_OPS:
        test = _STRING_OPS[base]
        return any(test(str(w), value) for w in _values(wanted))
    if base in _NEGATED:
        test = _STRING_OPS[_NEGATED[base]]
        return not any(test(str(w), value) for w in _values(wanted))
    return deny  # an operator we do not evaluate


def conditions_hold(statement: Document, context: Mapping[str, str]) -> bool:
    deny = statement.get("Effect") == "Deny"
    for operator, pairs in (statement.get("Condition") or {}).items():
        for key, wanted in pairs.items():
            if not _condition_holds(operator, key, wanted, context, deny):
                return False
    return True


def _statements(policy: NamedPolicy) -> list[tuple[str, Document]]:
    out = []
    for index, statement in enumerate(_values(policy.document.get("Statement"))):
        sid = statement.get("Sid") or str(index)
        out.append((f"{policy.name}#{sid}", statement))
    return out


def _applies(statement: Document, request: Request) -> bool:
    return (_matches_action(statement, request.action)
            and _matches_resource(statement, request.resource)
            and conditions_hold(statement, request.context))


def evaluate(request: Request, identity: Sequence[NamedPolicy],
             resource_policy: NamedPolicy | None, *, key_policy: bool = False) -> Decision:
    """Whether AWS would allow ``request``, with the statement that decided it.

    ``identity`` are the principal's IAM policies (none for a service
    principal); ``resource_policy`` is the bucket or key policy of the
    resource, if any; ``key_policy`` marks it as a KMS key policy.
    """
    identity_allows: list[str] = []
    for policy in identity:
        for where, statement in _statements(policy):
            if not _applies(statement, request):
                continue
            if statement.get("Effect") == "Deny":
                return Decision(False, f"explicitly denied by {where}")
            identity_allows.append(where)
    direct: list[str] = []
    delegated: list[str] = []
    if resource_policy is not None:
        for where, statement in _statements(resource_policy):
            match = principal_match(statement, request.principal)
            if match is None or not _applies(statement, request):
                continue
            if statement.get("Effect") == "Deny":
                return Decision(False, f"explicitly denied by {where}")
            (direct if match == "direct" else delegated).append(where)
    if direct:
        return Decision(True, f"allowed by {direct[0]}")
    is_role = request.principal.arn is not None
    if key_policy:
        if resource_policy is None:
            return Decision(False, "the key has no key policy")
        if not delegated:
            return Decision(False, f"{resource_policy.name} neither names "
                                   f"{request.principal.label} nor delegates to the account")
        if is_role and identity_allows:
            return Decision(True, f"allowed by {identity_allows[0]} "
                                  f"(key policy delegates: {delegated[0]})")
        return Decision(False, f"{resource_policy.name} delegates to IAM, but no IAM policy "
                               f"of {request.principal.label} allows it")
    if is_role and identity_allows:
        return Decision(True, f"allowed by {identity_allows[0]}")
    if is_role:
        also = f" nor {resource_policy.name}" if resource_policy is not None else ""
        return Decision(False, f"no IAM policy of {request.principal.label}{also} allows it")
    if resource_policy is None:
        return Decision(False, "the resource has no policy that could allow a service")
    return Decision(False, f"{resource_policy.name} does not allow {request.principal.label}")
