"""Secrets Manager rotation function for the origin-verify secret (``X-Origin-Verify``).

This file is the whole Lambda deployment package: the step that deploys it
(:mod:`vivr_provision.steps.secret_rotation`) zips this one module, so it
imports only the standard library and boto3 (in every Lambda Python
runtime), never the rest of ``vivr_provision``.

Why a rotation without a failed request is possible: both consumers can hold
two values while the switch propagates.  The ALB rules that admit only
requests carrying the header (the primary's and the DR standby's) take up
to five values in one ``http-header`` condition, and CloudFront sends one
value, deployed edge by edge.  AWS's own pattern (AWS Security Blog, "How to
enhance Amazon CloudFront origin security with AWS WAF and AWS Secrets
Manager": a rotation function updates the origin's check to accept both
values, then CloudFront's header) runs the same four steps:

``createSecret``
    a new value from ``GetRandomPassword`` (the config's length and alphabet)
    stored as ``AWSPENDING`` under the rotation's ``ClientRequestToken``;
    a retry finds it and makes none.
``setSecret``
    every rule first accepts ``[AWSCURRENT, AWSPENDING]`` (``ModifyRule``),
    then CloudFront's origin header becomes ``AWSPENDING``
    (``UpdateDistribution`` with the ETag just read).  In that order, every
    request CloudFront sends, with either value, is admitted.
``testSecret``
    the distribution is ``Deployed`` (every edge sends the new value; the
    step polls for it while the invocation has time) and every rule accepts
    the value CloudFront sends; otherwise it raises, so Secrets Manager
    tries the rotation again later.  This step alone runs
    when rotation is first enabled without rotating (``RotateImmediately``
    false), so it checks what CloudFront sends, whichever version that is.
``finishSecret``
    ``AWSCURRENT`` moves to the new version (``AWSPREVIOUS`` to the old one).
    The rules keep accepting the previous value until the next rotation's
    ``setSecret`` replaces it: an edge that still had it in flight is served.

What it needs to know comes from the environment the deploying step sets
(:data:`ENV_RULES` ...).  Values are never logged: only step names, ARNs,
ids and counts.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable, Mapping
from typing import Any

#: JSON list of ``{"arn": <listener rule ARN>, "region": ..., "header": <name>}``.
ENV_RULES = "ORIGIN_VERIFY_RULES"
#: JSON ``{"id": <distribution id>, "headers": [{"origin": <origin id>, "header": <name>}]}``.
ENV_DISTRIBUTION = "ORIGIN_VERIFY_DISTRIBUTION"
#: JSON ``{"length": n, "exclude_punctuation": bool, "exclude_characters": "..."}``: the
#: new value's rules (named so that secret scanners do not take them for a password).
ENV_VALUE = "ORIGIN_VERIFY_VALUE_RULES"

CURRENT, PENDING = "AWSCURRENT", "AWSPENDING"
#: CloudFront is a global service whose API lives in us-east-1.
CLOUDFRONT_REGION = "us-east-1"
#: The distribution status once every edge location has the config.
DEPLOYED = "Deployed"
#: testSecret polls the distribution this often, and stops while this much time is left.
POLL_S, MARGIN_S = 20.0, 10.0

#: Lambda's Python runtime sends the root logger's records to the function's log group.
log = logging.getLogger()


class RotationNotReady(RuntimeError):
    """A condition that time resolves (CloudFront still deploying): Secrets Manager retries."""


class RotationRefused(RuntimeError):
    """The secret or its consumers are not in a state this rotation can work from."""


def _settings(environ: Mapping[str, str]) -> tuple[list[dict[str, str]], dict[str, Any],
                                                   dict[str, Any]]:
    rules = json.loads(environ[ENV_RULES])
    distribution = json.loads(environ[ENV_DISTRIBUTION])
    value = json.loads(environ[ENV_VALUE])
    return list(rules), dict(distribution), dict(value)


def random_value_request(rules: Mapping[str, Any]) -> dict[str, Any]:
    """``GetRandomPassword``'s parameters for the value rules."""
    params: dict[str, Any] = {"PasswordLength": int(rules["length"]),
                              "ExcludePunctuation": bool(rules["exclude_punctuation"]),
                              "IncludeSpace": False, "RequireEachIncludedType": True}
    if rules.get("exclude_characters"):
        params["ExcludeCharacters"] = str(rules["exclude_characters"])
    return params


# --------------------------------------------------------------------------- reading


def secret_value(sm: Any, secret_id: str, stage: str, version: str | None = None) -> str:
    """The value of ``stage`` (and ``version``, when given)."""
    params: dict[str, Any] = {"SecretId": secret_id, "VersionStage": stage}
    if version is not None:
        params["VersionId"] = version
    return str(sm.get_secret_value(**params)["SecretString"])


