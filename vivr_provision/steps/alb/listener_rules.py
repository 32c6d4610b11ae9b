"""The origin-check rules of a listener: read, compared and written by the listener step.

What the rules are is :mod:`vivr_provision.steps.alb.rules` (pure data and
comparisons); this is their I/O on one listener.  Ours are found by the
listener step's ownership tags plus ``vivr:rule`` (their key); rules of
others are kept apart and reported (:meth:`ListenerStep.notes
<vivr_provision.steps.alb.listener.ListenerStep.notes>`).  Header values
are replaced by digests as soon as they are read, and a drifted rule is
described by where its value should come from, never by the value.

Drift is one change per rule key (``rule.<key>``: missing, extra or
different; ``rule_tags.<key>``: only the ownership tags differ), not field
table rows: the listener converges them around its own ``ModifyListener``
(:meth:`put_rules` before, :meth:`drop_rules` after), which is the order
that keeps the listener closed and CloudFront served.

A rotating secret (``secrets.origin_verify.rotation``): the rotation
function makes the origin-verify rule accept ``[AWSCURRENT, AWSPENDING]``
before CloudFront sends the new value, and leaves the old one accepted
(``AWSPREVIOUS``) until the next rotation replaces it.  So the rule is in
sync when it accepts the current value and otherwise only values of the
secret's other versions (:func:`~vivr_provision.steps.secret_versions.other_versions`,
read only when the rule holds more than the current value); a rule that apply
writes accepts the pending value too while a rotation is under way.  Why
not converge to the current value alone once no rotation runs: an edge
location may still send the previous value for a while after the
rotation's last step, and a plain re-apply after a rotation would then
be a mutating call that can refuse CloudFront's requests.
"""

from __future__ import annotations

from typing import Any

from vivr_provision import aws_errors
from vivr_provision.aws import error_code
from vivr_provision.config.app import ListenerConfig, OriginVerifyConfig
from vivr_provision.steps.alb.common import TG_STEP, AlbPartStep
from vivr_provision.steps.alb.rules import (
    RULE_TAG,
    TAG_BATCH,
    VERIFY_RULE,
    RuleSpec,
    actions_key,
    check_header_value,
    conditions_key,
    describe_conditions,
    desired_rules,
    digest,
    sanitized_conditions,
    sanitized_rule,
)
from vivr_provision.steps.base import Change, StepContext
from vivr_provision.steps.common import aws_tags, gone_on, is_owned_by, tag_map
from vivr_provision.steps.kinds import LISTENER_RULE
from vivr_provision.steps.secret_versions import PENDING, other_versions
from vivr_provision.steps.secrets import read_secret_string
from vivr_provision.tag_batch import batched_tags

#: Prefixes of the changes the rules produce (``rule.<key>``, ``rule_tags.<key>``).
RULE_CHANGES = ("rule.", "rule_tags.")


