"""The Application Load Balancer: target group, load balancer and listeners.

Three kinds of steps, because AWS orders them both ways: the listeners need
the load balancer, the target group and (HTTPS) the issued certificate;
on teardown they must go first, or the target group cannot be deleted
("currently in use by a listener", ResourceInUse).  The declared
dependencies give both orders.

ELBv2 create calls are idempotent on AWS when repeated with the same
settings, but not every implementation honours that (a local emulator
creates a second load balancer of the same name, or a second listener on
the same port), so each step looks up its resource first: load balancer and
target group by name, a listener by (load balancer, port).  Everything is
created with our ownership tags and adopted only when it carries them.

Settings that can change in place are converged: target group health check
and attributes, load balancer subnets, security groups and attributes,
listener protocol, SSL policy, certificate and default actions.  The
target group's protocol, port, VPC and target type, and the load
balancer's scheme and type, cannot change: that is a replacement, which
apply refuses (the ECS service and the DNS records point at them).

"Preserve client IP" (spec) is an NLB target-group attribute; on an ALB the
client address reaches the targets in X-Forwarded-For, so it is realised as
``routing.http.xff_header_processing.mode`` = ``append`` on the load
balancer.

The same classes build two balancers: the primary one from ``config.alb``
(steps ``alb-target-group``, ``alb``, ``alb-listener.<port>``) and the DR
region's standby from ``config.dr.alb`` on the DR
:class:`~vivr_provision.steps.base.Site` (``dr.alb`` ...).  Every step
reads its settings from the :class:`AlbConfig` it was given and names its
dependencies through its site (``dr.vpc``, ``dr.subnet.*``, ``dr.sg.*``,
``dr.acm``), because subnets, groups and certificates are regional.  Only
the access-log bucket is a primary-region step (``s3.<key>``): an ALB logs
only to a bucket of its own region, so config validation keeps the
standby's logging off.
"""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import ClientError

from vivr_provision.aws import error_code
from vivr_provision.config import PlatformConfig
from vivr_provision.config.app import AlbConfig, ListenerConfig, OriginVerifyConfig
from vivr_provision.retry import policy
from vivr_provision.steps.alb_rules import (
    RULE_TAG,
    TAG_BATCH,
    RuleSpec,
    check_header_value,
    conditions_key,
    deny_action,
    describe_conditions,
    desired_rules,
    digest,
    sanitized_conditions,
    sanitized_rule,
)
from vivr_provision.steps.base import Change, Resource, Site, Step, StepContext
from vivr_provision.steps.common import (
    absent_on,
    aws_tags,
    gone_on,
    is_owned_by,
    require_owned,
    tag_drift,
    tag_map,
    write_tags,
)
from vivr_provision.steps.kinds import LISTENER, LISTENER_RULE, LOAD_BALANCER, TARGET_GROUP
from vivr_provision.steps.secrets import read_secret_string

#: A target group stays "in use" for a short while after its last listener or
#: rule is deleted; the ECS service deregistering its tasks takes longer.
TARGET_GROUP_IN_USE = policy({"ResourceInUse"},
                             "a listener, rule or service is still releasing the target group",
                             deadline_s=600, max_attempts=40, initial_s=2.0, max_wait_s=30.0)
#: AWS checks that it may write to the access-log bucket when logging is
#: switched on; a bucket policy written seconds ago may not be visible yet.
LOG_BUCKET_SETTLING = policy({"InvalidConfigurationRequest"},
                             "the access-log bucket policy is not visible to ELB yet",
                             deadline_s=180, initial_s=2.0, message=r"bucket")
#: A certificate issued seconds ago may not be visible to ELB yet.
CERTIFICATE_SETTLING = policy({"CertificateNotFound"},
                              "a freshly issued certificate is not visible to ELB yet",
                              deadline_s=180, initial_s=2.0)
TG_STEP = "alb-target-group"
LB_STEP = "alb"
LISTENER_FAMILY = "alb-listener"
#: The certificate step of the HTTPS listener (per site: ``acm``, ``dr.acm``).
ACM_STEP = "acm"


