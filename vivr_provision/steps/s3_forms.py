"""S3 bucket configurations made comparable, and shown as plan shows them.

AWS reports each configuration in the shape the Put call takes, but it may
drop defaults, reorder lists or turn a one-element list into a string.  Both
sides of every comparison of :mod:`vivr_provision.steps.s3`'s field table go
through the same function here, so only a real difference shows up as drift;
the summaries are what plan prints instead of whole documents.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any


def _as_list(value: Any) -> list[Any]:
    return sorted(value, key=str) if isinstance(value, list) else [value]


def canonical_policy(document: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """A policy with every list sorted and every single value made a list."""
    if not document:
        return None
    statements = document.get("Statement", [])
    if isinstance(statements, dict):
        statements = [statements]
    result = []
    for statement in statements:
        shape: dict[str, Any] = {}
        for key, value in statement.items():
            if key in ("Action", "NotAction", "Resource", "NotResource"):
                shape[key] = _as_list(value)
            elif key in ("Principal", "NotPrincipal") and isinstance(value, dict):
                shape[key] = {k: _as_list(v) for k, v in value.items()}
            elif key == "Condition":
                shape[key] = {op: {k: [str(x) for x in _as_list(v)] for k, v in keys.items()}
                              for op, keys in value.items()}
            else:
                shape[key] = value
        result.append(shape)
    return {"Version": document.get("Version"),
            "Statement": sorted(result, key=lambda s: json.dumps(s, sort_keys=True))}


def _sorted_dicts(items: Sequence[Mapping[str, Any]] | None) -> list[dict[str, Any]]:
    return sorted((dict(i) for i in items or []), key=lambda i: json.dumps(i, sort_keys=True))


def canonical_rule(rule: Mapping[str, Any]) -> dict[str, Any]:
    """A lifecycle rule reduced to what it does (``Filter.Prefix`` and legacy ``Prefix`` agree)."""
    filter_ = dict(rule.get("Filter") or {})
    shape: dict[str, Any] = {"ID": rule.get("ID"), "Status": rule.get("Status"),
                             "Prefix": filter_.pop("Prefix", rule.get("Prefix", ""))}
    if filter_:
        shape["Filter"] = filter_
    for key in ("Expiration", "NoncurrentVersionExpiration", "AbortIncompleteMultipartUpload"):
        if rule.get(key):
            shape[key] = dict(rule[key])
    for key in ("Transitions", "NoncurrentVersionTransitions"):
        if rule.get(key):
            shape[key] = _sorted_dicts(rule[key])
    return shape


def canonical_lifecycle(rules: Sequence[Mapping[str, Any]] | None) -> list[dict[str, Any]]:
    return sorted((canonical_rule(r) for r in rules or []), key=lambda r: str(r["ID"]))


def describe_rule(rule: Mapping[str, Any]) -> str:
    """``archive: GLACIER@30d, expire 90d`` (how plan and status show a lifecycle rule)."""
    parts = [f"{t.get('StorageClass')}@{t.get('Days')}d" for t in rule.get("Transitions", [])]
    if "Expiration" in rule:
        parts.append(f"expire {rule['Expiration'].get('Days')}d")
    if "NoncurrentVersionExpiration" in rule:
        parts.append(f"noncurrent {rule['NoncurrentVersionExpiration'].get('NoncurrentDays')}d")
    if "AbortIncompleteMultipartUpload" in rule:
        parts.append(f"abort multipart "
                     f"{rule['AbortIncompleteMultipartUpload'].get('DaysAfterInitiation')}d")
    if rule.get("Status") != "Enabled":
        parts.append(str(rule.get("Status")))
    where = f" [{rule['Prefix']}]" if rule.get("Prefix") else ""
    return f"{rule.get('ID')}{where}: {', '.join(parts) or 'no action'}"


def canonical_replication(config: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """A replication configuration with AWS's defaults spelled out, rules by ID."""
    if not config:
        return None
    rules = []
    for rule in config.get("Rules", []):
        selection = (rule.get("SourceSelectionCriteria") or {})
        kms = (selection.get("SseKmsEncryptedObjects") or {}).get("Status", "Disabled")
        destination = dict(rule.get("Destination") or {})
        rules.append({
            "ID": rule.get("ID"),
            "Priority": int(rule.get("Priority") or 0),
            "Status": rule.get("Status"),
            "Prefix": (rule.get("Filter") or {}).get("Prefix", rule.get("Prefix", "")),
            "DeleteMarkerReplication": (rule.get("DeleteMarkerReplication") or {}).get(
                "Status", "Disabled"),
            "SseKmsEncryptedObjects": kms,
            "Destination": destination,
        })
    return {"Role": config.get("Role"), "Rules": sorted(rules, key=lambda r: str(r["ID"]))}


def encryption_summary(rule: Mapping[str, Any] | None) -> str | None:
    """``aws:kms <key> +bucket-key`` / ``AES256`` / None (how plan shows default encryption)."""
    default = (rule or {}).get("ApplyServerSideEncryptionByDefault") or {}
    if not default:
        return None
    parts = [str(default.get("SSEAlgorithm")), str(default.get("KMSMasterKeyID") or "")]
    if (rule or {}).get("BucketKeyEnabled"):
        parts.append("+bucket-key")
    return " ".join(p for p in parts if p)


def policy_sids(document: Mapping[str, Any] | None) -> list[str] | None:
    """A policy's statements by Sid (how plan shows a policy)."""
    if document is None:
        return None
    return [str(s.get("Sid", "?")) for s in document.get("Statement", [])]


def replication_summary(config: Mapping[str, Any] | None) -> list[str] | None:
    """Each canonical replication rule as ``<ID> -> <bucket> (...)``."""
    if config is None:
        return None
    return [f"{r['ID']} -> {r['Destination'].get('Bucket')} "
            f"(delete markers {r['DeleteMarkerReplication']}, "
            f"SSE-KMS objects {r['SseKmsEncryptedObjects']})" for r in config["Rules"]]


def lifecycle_summary(rules: Sequence[Mapping[str, Any]]) -> list[str]:
    """Each rule as :func:`describe_rule` shows it."""
    return [describe_rule(rule) for rule in rules]


def policy_document(text: str | None) -> dict[str, Any] | None:
    """GetBucketPolicy's JSON text in canonical form (None: no policy)."""
    return canonical_policy(json.loads(text) if text else None)


__all__ = ["canonical_lifecycle", "canonical_policy", "canonical_replication", "canonical_rule",
           "describe_rule", "encryption_summary", "lifecycle_summary", "policy_document",
           "policy_sids", "replication_summary"]
