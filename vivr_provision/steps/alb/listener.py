"""One listener of the load balancer and its origin-check rules.

A listener has no name of its own: it is found by the ARN in state, else
among its balancer's listeners by port, and adopted only with our
ownership tags (read with :data:`LISTENER`'s tag list call).

Drift of the listener itself is the :meth:`ListenerStep.fields` table, every
setting converged by one ``ModifyListener`` with the whole listener
(protocol, port, TLS policy, certificate and default actions are validated
together by ELB).  The rules (:mod:`vivr_provision.steps.alb.rules`) are
compared by key (:mod:`vivr_provision.steps.alb.listener_rules`) and
converged around that call, because the order is the
guarantee: missing rules are put in place *before* the default action
turns to deny, and rules the config dropped are deleted only *after* it
turned back to forward.
"""

from __future__ import annotations

from typing import Any

from vivr_provision.config import PlatformConfig
from vivr_provision.config.app import AlbConfig, ListenerConfig
from vivr_provision.steps.alb.common import ACM_STEP, CERTIFICATE_SETTLING, LB_STEP, LISTENER_FAMILY
from vivr_provision.steps.alb.listener_rules import RULE_CHANGES, OriginCheckRules
from vivr_provision.steps.alb.rules import actions_key, deny_action
from vivr_provision.steps.base import Change, Resource, Site, StepContext
from vivr_provision.steps.common import (
    KindTaggedStep,
    absent_on,
    aws_tags,
    gone_on,
    require_owned,
    step_tags,
)
from vivr_provision.steps.drift import TAGS, Field, converge, drift
from vivr_provision.steps.kinds import LISTENER, LOAD_BALANCER


def _setting(name: str, wanted: Any) -> Field:
    return Field(name, lambda d: d.get(name), wanted, apply="modify_listener")


def _default_certificates(data: Any) -> list[str]:
    """The listener's default certificate(s); SNI certificates are listed apart by AWS."""
    return sorted(c["CertificateArn"] for c in data.get("Certificates") or []
                  if c.get("IsDefault", True))


_HEAD = (
    TAGS,
    _setting("Protocol", lambda s, ctx: s.listener.protocol),
    _setting("Port", lambda s, ctx: s.listener.port),
)
#: An HTTP listener has no TLS policy; whatever is reported for one is moot.
_SSL_POLICY = _setting("SslPolicy", lambda s, ctx: s.listener.ssl_policy)
_TAIL = (
    Field("Certificates", _default_certificates,
          lambda s, ctx: sorted(c["CertificateArn"]
                                for c in s.settings(ctx).get("Certificates", [])),
          apply="modify_listener"),
    Field("DefaultActions", lambda d: actions_key(d.get("DefaultActions")),
          lambda s, ctx: actions_key(s.default_actions(ctx)), apply="modify_listener"),
)


def balancer_listeners(elbv2: Any, lb_arn: str) -> dict[str, dict[str, Any]]:
    """Every listener of a balancer, by ARN, as DescribeListeners reports it.

    One DescribeListeners by ``LoadBalancerArn`` lists all of a balancer's
    listeners (pages of up to 400, ``PageSize``; a balancer holds at most 50
    listeners).  Their tags come from the tag batch (``step_tags``) and their
    rules from DescribeRules, one per listener (it takes a listener, not a
    balancer), as for a listener read on its own.
    """
    pages = elbv2.get_paginator("describe_listeners").paginate(LoadBalancerArn=lb_arn)
    return {str(listener["ListenerArn"]): listener
            for page in pages for listener in page["Listeners"]}


