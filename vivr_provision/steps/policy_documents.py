"""Policy documents (IAM trust and inline policies, KMS key policies) as drift values.

IAM returns a policy document as URL-encoded JSON; botocore's
``json_decode_policies`` handler (``after-call.iam``) already turns every
``policyDocumentType`` member into a dict, and KMS's ``GetKeyPolicy``
returns plain JSON text.  :func:`parsed` accepts either, so documents are
compared by content, never by spelling (key order, whitespace, encoding).

A whole policy in a plan line would bury the rest of the plan, so a
document that drifted is shown by a label (:class:`Labelled`): ``plan``
says ``inline_policy: 'differs' -> 'the configured grants'``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote


def parsed(raw: Any) -> Any:
    """A policy document as a dict (None stays None): JSON text, URL-encoded or not, is decoded."""
    if isinstance(raw, str):
        return json.loads(unquote(raw))
    return raw


@dataclass(frozen=True, eq=False)
class Labelled:
    """A document compared by content and shown (``repr``) by a label."""

    document: Any
    label: str

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Labelled) and self.document == other.document

    __hash__ = None  # type: ignore[assignment]  # documents are dicts: unhashable

    def __repr__(self) -> str:
        return repr(self.label)


__all__ = ["Labelled", "parsed"]