def _elbv2(ctx: StepContext, region: str) -> Any:
    return ctx.client("elbv2", region)


def _tags_of(ctx: StepContext, region: str, arn: str) -> dict[str, str]:
    reply = _elbv2(ctx, region).describe_tags(ResourceArns=[arn])
    for entry in reply.get("TagDescriptions", []):
        if entry.get("ResourceArn") == arn:
            return tag_map(entry.get("Tags"))
    return {}


def _attributes(items: list[dict[str, str]] | None) -> dict[str, str]:
    return {a["Key"]: str(a.get("Value", "")) for a in items or []}


def _attribute_drift(current: dict[str, str], wanted: dict[str, str]) -> list[Change]:
    wrong = {k: v for k, v in wanted.items() if current.get(k) != v}
    if not wrong:
        return []
    return [Change("attributes", {k: current.get(k) for k in wrong}, wrong)]


def arn_resource(arn: str) -> str:
    """The resource part of an ELBv2 ARN (``loadbalancer/app/name/id``, ``targetgroup/...``)."""
    return arn.split(":", 5)[-1]


class AlbPartStep(Step):
    """A part of one load balancer: carries that balancer's config and site.

    ``alb`` is ``config.alb`` for the primary region or ``config.dr.alb``
    for the standby; names of sibling steps go through ``self.site`` so the
    standby's parts depend on the DR network, never on the primary's.
    """

    service = "elbv2"

    def __init__(self, config: PlatformConfig, alb: AlbConfig, key: str | None = None, *,
                 site: Site | None = None) -> None:
        super().__init__(config, key, site=site)
        self.alb = alb

    def elbv2(self, ctx: StepContext) -> Any:
        return _elbv2(ctx, self.region)


# --------------------------------------------------------------------------- target group


