"""Spec "Option 1: ECS with EC2": container instances for the cluster (``ecs.launch_type: ec2``).

Three steps, only present with the EC2 launch type:

* ``ecs-launch-template``: the ECS-optimised AMI (resolved from the public
  SSM parameter), the instance type, an encrypted gp3 root volume and an
  encrypted gp3 Docker/app data volume (platform KMS key), the
  ``iam.ecs_instance_role`` instance profile, IMDSv2 only, the service's
  security groups, and user data that joins the cluster.  A launch template
  version is immutable, so a change creates a new version and makes it the
  default (running instances keep theirs until they are replaced).  Like the
  PgBouncer instance, the AMI is resolved at create only and the parameter
  name is recorded in a tag: a new AMI from AWS is not a config change.
* ``ecs-asg``: the Auto Scaling group over the service subnets
  (min 2 / max 10 / desired 3), tags propagated to the instances.  Once the
  capacity provider's managed scaling moves the desired capacity, apply only
  corrects a value outside [min, max].
* ``ecs-capacity-provider``: an ECS capacity provider over the group with
  managed scaling (target capacity = the spec's CPU target), attached to the
  cluster as its default strategy; the service runs on it.

Order: cluster → launch template → group → capacity provider → service, so
instances boot into a cluster that exists; destroy reverses it, so the
instances are gone before the cluster is deleted.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any

from vivr_provision import aws_errors
from vivr_provision.aws import error_code
from vivr_provision.config import PlatformConfig
from vivr_provision.config.data import EbsVolumeConfig
from vivr_provision.retry import policy, until_found
from vivr_provision.steps.base import Change, NamedStep, Resource, Step, StepContext
from vivr_provision.steps.common import (
    KindStep,
    absent_on,
    aws_tags,
    require_owned,
    tag_map,
)
from vivr_provision.steps.diffing import Exact
from vivr_provision.steps.drift import (
    NAME,
    TAGS,
    UNREPORTED,
    Field,
    converge,
    drift,
    tags_row,
    wrong_tags,
)
from vivr_provision.steps.ec2 import image_id
from vivr_provision.steps.ecs.common import (
    CAPACITY_PROVIDER_STEP,
    CLUSTER_STEP,
    CLUSTER_UPDATING,
    EcsStep,
    clamped,
    ecs_tags,
    service_group_ids,
    service_group_steps,
    service_subnet_ids,
    service_subnet_steps,
    strategy_of,
)
from vivr_provision.steps.iam import ROLE_PROPAGATION
from vivr_provision.steps.kinds import CAPACITY_PROVIDER, LAUNCH_TEMPLATE

LAUNCH_TEMPLATE_STEP = "ecs-launch-template"
ASG_STEP = "ecs-asg"
INSTANCE_ROLE_STEP = "iam.ecs_instance_role"
#: Tag recording which SSM parameter the AMI was resolved from.
AMI_PARAMETER_TAG = "vivr:ami-parameter"
#: Deleting a group while a scaling activity runs.
ASG_BUSY = policy({"ScalingActivityInProgress", "ResourceInUse"},
                  "the Auto Scaling group is still scaling",
                  deadline_s=600, max_attempts=40, initial_s=5.0)


def user_data(cluster: str, data_device: str) -> str:
    """A cloud-boothook: it runs early on every boot, before Docker and the ECS agent.

    It writes the agent config (cluster, task IAM roles, no IMDS for awsvpc
    tasks) and puts /var/lib/docker on the data volume, formatting it once.
    """
    return f"""#cloud-boothook
