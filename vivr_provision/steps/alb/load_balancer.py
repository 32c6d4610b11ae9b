"""``vivr-alb``: the application load balancer, in the public subnets behind its group.

Read by name (``DescribeLoadBalancers(Names=[...])``, :data:`LOAD_BALANCER`'s
``Read``) plus its attributes; a balancer whose provisioning failed does
not count.  Drift is the :attr:`LoadBalancerStep.FIELDS` table: scheme and
type cannot change (a replacement, which apply refuses: the listeners and
the DNS records point at it); address type, subnets and security groups
each have their own ``Set*`` call; the attributes (idle timeout, deletion
protection, invalid headers, HTTP/2, X-Forwarded-For, access logs) are
one row converged by one ``ModifyLoadBalancerAttributes`` with those that
differ.

"Preserve client IP" (spec) is an NLB target-group attribute; on an ALB the
client address reaches the targets in X-Forwarded-For, so it is realised as
``routing.http.xff_header_processing.mode`` = ``append`` on the load
balancer.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from vivr_provision.config import PlatformConfig
from vivr_provision.config.app import AlbConfig
from vivr_provision.steps.alb.common import (
    LB_STEP,
    LOG_BUCKET_SETTLING,
    TG_STEP,
    AlbPartStep,
    arn_resource,
    attribute_list,
    attribute_map,
)
from vivr_provision.steps.base import Change, Resource, Site, StepContext
from vivr_provision.steps.common import KindStep, aws_tags, gone_on
from vivr_provision.steps.drift import NAME, TAGS, Field
from vivr_provision.steps.kinds import LOAD_BALANCER


class LoadBalancerStep(AlbPartStep, KindStep):
    """``vivr-alb``: internet-facing, in the public subnets, behind vivr-alb-sg.

    The standby (``dr.alb``) is the same balancer in the DR network with no
    targets until the standby tier is activated; its deletion protection is
    ``dr.alb.deletion_protection``, lifted by destroy only when told to.
    """

    family = LB_STEP
    kind = LOAD_BALANCER
    expected_seconds = 180.0
    timing_kind = "load_balancer"
    #: Above botocore's 10 minutes: provisioning in a busy region can take longer.
    wait_budget_s = 1200.0

    FIELDS = (
        NAME,
        TAGS,
        Field("Scheme", lambda d: d.get("Scheme"), lambda s, ctx: s.alb.scheme,
              effect="replace"),
        Field("Type", lambda d: d.get("Type"), lambda s, ctx: "application", effect="replace"),
        Field("IpAddressType", lambda d: d.get("IpAddressType"),
              lambda s, ctx: s.alb.ip_address_type, apply="set_ip_address_type"),
        Field("subnets", lambda d: sorted(z["SubnetId"] for z in d.get("AvailabilityZones", [])),
              lambda s, ctx: s.subnet_ids(ctx), apply="set_subnets"),
        Field("security_groups", lambda d: sorted(d.get("SecurityGroups", [])),
              lambda s, ctx: s.group_ids(ctx), apply="set_security_groups"),
        # Only the attributes we set count (AWS reports many more): the
        # ``tags`` comparison is exactly that, keys of ours with our values.
        Field("attributes", lambda d: d["Attributes"], lambda s, ctx: s.attributes(),
              compare="tags", apply="set_attributes"),
    )

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
        """The log bucket's step, of the balancer's own site: ``s3.<key>`` for the
        primary, ``dr.s3.<key>`` (the DR site's log bucket) for the standby."""
        logs = self.alb.access_logs
        return self.site.step(f"s3.{logs.bucket}") if logs.enabled and logs.bucket else None

    def log_bucket_name(self, key: str) -> str:
        """An ALB writes only into a bucket of its own region (ELB User Guide, "Enable
        access logs"): the standby's is the DR site's log bucket (``dr.logs_bucket``)."""
        if not self.site.prefix:
            return self.config.s3.bucket_name(key)
        name = self.config.dr_log_bucket_name()
        assert name is not None, "config validation requires dr.logs_bucket"
        return name

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

    def subnet_ids(self, ctx: StepContext) -> list[str]:
        return sorted(str(ctx.output(self.site.step(f"subnet.{s}"), "subnet_id"))
                      for s in self.alb.subnets)

    def group_ids(self, ctx: StepContext) -> list[str]:
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
            wanted["access_logs.s3.bucket"] = self.log_bucket_name(alb.access_logs.bucket)
            wanted["access_logs.s3.prefix"] = alb.access_logs.prefix
        return wanted

    # -- reading ---------------------------------------------------------------
    def is_live(self, item: Mapping[str, Any]) -> bool:
        """A balancer whose provisioning failed is not one (a new one is created)."""
        return (item.get("State") or {}).get("Code") != "failed"

    def with_details(self, ctx: StepContext, resource: Resource) -> Resource:
        """Its attributes (``data["Attributes"]``): DescribeLoadBalancers omits them."""
        resource.data["Attributes"] = attribute_map(
            self.elbv2(ctx).describe_load_balancer_attributes(
                LoadBalancerArn=resource.id)["Attributes"])
        return resource

    def _write_attributes(self, ctx: StepContext, arn: str, wanted: dict[str, str]) -> None:
        LOG_BUCKET_SETTLING.call(
            f"set attributes of {self.resource_name()}",
            self.elbv2(ctx).modify_load_balancer_attributes,
            LoadBalancerArn=arn, Attributes=attribute_list(wanted))

    # -- lifecycle -------------------------------------------------------------
    def create(self, ctx: StepContext, token: str) -> Resource:
        alb = self.alb
        reply = self.elbv2(ctx).create_load_balancer(
            Name=alb.name,
            Subnets=self.subnet_ids(ctx),
            SecurityGroups=self.group_ids(ctx),
            Scheme=alb.scheme,
            Type="application",
            IpAddressType=alb.ip_address_type,
            Tags=aws_tags(self.tags()),
        )
        # Attributes apply while the load balancer provisions; a crash before
        # this call is converged by the next apply's diff.
        self._write_attributes(ctx, reply["LoadBalancers"][0]["LoadBalancerArn"],
                               self.attributes())
        return self.reread(ctx)

    def is_ready(self, resource: Resource) -> bool:
        return (resource.data.get("State") or {}).get("Code") == "active"

    def wait(self, ctx: StepContext, resource: Resource) -> Resource:
        if self.is_ready(resource):
            return resource
        ctx.wait("elbv2", "load_balancer_available", budget_s=self.wait_budget_s, delay_s=15,
                 expected_s=self.aws_seconds("create"), region=self.region,
                 LoadBalancerArns=[resource.id])
        return self.reread(ctx)

    def set_ip_address_type(self, ctx: StepContext, resource: Resource,
                            changes: list[Change]) -> None:
        self.elbv2(ctx).set_ip_address_type(LoadBalancerArn=resource.id,
                                            IpAddressType=changes[-1].desired)

    def set_subnets(self, ctx: StepContext, resource: Resource, changes: list[Change]) -> None:
        self.elbv2(ctx).set_subnets(LoadBalancerArn=resource.id, Subnets=changes[-1].desired)

    def set_security_groups(self, ctx: StepContext, resource: Resource,
                            changes: list[Change]) -> None:
        self.elbv2(ctx).set_security_groups(LoadBalancerArn=resource.id,
                                            SecurityGroups=changes[-1].desired)

    def set_attributes(self, ctx: StepContext, resource: Resource,
                       changes: list[Change]) -> None:
        """Only the attributes that differ (the change's desired value): one call."""
        self._write_attributes(ctx, resource.id, changes[-1].desired)

    def delete_blockers(self, ctx: StepContext, resource: Resource) -> list[str]:
        if resource.data["Attributes"].get("deletion_protection.enabled") == "true" and \
                not ctx.destroy_options.disable_deletion_protection:
            return [f"{self.resource_name()} has deletion protection; rerun destroy with "
                    "--disable-deletion-protection to lift it"]
        return []

    def delete(self, ctx: StepContext, resource: Resource) -> None:
        """Delete, lifting deletion protection only when the operator allowed it."""
        elbv2 = self.elbv2(ctx)
        if resource.data["Attributes"].get("deletion_protection.enabled") == "true":
            if blockers := self.delete_blockers(ctx, resource):
                raise RuntimeError(blockers[0])
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
