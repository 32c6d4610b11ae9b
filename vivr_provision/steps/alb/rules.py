"""Listener rules that make an ALB serve only CloudFront: the origin check.

CloudFront adds a secret header (``X-Origin-Verify``, value from Secrets
Manager) to every request it sends the ALB.  With ``origin_verify`` set, a
forwarding listener's *default* action becomes a fixed response
(``deny_status_code``, 403) and two rules forward instead:

``origin-verify`` (priority ``priority``)
    an ``http-header`` condition on the header with the secret's value;
``open-paths`` (priority ``priority + 1``, only with ``open_paths``)
    ``path-pattern`` on the exact open paths and ``http-request-method``
    GET/HEAD: what Route 53 health checkers probe, since they cannot send
    a custom header.

The rules belong to the listener step
(:mod:`vivr_provision.steps.alb.listener`) (one tight group, as a route table
and its associations): the step creates or repairs the rules *before* it
switches the default action to deny and deletes rules only *after* it
switched the default back to forward, so neither apply nor a config change
ever leaves a window where CloudFront's own requests are refused or the
listener is open.  A rule carries the listener step's ownership tags plus
``vivr:rule`` (its key) and is found by them; deleting the listener deletes
its rules with it.

The secret value is read at plan and apply (GetSecretValue in the primary
region, for the DR standby too: that is where the secret lives), registered
for redaction at once, sent only in CreateRule/ModifyRule, and replaced by
its SHA-256 in everything read back (DescribeRules returns header values in
clear), so state, reports and logs never hold it; a drifted value is
reported as "another value", never shown.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from vivr_provision.config.app import OPEN_PATH_METHODS, OriginVerifyConfig

RULE_TAG = "vivr:rule"
VERIFY_RULE = "origin-verify"
OPEN_PATHS_RULE = "open-paths"
#: ELB limits an http-header comparison string to 128 characters and treats
#: * and ? in it as wildcards (ELB API reference, HttpHeaderConditionConfig).
MAX_HEADER_VALUE = 128
WILDCARDS = ("*", "?")
#: DescribeTags takes at most 20 resource ARNs per call.
TAG_BATCH = 20


def digest(value: str) -> str:
    """The SHA-256 of a header value: comparable, never the value itself."""
    return "sha256:" + hashlib.sha256(value.encode()).hexdigest()


def check_header_value(value: str, where: str, secret_key: str) -> None:
    """Refuse a secret value an http-header condition cannot match exactly (never shown)."""
    if not value:
        raise RuntimeError(f"{where}: secret {secret_key} is empty; the ALB cannot match it")
    if len(value) > MAX_HEADER_VALUE or any(w in value for w in WILDCARDS):
        raise RuntimeError(
            f"{where}: the value of secret {secret_key} cannot be matched exactly by an ALB "
            f"http-header condition (at most {MAX_HEADER_VALUE} characters, no * or ?); "
            "give the secret a value that fits")


# --------------------------------------------------------------------------- desired


@dataclass(frozen=True)
class RuleSpec:
    """One rule the listener should carry (conditions hold the secret: never log them)."""

    key: str
    priority: int
    conditions: tuple[dict[str, Any], ...]
    actions: tuple[dict[str, Any], ...]


def desired_rules(verify: OriginVerifyConfig, header_value: str,
                  forward: list[dict[str, Any]]) -> dict[str, RuleSpec]:
    """The origin-check rules of a forwarding listener, by rule key."""
    rules = {VERIFY_RULE: RuleSpec(
        VERIFY_RULE, verify.priority,
        ({"Field": "http-header",
          "HttpHeaderConfig": {"HttpHeaderName": verify.header, "Values": [header_value]}},),
        tuple(forward))}
    if verify.open_paths:
        rules[OPEN_PATHS_RULE] = RuleSpec(
            OPEN_PATHS_RULE, verify.priority + 1,
            ({"Field": "path-pattern", "PathPatternConfig": {"Values": list(verify.open_paths)}},
             {"Field": "http-request-method",
              "HttpRequestMethodConfig": {"Values": list(OPEN_PATH_METHODS)}}),
            tuple(forward))
    return rules


def deny_action(verify: OriginVerifyConfig) -> dict[str, Any]:
    """The default action of a guarded listener: a fixed response, no target reached."""
    return {"Type": "fixed-response",
            "FixedResponseConfig": {"StatusCode": str(verify.deny_status_code)}}


# --------------------------------------------------------------------------- read back


def sanitized_conditions(conditions: list[Mapping[str, Any]] | tuple[Mapping[str, Any], ...]
                         ) -> list[dict[str, Any]]:
    """Conditions with every http-header value replaced by its digest."""
    clean: list[dict[str, Any]] = json.loads(json.dumps(list(conditions), default=str))
    for condition in clean:
        config = condition.get("HttpHeaderConfig")
        if condition.get("Field") == "http-header" and config:
            config["Values"] = [digest(str(v)) for v in config.get("Values") or []]
    return clean


def sanitized_rule(rule: Mapping[str, Any], tags: dict[str, str]) -> dict[str, Any]:
    """What the step keeps of a rule DescribeRules returned: no header value in clear."""
    return {"RuleArn": rule["RuleArn"], "Priority": str(rule.get("Priority")),
            "IsDefault": bool(rule.get("IsDefault")),
            "Conditions": sanitized_conditions(rule.get("Conditions") or []),
            "Actions": list(rule.get("Actions") or []), "TagMap": tags}


def condition_key(condition: Mapping[str, Any]) -> tuple[Any, ...]:
    """A comparable form of a (sanitized) condition: order and legacy ``Values`` aside."""
    field = str(condition.get("Field"))
    if field == "http-header":
        config = condition.get("HttpHeaderConfig") or {}
        return (field, str(config.get("HttpHeaderName", "")).lower(),
                tuple(sorted(config.get("Values") or [])))
    configs = {"path-pattern": "PathPatternConfig", "host-header": "HostHeaderConfig",
               "http-request-method": "HttpRequestMethodConfig",
               "source-ip": "SourceIpConfig"}
    if field in configs:
        values = (condition.get(configs[field]) or {}).get("Values") or condition.get("Values")
        return (field, tuple(sorted(values or [])))
    return (field, json.dumps(condition, sort_keys=True, default=str))


def conditions_key(conditions: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return sorted(condition_key(c) for c in conditions)


def action_key(action: Mapping[str, Any]) -> tuple[Any, ...]:
    """A comparable form of a listener or rule action (AWS adds defaults and ForwardConfig)."""
    kind = action.get("Type")
    if kind == "forward":
        groups = {action.get("TargetGroupArn")}
        groups |= {g.get("TargetGroupArn") for g in
                   (action.get("ForwardConfig") or {}).get("TargetGroups", [])}
        groups.discard(None)
        return ("forward", tuple(sorted(groups)))
    if kind == "redirect":
        config = action.get("RedirectConfig") or {}
        return ("redirect", config.get("Protocol", "#{protocol}"), str(config.get("Port",
                "#{port}")), config.get("Host", "#{host}"), config.get("Path", "/#{path}"),
                config.get("Query", "#{query}"), config.get("StatusCode"))
    if kind == "fixed-response":
        config = action.get("FixedResponseConfig") or {}
        return ("fixed-response", str(config.get("StatusCode")), config.get("ContentType"),
                config.get("MessageBody") or None)
    return (str(kind), json.dumps(action, sort_keys=True, default=str))


def actions_key(actions: Sequence[Mapping[str, Any]] | None) -> list[tuple[Any, ...]]:
    """Actions in their ``Order``, each as :func:`action_key`."""
    ordered = sorted(actions or [], key=lambda a: int(a.get("Order", 0) or 0))
    return [action_key(a) for a in ordered]


def describe_conditions(conditions: list[dict[str, Any]], secret_key: str | None,
                        wanted_digest: str) -> str:
    """A human summary of sanitized conditions that never shows a header value.

    A header value is named by where it should come from when it matches
    the secret's digest, and as "another value" when it does not.
    """
    parts = []
    for key in conditions_key(conditions):
        if key[0] == "http-header":
            values = [f"secret {secret_key}" if secret_key and v == wanted_digest
                      else "another value" for v in key[2]]
            parts.append(f"{key[1]} = {' | '.join(values) or 'nothing'}")
        elif key[0] in ("path-pattern", "http-request-method", "host-header", "source-ip"):
            parts.append(f"{key[0]} {','.join(key[1])}")
        else:
            parts.append(str(key[0]))
    return " and ".join(parts)