class TargetGroupStep(AlbPartStep):
    """``vivr-app-tg``: where the ECS tasks register by IP; health check on /api/health."""

    family = TG_STEP

    def resource_name(self) -> str:
        return self.alb.target_group.name

    def depends_on(self) -> tuple[str, ...]:
        return (self.site.step("vpc"),)

    def _from(self, ctx: StepContext, group: dict[str, Any]) -> Resource:
        arn = group["TargetGroupArn"]
        data = dict(group)
        data["TagMap"] = _tags_of(ctx, self.region, arn)
        require_owned(self, f"target group {group['TargetGroupName']}", data["TagMap"])
        data["Attributes"] = _attributes(self.elbv2(ctx).describe_target_group_attributes(
            TargetGroupArn=arn)["Attributes"])
        return Resource(arn, data)

    def describe_by_id(self, ctx: StepContext, resource_id: str) -> Resource | None:
        reply = absent_on(TARGET_GROUP.not_found, self.elbv2(ctx).describe_target_groups,
                          TargetGroupArns=[resource_id])
        groups = reply["TargetGroups"] if reply else []
        return self._from(ctx, groups[0]) if groups else None

    def find_by_tags(self, ctx: StepContext) -> Resource | None:
        reply = absent_on(TARGET_GROUP.not_found, self.elbv2(ctx).describe_target_groups,
                          Names=[self.resource_name()])
        groups = reply["TargetGroups"] if reply else []
        return self._from(ctx, groups[0]) if groups else None

    # -- desired settings ----------------------------------------------------
    def health_check(self) -> dict[str, Any]:
        check = self.alb.target_group.health_check
        return {
            "HealthCheckEnabled": True,
            "HealthCheckProtocol": check.protocol,
            "HealthCheckPort": str(check.port),
            "HealthCheckPath": check.path,
            "HealthCheckIntervalSeconds": check.interval_seconds,
            "HealthCheckTimeoutSeconds": check.timeout_seconds,
            "HealthyThresholdCount": check.healthy_threshold,
            "UnhealthyThresholdCount": check.unhealthy_threshold,
            "Matcher": {"HttpCode": check.matcher},
        }

    def attributes(self) -> dict[str, str]:
        group = self.alb.target_group
        wanted = {
            "deregistration_delay.timeout_seconds": str(group.deregistration_delay_seconds),
            "stickiness.enabled": str(group.stickiness.enabled).lower(),
            "stickiness.type": group.stickiness.type,
        }
        if group.stickiness.type == "lb_cookie":
            wanted["stickiness.lb_cookie.duration_seconds"] = str(
                group.stickiness.duration_seconds)
        return wanted

    def _set_attributes(self, ctx: StepContext, arn: str, wanted: dict[str, str]) -> None:
        self.elbv2(ctx).modify_target_group_attributes(
            TargetGroupArn=arn, Attributes=[{"Key": k, "Value": v}
                                            for k, v in sorted(wanted.items())])

    # -- lifecycle -------------------------------------------------------------
    def create(self, ctx: StepContext, token: str) -> Resource:
        group = self.alb.target_group
        reply = self.elbv2(ctx).create_target_group(
            Name=group.name,
            Protocol=group.protocol,
            Port=group.port,
            VpcId=ctx.output(self.site.step("vpc"), "vpc_id"),
            TargetType=group.target_type,
            Tags=aws_tags(self.tags()),
            **self.health_check(),
        )
        arn = reply["TargetGroups"][0]["TargetGroupArn"]
        self._set_attributes(ctx, arn, self.attributes())
        found = self.describe_by_id(ctx, arn)
        assert found is not None, "a target group just created is describable"
        return found

    def diff(self, ctx: StepContext, resource: Resource) -> list[Change]:
        data = resource.data
        group = self.alb.target_group
        changes = tag_drift(self, data["TagMap"])
        for key, want in (("Protocol", group.protocol), ("Port", group.port),
                          ("TargetType", group.target_type),
                          ("VpcId", ctx.output(self.site.step("vpc"), "vpc_id"))):
            if data.get(key) != want:
                changes.append(Change(key, data.get(key), want, replace=True))
        for key, want in self.health_check().items():
            have = data.get(key)
            if key == "HealthCheckEnabled" and have is None:
                continue  # older API versions do not report it
            if have != want:
                changes.append(Change(key, have, want))
        changes += _attribute_drift(data["Attributes"], self.attributes())
        return changes

    def update(self, ctx: StepContext, resource: Resource, changes: list[Change]) -> Resource:
        fields = {c.field: c for c in changes}
        if set(fields) & set(self.health_check()):
            self.elbv2(ctx).modify_target_group(TargetGroupArn=resource.id,
                                                **self.health_check())
        if "attributes" in fields:
            self._set_attributes(ctx, resource.id, fields["attributes"].desired)
        if "tags" in fields:
            self.elbv2(ctx).add_tags(ResourceArns=[resource.id],
                                     Tags=aws_tags(fields["tags"].desired))
        found = self.describe_by_id(ctx, resource.id)
        assert found is not None
        return found

    def delete(self, ctx: StepContext, resource: Resource) -> None:
        TARGET_GROUP_IN_USE.call(f"delete target group {self.resource_name()}", gone_on,
                                 TARGET_GROUP.not_found, self.elbv2(ctx).delete_target_group,
                                 TargetGroupArn=resource.id)

    def outputs(self, resource: Resource) -> dict[str, Any]:
        return {"id": resource.id, "target_group_arn": resource.id,
                "name": self.resource_name(),
                # CloudWatch's TargetGroup dimension: targetgroup/<name>/<id>
                "arn_suffix": arn_resource(resource.id)}


# --------------------------------------------------------------------------- load balancer