def header_condition(rule: Mapping[str, Any], header: str) -> dict[str, Any]:
    """The rule's ``http-header`` condition on ``header`` (names compare case-blind)."""
    for condition in rule.get("Conditions") or []:
        config = condition.get("HttpHeaderConfig") or {}
        if (condition.get("Field") == "http-header"
                and str(config.get("HttpHeaderName", "")).lower() == header.lower()):
            return dict(condition)
    raise RotationRefused(f"rule {rule.get('RuleArn')} has no http-header condition on {header}")


def rule_values(elbv2: Any, rule_arn: str, header: str) -> tuple[dict[str, Any], list[str]]:
    """(the rule, the values its header condition accepts)."""
    [rule] = elbv2.describe_rules(RuleArns=[rule_arn])["Rules"]
    condition = header_condition(rule, header)
    return dict(rule), list(condition["HttpHeaderConfig"].get("Values") or [])


def sent_values(config: Mapping[str, Any], headers: list[dict[str, str]]) -> list[str]:
    """What CloudFront sends in each configured (origin, header) of a DistributionConfig."""
    origins = {o["Id"]: o for o in (config.get("Origins") or {}).get("Items") or []}
    values = []
    for wanted in headers:
        origin = origins.get(wanted["origin"])
        if origin is None:
            raise RotationRefused(f"the distribution has no origin {wanted['origin']}")
        items = (origin.get("CustomHeaders") or {}).get("Items") or []
        found = [h["HeaderValue"] for h in items
                 if str(h["HeaderName"]).lower() == wanted["header"].lower()]
        if not found:
            raise RotationRefused(f"origin {wanted['origin']} sends no {wanted['header']}")
        values += found
    return values


# --------------------------------------------------------------------------- the steps


def create_secret(sm: Any, secret_id: str, token: str, value_rules: Mapping[str, Any]) -> None:
    """A new value as ``AWSPENDING`` under ``token``, unless that version has one already."""
    try:
        secret_value(sm, secret_id, PENDING, token)
        log.info("createSecret: version %s already has its value", token)
        return
    except sm.exceptions.ResourceNotFoundException:
        pass  # the version Secrets Manager made for the rotation holds no value yet
    value = str(sm.get_random_password(**random_value_request(value_rules))["RandomPassword"])
    sm.put_secret_value(SecretId=secret_id, ClientRequestToken=token, SecretString=value,
                        VersionStages=[PENDING])
    log.info("createSecret: stored a new value in version %s", token)


def set_secret(sm: Any, secret_id: str, token: str, rules: list[dict[str, str]],
               distribution: Mapping[str, Any], *, client: Callable[..., Any]) -> None:
    """Every rule accepts both values, then CloudFront sends the new one."""
    current = secret_value(sm, secret_id, CURRENT)
    pending = secret_value(sm, secret_id, PENDING, token)
    for entry in rules:
        elbv2 = client("elbv2", region_name=entry["region"])
        rule, values = rule_values(elbv2, entry["arn"], entry["header"])
        if sorted(values) == sorted([current, pending]):
            log.info("setSecret: rule %s already accepts both values", entry["arn"])
            continue
        conditions = []
        for condition in rule.get("Conditions") or []:
            # DescribeRules returns each condition in two spellings (legacy Values and
            # its *Config); ModifyRule takes one, and it replaces all conditions.
            kept = {k: v for k, v in condition.items() if k != "Values"} \
                if any(k.endswith("Config") for k in condition) else dict(condition)
            conditions.append(kept)
        wanted = header_condition(rule, entry["header"])
        name = wanted["HttpHeaderConfig"]["HttpHeaderName"]
        conditions = [c for c in conditions if not (
            c.get("Field") == "http-header"
            and str((c.get("HttpHeaderConfig") or {}).get("HttpHeaderName", "")).lower()
            == name.lower())]
        conditions.append({"Field": "http-header", "HttpHeaderConfig": {
            "HttpHeaderName": name, "Values": [current, pending]}})
        elbv2.modify_rule(RuleArn=entry["arn"], Conditions=conditions)
        log.info("setSecret: rule %s now accepts the current and the pending value",
                 entry["arn"])
    cloudfront = client("cloudfront", region_name=CLOUDFRONT_REGION)
    reply = cloudfront.get_distribution_config(Id=distribution["id"])
    config = reply["DistributionConfig"]
    wanted_headers = {(h["origin"], h["header"].lower()) for h in distribution["headers"]}
    sent_values(config, distribution["headers"])  # each configured header is there
    changed = False
    for origin in (config.get("Origins") or {}).get("Items") or []:
        for header in (origin.get("CustomHeaders") or {}).get("Items") or []:
            if ((origin["Id"], str(header["HeaderName"]).lower()) in wanted_headers
                    and header["HeaderValue"] != pending):
                header["HeaderValue"] = pending
                changed = True
    if changed:
        cloudfront.update_distribution(Id=distribution["id"], IfMatch=reply["ETag"],
                                       DistributionConfig=config)
        log.info("setSecret: distribution %s now sends the pending value", distribution["id"])
    else:
        log.info("setSecret: distribution %s already sends the pending value",
                 distribution["id"])


