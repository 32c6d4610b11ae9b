"""The VPC's default security group, kept empty (``<site>default-sg``; CIS AWS 5.4).

AWS creates a group named ``default`` with every VPC: it admits all traffic
from its own members and lets everything out, and any ENI launched without
a group lands in it.  Nothing of the platform uses it (every resource names
its own groups), so its rules are revoked and kept revoked: a rule added
by hand is drift that ``plan`` shows and ``apply`` removes.

The group is AWS's, not ours: it is found through the VPC (``vpc-id`` and
``group-name=default`` filters), never created, tagged or deleted
(DeleteSecurityGroup refuses a default group with ``CannotDelete``; it goes
with its VPC).  The step's "create" is taking it over (revoking its rules;
state then records its id, the only way it is found again), and ``destroy``
only lets go of it and says so.

The default network ACL stays allow-all on purpose (README, "Default
security group and network ACLs"): security groups are the platform's
traffic control, proven by ``check``; a NACL mirroring them would be a
second, stateless rule set (ephemeral return ports included) to keep in step.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from vivr_provision.config import PlatformConfig
from vivr_provision.config.network import NetworkConfig
from vivr_provision.steps.base import Change, Resource, Site, Step, StepContext
from vivr_provision.steps.dr import dr_site
from vivr_provision.steps.drift import Field
from vivr_provision.steps.ec2 import Ec2Kind, Ec2Step
from vivr_provision.steps.security import (
    DEFAULT_GROUP_STEP,
    _aws_rule_key,
    rules_batch,
    site_rule_steps,
    site_rules,
)

#: AWS's fixed name for every VPC's default group (VPC User Guide, "Default security groups").
DEFAULT_GROUP_NAME = "default"


def _rules(data: Mapping[str, Any]) -> list[str]:
    """The group's rules as plan shows them (``ingress all from sg-...``), sorted."""
    return sorted(_aws_rule_key(r).describe() for r in data.get("rules", []))


class DefaultSecurityGroupStep(Ec2Step):
    """Revokes every inbound and outbound rule of one VPC's default group."""

    family = DEFAULT_GROUP_STEP
    kind = Ec2Kind("describe_security_groups", "SecurityGroups", "GroupId", "GroupIds",
                   "security-group", "InvalidGroup.NotFound",
                   inner_not_found=frozenset({"InvalidPermission.NotFound",
                                              "InvalidSecurityGroupRuleId.NotFound"}))

    def __init__(self, config: PlatformConfig, network: NetworkConfig, *,
                 site: Site | None = None, site_groups: tuple[str, ...] = ()) -> None:
        super().__init__(config, site=site)
        self.network = network
        #: The site's own groups: their rules and this group's are read with one call
        #: (security.site_rules), whichever step looks first.
        self.site_groups = site_groups

    def resource_name(self) -> str:
        return f"{self.network.vpc.name}-default-sg"

    def depends_on(self) -> tuple[str, ...]:
        return (self.site.step("vpc"),)

    # -- reading: through the VPC, not tags (the group is AWS's) ------------
    def _find(self, ctx: StepContext) -> Resource | None:
        vpc = self.site.step("vpc")
        if not ctx.has_outputs(vpc):
            return None
        groups = self._describe(ctx, Filters=[
            {"Name": "vpc-id", "Values": [str(ctx.output(vpc, "vpc_id"))]},
            {"Name": "group-name", "Values": [DEFAULT_GROUP_NAME]}])
        if not groups:
            return None
        group_id = str(groups[0]["GroupId"])
        # The existence check above stays this step's own: the group carries none of our
        # tags, which the security-group batch filters on.  Its rules come with the site's
        # rule sets when state recorded its id (and the site's groups': the listing asks
        # for the recorded ids, ``StepContext.recorded_outputs``, so it serves every step
        # whichever runs first, in apply, plan and refresh alike).
        recorded = ctx.outputs_of(self.name) or ctx.recorded_outputs(self.name) or {}
        batched = None if recorded.get("group_id") != group_id else ctx.reads.take(
            rules_batch(self.region), group_id,
            lambda: site_rules(ctx, self.region, site_rule_steps(self.site, self.site_groups)),
            self.name)
        rules = list(batched["rules"]) if batched is not None else self._current(ctx, group_id)
        return Resource(group_id, {"GroupId": group_id, "rules": rules})

    def _current(self, ctx: StepContext, group_id: str) -> list[dict[str, Any]]:
        pages = self.ec2(ctx).get_paginator("describe_security_group_rules").paginate(
            Filters=[{"Name": "group-id", "Values": [group_id]}])
        return [rule for page in pages for rule in page.get("SecurityGroupRules", [])]

    def describe_by_id(self, ctx: StepContext, resource_id: str) -> Resource | None:
        return self._find(ctx)

    def find_by_tags(self, ctx: StepContext) -> Resource | None:
        """Nothing carries our tags: until state records the group, this step has not
        taken it over, so apply "creates" (empties) it and destroy finds nothing."""
        return None

    def refresh(self, ctx: StepContext, resource: Resource) -> Resource:
        return Resource(resource.id, {"GroupId": resource.id,
                                      "rules": self._current(ctx, resource.id)})

    # -- converging -----------------------------------------------------------
    #: One row: the rules, wanted none.  No tags row: the group is not ours to tag.
    FIELDS = (Field("rules", _rules, lambda s, ctx: [], apply="revoke_all"),)

    def create(self, ctx: StepContext, token: str) -> Resource:
        """The VPC just made its default group: empty it."""
        found = self._find(ctx)
        if found is None:
            raise RuntimeError(f"{self.name}: the VPC has no default security group")
        self.revoke_all(ctx, found, [])
        return self.refresh(ctx, found)

    def revoke_all(self, ctx: StepContext, resource: Resource,
                   changes: list[Change]) -> None:
        """Revoke by rule id, ingress and egress apart (each call takes one direction)."""
        ec2, rules = self.ec2(ctx), resource.data.get("rules", [])
        ingress = [r["SecurityGroupRuleId"] for r in rules if not r.get("IsEgress")]
        egress = [r["SecurityGroupRuleId"] for r in rules if r.get("IsEgress")]
        if ingress:
            ec2.revoke_security_group_ingress(GroupId=resource.id, SecurityGroupRuleIds=ingress)
        if egress:
            ec2.revoke_security_group_egress(GroupId=resource.id, SecurityGroupRuleIds=egress)

    def delete(self, ctx: StepContext, resource: Resource) -> list[str]:
        """Nothing to call: the group goes with its VPC, and stays empty until then."""
        return [f"default security group {resource.id} kept (empty): AWS deletes it with "
                "its VPC"]

    def outputs(self, resource: Resource) -> dict[str, Any]:
        return {"id": resource.id, "group_id": resource.id,
                "rule_count": len(resource.data.get("rules", []))}


def default_group_steps(config: PlatformConfig) -> list[Step]:
    """``default-sg`` and, with a DR network, ``dr.default-sg``; none where the
    config keeps AWS's rules (``empty_default_security_group: false``)."""
    sites: list[tuple[NetworkConfig, Site | None, tuple[str, ...]]] = [
        (config.network, None, tuple(g.name for g in config.security_groups))]
    if config.dr.enabled and config.dr.network is not None:
        sites.append((config.dr.network, dr_site(config),
                      tuple(g.name for g in config.dr.security_groups)))
    return [DefaultSecurityGroupStep(config, network, site=site, site_groups=groups)
            for network, site, groups in sites if network.empty_default_security_group]


__all__ = ["DEFAULT_GROUP_STEP", "DefaultSecurityGroupStep", "default_group_steps"]
