"""Security-group steps.

Groups and their rules are separate steps: the five groups reference each
other, so every group must exist before any rule that names it, and on
destroy every rule must be revoked before any group is deleted (AWS refuses
to delete a group another group still references).  The rule set of a group
we own is converged exactly: missing rules are authorised, rules that are
not in the config (including AWS's default allow-all egress where the spec
says "none") are revoked.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from vivr_provision import aws_errors
from vivr_provision.aws import error_code
from vivr_provision.config import PlatformConfig
from vivr_provision.config.network import SecurityGroupConfig, SecurityRule
from vivr_provision.retry import DEPENDENCY_DRAINING, READ_AFTER_CREATE
from vivr_provision.steps.base import STEP_TAG, Change, Resource, Site, Step, StepContext
from vivr_provision.steps.drift import Field
from vivr_provision.steps.ec2 import Ec2Kind, Ec2Step, tag_dict, tag_list

PROTOCOLS = {"tcp": "tcp", "udp": "udp", "icmp": "icmp", "all": "-1"}
#: The step keeping a VPC's default group empty (steps/default_group.py); named here
#: because its rules are read with the site's rule sets (:func:`site_rules`).
DEFAULT_GROUP_STEP = "default-sg"


def rules_batch(region: str) -> tuple[str, str, str]:
    """The batch key (batch_reads.py) of every rule of a site's groups, by group id."""
    return ("ec2", region, "sg-rules")


def site_rule_steps(site: Site, groups: Iterable[str]) -> list[str]:
    """The steps whose recorded ``group_id`` the site's rule listing reads: its groups
    and the VPC's default group (whichever of the rule-set steps and the default-group
    step looks first loads the listing for all of them, so both name the same set)."""
    return [*(site.step(f"sg.{g}") for g in groups), site.step(DEFAULT_GROUP_STEP)]


def site_rules(ctx: StepContext, region: str,
               steps: Iterable[str]) -> dict[str, dict[str, Any]]:
    """Every rule of the groups ``steps`` recorded, by group id: one call for the site's
    rule-set steps and its default-group step (untagged rules included: each set is
    compared whole).  A group not recorded yet is not asked for; its step reads its own.

    ``group-id`` takes a list of values (DescribeSecurityGroupRules, botocore's model:
    ``Filters``); a site names about ten groups.  The paginator follows ``NextToken``
    (MaxResults 5-1000 a page).
    """
    # A group this run has not reached yet (plan and refresh fill outputs as they go) is
    # asked for by the id state recorded: the listing then serves every step, whatever
    # order they run in; a recorded id that changed is simply missing (read directly).
    ids = list(dict.fromkeys(
        str(outputs["group_id"]) for step in steps
        if (outputs := ctx.outputs_of(step) or ctx.recorded_outputs(step))
        and "group_id" in outputs))
    by_group: dict[str, dict[str, Any]] = {i: {"rules": []} for i in ids}
    if ids:
        pages = ctx.client("ec2", region).get_paginator("describe_security_group_rules")
        for page in pages.paginate(Filters=[{"Name": "group-id", "Values": ids}]):
            for rule in page.get("SecurityGroupRules", []):
                by_group[str(rule["GroupId"])]["rules"].append(rule)
    return by_group