class OriginCheckRules(AlbPartStep):
    """The rule half of a listener step (mixed into
    :class:`~vivr_provision.steps.alb.listener.ListenerStep`)."""

    listener: ListenerConfig

    @property
    def tg_step(self) -> str:
        return self.site.step(TG_STEP)

    @property
    def verify(self) -> OriginVerifyConfig | None:
        """The origin check guarding this listener (forwarding listeners only)."""
        return self.alb.origin_verify if self.listener.action == "forward" else None

    @property
    def secret_step(self) -> str:
        """The header's secret: a primary-region step, for the standby's listener too."""
        assert self.verify is not None
        return f"secret.{self.verify.secret}"

    def rule_tags(self, key: str) -> dict[str, str]:
        """The listener's ownership tags, named for the rule, plus its key."""
        return {**self.tags(), "Name": f"{self.resource_name()}-{key}", RULE_TAG: key}

    def read_rules(self, ctx: StepContext, arn: str
                   ) -> tuple[dict[str, dict[str, Any]], list[dict[str, Any]]]:
        """(our rules by key, rules of others), header values replaced by digests."""
        elbv2 = self.elbv2(ctx)
        pages = elbv2.get_paginator("describe_rules").paginate(ListenerArn=arn)
        rules = [r for page in pages for r in page["Rules"] if not r.get("IsDefault")]
        tags: dict[str, dict[str, str]] = {}
        for rule in rules:  # the rules DescribeRules just listed: the tag batch may know them
            batched = batched_tags(ctx, self.name, rule["RuleArn"], self.tags())
            if batched is not None:
                tags[rule["RuleArn"]] = batched
        unknown = [r for r in rules if r["RuleArn"] not in tags]
        for start in range(0, len(unknown), TAG_BATCH):
            batch = [r["RuleArn"] for r in unknown[start:start + TAG_BATCH]]
            for entry in elbv2.describe_tags(ResourceArns=batch).get("TagDescriptions", []):
                tags[entry["ResourceArn"]] = tag_map(entry.get("Tags"))
        ours: dict[str, dict[str, Any]] = {}
        others: list[dict[str, Any]] = []
        for rule in rules:
            rule_tags = tags.get(rule["RuleArn"], {})
            kept = sanitized_rule(rule, rule_tags)
            if is_owned_by(self, rule_tags) and RULE_TAG in rule_tags:
                ours[rule_tags[RULE_TAG]] = kept
            else:
                others.append(kept)
        return ours, others

    def forward(self, ctx: StepContext) -> list[dict[str, Any]]:
        return [{"Type": "forward",
                 "TargetGroupArn": ctx.output(self.tg_step, "target_group_arn")}]

    def wanted_rules(self, ctx: StepContext) -> tuple[dict[str, RuleSpec], str]:
        """The rules this listener should carry, and the digest of the header value.

        Reads the secret (registered for redaction on read); nothing returned
        here may be logged as is.
        """
        verify = self.verify
        if verify is None:
            return {}, ""
        value = read_secret_string(ctx, str(ctx.output(self.secret_step, "arn")))
        check_header_value(value, self.name, verify.secret)
        return desired_rules(verify, value, self.forward(ctx)), digest(value)

    def _describe_rule(self, priority: Any, conditions: list[dict[str, Any]],
                       actions: list[dict[str, Any]], wanted_digest: str) -> str:
        verify = self.alb.origin_verify
        what = describe_conditions(conditions, verify.secret if verify else None, wanted_digest)
        return f"priority {priority}: {what} -> {actions_key(actions)}"

    def rule_changes(self, ctx: StepContext, have: dict[str, dict[str, Any]]) -> list[Change]:
        """``rule.<key>`` per rule that is missing, extra or different (never a header
        value, only where it should come from), ``rule_tags.<key>`` per rule whose
        ownership tags differ."""
        wanted, wanted_digest = self.wanted_rules(ctx)
        changes: list[Change] = []
        for key in sorted(set(wanted) | set(have)):
            spec, current = wanted.get(key), have.get(key)
            now = (self._describe_rule(current["Priority"], current["Conditions"],
                                       current["Actions"], wanted_digest)
                   if current is not None else None)
            if spec is None:
                changes.append(Change(f"rule.{key}", now, None))
                continue
            conditions = sanitized_conditions(spec.conditions)
            want = self._describe_rule(spec.priority, conditions, list(spec.actions),
                                       wanted_digest)
            if current is None:
                changes.append(Change(f"rule.{key}", None, want))
            elif (current["Priority"] != str(spec.priority)
                  or not self.conditions_in_sync(ctx, key, current["Conditions"], conditions)
                  or actions_key(current["Actions"]) != actions_key(list(spec.actions))):
                changes.append(Change(f"rule.{key}", now, want))
            elif any(current["TagMap"].get(k) != v for k, v in self.rule_tags(key).items()):
                changes.append(Change(f"rule_tags.{key}", "ownership tags differ",
                                      "ownership tags"))
        return changes

    def _verify_header(self, conditions: list[dict[str, Any]]
                       ) -> tuple[list[tuple[Any, ...]], set[str] | None]:
        """(the other condition keys, the digests the verify header accepts or None)."""
        assert self.verify is not None
        header = self.verify.header.lower()
        others, values = [], None
        for key in conditions_key(conditions):
            if key[0] == "http-header" and key[1] == header:
                values = set(key[2])
            else:
                others.append(key)
        return others, values

    def conditions_in_sync(self, ctx: StepContext, key: str, have: list[dict[str, Any]],
                           want: list[dict[str, Any]]) -> bool:
        """Sanitised conditions equal, or the origin-verify rule's header accepting the
        current value and otherwise only values of the secret's other versions (a
        rotation under way or done: see the module's docstring)."""
        if conditions_key(have) == conditions_key(want):
            return True
        if key != VERIFY_RULE or self.verify is None:
            return False
        have_others, have_values = self._verify_header(have)
        want_others, want_values = self._verify_header(want)
        if have_others != want_others or not have_values or not want_values \
                or not want_values <= have_values:
            return False
        arn = str(ctx.output(self.secret_step, "arn"))
        allowed = want_values | {digest(v) for v in other_versions(ctx, arn).values()}
        return have_values <= allowed

    def written_conditions(self, ctx: StepContext, spec: RuleSpec) -> list[dict[str, Any]]:
        """The conditions to send: the origin-verify header also accepts ``AWSPENDING``
        while a rotation is under way, so a repair never refuses CloudFront."""
        conditions = [dict(c) for c in spec.conditions]
        if spec.key != VERIFY_RULE or self.verify is None:
            return conditions
        pending = other_versions(ctx, str(ctx.output(self.secret_step, "arn")),
                                 (PENDING,)).get(PENDING)
        if pending is None:
            return conditions
        for index, condition in enumerate(conditions):
            config = condition.get("HttpHeaderConfig") or {}
            if condition.get("Field") == "http-header" and \
                    str(config.get("HttpHeaderName", "")).lower() == self.verify.header.lower():
                values = [*config.get("Values", []), pending]
                conditions[index] = {**condition,
                                     "HttpHeaderConfig": {**config, "Values": values}}
        return conditions

    def put_rules(self, ctx: StepContext, listener_arn: str, wanted: dict[str, RuleSpec],
                  have: dict[str, dict[str, Any]]) -> None:
        """Create the missing rules and repair drifted ones (before the default denies)."""
        elbv2 = self.elbv2(ctx)
        for key, spec in sorted(wanted.items()):
            current = have.get(key)
            if current is None:
                try:
                    elbv2.create_rule(ListenerArn=listener_arn, Priority=spec.priority,
                                      Conditions=self.written_conditions(ctx, spec),
                                      Actions=list(spec.actions),
                                      Tags=aws_tags(self.rule_tags(key)))
                except aws_errors.ClientError as exc:
                    if error_code(exc) != "PriorityInUse":
                        raise
                    if key in self.read_rules(ctx, listener_arn)[0]:
                        # CreateRule retried after a lost answer: the first attempt
                        # made our rule (its tags say so); it is compared next time.
                        continue
                    raise RuntimeError(
                        f"{self.name}: priority {spec.priority} of {self.resource_name()} is "
                        f"taken by a rule vivr-provision did not create; move that rule or "
                        f"change origin_verify.priority") from exc
                continue
            if (not self.conditions_in_sync(ctx, key, current["Conditions"],
                                            sanitized_conditions(spec.conditions))
                    or actions_key(current["Actions"]) != actions_key(list(spec.actions))):
                elbv2.modify_rule(RuleArn=current["RuleArn"],
                                  Conditions=self.written_conditions(ctx, spec),
                                  Actions=list(spec.actions))
            if current["Priority"] != str(spec.priority):
                elbv2.set_rule_priorities(RulePriorities=[
                    {"RuleArn": current["RuleArn"], "Priority": spec.priority}])
            if any(current["TagMap"].get(k) != v for k, v in self.rule_tags(key).items()):
                elbv2.add_tags(ResourceArns=[current["RuleArn"]],
                               Tags=aws_tags(self.rule_tags(key)))

    def drop_rules(self, ctx: StepContext, wanted: dict[str, RuleSpec],
                   have: dict[str, dict[str, Any]]) -> None:
        """Delete our rules the config no longer has (after the default stopped denying)."""
        for key, current in sorted(have.items()):
            if key not in wanted:
                gone_on(LISTENER_RULE.not_found, self.elbv2(ctx).delete_rule,
                        RuleArn=current["RuleArn"])