class LoadBalancerStep(AlbPartStep):
    """``vivr-alb``: internet-facing, in the public subnets, behind vivr-alb-sg.

    The standby (``dr.alb``) is the same balancer in the DR network with no
    targets until the standby tier is activated; its deletion protection is
    ``dr.alb.deletion_protection``, lifted by destroy only when told to.
    """

    family = LB_STEP
    expected_seconds = 180.0
    #: Above botocore's 10 minutes: provisioning in a busy region can take longer.
    wait_budget_s = 1200.0

    def __init__(self, config: PlatformConfig, alb: AlbConfig, *, site: Site | None = None,
                 after: tuple[str, ...] = ()) -> None:
        """``after``: steps to order before this one although nothing of theirs is read.

        The standby passes its subnets' route tables (hence the internet
        gateway, which AWS requires for an internet-facing balancer) and its
        groups' rules, so the balancer is reachable once its step is done.
        """
        super().__init__(config, alb, site=site)
        self.after = after

    def resource_name(self) -> str:
        return self.alb.name

    @property
    def logs_step(self) -> str | None:
        """The log bucket's step; buckets are primary-region steps (``s3.<key>``)."""
        logs = self.alb.access_logs
        return f"s3.{logs.bucket}" if logs.enabled and logs.bucket else None

    def depends_on(self) -> tuple[str, ...]:
        alb, site = self.alb, self.site
        deps = ([site.step(f"subnet.{s}") for s in alb.subnets]
                + [site.step(f"sg.{g}") for g in alb.security_groups])
        # Not read, but ordered: on destroy the load balancer (with every
        # listener and rule on it, ours or hand-made) is gone before the
        # target group is deleted, so nothing can still hold it "in use".
        deps.append(site.step(TG_STEP))
        if self.logs_step:
            # The bucket and its log-delivery policy must exist: AWS checks that
            # it may write a test object when access logging is switched on.
            deps.append(self.logs_step)
        deps += self.after
        return tuple(deps)

    def _subnet_ids(self, ctx: StepContext) -> list[str]:
        return sorted(str(ctx.output(self.site.step(f"subnet.{s}"), "subnet_id"))
                      for s in self.alb.subnets)

    def _group_ids(self, ctx: StepContext) -> list[str]:
        return sorted(str(ctx.output(self.site.step(f"sg.{g}"), "group_id"))
                      for g in self.alb.security_groups)

    def attributes(self) -> dict[str, str]:
        alb = self.alb
        preserve = alb.target_group.preserve_client_ip
        wanted = {
            "idle_timeout.timeout_seconds": str(alb.idle_timeout_seconds),
            "deletion_protection.enabled": str(alb.deletion_protection).lower(),
            "routing.http.drop_invalid_header_fields.enabled":
                str(alb.drop_invalid_header_fields).lower(),
            "routing.http2.enabled": str(alb.http2).lower(),
            # Spec "Preserve client IP": the client address travels in X-Forwarded-For.
            "routing.http.xff_header_processing.mode": "append" if preserve else "remove",
            "access_logs.s3.enabled": str(alb.access_logs.enabled).lower(),
        }
        if alb.access_logs.enabled and alb.access_logs.bucket:
            wanted["access_logs.s3.bucket"] = self.config.s3.bucket_name(alb.access_logs.bucket)
            wanted["access_logs.s3.prefix"] = alb.access_logs.prefix
        return wanted

    def _from(self, ctx: StepContext, balancer: dict[str, Any]) -> Resource:
        arn = balancer["LoadBalancerArn"]
        data = dict(balancer)
        data["TagMap"] = _tags_of(ctx, self.region, arn)
        require_owned(self, f"load balancer {balancer['LoadBalancerName']}", data["TagMap"])
        data["Attributes"] = _attributes(self.elbv2(ctx).describe_load_balancer_attributes(
            LoadBalancerArn=arn)["Attributes"])
        return Resource(arn, data)

    def _live(self, balancers: list[dict[str, Any]]) -> dict[str, Any] | None:
        live = [b for b in balancers if (b.get("State") or {}).get("Code") != "failed"]
        return live[0] if live else None

    def describe_by_id(self, ctx: StepContext, resource_id: str) -> Resource | None:
        reply = absent_on(LOAD_BALANCER.not_found, self.elbv2(ctx).describe_load_balancers,
                          LoadBalancerArns=[resource_id])
        balancer = self._live(reply["LoadBalancers"]) if reply else None
        return self._from(ctx, balancer) if balancer else None

    def find_by_tags(self, ctx: StepContext) -> Resource | None:
        reply = absent_on(LOAD_BALANCER.not_found, self.elbv2(ctx).describe_load_balancers,
                          Names=[self.resource_name()])
        balancer = self._live(reply["LoadBalancers"]) if reply else None
        return self._from(ctx, balancer) if balancer else None

    def _set_attributes(self, ctx: StepContext, arn: str, wanted: dict[str, str]) -> None:
        LOG_BUCKET_SETTLING.call(
            f"set attributes of {self.resource_name()}",
            self.elbv2(ctx).modify_load_balancer_attributes,
            LoadBalancerArn=arn, Attributes=[{"Key": k, "Value": v}
                                             for k, v in sorted(wanted.items())])

    def create(self, ctx: StepContext, token: str) -> Resource:
        alb = self.alb
        reply = self.elbv2(ctx).create_load_balancer(
            Name=alb.name,
            Subnets=self._subnet_ids(ctx),
            SecurityGroups=self._group_ids(ctx),
            Scheme=alb.scheme,
            Type="application",
            IpAddressType=alb.ip_address_type,
            Tags=aws_tags(self.tags()),
        )
        arn = reply["LoadBalancers"][0]["LoadBalancerArn"]
        # Attributes apply while the load balancer provisions; a crash before
        # this call is converged by the next apply's diff.
        self._set_attributes(ctx, arn, self.attributes())
        found = self.describe_by_id(ctx, arn)
        assert found is not None, "a load balancer just created is describable"
        return found

    def is_ready(self, resource: Resource) -> bool:
        return (resource.data.get("State") or {}).get("Code") == "active"

    def wait(self, ctx: StepContext, resource: Resource) -> Resource:
        if self.is_ready(resource):
            return resource
        ctx.wait("elbv2", "load_balancer_available", budget_s=self.wait_budget_s, delay_s=15,
                 region=self.region, LoadBalancerArns=[resource.id])
        found = self.describe_by_id(ctx, resource.id)
        assert found is not None, "an active load balancer is describable"
        return found

    def diff(self, ctx: StepContext, resource: Resource) -> list[Change]:
        data = resource.data
        alb = self.alb
        changes = tag_drift(self, data["TagMap"])
        for key, want in (("Scheme", alb.scheme), ("Type", "application")):
            if data.get(key) != want:
                changes.append(Change(key, data.get(key), want, replace=True))
        if data.get("IpAddressType") != alb.ip_address_type:
            changes.append(Change("IpAddressType", data.get("IpAddressType"),
                                  alb.ip_address_type))
        subnets = sorted(z["SubnetId"] for z in data.get("AvailabilityZones", []))
        if subnets != self._subnet_ids(ctx):
            changes.append(Change("subnets", subnets, self._subnet_ids(ctx)))
        groups = sorted(data.get("SecurityGroups", []))
        if groups != self._group_ids(ctx):
            changes.append(Change("security_groups", groups, self._group_ids(ctx)))
        changes += _attribute_drift(data["Attributes"], self.attributes())
        return changes

    def update(self, ctx: StepContext, resource: Resource, changes: list[Change]) -> Resource:
        elbv2 = self.elbv2(ctx)
        for change in changes:
            if change.field == "subnets":
                elbv2.set_subnets(LoadBalancerArn=resource.id, Subnets=change.desired)
            elif change.field == "security_groups":
                elbv2.set_security_groups(LoadBalancerArn=resource.id,
                                          SecurityGroups=change.desired)
            elif change.field == "IpAddressType":
                elbv2.set_ip_address_type(LoadBalancerArn=resource.id,
                                          IpAddressType=change.desired)
            elif change.field == "attributes":
                self._set_attributes(ctx, resource.id, change.desired)
            elif change.field == "tags":
                write_tags(elbv2, LOAD_BALANCER, resource.id, change.desired)
        found = self.describe_by_id(ctx, resource.id)
        assert found is not None
        return found

    def delete(self, ctx: StepContext, resource: Resource) -> None:
        """Delete, lifting deletion protection only when the operator allowed it."""
        elbv2 = self.elbv2(ctx)
        if resource.data["Attributes"].get("deletion_protection.enabled") == "true":
            if not ctx.destroy_options.disable_deletion_protection:
                raise RuntimeError(
                    f"{self.resource_name()} has deletion protection; rerun destroy with "
                    "--disable-deletion-protection to lift it")
            elbv2.modify_load_balancer_attributes(
                LoadBalancerArn=resource.id,
                Attributes=[{"Key": "deletion_protection.enabled", "Value": "false"}])
        gone_on(LOAD_BALANCER.not_found, elbv2.delete_load_balancer, LoadBalancerArn=resource.id)
        # The target group and the security groups can go only once it is gone.
        ctx.wait("elbv2", "load_balancers_deleted", budget_s=self.wait_budget_s, delay_s=15,
                 region=self.region, LoadBalancerArns=[resource.id])

    def outputs(self, resource: Resource) -> dict[str, Any]:
        data = resource.data
        return {"id": resource.id, "load_balancer_arn": resource.id,
                "name": self.resource_name(),
                "dns_name": data.get("DNSName"),
                "canonical_hosted_zone_id": data.get("CanonicalHostedZoneId"),
                # CloudWatch's LoadBalancer dimension: app/<name>/<id>
                "arn_suffix": arn_resource(resource.id).removeprefix("loadbalancer/"),
                "vpc_id": data.get("VpcId")}