class SecurityGroupStep(Ec2Step):
    """The group itself (name, description, VPC); rules are a separate step."""

    family = "sg"
    kind = Ec2Kind("describe_security_groups", "SecurityGroups", "GroupId", "GroupIds",
                   "security-group", "InvalidGroup.NotFound",
                   already_exists=frozenset({"InvalidGroup.Duplicate"}))

    def __init__(self, config: PlatformConfig, group: SecurityGroupConfig, *,
                 site: Site | None = None) -> None:
        super().__init__(config, group.name, site=site)
        self.group = group

    def resource_name(self) -> str:
        return self.group.name

    def depends_on(self) -> tuple[str, ...]:
        return (self.site.step("vpc"),)

    def create(self, ctx: StepContext, token: str) -> Resource:
        created = self.ec2(ctx).create_security_group(
            GroupName=self.group.name,
            Description=self.group.description,
            VpcId=ctx.output(self.site.step("vpc"), "vpc_id"),
            TagSpecifications=self.tag_specifications(),
        )
        return self.refresh(ctx, Resource(created["GroupId"], created))

    #: A group's name, description and VPC are fixed at CreateSecurityGroup.
    FIELDS = (
        *Ec2Step.FIELDS,
        Field("name", lambda d: d.get("GroupName"), lambda s, ctx: s.group.name,
              effect="replace"),
        Field("description", lambda d: d.get("Description"),
              lambda s, ctx: s.group.description, effect="replace"),
        Field("vpc", lambda d: d.get("VpcId"),
              lambda s, ctx: ctx.output(s.site.step("vpc"), "vpc_id"), effect="replace"),
    )

    def delete(self, ctx: StepContext, resource: Resource) -> None:
        DEPENDENCY_DRAINING.call("delete security group", self.ec2(ctx).delete_security_group,
                                 GroupId=resource.id)

    def outputs(self, resource: Resource) -> dict[str, Any]:
        return {"id": resource.id, "group_id": resource.id}


@dataclass(frozen=True)
class RuleKey:
    """The identity of a rule as AWS sees it (description is not part of it)."""

    egress: bool
    protocol: str
    from_port: int
    to_port: int
    cidr: str | None
    group_id: str | None
    prefix_list_id: str | None = None

    def describe(self) -> str:
        direction = "egress" if self.egress else "ingress"
        ports = "all"
        if self.protocol != "-1":
            ports = f"{self.protocol}/{self.from_port}-{self.to_port}"
        peer = self.cidr or self.group_id or self.prefix_list_id
        return f"{direction} {ports} {'to' if self.egress else 'from'} {peer}"


#: (rules to authorise, rules to revoke, matching rules that lack our tags)
RulePlan = tuple[
    list[tuple[RuleKey, SecurityRule]], list[dict[str, Any]], list[dict[str, Any]]
]


def _aws_rule_key(rule: dict[str, Any]) -> RuleKey:
    protocol = str(rule.get("IpProtocol"))
    from_port = int(rule.get("FromPort", -1))
    to_port = int(rule.get("ToPort", -1))
    if protocol == "-1":
        from_port = to_port = -1
    referenced = rule.get("ReferencedGroupInfo") or {}
    return RuleKey(bool(rule.get("IsEgress")), protocol, from_port, to_port,
                   rule.get("CidrIpv4"), referenced.get("GroupId"), rule.get("PrefixListId"))