def check_deployed(rules: list[dict[str, str]], distribution: Mapping[str, Any],
                client: Callable[..., Any], *, remaining_s: Callable[[], float] = lambda: 0.0,
                sleep: Callable[[float], None] = time.sleep) -> None:
    """CloudFront is deployed everywhere, and every rule accepts what it sends.

    A deployment takes minutes (typically 5 to 15): the step polls while the
    invocation has time left (``remaining_s``), then gives up with
    :class:`RotationNotReady` so Secrets Manager tries again later.
    """
    cloudfront = client("cloudfront", region_name=CLOUDFRONT_REGION)
    while True:
        reply = cloudfront.get_distribution(Id=distribution["id"])["Distribution"]
        if reply.get("Status") == DEPLOYED:
            break
        if remaining_s() < POLL_S + MARGIN_S:
            raise RotationNotReady(f"distribution {distribution['id']} is "
                                   f"{reply.get('Status')}, not {DEPLOYED}: the rotation is "
                                   "tried again later")
        log.info("testSecret: distribution %s is %s, polling", distribution["id"],
                 reply.get("Status"))
        sleep(POLL_S)
    sent = set(sent_values(reply["DistributionConfig"], distribution["headers"]))
    for entry in rules:
        elbv2 = client("elbv2", region_name=entry["region"])
        _, values = rule_values(elbv2, entry["arn"], entry["header"])
        if not sent <= set(values):
            raise RotationRefused(f"rule {entry['arn']} does not accept the value "
                                  f"distribution {distribution['id']} sends")
    log.info("testSecret: distribution %s is deployed and %d rule(s) accept its value",
             distribution["id"], len(rules))


def finish_secret(sm: Any, secret_id: str, token: str) -> None:
    """``AWSCURRENT`` to the new version (Secrets Manager moves ``AWSPREVIOUS`` itself)."""
    stages = sm.describe_secret(SecretId=secret_id).get("VersionIdsToStages") or {}
    current = next((version for version, labels in stages.items() if CURRENT in labels), None)
    if current == token:
        log.info("finishSecret: version %s is already current", token)
        return
    params: dict[str, Any] = {"SecretId": secret_id, "VersionStage": CURRENT,
                              "MoveToVersionId": token}
    if current is not None:
        params["RemoveFromVersionId"] = current
    sm.update_secret_version_stage(**params)
    log.info("finishSecret: version %s is now current", token)


# --------------------------------------------------------------------------- entry point


def rotate(event: Mapping[str, Any], environ: Mapping[str, str], client: Callable[..., Any],
           remaining_s: Callable[[], float] = lambda: 0.0) -> None:
    """One rotation step for ``event`` (``SecretId``, ``ClientRequestToken``, ``Step``);
    ``remaining_s``: the seconds the invocation has left."""
    secret_id, token, step = event["SecretId"], event["ClientRequestToken"], event["Step"]
    rules, distribution, value_rules = _settings(environ)
    sm = client("secretsmanager")
    described = sm.describe_secret(SecretId=secret_id)
    if not described.get("RotationEnabled"):
        raise RotationRefused(f"rotation is not enabled on {secret_id}")
    stages = described.get("VersionIdsToStages") or {}
    if token not in stages:
        raise RotationRefused(f"version {token} of {secret_id} has no stage for rotation")
    if CURRENT in stages[token]:
        log.info("%s: version %s is already current", step, token)
        return
    if PENDING not in stages[token]:
        raise RotationRefused(f"version {token} of {secret_id} is not {PENDING}")
    log.info("%s of %s, version %s", step, secret_id, token)
    if step == "createSecret":
        create_secret(sm, secret_id, token, value_rules)
    elif step == "setSecret":
        set_secret(sm, secret_id, token, rules, distribution, client=client)
    elif step == "testSecret":
        check_deployed(rules, distribution, client, remaining_s=remaining_s)
    elif step == "finishSecret":
        finish_secret(sm, secret_id, token)
    else:
        raise RotationRefused(f"unknown rotation step {step!r}")


def handler(event: Mapping[str, Any], context: Any) -> None:
    """Lambda's entry point (``origin_verify.handler``)."""
    import boto3  # on call: no vivr_provision module imports the SDK at import time

    log.setLevel(logging.INFO)
    rotate(event, os.environ, boto3.client,
           lambda: float(context.get_remaining_time_in_millis()) / 1000.0)
