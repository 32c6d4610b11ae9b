"""Lint every policy document the tool generates with parliament (duo-labs, PyPI ``parliament``).

parliament knows every IAM action and the resource types each one takes
(its bundled ``iam_definition.json``), so it catches a misspelt action, an
action pointed at the wrong kind of ARN, or a condition key the action does
not support, none of which the emulator rejects.  A finding on our own
documents is either fixed in the step that builds the document, or accepted
below, as data, with the reason it is right on AWS.  parliament itself is
imported only when :mod:`.findings_cache` does not know the documents.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass
from typing import Any

from vivr_provision.check import findings_cache
from vivr_provision.check.documents import GeneratedPolicy


@dataclass(frozen=True)
class Accepted:
    """A parliament finding that is right for this kind of document, and why."""

    kind: str
    issue: str
    detail_contains: str
    reason: str


#: Findings that are correct on AWS (parliament lints identity policies; it has no
#: notion of trust or key policies).
ACCEPTED: tuple[Accepted, ...] = (
    Accepted("trust", "MALFORMED", "neither Resource nor NotResource",
             "a role trust policy has no Resource: the resource is the role itself "
             "(IAM User Guide, 'IAM JSON policy elements: Resource')"),
    Accepted("key", "RESOURCE_STAR", "",
             "in a key policy, Resource \"*\" means this KMS key only "
             "(KMS Developer Guide, 'Key policies in AWS KMS')"),
    Accepted("key", "MISMATCHED_TYPE", "ArnLike",
             "ArnLike on kms:EncryptionContext:aws:logs:arn is the form the CloudWatch "
             "Logs User Guide documents for a key that encrypts log groups"),
    Accepted("key", "UNKNOWN_CONDITION_FOR_ACTION", "kms:EncryptionContext:aws:logs:arn",
             "the documented CloudWatch Logs statement grants kms:Describe* under the "
             "encryption-context condition; those calls carry no context, so the "
             "condition only narrows the statement (Logs needs Encrypt/Decrypt/"
             "GenerateDataKey, which carry it)"),
)


@dataclass(frozen=True)
class LintResult:
    policy: str
    kind: str
    issue: str
    detail: str
    #: Why the finding is right on AWS; None means it must be fixed.
    accepted: str | None

    @property
    def ok(self) -> bool:
        return self.accepted is not None


def _accepted(policy: GeneratedPolicy, issue: str, detail: str) -> str | None:
    for rule in ACCEPTED:
        if rule.kind == policy.kind and rule.issue == issue and rule.detail_contains in detail:
            return rule.reason
    return None


def _detail(value: object) -> str:
    if isinstance(value, list) and len(value) > 6:
        return f"{', '.join(map(str, value[:6]))} ... ({len(value)} actions)"
    return str(value)


def lint(policies: list[GeneratedPolicy]) -> list[LintResult]:
    """Every parliament finding on every document, each accepted or not.

    The findings come from :mod:`.findings_cache` when these exact documents
    were linted before by this parliament version; which are accepted is
    decided here, each time, from :data:`ACCEPTED`.
    """
    documents = [policy.document for policy in policies]
    digest = findings_cache.key(documents)
    found = findings_cache.load(digest, len(documents)) if digest else None
    if found is None:
        found = _parliament(documents)
        if digest:
            findings_cache.save(digest, found)
    results = []
    for policy, findings in zip(policies, found, strict=True):
        for issue, detail in findings:
            results.append(LintResult(policy.name, policy.kind, issue, detail,
                                      _accepted(policy, issue, detail)))
    return results


def _parliament(documents: list[dict[str, Any]]) -> findings_cache.Findings:
    """``[issue, detail]`` of each finding, per document, as parliament reports them."""
    with warnings.catch_warnings():
        # parliament 1.6 loads its data through pkg_resources, which setuptools deprecates
        # (and removed in 82: setup.cfg keeps setuptools below it).
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", UserWarning)
        import parliament  # type: ignore[import-untyped]
    return [[[str(finding.issue), _detail(finding.detail)]
             for finding in parliament.analyze_policy_string(json.dumps(document)).findings]
            for document in documents]