class SecurityGroupRulesStep(Ec2Step):
    """The exact inbound and outbound rule set of one group."""

    family = "sg-rules"
    kind = Ec2Kind("describe_security_group_rules", "SecurityGroupRules", "SecurityGroupRuleId",
                   "SecurityGroupRuleIds", "security-group-rule",
                   "InvalidSecurityGroupRuleId.NotFound",
                   already_exists=frozenset({"InvalidPermission.Duplicate"}),
                   inner_not_found=frozenset({"InvalidPermission.NotFound"}))

    def __init__(self, config: PlatformConfig, group: SecurityGroupConfig, *,
                 site: Site | None = None, site_groups: tuple[str, ...] = ()) -> None:
        super().__init__(config, group.name, site=site)
        self.group = group
        #: Every group of this site, whose rules one call reads for all (batch_reads).
        self.site_groups = site_groups or (group.name,)

    def resource_name(self) -> str:
        return self.group.name

    def _rules(self) -> Iterable[tuple[bool, SecurityRule]]:
        yield from ((False, r) for r in self.group.ingress)
        yield from ((True, r) for r in self.group.egress)

    def depends_on(self) -> tuple[str, ...]:
        referenced = {r.group for _, r in self._rules() if r.group}
        return (self.site.step(f"sg.{self.group.name}"),
                *sorted(self.site.step(f"sg.{g}") for g in referenced))

    def _group_id(self, ctx: StepContext) -> str:
        return str(ctx.output(self.site.step(f"sg.{self.group.name}"), "group_id"))

    def desired(self, ctx: StepContext) -> dict[RuleKey, SecurityRule]:
        result = {}
        for egress, rule in self._rules():
            from_port, to_port = rule.port_range
            group_id = (ctx.output(self.site.step(f"sg.{rule.group}"), "group_id")
                        if rule.group else None)
            prefix_list_id = (self._prefix_list_id(ctx, rule.prefix_list)
                              if rule.prefix_list else None)
            key = RuleKey(egress, PROTOCOLS[rule.protocol], from_port, to_port, rule.cidr,
                          group_id, prefix_list_id)
            result[key] = rule
        return result

    def _prefix_list_id(self, ctx: StepContext, name: str) -> str:
        """The id of the managed prefix list called ``name`` in this group's region.

        AWS-managed lists (``com.amazonaws.global.cloudfront.origin-facing``)
        have a different id in every region, so config names them and the id
        is looked up here (``DescribeManagedPrefixLists``, filter
        ``prefix-list-name``).
        """
        found = self.ec2(ctx).describe_managed_prefix_lists(
            Filters=[{"Name": "prefix-list-name", "Values": [name]}])["PrefixLists"]
        if not found:
            raise RuntimeError(f"{self.name}: no managed prefix list named {name} in "
                             f"{self.region}")
        return str(found[0]["PrefixListId"])

    def _current(self, ctx: StepContext, group_id: str) -> list[dict[str, Any]]:
        return self._describe(ctx, Filters=[{"Name": "group-id", "Values": [group_id]}])

    def _site_rules(self, ctx: StepContext) -> dict[str, dict[str, Any]]:
        return site_rules(ctx, self.region, site_rule_steps(self.site, self.site_groups))

    def _is_ours(self, rule: dict[str, Any]) -> bool:
        return tag_dict(rule.get("Tags")).get(STEP_TAG) == self.name

    # The "resource" of this step is the group's rule set; it exists once we
    # have tagged at least one rule of it (or the config wants no rule at all).
    def describe_by_id(self, ctx: StepContext, resource_id: str) -> Resource | None:
        return self.find_by_tags(ctx)

    def find_by_tags(self, ctx: StepContext) -> Resource | None:
        if not ctx.has_outputs(self.site.step(f"sg.{self.group.name}")):
            return None
        group_id = self._group_id(ctx)
        batched = ctx.reads.take(rules_batch(self.region), group_id,
                                 lambda: self._site_rules(ctx), self.name)
        try:
            rules = (list(batched["rules"]) if batched is not None
                     else self._current(ctx, group_id))
        except aws_errors.ClientError as exc:
            if error_code(exc) == "InvalidGroup.NotFound":  # the group itself is gone
                return None
            raise
        if not any(self._is_ours(r) for r in rules) and (self.group.ingress or self.group.egress):
            return None
        return Resource(group_id, {"rules": rules})

    def create(self, ctx: StepContext, token: str) -> Resource:
        group_id = self._group_id(ctx)
        resource = Resource(group_id, {"rules": self._current(ctx, group_id)})
        self._converge(ctx, resource, self._plan(ctx, resource))
        return self.refresh(ctx, resource)

    def refresh(self, ctx: StepContext, resource: Resource) -> Resource:
        return Resource(resource.id, {"rules": READ_AFTER_CREATE.call(
            "describe rules", self._current, ctx, resource.id)})

    def _plan(self, ctx: StepContext, resource: Resource) -> RulePlan:
        """(rules to authorise, rules to revoke, matching rules to tag)."""
        desired = self.desired(ctx)
        current = {(_aws_rule_key(r)): r for r in resource.data.get("rules", [])}
        missing = [(key, desired[key]) for key in desired if key not in current]
        extra = [rule for key, rule in current.items() if key not in desired]
        untagged = [rule for key, rule in current.items()
                    if key in desired and not self._is_ours(rule)]
        return missing, extra, untagged

    def diff(self, ctx: StepContext, resource: Resource) -> list[Change]:
        missing, extra, untagged = self._plan(ctx, resource)
        changes = []
        if missing:
            changes.append(Change("rules_missing", None, sorted(k.describe() for k, _ in missing)))
        if extra:
            changes.append(Change("rules_extra", sorted(_aws_rule_key(r).describe() for r in extra),
                                  None))
        if untagged:
            changes.append(Change("rule_tags", len(untagged), "ownership tags"))
        return changes

    def update(self, ctx: StepContext, resource: Resource, changes: list[Change]) -> Resource:
        self._converge(ctx, resource, self._plan(ctx, resource))
        return self.refresh(ctx, resource)

    def _converge(self, ctx: StepContext, resource: Resource, plan: RulePlan) -> None:
        missing, extra, untagged = plan
        ec2 = self.ec2(ctx)
        for egress in (False, True):
            revoke = [r["SecurityGroupRuleId"] for r in extra if bool(r.get("IsEgress")) == egress]
            if revoke:
                call = ec2.revoke_security_group_egress if egress else \
                    ec2.revoke_security_group_ingress
                call(GroupId=resource.id, SecurityGroupRuleIds=revoke)
            add = [(key, rule) for key, rule in missing if key.egress == egress]
            if add:
                call = ec2.authorize_security_group_egress if egress else \
                    ec2.authorize_security_group_ingress
                READ_AFTER_CREATE.call(
                    "authorize rules", call, GroupId=resource.id,
                    IpPermissions=[_permission(key, rule) for key, rule in add],
                    TagSpecifications=[{"ResourceType": "security-group-rule",
                                        "Tags": tag_list(self.tags())}],
                )
        if untagged:
            ec2.create_tags(Resources=[r["SecurityGroupRuleId"] for r in untagged],
                            Tags=tag_list(self.tags()))

    def delete(self, ctx: StepContext, resource: Resource) -> None:
        """Revoke every rule of the group, so no group still references another."""
        ec2 = self.ec2(ctx)
        rules = resource.data.get("rules", [])
        ingress = [r["SecurityGroupRuleId"] for r in rules if not r.get("IsEgress")]
        egress = [r["SecurityGroupRuleId"] for r in rules if r.get("IsEgress")]
        if ingress:
            ec2.revoke_security_group_ingress(GroupId=resource.id, SecurityGroupRuleIds=ingress)
        if egress:
            ec2.revoke_security_group_egress(GroupId=resource.id, SecurityGroupRuleIds=egress)

    def outputs(self, resource: Resource) -> dict[str, Any]:
        return {"id": resource.id, "group_id": resource.id,
                "rule_count": len(resource.data.get("rules", []))}


def _permission(key: RuleKey, rule: SecurityRule) -> dict[str, Any]:
    permission: dict[str, Any] = {"IpProtocol": key.protocol}
    if key.protocol != "-1":
        permission.update(FromPort=key.from_port, ToPort=key.to_port)
    if key.cidr:
        permission["IpRanges"] = [{"CidrIp": key.cidr, "Description": rule.description}]
    elif key.prefix_list_id:
        permission["PrefixListIds"] = [{"PrefixListId": key.prefix_list_id,
                                        "Description": rule.description}]
    else:
        permission["UserIdGroupPairs"] = [{"GroupId": key.group_id,
                                           "Description": rule.description}]
    return permission


def site_security_steps(config: PlatformConfig, groups: list[SecurityGroupConfig],
                        site: Site | None = None) -> list[Step]:
    """Groups first, then their rule sets (rules reference groups by id)."""
    steps: list[Step] = [SecurityGroupStep(config, g, site=site) for g in groups]
    names = tuple(g.name for g in groups)
    steps += [SecurityGroupRulesStep(config, g, site=site, site_groups=names) for g in groups]
    return steps


def security_steps(config: PlatformConfig) -> list[Step]:
    return site_security_steps(config, config.security_groups)