# --------------------------------------------------------------------------- listeners


def _action_key(action: dict[str, Any]) -> tuple[Any, ...]:
    """A comparable form of a listener action (AWS adds defaults and ForwardConfig)."""
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


def _actions_key(actions: list[dict[str, Any]] | None) -> list[tuple[Any, ...]]:
    ordered = sorted(actions or [], key=lambda a: int(a.get("Order", 0) or 0))
    return [_action_key(a) for a in ordered]


class ListenerStep(AlbPartStep):
    """One listener of vivr-alb and its rules: HTTPS 443 forwarding, or HTTP 80 redirecting.

    An HTTPS listener takes the certificate of its own site's ``acm`` step:
    ELB accepts only a certificate of the balancer's region.  A forwarding
    listener of a balancer with ``origin_verify`` answers by default with
    the deny status and forwards only through the origin-check rules
    (:mod:`vivr_provision.steps.alb_rules`), which this step owns too: rules
    are put in place before the default action turns to deny, and removed
    only after it turned back to forward.
    """

    family = LISTENER_FAMILY

    def __init__(self, config: PlatformConfig, alb: AlbConfig, listener: ListenerConfig, *,
                 site: Site | None = None) -> None:
        super().__init__(config, alb, str(listener.port), site=site)
        self.listener = listener

    def resource_name(self) -> str:
        return f"{self.alb.name}-{self.listener.protocol.lower()}-{self.listener.port}"

    @property
    def https(self) -> bool:
        return self.listener.protocol == "HTTPS"

    @property
    def lb_step(self) -> str:
        return self.site.step(LB_STEP)

    @property
    def tg_step(self) -> str:
        return self.site.step(TG_STEP)

    @property
    def acm_step(self) -> str:
        return self.site.step(ACM_STEP)

    @property
    def verify(self) -> OriginVerifyConfig | None:
        """The origin check guarding this listener (forwarding listeners only)."""
        return self.alb.origin_verify if self.listener.action == "forward" else None

    @property
    def secret_step(self) -> str:
        """The header's secret: a primary-region step, for the standby's listener too."""
        assert self.verify is not None
        return f"secret.{self.verify.secret}"

    def depends_on(self) -> tuple[str, ...]:
        deps = [self.lb_step]
        if self.listener.action == "forward":
            deps.append(self.tg_step)
        if self.https:
            deps.append(self.acm_step)
        if self.verify is not None:
            deps.append(self.secret_step)
        return tuple(deps)

    def _from(self, ctx: StepContext, listener: dict[str, Any]) -> Resource:
        data = dict(listener)
        data["TagMap"] = _tags_of(ctx, self.region, listener["ListenerArn"])
        require_owned(self, f"listener {self.alb.name}:{self.listener.port}",
                      data["TagMap"])
        data["Rules"], data["ForeignRules"] = self._read_rules(ctx, listener["ListenerArn"])
        return Resource(listener["ListenerArn"], data)

    # -- rules -------------------------------------------------------------------
    def rule_tags(self, key: str) -> dict[str, str]:
        """The listener's ownership tags, named for the rule, plus its key."""
        return {**self.tags(), "Name": f"{self.resource_name()}-{key}", RULE_TAG: key}

    def _read_rules(self, ctx: StepContext, arn: str
                    ) -> tuple[dict[str, dict[str, Any]], list[dict[str, Any]]]:
        """(our rules by key, rules of others), header values replaced by digests."""
        elbv2 = self.elbv2(ctx)
        pages = elbv2.get_paginator("describe_rules").paginate(ListenerArn=arn)
        rules = [r for page in pages for r in page["Rules"] if not r.get("IsDefault")]
        tags: dict[str, dict[str, str]] = {}
        for start in range(0, len(rules), TAG_BATCH):
            batch = [r["RuleArn"] for r in rules[start:start + TAG_BATCH]]
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

    def _forward(self, ctx: StepContext) -> list[dict[str, Any]]:
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
        return desired_rules(verify, value, self._forward(ctx)), digest(value)

    def _describe_rule(self, priority: Any, conditions: list[dict[str, Any]],
                       actions: list[dict[str, Any]], wanted_digest: str) -> str:
        verify = self.alb.origin_verify
        what = describe_conditions(conditions, verify.secret if verify else None, wanted_digest)
        return f"priority {priority}: {what} -> {_actions_key(actions)}"

    def _rule_changes(self, ctx: StepContext, have: dict[str, dict[str, Any]]) -> list[Change]:
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
                  or conditions_key(current["Conditions"]) != conditions_key(conditions)
                  or _actions_key(current["Actions"]) != _actions_key(list(spec.actions))):
                changes.append(Change(f"rule.{key}", now, want))
            elif any(current["TagMap"].get(k) != v for k, v in self.rule_tags(key).items()):
                changes.append(Change(f"rule_tags.{key}", "ownership tags differ",
                                      "ownership tags"))
        return changes

    def _put_rules(self, ctx: StepContext, listener_arn: str, wanted: dict[str, RuleSpec],
                   have: dict[str, dict[str, Any]]) -> None:
        """Create the missing rules and repair drifted ones (before the default denies)."""
        elbv2 = self.elbv2(ctx)
        for key, spec in sorted(wanted.items()):
            current = have.get(key)
            if current is None:
                try:
                    elbv2.create_rule(ListenerArn=listener_arn, Priority=spec.priority,
                                      Conditions=list(spec.conditions),
                                      Actions=list(spec.actions),
                                      Tags=aws_tags(self.rule_tags(key)))
                except ClientError as exc:
                    if error_code(exc) != "PriorityInUse":
                        raise
                    raise RuntimeError(
                        f"{self.name}: priority {spec.priority} of {self.resource_name()} is "
                        f"taken by a rule vivr-provision did not create; move that rule or "
                        f"change origin_verify.priority") from exc
                continue
            if (conditions_key(current["Conditions"])
                    != conditions_key(sanitized_conditions(spec.conditions))
                    or _actions_key(current["Actions"]) != _actions_key(list(spec.actions))):
                elbv2.modify_rule(RuleArn=current["RuleArn"], Conditions=list(spec.conditions),
                                  Actions=list(spec.actions))
            if current["Priority"] != str(spec.priority):
                elbv2.set_rule_priorities(RulePriorities=[
                    {"RuleArn": current["RuleArn"], "Priority": spec.priority}])
            if any(current["TagMap"].get(k) != v for k, v in self.rule_tags(key).items()):
                elbv2.add_tags(ResourceArns=[current["RuleArn"]],
                               Tags=aws_tags(self.rule_tags(key)))

    def _drop_rules(self, ctx: StepContext, wanted: dict[str, RuleSpec],
                    have: dict[str, dict[str, Any]]) -> None:
        """Delete our rules the config no longer has (after the default stopped denying)."""
        for key, current in sorted(have.items()):
            if key not in wanted:
                gone_on(LISTENER_RULE.not_found, self.elbv2(ctx).delete_rule,
                        RuleArn=current["RuleArn"])

    def describe_by_id(self, ctx: StepContext, resource_id: str) -> Resource | None:
        reply = absent_on(LISTENER.not_found | LOAD_BALANCER.not_found,
                          self.elbv2(ctx).describe_listeners, ListenerArns=[resource_id])
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

    # -- desired settings ----------------------------------------------------
    def default_actions(self, ctx: StepContext) -> list[dict[str, Any]]:
        if self.listener.action == "forward":
            if self.verify is not None:
                return [deny_action(self.verify)]
            return self._forward(ctx)
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
        wanted, _ = self.wanted_rules(ctx)
        reply = CERTIFICATE_SETTLING.call(
            f"create listener {self.listener.port}", self.elbv2(ctx).create_listener,
            LoadBalancerArn=ctx.output(self.lb_step, "load_balancer_arn"),
            Tags=aws_tags(self.tags()), **self.settings(ctx))
        arn = reply["Listeners"][0]["ListenerArn"]
        self._put_rules(ctx, arn, wanted, {})
        found = self.describe_by_id(ctx, arn)
        assert found is not None, "a listener just created is describable"
        return found

    def diff(self, ctx: StepContext, resource: Resource) -> list[Change]:
        data = resource.data
        wanted = self.settings(ctx)
        changes = tag_drift(self, data["TagMap"])
        for key in ("Protocol", "Port"):
            if data.get(key) != wanted[key]:
                changes.append(Change(key, data.get(key), wanted[key]))
        # An HTTP listener has no TLS policy; whatever is reported for one is moot.
        if self.https and data.get("SslPolicy") != wanted["SslPolicy"]:
            changes.append(Change("SslPolicy", data.get("SslPolicy"), wanted["SslPolicy"]))
        have_certs = sorted(c["CertificateArn"] for c in data.get("Certificates") or []
                            if c.get("IsDefault", True))
        want_certs = sorted(c["CertificateArn"] for c in wanted.get("Certificates", []))
        if have_certs != want_certs:
            changes.append(Change("Certificates", have_certs, want_certs))
        have_actions = _actions_key(data.get("DefaultActions"))
        want_actions = _actions_key(wanted["DefaultActions"])
        if have_actions != want_actions:
            changes.append(Change("DefaultActions", have_actions, want_actions))
        changes += self._rule_changes(ctx, data.get("Rules", {}))
        return changes

    def update(self, ctx: StepContext, resource: Resource, changes: list[Change]) -> Resource:
        fields = {c.field for c in changes}
        rule_fields = {f for f in fields if f.startswith("rule")}
        have = resource.data.get("Rules", {})
        wanted, _ = self.wanted_rules(ctx) if rule_fields else ({}, "")
        if rule_fields:
            self._put_rules(ctx, resource.id, wanted, have)
        if fields - rule_fields - {"tags"}:
            # One call with the whole listener: ModifyListener validates the
            # protocol, policy, certificate and actions together.
            CERTIFICATE_SETTLING.call(f"modify listener {self.listener.port}",
                                      self.elbv2(ctx).modify_listener,
                                      ListenerArn=resource.id, **self.settings(ctx))
        if rule_fields:
            self._drop_rules(ctx, wanted, have)
        for change in changes:
            if change.field == "tags":
                write_tags(self.elbv2(ctx), LISTENER, resource.id, change.desired)
        found = self.describe_by_id(ctx, resource.id)
        assert found is not None
        return found

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


def site_alb_steps(config: PlatformConfig, alb: AlbConfig, site: Site | None = None, *,
                   lb_after: tuple[str, ...] = ()) -> list[Step]:
    """Target group, load balancer, then one step per listener, of one site's balancer.

    ``lb_after``: extra ordering dependencies of the load balancer step.
    """
    steps: list[Step] = [TargetGroupStep(config, alb, site=site),
                         LoadBalancerStep(config, alb, site=site, after=lb_after)]
    steps += [ListenerStep(config, alb, listener, site=site) for listener in alb.listeners]
    return steps


def alb_steps(config: PlatformConfig) -> list[Step]:
    """The primary region's balancer (``config.alb``), steps named without a prefix."""
    return site_alb_steps(config, config.alb)