class ListenerStep(OriginCheckRules, KindTaggedStep):
    """One listener of vivr-alb and its rules: HTTPS 443 forwarding, or HTTP 80 redirecting.

    An HTTPS listener takes the certificate of its own site's ``acm`` step:
    ELB accepts only a certificate of the balancer's region.  A forwarding
    listener of a balancer with ``origin_verify`` answers by default with
    the deny status and forwards only through the origin-check rules
    (:mod:`vivr_provision.steps.alb.rules`), which this step owns too.
    """

    family = LISTENER_FAMILY
    kind = LISTENER

    def __init__(self, config: PlatformConfig, alb: AlbConfig, listener: ListenerConfig, *,
                 site: Site | None = None) -> None:
        super().__init__(config, alb, str(listener.port), site=site)
        self.listener = listener

    def resource_name(self) -> str:
        return f"{self.alb.name}-{self.listener.protocol.lower()}-{self.listener.port}"

    def fields(self) -> tuple[Field, ...]:
        """The listener's drift table (the TLS policy only on HTTPS)."""
        return (*_HEAD, *((_SSL_POLICY,) if self.https else ()), *_TAIL)

    @property
    def https(self) -> bool:
        return self.listener.protocol == "HTTPS"

    @property
    def lb_step(self) -> str:
        return self.site.step(LB_STEP)

    @property
    def acm_step(self) -> str:
        return self.site.step(ACM_STEP)

    def depends_on(self) -> tuple[str, ...]:
        deps = [self.lb_step]
        if self.listener.action == "forward":
            deps.append(self.tg_step)
        if self.https:
            deps.append(self.acm_step)
        if self.verify is not None:
            deps.append(self.secret_step)
        return tuple(deps)

    # -- reading ---------------------------------------------------------------
    def _from(self, ctx: StepContext, listener: dict[str, Any]) -> Resource:
        arn = listener["ListenerArn"]
        data = dict(listener)
        data["TagMap"] = step_tags(ctx, self, self.elbv2(ctx), LISTENER, arn)
        require_owned(self, f"listener {self.alb.name}:{self.listener.port}", data["TagMap"])
        data["Rules"], data["ForeignRules"] = self.read_rules(ctx, arn)
        return Resource(arn, data)

    def describe_by_id(self, ctx: StepContext, resource_id: str) -> Resource | None:
        if ctx.has_outputs(self.lb_step):
            # The first read of every listener of our balancer: one batch (ctx.reads).
            lb_arn = str(ctx.output(self.lb_step, "load_balancer_arn"))
            batched = ctx.reads.take(("elbv2", self.region, lb_arn, "listeners"), resource_id,
                                     lambda: balancer_listeners(self.elbv2(ctx), lb_arn),
                                     reader=self.name)
            if batched is not None:
                return self._from(ctx, dict(batched))
        return self._direct(ctx, resource_id)

    def _direct(self, ctx: StepContext, arn: str) -> Resource | None:
        """The listener read on its own (a listener the batch lacks, a re-read)."""
        reply = absent_on(LISTENER.not_found | LOAD_BALANCER.not_found,
                          self.elbv2(ctx).describe_listeners, ListenerArns=[arn])
        listeners = reply["Listeners"] if reply else []
        return self._from(ctx, listeners[0]) if listeners else None

    def find_by_tags(self, ctx: StepContext) -> Resource | None:
        if not ctx.has_outputs(self.lb_step):
            return None  # no load balancer of ours, so no listener either
        reply = absent_on(LOAD_BALANCER.not_found, self.elbv2(ctx).describe_listeners,
                          LoadBalancerArn=ctx.output(self.lb_step, "load_balancer_arn"))
        for listener in reply["Listeners"] if reply else []:
            if listener.get("Port") == self.listener.port:
                return self._from(ctx, listener)
        return None

    def _reread(self, ctx: StepContext, arn: str) -> Resource:
        found = self._direct(ctx, arn)  # after a write: never the run's first batch
        assert found is not None, "a listener just written is describable"
        return found

    # -- desired settings ----------------------------------------------------
    def default_actions(self, ctx: StepContext) -> list[dict[str, Any]]:
        if self.listener.action == "forward":
            if self.verify is not None:
                return [deny_action(self.verify)]
            return self.forward(ctx)
        redirect = self.listener.redirect
        assert redirect is not None, "validated: a redirect listener has redirect settings"
        # Host, path and query spelled out: they are AWS's defaults, and an
        # explicit value makes the comparison with what AWS reports exact.
        return [{"Type": "redirect", "RedirectConfig": {
            "Protocol": redirect.protocol, "Port": str(redirect.port), "Host": "#{host}",
            "Path": "/#{path}", "Query": "#{query}", "StatusCode": redirect.status_code}}]

    def settings(self, ctx: StepContext) -> dict[str, Any]:
        """What CreateListener/ModifyListener take, besides the ARNs."""
        params: dict[str, Any] = {"Protocol": self.listener.protocol,
                                  "Port": self.listener.port,
                                  "DefaultActions": self.default_actions(ctx)}
        if self.https:
            params["SslPolicy"] = self.listener.ssl_policy
            params["Certificates"] = [{"CertificateArn": ctx.output(self.acm_step,
                                                                    "certificate_arn")}]
        return params

    # -- lifecycle -------------------------------------------------------------
    def create(self, ctx: StepContext, token: str) -> Resource:
        """Create the listener (denying by default when guarded), then its rules.

        A guarded listener never forwards without the header, not even for
        the moment before its rules exist; a crash in between leaves rules
        missing, which the next apply's diff reports and creates.
        """
        ctx.catalog.demand((self.name,))  # what it sends, checked against AWS's catalog
        wanted, _ = self.wanted_rules(ctx)
        reply = CERTIFICATE_SETTLING.call(
            f"create listener {self.listener.port}", self.elbv2(ctx).create_listener,
            LoadBalancerArn=ctx.output(self.lb_step, "load_balancer_arn"),
            Tags=aws_tags(self.tags()), **self.settings(ctx))
        arn = reply["Listeners"][0]["ListenerArn"]
        self.put_rules(ctx, arn, wanted, {})
        return self._reread(ctx, arn)

    def diff(self, ctx: StepContext, resource: Resource) -> list[Change]:
        return (drift(self, ctx, resource.data, self.fields())
                + self.rule_changes(ctx, resource.data.get("Rules", {})))

    def update(self, ctx: StepContext, resource: Resource, changes: list[Change]) -> Resource:
        """Rules first, then the listener's own rows, then the rules the config dropped."""
        rules_drifted = any(c.field.startswith(RULE_CHANGES) for c in changes)
        if any(c.field == "SslPolicy" for c in changes):
            ctx.catalog.demand((self.name,))  # the new policy, checked against AWS's catalog
        have = resource.data.get("Rules", {})
        wanted, _ = self.wanted_rules(ctx) if rules_drifted else ({}, "")
        if rules_drifted:
            self.put_rules(ctx, resource.id, wanted, have)
        converge(self, ctx, resource, changes, self.fields())  # rule changes own no row
        if rules_drifted:
            self.drop_rules(ctx, wanted, have)
        return self._reread(ctx, resource.id)

    def modify_listener(self, ctx: StepContext, resource: Resource,
                        changes: list[Change]) -> None:
        """One call with the whole listener: ModifyListener validates the protocol,
        policy, certificate and actions together."""
        CERTIFICATE_SETTLING.call(f"modify listener {self.listener.port}",
                                  self.elbv2(ctx).modify_listener,
                                  ListenerArn=resource.id, **self.settings(ctx))

    def delete(self, ctx: StepContext, resource: Resource) -> None:
        """Delete the listener; ELB deletes its rules with it."""
        gone_on(LISTENER.not_found | LOAD_BALANCER.not_found, self.elbv2(ctx).delete_listener,
                ListenerArn=resource.id)

    def notes(self, ctx: StepContext, resource: Resource | None) -> list[str]:
        """Rules of others on a guarded listener: requests they match skip the origin check."""
        if resource is None or self.verify is None:
            return []
        return [f"rule priority {rule['Priority']} on {self.resource_name()} was not created by "
                f"vivr-provision: requests it matches are not checked for {self.verify.header}"
                for rule in resource.data.get("ForeignRules", [])]

    def outputs(self, resource: Resource) -> dict[str, Any]:
        rules = resource.data.get("Rules", {})
        return {"id": resource.id, "listener_arn": resource.id,
                "protocol": self.listener.protocol, "port": self.listener.port,
                "rule_arns": {key: rule["RuleArn"] for key, rule in sorted(rules.items())}}