#!/bin/bash
# vivr-provision: ECS container instance of cluster {cluster} (spec "Option 1: ECS with EC2").
set -eu
mkdir -p /etc/ecs
cat > /etc/ecs/ecs.config <<'EOF'
ECS_CLUSTER={cluster}
ECS_ENABLE_TASK_IAM_ROLE=true
ECS_AWSVPC_BLOCK_IMDS=true
EOF
# Docker/app data on its own encrypted volume.
device={data_device}
for _ in $(seq 60); do [ -e "$device" ] && break; sleep 1; done
if [ -e "$device" ] && ! mountpoint -q /var/lib/docker; then
  blkid "$device" >/dev/null || mkfs -t xfs "$device"
  mkdir -p /var/lib/docker
  grep -q " /var/lib/docker " /etc/fstab || \\
    echo "$device /var/lib/docker xfs defaults,nofail 0 2" >> /etc/fstab
  mount /var/lib/docker
fi
"""


def _tag_list(tags: dict[str, str]) -> list[dict[str, str]]:
    return aws_tags(tags)


# --------------------------------------------------------------------------- launch template

class EcsLaunchTemplateStep(NamedStep):
    """The container instances' launch template (versions are immutable)."""

    family = LAUNCH_TEMPLATE_STEP
    service = "ec2"
    kinds = (LAUNCH_TEMPLATE,)
    expected_seconds = 3.0

    @property
    def template_name(self) -> str:
        return self.config.ecs.ec2.name

    def resource_name(self) -> str:
        return self.template_name

    def depends_on(self) -> tuple[str, ...]:
        groups = service_group_steps(self.config)
        return (CLUSTER_STEP, INSTANCE_ROLE_STEP, "kms", *groups,
                *(f"sg-rules.{g.removeprefix('sg.')}" for g in groups))

    def ec2(self, ctx: StepContext) -> Any:
        return ctx.client("ec2", self.region)

    def _volume(self, ctx: StepContext, volume: EbsVolumeConfig) -> dict[str, Any]:
        return {"DeviceName": volume.device_name, "Ebs": {
            "VolumeSize": volume.size_gb, "VolumeType": volume.type, "Encrypted": True,
            "KmsKeyId": str(ctx.output("kms", "key_arn")), "DeleteOnTermination": True}}

    def desired_data(self, ctx: StepContext, image_id: str) -> dict[str, Any]:
        cfg = self.config.ecs.ec2
        tags = _tag_list(self.tags())
        script = user_data(self.config.ecs.cluster_name, cfg.data_volume.device_name)
        return {
            "ImageId": image_id,
            "InstanceType": cfg.instance_type,
            "IamInstanceProfile": {"Name": str(ctx.output(INSTANCE_ROLE_STEP,
                                                          "instance_profile_name"))},
            "SecurityGroupIds": service_group_ids(ctx, self.config),
            # IMDSv2 only; hop limit 1 keeps containers off the instance's credentials.
            "MetadataOptions": {"HttpTokens": "required", "HttpEndpoint": "enabled",
                                "HttpPutResponseHopLimit": 1},
            "BlockDeviceMappings": [self._volume(ctx, cfg.root_volume),
                                    self._volume(ctx, cfg.data_volume)],
            "UserData": base64.b64encode(script.encode()).decode(),
            "TagSpecifications": [{"ResourceType": "instance", "Tags": tags},
                                  {"ResourceType": "volume", "Tags": tags}],
        }

    @staticmethod
    def comparable(data: dict[str, Any]) -> dict[str, Any]:
        """Launch template data without the image, in an order-free form."""
        result = {k: v for k, v in data.items() if k != "ImageId"}
        encoded = data.get("UserData")
        result["UserData"] = base64.b64decode(encoded).decode("utf-8", "replace") \
            if encoded else None
        result["SecurityGroupIds"] = sorted(data.get("SecurityGroupIds") or [])
        specs = sorted((s for s in data.get("TagSpecifications") or []
                        if s.get("ResourceType") in ("instance", "volume")),
                       key=lambda s: str(s["ResourceType"]))
        result["TagSpecifications"] = [
            {"ResourceType": s["ResourceType"], "Tags": Exact(tag_map(s.get("Tags")))}
            for s in specs]
        return result

    def _image_id(self, ctx: StepContext) -> str:
        return image_id(ctx, "ecs.ec2.ami_parameter", self.config.ecs.ec2.ami_parameter,
                        self.region)

    def lookup(self, ctx: StepContext) -> Resource | None:
        reply = absent_on(LAUNCH_TEMPLATE.not_found, self.ec2(ctx).describe_launch_templates,
                          LaunchTemplateNames=[self.template_name])
        templates = (reply or {}).get("LaunchTemplates", [])
        if not templates:
            return None
        template = dict(templates[0])
        tags = tag_map(template.get("Tags"))
        require_owned(self, f"launch template {self.template_name}", tags)
        versions = self.ec2(ctx).describe_launch_template_versions(
            LaunchTemplateId=template["LaunchTemplateId"], Versions=["$Latest"])
        latest = versions["LaunchTemplateVersions"][0]
        return Resource(template["LaunchTemplateId"],
                        {**template, "TagMap": tags, "VersionNumber": latest["VersionNumber"],
                         "LaunchTemplateData": latest.get("LaunchTemplateData", {})})

    def create(self, ctx: StepContext, token: str) -> Resource:
        ctx.catalog.demand((self.name,))  # what it sends, checked against AWS's catalog
        tags = {**self.tags(), AMI_PARAMETER_TAG: self.config.ecs.ec2.ami_parameter}
        try:
            self.ec2(ctx).create_launch_template(
                LaunchTemplateName=self.template_name,
                LaunchTemplateData=self.desired_data(ctx, self._image_id(ctx)),
                TagSpecifications=[{"ResourceType": "launch-template",
                                    "Tags": _tag_list(tags)}],
                ClientToken=token)
        except aws_errors.ClientError as exc:
            if error_code(exc) != "InvalidLaunchTemplateName.AlreadyExistsException":
                raise  # otherwise: made by a crashed run; adopted below if it is ours
        return until_found(f"launch template {self.template_name}", lambda: self.lookup(ctx))

    #: A version is immutable: the image and any setting make a new version
    #: (the default); tags are written on the template itself.
    FIELDS = (
        tags_row(),
        # The AMI is resolved at create only; the tag records the parameter it came from.
        Field("image", lambda d: d["TagMap"].get(AMI_PARAMETER_TAG),
              lambda s, ctx: s.config.ecs.ec2.ami_parameter, apply="new_version"),
        Field("LaunchTemplateData",
              lambda d: EcsLaunchTemplateStep.comparable(d["LaunchTemplateData"]),
              lambda s, ctx: s.comparable(s.desired_data(ctx, "")), compare="document",
              apply="new_version"),
    )

    def diff(self, ctx: StepContext, resource: Resource) -> list[Change]:
        return drift(self, ctx, resource.data, self.FIELDS)

    def update(self, ctx: StepContext, resource: Resource, changes: list[Change]) -> Resource:
        ctx.catalog.demand((self.name,))  # what it sends, checked against AWS's catalog
        converge(self, ctx, resource, changes, self.FIELDS)
        found = self.lookup(ctx)
        assert found is not None
        return found

    def converge_tags(self, ctx: StepContext, resource: Resource,
                      changes: list[Change]) -> None:
        self.ec2(ctx).create_tags(Resources=[resource.id], Tags=_tag_list(changes[-1].desired))

    def new_version(self, ctx: StepContext, resource: Resource, changes: list[Change]) -> None:
        """A new version made the default; a new image only when the parameter changed."""
        ec2 = self.ec2(ctx)
        parameter = self.config.ecs.ec2.ami_parameter
        moved = resource.data["TagMap"].get(AMI_PARAMETER_TAG) != parameter
        image = self._image_id(ctx) if moved else \
            str(resource.data["LaunchTemplateData"].get("ImageId"))
        version = ec2.create_launch_template_version(
            LaunchTemplateId=resource.id,
            LaunchTemplateData=self.desired_data(ctx, image))["LaunchTemplateVersion"]
        ec2.modify_launch_template(LaunchTemplateId=resource.id,
                                   DefaultVersion=str(version["VersionNumber"]))
        if moved:
            ec2.create_tags(Resources=[resource.id],
                            Tags=_tag_list({AMI_PARAMETER_TAG: parameter}))

    def delete(self, ctx: StepContext, resource: Resource) -> None:
        absent_on(LAUNCH_TEMPLATE.not_found, self.ec2(ctx).delete_launch_template,
                  LaunchTemplateId=resource.id)

    def outputs(self, resource: Resource) -> dict[str, Any]:
        return {"id": resource.id, "launch_template_id": resource.id,
                "launch_template_name": self.template_name,
                "latest_version": resource.data.get("VersionNumber")}


