"""WAFv2: the web ACL in front of the CloudFront distribution (spec "AWS WAF").

One step, ``waf``: a web ACL with the configured default action, the AWS
managed rule groups (priority, override action, rules set to count) and a
rate-based rule per client IP, with CloudWatch metrics and sampled requests
as configured, and our ownership tags.

Why it looks the way it does:

* **Scope CLOUDFRONT lives in us-east-1.**  An ACL that protects a
  distribution must be created with ``Scope=CLOUDFRONT`` through the
  us-east-1 endpoint, whatever the platform's primary region is
  (``waf.scope`` REGIONAL would use the primary region).
* **Found by name.**  Web ACL names are unique per scope and account, and
  ``CreateWebACL`` has no idempotency token; a crash right after the create
  is settled by ``ListWebACLs`` + the tags the create call carried.  A
  same-named ACL without our tags is somebody else's and stops the step.
* **Optimistic locking.**  ``UpdateWebACL`` and ``DeleteWebACL`` need the
  ``LockToken`` of the last read; a change in between (the console, another
  run) is refused with ``WAFOptimisticLockException``.  Each attempt reads
  the ACL again and retries under a bounded policy.
* **Update replaces the whole ACL.**  Settings we do not manage (CAPTCHA and
  challenge config, token domains, custom response bodies, association
  config) are read back and passed through, so converging our rules never
  resets what an operator set by hand.
* **Drift is a table** (:data:`FIELDS` plus a ``Rules[<name>]`` row per rule
  on either side): plan shows a rule by its one-line summary, and every
  difference but the tags converges in the one ``UpdateWebACL`` above.
* **Delete after the distribution.**  The distribution step depends on this
  one, so the reversed graph deletes the distribution (which releases the
  ACL) first.  AWS refuses to delete an ACL still associated
  (``WAFAssociatedItemException``) for a short while after that; retried.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from vivr_provision import aws_errors
from vivr_provision.aws import error_code
from vivr_provision.config import PlatformConfig
from vivr_provision.config.edge import ManagedRuleGroupConfig, RateLimitRuleConfig
from vivr_provision.log import get_logger
from vivr_provision.retry import policy
from vivr_provision.steps.base import Change, Resource, Step, StepContext
from vivr_provision.steps.common import (
    KindTaggedStep,
    absent_on,
    aws_tags,
    gone_on,
    require_owned,
    step_tags,
)
from vivr_provision.steps.drift import TAGS, Field, converge, drift
from vivr_provision.steps.kinds import WEB_ACL

events = get_logger("vivr.waf")

WAF_STEP = "waf"
#: CLOUDFRONT-scope web ACLs are managed through this region only (AWS rule).
CLOUDFRONT_SCOPE_REGION = "us-east-1"
#: The ACL changed between our read and our write; read the LockToken again.
STALE_LOCK = policy({"WAFOptimisticLockException"},
                    "the web ACL changed since it was read; re-reading its LockToken",
                    deadline_s=120, max_attempts=8, initial_s=0.5, max_wait_s=5.0)
#: A distribution that stopped using the ACL (or was deleted) releases it with a delay.
STILL_ASSOCIATED = policy({"WAFAssociatedItemException"},
                          "a CloudFront distribution is still releasing the web ACL",
                          deadline_s=900, max_attempts=40, initial_s=5.0, max_wait_s=60.0)
#: Web ACL settings UpdateWebACL resets unless they are sent again.
PASSED_THROUGH = ("CustomResponseBodies", "CaptchaConfig", "ChallengeConfig", "TokenDomains",
                  "AssociationConfig")


def _without_nulls(value: Any) -> Any:
    """``value`` without None members or empty lists (AWS and emulators differ there).

    Empty dicts are kept: ``{"Allow": {}}`` and ``{"None": {}}`` are meaningful.
    """
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items()
                if v is not None and v != []}
    if isinstance(value, list):
        return [_without_nulls(v) for v in value]
    return value


def canonical_rule(rule: dict[str, Any]) -> dict[str, Any]:
    """The parts of a rule we manage, in a comparable form."""
    shape = {key: rule.get(key) for key in ("Name", "Priority", "Statement", "Action",
                                            "OverrideAction", "VisibilityConfig")}
    canonical: dict[str, Any] = _without_nulls(shape)
    return canonical


def rule_summary(rule: dict[str, Any]) -> str:
    """``p1 managed AWS/AWSManagedRulesCommonRuleSet -> none`` (how plan shows a rule)."""
    statement = rule.get("Statement") or {}
    if "ManagedRuleGroupStatement" in statement:
        group = statement["ManagedRuleGroupStatement"]
        counted = [o.get("Name") for o in group.get("RuleActionOverrides") or []]
        what = f"managed {group.get('VendorName')}/{group.get('Name')}"
        if counted:
            what += f" (count: {', '.join(str(c) for c in counted)})"
    elif "RateBasedStatement" in statement:
        rate = statement["RateBasedStatement"]
        what = (f"rate {rate.get('Limit')}/{rate.get('EvaluationWindowSec', 300)}s "
                f"by {rate.get('AggregateKeyType')}")
    else:
        what = "statement " + ",".join(sorted(statement))
    action = rule.get("Action") or rule.get("OverrideAction") or {}
    verb = next(iter(action), "?").lower()
    return f"p{rule.get('Priority')} {what} -> {verb}"


def parse_web_acl_arn(arn: str) -> tuple[str, str]:
    """(name, id) from ``arn:aws:wafv2:<region>:<account>:<global|regional>/webacl/<name>/<id>``."""
    parts = arn.split(":", 5)[-1].split("/")
    if len(parts) != 4 or parts[1] != "webacl":
        raise ValueError(f"not a WAFv2 web ACL ARN: {arn}")
    return parts[2], parts[3]


def _shown_rules(have: Mapping[str, Any] | None,
                 want: Mapping[str, Any] | None) -> tuple[str | None, str | None]:
    """How plan shows one rule on each side: its summary (:func:`rule_summary`),
    or its JSON where two rules differ only in what the summary leaves out
    (a metric name, a forwarded-IP header); None where a side lacks the rule.
    Equal rules are shown equal, so the row compares what it shows."""
    current, desired = (canonical_rule(dict(have)) if have else None,
                        canonical_rule(dict(want)) if want else None)
    if current == desired:
        return None, None
    shown = (rule_summary(current) if current else None,
             rule_summary(desired) if desired else None)
    if shown[0] == shown[1]:
        return json.dumps(current, sort_keys=True), json.dumps(desired, sort_keys=True)
    return shown


def rule_rows(have: Sequence[Mapping[str, Any]],
              want: Sequence[Mapping[str, Any]]) -> list[Field]:
    """``Rules[<name>]``: one row per rule name on either side (an extra rule in
    AWS is drift too), converged with the rest of the ACL."""
    have_by, want_by = {r["Name"]: r for r in have}, {r["Name"]: r for r in want}

    def row(name: str) -> Field:
        current, desired = _shown_rules(have_by.get(name), want_by.get(name))
        return Field(f"Rules[{name}]", lambda d: current, lambda s, ctx: desired,
                     apply="write_acl")

    return [row(name) for name in sorted(set(have_by) | set(want_by))]


#: The ACL's own settings; its rules are rows too (:func:`rule_rows`).  Every
#: setting goes out in one UpdateWebACL carrying the whole ACL; tags apart.
FIELDS = (
    TAGS,
    Field("Description", lambda d: d.get("Description"),
          lambda s, ctx: s.waf.description, compare="defaulted", default="",
          apply="write_acl"),
    Field("DefaultAction", lambda d: _without_nulls(d.get("DefaultAction")),
          lambda s, ctx: s.default_action(), apply="write_acl"),
    Field("VisibilityConfig", lambda d: _without_nulls(d.get("VisibilityConfig")),
          lambda s, ctx: s.visibility(s.waf.metric_name), apply="write_acl"),
)


class WebAclStep(KindTaggedStep):
    """``waf.web_acl_name``: managed rule groups plus a per-IP rate limit."""

    family = WAF_STEP
    service = "wafv2"
    kind = WEB_ACL
    expected_seconds = 10.0

    def __init__(self, config: PlatformConfig) -> None:
        super().__init__(config)
        self.waf = config.waf

    def resource_name(self) -> str:
        return self.waf.web_acl_name

    @property
    def region(self) -> str:
        if self.waf.scope == "CLOUDFRONT":
            return CLOUDFRONT_SCOPE_REGION
        return super().region

    def wafv2(self, ctx: StepContext) -> Any:
        return ctx.client("wafv2", self.region)

    # -- desired settings ------------------------------------------------------
    def visibility(self, metric_name: str) -> dict[str, Any]:
        return {"SampledRequestsEnabled": self.waf.sampled_requests,
                "CloudWatchMetricsEnabled": self.waf.cloudwatch_metrics,
                "MetricName": metric_name}

    def default_action(self) -> dict[str, Any]:
        return {"Allow": {}} if self.waf.default_action == "allow" else {"Block": {}}

    def managed_rule(self, group: ManagedRuleGroupConfig) -> dict[str, Any]:
        statement: dict[str, Any] = {"VendorName": group.vendor, "Name": group.name}
        if group.excluded_rules:
            # RuleActionOverrides (Count) is what AWS recommends instead of the
            # legacy ExcludedRules: the rules still evaluate and label, but never block.
            statement["RuleActionOverrides"] = [
                {"Name": name, "ActionToUse": {"Count": {}}} for name in group.excluded_rules]
        override: dict[str, Any] = ({"None": {}} if group.override_action == "none"
                                    else {"Count": {}})
        return {"Name": group.name, "Priority": group.priority,
                "Statement": {"ManagedRuleGroupStatement": statement},
                "OverrideAction": override,
                "VisibilityConfig": self.visibility(f"{self.waf.metric_name}-{group.name}")}

    def rate_rule(self, rate: RateLimitRuleConfig) -> dict[str, Any]:
        statement: dict[str, Any] = {"Limit": rate.limit,
                                     "EvaluationWindowSec": rate.window_seconds,
                                     "AggregateKeyType": rate.aggregate_key}
        if rate.aggregate_key == "FORWARDED_IP":
            statement["ForwardedIPConfig"] = {"HeaderName": "X-Forwarded-For",
                                              "FallbackBehavior": "MATCH"}
        action: dict[str, Any] = {"Block": {}} if rate.action == "block" else {"Count": {}}
        return {"Name": rate.name, "Priority": rate.priority,
                "Statement": {"RateBasedStatement": statement}, "Action": action,
                "VisibilityConfig": self.visibility(f"{self.waf.metric_name}-{rate.name}")}

    def rules(self) -> list[dict[str, Any]]:
        """Every rule, in priority order (the order WAF evaluates them)."""
        rules = [self.managed_rule(g) for g in self.waf.managed_rule_groups]
        rules.append(self.rate_rule(self.waf.rate_limit))
        return sorted(rules, key=lambda r: int(r["Priority"]))

    def settings(self) -> dict[str, Any]:
        """What CreateWebACL and UpdateWebACL both take, besides names and tokens."""
        return {"DefaultAction": self.default_action(), "Description": self.waf.description,
                "Rules": self.rules(), "VisibilityConfig": self.visibility(self.waf.metric_name)}

    # -- finding ---------------------------------------------------------------
    def _get(self, ctx: StepContext, name: str, acl_id: str) -> Resource | None:
        reply = absent_on(WEB_ACL.not_found, self.wafv2(ctx).get_web_acl, Name=name,
                          Scope=self.waf.scope, Id=acl_id)
        if reply is None:
            return None
        data = dict(reply["WebACL"])
        data["LockToken"] = reply.get("LockToken")
        data["TagMap"] = step_tags(ctx, self, self.wafv2(ctx), WEB_ACL, data["ARN"])
        return Resource(data["ARN"], data)

    def describe_by_id(self, ctx: StepContext, resource_id: str) -> Resource | None:
        name, acl_id = parse_web_acl_arn(resource_id)
        return self._get(ctx, name, acl_id)

    def _summaries(self, ctx: StepContext) -> list[dict[str, Any]]:
        """Every web ACL of our scope (ListWebACLs pages by NextMarker)."""
        found: list[dict[str, Any]] = []
        params: dict[str, Any] = {"Scope": self.waf.scope, "Limit": 100}
        while True:
            reply = self.wafv2(ctx).list_web_acls(**params)
            found += reply.get("WebACLs", [])
            marker = reply.get("NextMarker")
            if not marker or not reply.get("WebACLs"):
                return found
            params["NextMarker"] = marker

    def find_by_tags(self, ctx: StepContext) -> Resource | None:
        for summary in self._summaries(ctx):
            if summary.get("Name") != self.resource_name():
                continue
            found = self._get(ctx, summary["Name"], summary["Id"])
            if found is not None:
                require_owned(self, f"web ACL {self.resource_name()}", found.data["TagMap"])
                return found
        return None

    # -- lifecycle -------------------------------------------------------------
    def create(self, ctx: StepContext, token: str) -> Resource:
        """Create with the tags in the same call; a duplicate name means a crash left one."""
        try:
            summary = self.wafv2(ctx).create_web_acl(
                Name=self.resource_name(), Scope=self.waf.scope, Tags=aws_tags(self.tags()),
                **self.settings())["Summary"]
        except aws_errors.ClientError as exc:
            if error_code(exc) not in WEB_ACL.already_exists:
                raise
            events.info("waf.web_acl.exists", step=self.name, name=self.resource_name())
            adopted = self.find_by_tags(ctx)
            if adopted is None:
                raise
            changes = self.diff(ctx, adopted)
            return self.update(ctx, adopted, changes) if changes else adopted
        found = self._get(ctx, summary["Name"], summary["Id"])
        assert found is not None, "a web ACL just created is readable"
        return found

    def fields(self, data: Mapping[str, Any]) -> list[Field]:
        """The drift table: :data:`FIELDS` and a row per rule."""
        return [*FIELDS, *rule_rows(data.get("Rules") or [], self.rules())]

    def diff(self, ctx: StepContext, resource: Resource) -> list[Change]:
        return drift(self, ctx, resource.data, self.fields(resource.data))

    def _locked(self, ctx: StepContext, resource: Resource,
                write: Callable[[dict[str, Any], str], None]) -> None:
        """Read the ACL (fresh LockToken) then ``write(acl, token)``; retry a stale token."""
        name, acl_id = parse_web_acl_arn(resource.id)

        def attempt() -> None:
            reply = self.wafv2(ctx).get_web_acl(Name=name, Scope=self.waf.scope, Id=acl_id)
            write(dict(reply["WebACL"]), str(reply["LockToken"]))

        STALE_LOCK.call(f"write web ACL {name}", attempt)

    def update(self, ctx: StepContext, resource: Resource, changes: list[Change]) -> Resource:
        converge(self, ctx, resource, changes, self.fields(resource.data))
        name, acl_id = parse_web_acl_arn(resource.id)
        found = self._get(ctx, name, acl_id)
        assert found is not None, "a web ACL just updated is readable"
        return found

    def write_acl(self, ctx: StepContext, resource: Resource, changes: list[Change]) -> None:
        """One UpdateWebACL with every setting (it replaces the whole ACL), under its
        LockToken; settings we do not manage are read back and sent again."""
        name, acl_id = parse_web_acl_arn(resource.id)

        def write(acl: dict[str, Any], lock_token: str) -> None:
            kept = {k: acl[k] for k in PASSED_THROUGH if acl.get(k)}
            self.wafv2(ctx).update_web_acl(Name=name, Scope=self.waf.scope, Id=acl_id,
                                           LockToken=lock_token, **self.settings(), **kept)

        self._locked(ctx, resource, write)

    def delete(self, ctx: StepContext, resource: Resource) -> None:
        """Delete with the current LockToken; wait out a distribution still releasing it."""
        name, acl_id = parse_web_acl_arn(resource.id)

        def attempt() -> None:
            reply = absent_on(WEB_ACL.not_found, self.wafv2(ctx).get_web_acl, Name=name,
                              Scope=self.waf.scope, Id=acl_id)
            if reply is None:
                return
            gone_on(WEB_ACL.not_found, self.wafv2(ctx).delete_web_acl, Name=name,
                    Scope=self.waf.scope, Id=acl_id, LockToken=reply["LockToken"])

        STILL_ASSOCIATED.call(f"delete web ACL {name}", STALE_LOCK.call,
                              f"delete web ACL {name}", attempt)

    def outputs(self, resource: Resource) -> dict[str, Any]:
        """The ARN is what CloudFront's WebACLId takes for a WAFv2 ACL."""
        return {"id": resource.id, "web_acl_arn": resource.id,
                "web_acl_id": resource.data.get("Id"), "name": self.resource_name(),
                "scope": self.waf.scope}


def waf_steps(config: PlatformConfig) -> list[Step]:
    """The web ACL of the distribution."""
    return [WebAclStep(config)]


__all__ = ["WebAclStep", "waf_steps"]