# --------------------------------------------------------------------------- Auto Scaling group

def _group_settings(data: Mapping[str, Any]) -> dict[str, Any]:
    """A group's description in the shape of :meth:`EcsAutoScalingGroupStep._settings`
    (subnets sorted: their order in ``VPCZoneIdentifier`` means nothing)."""
    template = data.get("LaunchTemplate") or {}
    return {"MinSize": data.get("MinSize"), "MaxSize": data.get("MaxSize"),
            "LaunchTemplate": {"LaunchTemplateId": template.get("LaunchTemplateId"),
                               "Version": template.get("Version")},
            "VPCZoneIdentifier": ",".join(sorted(
                s for s in str(data.get("VPCZoneIdentifier", "")).split(",") if s)),
            "DefaultCooldown": data.get("DefaultCooldown")}


class EcsAutoScalingGroupStep(NamedStep):
    """The container instances' Auto Scaling group (spec: min 2, max 10, desired 3)."""

    family = ASG_STEP
    service = "autoscaling"
    expected_seconds = 30.0
    wait_budget_s = 1800.0

    @property
    def group_name(self) -> str:
        return self.config.ecs.ec2.name

    def resource_name(self) -> str:
        return self.group_name

    def depends_on(self) -> tuple[str, ...]:
        return (LAUNCH_TEMPLATE_STEP, *service_subnet_steps(self.config))

    def asg(self, ctx: StepContext) -> Any:
        return ctx.client("autoscaling", self.region)

    def _tags(self) -> list[dict[str, Any]]:
        return [{"ResourceId": self.group_name, "ResourceType": "auto-scaling-group",
                 "Key": k, "Value": v, "PropagateAtLaunch": True}
                for k, v in sorted(self.tags().items())]

    def _describe(self, ctx: StepContext) -> dict[str, Any] | None:
        groups = self.asg(ctx).describe_auto_scaling_groups(
            AutoScalingGroupNames=[self.group_name]).get("AutoScalingGroups", [])
        return dict(groups[0]) if groups else None

    def lookup(self, ctx: StepContext) -> Resource | None:
        group = self._describe(ctx)
        if group is None or group.get("Status"):  # "Delete in progress"
            return None
        require_owned(self, f"Auto Scaling group {self.group_name}", tag_map(group.get("Tags")))
        return Resource(group["AutoScalingGroupARN"], group)

    def _settings(self, ctx: StepContext) -> dict[str, Any]:
        cfg = self.config.ecs.ec2
        return {"MinSize": cfg.asg.min_size, "MaxSize": cfg.asg.max_size,
                "LaunchTemplate": {"LaunchTemplateId": str(ctx.output(LAUNCH_TEMPLATE_STEP,
                                                                      "launch_template_id")),
                                   "Version": "$Latest"},
                "VPCZoneIdentifier": ",".join(service_subnet_ids(ctx, self.config)),
                "DefaultCooldown": cfg.cooldown_seconds}

    def _gone(self, ctx: StepContext) -> bool:
        return self._describe(ctx) is None

    def create(self, ctx: StepContext, token: str) -> Resource:
        if self._describe(ctx) is not None and self.lookup(ctx) is None:
            # A previous delete of the same name is still running.
            ctx.poll(f"deletion of {self.group_name}", lambda: self._gone(ctx),
                 budget_s=self.wait_budget_s, delay_s=15)
        try:
            self.asg(ctx).create_auto_scaling_group(
                AutoScalingGroupName=self.group_name,
                DesiredCapacity=self.config.ecs.ec2.asg.desired_capacity,
                HealthCheckType="EC2", NewInstancesProtectedFromScaleIn=False,
                Tags=self._tags(), **self._settings(ctx))
        except aws_errors.ClientError as exc:
            if error_code(exc) != "AlreadyExists":
                raise  # otherwise: made by a crashed run; adopted below if it is ours
        return until_found(f"Auto Scaling group {self.group_name}", lambda: self.lookup(ctx))

    def fields(self, data: Mapping[str, Any]) -> tuple[Field, ...]:
        """The group's settings; the capacity compares against the description itself
        (managed scaling owns it inside ``[min_size, max_size]``, only a value
        outside is clamped)."""
        size = self.config.ecs.ec2.asg
        capacity = int(data.get("DesiredCapacity", 0))
        current_tags = tag_map(data.get("Tags"))

        def unpropagated(d: Mapping[str, Any]) -> Any:
            # Reported only when our tags are right but do not reach the instances.
            keys = sorted(t["Key"] for t in d.get("Tags", [])
                          if t["Key"] in self.tags() and not t.get("PropagateAtLaunch"))
            if not keys or wrong_tags(self.tags(), current_tags):
                return UNREPORTED
            return f"not propagated: {keys}"

        def settings(key: str, compare: Any = "exact") -> Field:
            return Field(key, lambda d: _group_settings(d)[key],
                         lambda s, ctx: s._settings(ctx)[key], compare=compare,
                         apply="update_group")

        return (
            tags_row(lambda d: tag_map(d.get("Tags"))),
            Field("tags", unpropagated, lambda s, ctx: s.tags(), apply="converge_tags"),
            settings("MinSize"), settings("MaxSize"), settings("LaunchTemplate", "document"),
            settings("VPCZoneIdentifier"), settings("DefaultCooldown"),
            Field("DesiredCapacity", lambda d: int(d.get("DesiredCapacity", 0)),
                  lambda s, ctx: clamped(capacity, size.min_size, size.max_size),
                  apply="update_group"),
        )

    def diff(self, ctx: StepContext, resource: Resource) -> list[Change]:
        return drift(self, ctx, resource.data, self.fields(resource.data))

    def update(self, ctx: StepContext, resource: Resource, changes: list[Change]) -> Resource:
        converge(self, ctx, resource, changes, self.fields(resource.data))
        found = self.lookup(ctx)
        assert found is not None
        return found

    def update_group(self, ctx: StepContext, resource: Resource, changes: list[Change]) -> None:
        """Every setting in one call; the capacity only when it is outside the range."""
        size = self.config.ecs.ec2.asg
        capacity = int(resource.data.get("DesiredCapacity", 0))
        params = {} if size.min_size <= capacity <= size.max_size else {
            "DesiredCapacity": clamped(capacity, size.min_size, size.max_size)}
        self.asg(ctx).update_auto_scaling_group(AutoScalingGroupName=self.group_name,
                                                **self._settings(ctx), **params)

    def converge_tags(self, ctx: StepContext, resource: Resource,
                      changes: list[Change]) -> None:
        """All our tags again, propagated to the instances."""
        self.asg(ctx).create_or_update_tags(Tags=self._tags())

    def delete(self, ctx: StepContext, resource: Resource) -> None:
        """Terminate the instances with the group, and wait until it is gone."""
        try:
            ASG_BUSY.call(f"delete {self.group_name}", self.asg(ctx).delete_auto_scaling_group,
                          AutoScalingGroupName=self.group_name, ForceDelete=True)
        except aws_errors.ClientError as exc:
            if not (error_code(exc) == "ValidationError" and "not found" in str(exc)):
                raise
        ctx.poll(f"deletion of {self.group_name}", lambda: self._gone(ctx),
             budget_s=self.wait_budget_s, delay_s=15)

    def outputs(self, resource: Resource) -> dict[str, Any]:
        return {"id": resource.id, "asg_arn": resource.id, "asg_name": self.group_name}


# --------------------------------------------------------------------------- capacity provider

class EcsCapacityProviderStep(EcsStep, KindStep):
    """The capacity provider over the group, with managed scaling, attached to the cluster.

    Its description carries the cluster's providers and default strategy
    (``clusterProviders``, ``clusterStrategy``): attaching it is part of this step.
    """

    family = CAPACITY_PROVIDER_STEP
    kind = CAPACITY_PROVIDER
    expected_seconds = 5.0
    wait_budget_s = 900.0

    FIELDS = (
        NAME,
        TAGS,
        # A provider's group is fixed at create (UpdateCapacityProvider takes none).
        Field("autoScalingGroupArn",
              lambda d: (d.get("autoScalingGroupProvider") or {}).get("autoScalingGroupArn"),
              lambda s, ctx: s.desired_provider(ctx)["autoScalingGroupArn"], effect="replace"),
        Field("managedScaling",
              lambda d: (d.get("autoScalingGroupProvider") or {}).get("managedScaling"),
              lambda s, ctx: s.desired_provider(ctx)["managedScaling"], compare="document",
              apply="update_provider"),
        Field("managedTerminationProtection",
              lambda d: (d.get("autoScalingGroupProvider") or {}).get(
                  "managedTerminationProtection"),
              lambda s, ctx: s.desired_provider(ctx)["managedTerminationProtection"],
              apply="update_provider"),
        Field("cluster_capacity_providers", lambda d: d["attached"], lambda s, ctx: True,
              apply="attach"),
        Field("cluster_default_strategy", lambda d: strategy_of(d["clusterStrategy"]),
              lambda s, ctx: s.desired_strategy(), apply="attach"),
    )

    @property
    def provider_name(self) -> str:
        return self.config.ecs.ec2.name

    def resource_name(self) -> str:
        return self.provider_name

    def depends_on(self) -> tuple[str, ...]:
        return (ASG_STEP, CLUSTER_STEP)

    def desired_provider(self, ctx: StepContext) -> dict[str, Any]:
        cfg = self.config.ecs.ec2
        return {"autoScalingGroupArn": str(ctx.output(ASG_STEP, "asg_arn")),
                "managedScaling": {"status": "ENABLED",
                                   "targetCapacity": round(cfg.cpu_target_percent),
                                   "minimumScalingStepSize": 1,
                                   "maximumScalingStepSize": cfg.asg.max_size,
                                   "instanceWarmupPeriod": cfg.cooldown_seconds},
                "managedTerminationProtection": "DISABLED"}

    def desired_strategy(self) -> list[dict[str, Any]]:
        return [{"capacityProvider": self.provider_name, "weight": 1, "base": 0}]

    def _cluster(self, ctx: StepContext) -> dict[str, Any] | None:
        clusters = self.ecs(ctx).describe_clusters(clusters=[self.cluster_name])["clusters"]
        live = [c for c in clusters if c.get("status") != "INACTIVE"]
        return dict(live[0]) if live else None

    def is_live(self, item: Mapping[str, Any]) -> bool:
        return (item.get("status") == "ACTIVE"
                and item.get("updateStatus") != "DELETE_IN_PROGRESS")

    def _provider(self, ctx: StepContext) -> dict[str, Any] | None:
        """The provider in any state but gone (a create after a crash, a delete's wait)."""
        providers = self.ecs(ctx).describe_capacity_providers(
            capacityProviders=[self.provider_name]).get("capacityProviders", [])
        live = [p for p in providers if self.is_live(p)]
        return dict(live[0]) if live else None

    def with_details(self, ctx: StepContext, resource: Resource) -> Resource:
        """Whether the cluster uses it, and the cluster's default strategy."""
        cluster = self._cluster(ctx) or {}
        providers = cluster.get("capacityProviders") or []
        return Resource(resource.id, {
            **resource.data, "clusterProviders": providers,
            "attached": self.provider_name in providers,
            "clusterStrategy": cluster.get("defaultCapacityProviderStrategy") or []})

    def _attach(self, ctx: StepContext) -> None:
        current = (self._cluster(ctx) or {}).get("capacityProviders") or []
        CLUSTER_UPDATING.call(
            f"attach {self.provider_name} to {self.cluster_name}",
            self.ecs(ctx).put_cluster_capacity_providers, cluster=self.cluster_name,
            capacityProviders=sorted({*current, self.provider_name}),
            defaultCapacityProviderStrategy=self.desired_strategy())

    def create(self, ctx: StepContext, token: str) -> Resource:
        if self._provider(ctx) is None:
            ROLE_PROPAGATION.call(f"create capacity provider {self.provider_name}",
                                  self.ecs(ctx).create_capacity_provider,
                                  name=self.provider_name,
                                  autoScalingGroupProvider=self.desired_provider(ctx),
                                  tags=ecs_tags(self.tags()))
        self._attach(ctx)
        return until_found(f"capacity provider {self.provider_name}", lambda: self.lookup(ctx))

    def update(self, ctx: StepContext, resource: Resource, changes: list[Change]) -> Resource:
        converge(self, ctx, resource, changes, self.FIELDS)
        return self.reread(ctx)

    def update_provider(self, ctx: StepContext, resource: Resource,
                        changes: list[Change]) -> None:
        desired = self.desired_provider(ctx)
        CLUSTER_UPDATING.call(
            f"update {self.provider_name}", self.ecs(ctx).update_capacity_provider,
            name=self.provider_name, autoScalingGroupProvider={
                "managedScaling": desired["managedScaling"],
                "managedTerminationProtection": desired["managedTerminationProtection"]})

    def attach(self, ctx: StepContext, resource: Resource, changes: list[Change]) -> None:
        self._attach(ctx)

    def delete(self, ctx: StepContext, resource: Resource) -> None:
        """Detach from the cluster (ECS refuses to delete an attached provider), then delete."""
        ecs = self.ecs(ctx)
        cluster = self._cluster(ctx)
        if cluster is not None and self.provider_name in (cluster.get("capacityProviders") or []):
            CLUSTER_UPDATING.call(
                f"detach {self.provider_name}", ecs.put_cluster_capacity_providers,
                cluster=self.cluster_name,
                capacityProviders=[p for p in cluster["capacityProviders"]
                                   if p != self.provider_name],
                defaultCapacityProviderStrategy=[
                    s for s in cluster.get("defaultCapacityProviderStrategy") or []
                    if s.get("capacityProvider") != self.provider_name])
        CLUSTER_UPDATING.call(f"delete {self.provider_name}", ecs.delete_capacity_provider,
                              capacityProvider=self.provider_name)
        ctx.poll(f"deletion of capacity provider {self.provider_name}",
             lambda: self._provider(ctx) is None, budget_s=self.wait_budget_s, delay_s=10)

    def outputs(self, resource: Resource) -> dict[str, Any]:
        return {"id": resource.id, "capacity_provider_arn": resource.id,
                "capacity_provider_name": self.provider_name}


def ecs_ec2_steps(config: PlatformConfig) -> list[Step]:
    """The EC2 capacity of the cluster (only with ``ecs.launch_type: ec2``)."""
    if config.ecs.launch_type != "ec2":
        return []
    return [EcsLaunchTemplateStep(config), EcsAutoScalingGroupStep(config),
            EcsCapacityProviderStep(config)]
