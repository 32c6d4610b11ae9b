"""The PgBouncer EC2 instance in front of the RDS primary (spec "Connection Pooling").

Why it is built this way:

* The instance is **stateless**: everything it knows comes from its user
  data (rendered by :mod:`vivr_provision.pgbouncer`) and, at boot, from the
  database secret.  So a setting that EC2 cannot change in place (user
  data, instance type, subnet, image, instance profile, root volume) is
  converged by replacing the instance (``replace_automatically``), and
  ``plan`` shows that as ``replace`` with the settings that moved.
* The AMI is resolved from the public SSM parameter **at create only**.
  Comparing against "latest" on every run would replace the pooler (and
  drop every client connection) each time AWS publishes an image; instead
  the parameter name is recorded on the instance (tag ``vivr:ami-parameter``)
  and only a change of the parameter in the config replaces it.  New images
  arrive with the next replacement for any other reason.
* ``RunInstances`` takes the engine's deterministic ClientToken, so a create
  repeated after a crash returns the first instance on AWS; lookups by the
  recorded id and then by ownership tags (never terminated instances) adopt
  it before that, which is what makes a rerun safe where the token is not
  honoured.
* A role created seconds earlier is often not yet usable as an instance
  profile (``InvalidParameterValue``); the launch retries for that under
  ``ROLE_PROPAGATION``.
* "running" is all EC2 can say; whether the boot script installed and
  started PgBouncer is not visible through any API the step could wait on
  without inventing a signal.  So ``apply`` does not wait for the boot:
  the boot script publishes a heartbeat only while PgBouncer answers and
  the monitoring step's heartbeat alarm (missing data = breaching) and the
  EC2 status-check alarm make a failed boot loud within minutes; the
  step's notes name those alarms and the command that shows the boot log.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping
from typing import Any

from vivr_provision import aws_errors
from vivr_provision.aws import error_code
from vivr_provision.config import PlatformConfig
from vivr_provision.pgbouncer import (
    HEARTBEAT_METRIC,
    METRICS_NAMESPACE,
    changed_ini_keys,
    ini_from_user_data,
    parse_ini,
    render_user_data,
)
from vivr_provision.steps.base import Change, DependencyMissing, Resource, Step, StepContext
from vivr_provision.steps.drift import UNREPORTED, Field, converge, drift, tags_row
from vivr_provision.steps.ec2 import Ec2Kind, Ec2Step, image_id, tag_dict, tag_list
from vivr_provision.steps.iam import ROLE_PROPAGATION

#: Instance states in which the pooler still exists (or is coming back).
LIVE_STATES = ("pending", "running", "stopping", "stopped")
#: Tag recording which SSM parameter the AMI was resolved from.
AMI_PARAMETER_TAG = "vivr:ami-parameter"
ROLE_STEP = "iam.pgbouncer_instance_role"
SECRET_STEP = "secret.database_credentials"


def _digest(text: str) -> str:
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()[:12]


def _state(instance: Mapping[str, Any]) -> str | None:
    state = instance.get("State", {}).get("Name")
    return None if state is None else str(state)


def _profile_name(instance: Mapping[str, Any]) -> str | None:
    """The instance profile's name (DescribeInstances gives only its ARN)."""
    arn = str(instance.get("IamInstanceProfile", {}).get("Arn", ""))
    return arn.rsplit("/", 1)[-1] or None


def _monitoring_on(instance: Mapping[str, Any]) -> bool:
    """Detailed monitoring as wanted: ``pending`` is on its way on, ``disabling`` off
    (DescribeInstances ``Monitoring.State``: disabled, disabling, enabled, pending)."""
    return instance.get("Monitoring", {}).get("State") in ("enabled", "pending")


def _root_volume_view(instance: Mapping[str, Any]) -> Any:
    """(size, type, encrypted, key) of the root volume :meth:`PgBouncerStep.diff` read."""
    volume = instance["RootVolume"]
    if volume is None:
        return UNREPORTED
    return (volume.get("Size"), volume.get("VolumeType"), bool(volume.get("Encrypted")),
            volume.get("KmsKeyId"))


class PgBouncerStep(Ec2Step):
    """The single PgBouncer instance: private subnet, IMDSv2, encrypted root volume."""

    family = "pgbouncer"
    expected_seconds = 60.0
    wait_budget_s = 900.0
    replace_automatically = True
    # Instances nest in reservations and their state is a dict: _describe and
    # _live below flatten and filter them; the rest of Ec2Kind applies as is.
    kind = Ec2Kind("describe_instances", "Reservations", "InstanceId", "InstanceIds",
                   "instance", "InvalidInstanceID.NotFound")

    def __init__(self, config: PlatformConfig) -> None:
        super().__init__(config)
        self.pgb = config.pgbouncer

    def resource_name(self) -> str:
        return self.pgb.service_name

    # -- dependencies --------------------------------------------------------
    def _subnet_step(self) -> str:
        return f"subnet.{self.pgb.subnet}"

    def _sg_steps(self) -> list[str]:
        return [f"sg.{g}" for g in (self.pgb.security_group, *self.pgb.boot_security_groups)]

    def _group_ids(self, ctx: StepContext) -> list[str]:
        return sorted(str(ctx.output(step, "group_id")) for step in self._sg_steps())

    def _rds_step(self) -> str:
        return f"rds.{self.config.rds.identifier}"

    def depends_on(self) -> tuple[str, ...]:
        # The group's rules too, not just the group: the instance boots (and
        # reaches its package repos, Secrets Manager and RDS) under the final rules.
        return (self._subnet_step(), *self._sg_steps(),
                *(f"sg-rules.{s.removeprefix('sg.')}" for s in self._sg_steps()),
                ROLE_STEP, "kms", SECRET_STEP, self._rds_step())

    # -- describing instances ------------------------------------------------
    def _describe(self, ctx: StepContext, **params: Any) -> list[dict[str, Any]]:
        """Instances, flattened out of their reservations."""
        pages = self.ec2(ctx).get_paginator("describe_instances").paginate(**params)
        return [instance for page in pages for reservation in page.get("Reservations", [])
                for instance in reservation.get("Instances", [])]

    def _live(self, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [i for i in items if i.get("State", {}).get("Name") in LIVE_STATES]

    def ownership_filters(self) -> list[dict[str, Any]]:
        # Filtered server-side too: terminated instances stay listed for an hour.
        return [*super().ownership_filters(),
                {"Name": "instance-state-name", "Values": list(LIVE_STATES)}]

    def describe_by_id(self, ctx: StepContext, resource_id: str) -> Resource | None:
        try:
            return super().describe_by_id(ctx, resource_id)
        except aws_errors.ClientError as exc:
            if error_code(exc) == "InvalidInstanceID.Malformed":
                return None
            raise

    # -- what the instance should be -----------------------------------------
    def desired_user_data(self, ctx: StepContext) -> str:
        address = ctx.output(self._rds_step(), "address")
        port = ctx.output(self._rds_step(), "port")
        if not address or not port:
            # An RDS instance still being created has no endpoint yet.
            raise DependencyMissing(f"{self._rds_step()} has no endpoint yet")
        return render_user_data(
            self.config,
            db_host=str(address),
            db_port=int(port),
            secret_arn=str(ctx.output(SECRET_STEP, "arn")),
            region=self.region,
        )

    def _image_id(self, ctx: StepContext) -> str:
        """The image behind the public SSM parameter (e.g. latest AL2023), as plan resolved it."""
        return image_id(ctx, "pgbouncer.ami_parameter", self.pgb.ami_parameter, self.region)

    def _block_devices(self, ctx: StepContext) -> list[dict[str, Any]]:
        volume = self.pgb.root_volume
        return [{"DeviceName": volume.device_name, "Ebs": {
            "VolumeSize": volume.size_gb, "VolumeType": volume.type, "Encrypted": True,
            "KmsKeyId": str(ctx.output("kms", "key_arn")), "DeleteOnTermination": True}}]

    def tag_specifications(self) -> list[dict[str, Any]]:
        tags = self.tags()
        return [
            {"ResourceType": "instance",
             "Tags": tag_list({**tags, AMI_PARAMETER_TAG: self.pgb.ami_parameter})},
            {"ResourceType": "volume", "Tags": tag_list(tags)},
        ]

    # -- lifecycle -------------------------------------------------------------
    def create(self, ctx: StepContext, token: str) -> Resource:
        ctx.catalog.demand((self.name,))  # what it sends, checked against AWS's catalog
        params: dict[str, Any] = {
            "ImageId": self._image_id(ctx),
            "InstanceType": self.pgb.instance_type,
            "MinCount": 1,
            "MaxCount": 1,
            "SubnetId": ctx.output(self._subnet_step(), "subnet_id"),
            "SecurityGroupIds": self._group_ids(ctx),
            "IamInstanceProfile": {"Name": ctx.output(ROLE_STEP, "instance_profile_name")},
            "UserData": self.desired_user_data(ctx),
            "MetadataOptions": {"HttpTokens": "required", "HttpEndpoint": "enabled"},
            # Detailed monitoring: 1-minute instance metrics (EC2 API reference,
            # RunInstancesMonitoringEnabled); the status-check alarm sees a dead
            # pooler within a minute instead of five.
            "Monitoring": {"Enabled": self.pgb.detailed_monitoring},
            "BlockDeviceMappings": self._block_devices(ctx),
            "ClientToken": token,
            "TagSpecifications": self.tag_specifications(),
        }
        reply = ROLE_PROPAGATION.call("run pgbouncer instance", self.ec2(ctx).run_instances,
                                      **params)
        instance = reply["Instances"][0]
        return Resource(instance["InstanceId"], instance)

    def is_ready(self, resource: Resource) -> bool:
        return bool(resource.data.get("State", {}).get("Name") == "running")

    def wait(self, ctx: StepContext, resource: Resource) -> Resource:
        if self.is_ready(resource):
            return resource
        try:
            ctx.wait("ec2", "instance_running", budget_s=self.wait_budget_s, delay_s=5,
                     region=self.region, InstanceIds=[resource.id])
        except aws_errors.WaiterError:
            # Most often the encrypted root volume's key cannot be used: say so.
            current = self.refresh(ctx, resource).data
            state = current.get("State", {}).get("Name")
            reason = current.get("StateReason", {}).get("Message", "no reason given")
            raise RuntimeError(
                f"{self.name}: instance {resource.id} is {state}, not running: {reason}"
            ) from None
        return self.refresh(ctx, resource)

    def _user_data(self, ctx: StepContext, instance_id: str) -> str:
        reply = self.ec2(ctx).describe_instance_attribute(InstanceId=instance_id,
                                                          Attribute="userData")
        encoded = reply.get("UserData", {}).get("Value")
        return base64.b64decode(encoded).decode("utf-8", "replace") if encoded else ""

    def _root_volume(self, ctx: StepContext, resource: Resource) -> dict[str, Any] | None:
        device = self.pgb.root_volume.device_name
        mapping = next((m for m in resource.data.get("BlockDeviceMappings", [])
                        if m.get("DeviceName") == device), None)
        volume_id = (mapping or {}).get("Ebs", {}).get("VolumeId")
        if not volume_id:
            return None
        volumes = self.ec2(ctx).describe_volumes(VolumeIds=[volume_id]).get("Volumes", [])
        return dict(volumes[0]) if volumes else None

    def _user_data_change(self, current: str, desired: str) -> Change | None:
        if current == desired:
            return None
        current_ini, desired_ini = ini_from_user_data(current), ini_from_user_data(desired)
        if current_ini is not None and desired_ini is not None:
            old, new = changed_ini_keys(parse_ini(current_ini), parse_ini(desired_ini))
            if old or new:
                return Change("user_data (pgbouncer.ini)", old, new, replace=True)
        return Change("user_data", _digest(current), _digest(desired), replace=True)

    #: What EC2 cannot change on a running instance: drift replaces the pooler
    #: (``replace_automatically``).  The user data is compared apart
    #: (:meth:`_user_data_change`): its change is named and shown by the
    #: pgbouncer.ini keys that moved, which depends on both sides.
    REPLACED = (
        tags_row(lambda d: tag_dict(d.get("Tags"))),
        Field("instance_type", lambda d: d.get("InstanceType"),
              lambda s, ctx: s.pgb.instance_type, effect="replace"),
        Field("subnet", lambda d: d.get("SubnetId"),
              lambda s, ctx: ctx.output(s._subnet_step(), "subnet_id"), effect="replace"),
        # Only where the instance records its parameter (one launched before the tag
        # existed has nothing to compare).
        Field("image", lambda d: tag_dict(d.get("Tags")).get(AMI_PARAMETER_TAG, UNREPORTED),
              lambda s, ctx: s.pgb.ami_parameter, effect="replace"),
        Field("instance_profile", _profile_name,
              lambda s, ctx: ctx.output(ROLE_STEP, "instance_profile_name"), effect="replace"),
        Field("root_volume", _root_volume_view,
              lambda s, ctx: (s.pgb.root_volume.size_gb, s.pgb.root_volume.type, True,
                              str(ctx.output("kms", "key_arn"))), effect="replace"),
    )
    #: What EC2 changes on a running instance without a restart.
    IN_PLACE = (
        Field("security_groups",
              lambda d: sorted(g["GroupId"] for g in d.get("SecurityGroups", [])),
              lambda s, ctx: s._group_ids(ctx), apply="set_security_groups"),
        Field("imdsv2", lambda d: d.get("MetadataOptions", {}).get("HttpTokens"),
              lambda s, ctx: "required", apply="require_imdsv2"),
        Field("detailed_monitoring", _monitoring_on,
              lambda s, ctx: s.pgb.detailed_monitoring, apply="set_monitoring"),
        # Someone stopped the pooler: every client is cut off until it runs.  An
        # instance on its way (pending, stopping) is not drift.
        Field("state", lambda d: "stopped" if _state(d) == "stopped" else UNREPORTED,
              lambda s, ctx: "running", apply="start"),
    )

    def diff(self, ctx: StepContext, resource: Resource) -> list[Change]:
        data = {**resource.data, "RootVolume": self._root_volume(ctx, resource)}
        user_data = self._user_data_change(self._user_data(ctx, resource.id),
                                           self.desired_user_data(ctx))
        return [*drift(self, ctx, data, self.REPLACED), *([user_data] if user_data else []),
                *drift(self, ctx, data, self.IN_PLACE)]

    def update(self, ctx: StepContext, resource: Resource, changes: list[Change]) -> Resource:
        ctx.catalog.demand((self.name,))  # what it sends, checked against AWS's catalog
        converge(self, ctx, resource, changes, (*self.REPLACED, *self.IN_PLACE))
        return self.refresh(ctx, resource)

    def converge_tags(self, ctx: StepContext, resource: Resource,
                      changes: list[Change]) -> None:
        """Tags go to the instance and its volumes alike (cost reports group by them)."""
        volume_ids = [m["Ebs"]["VolumeId"] for m in resource.data.get("BlockDeviceMappings", [])
                      if m.get("Ebs", {}).get("VolumeId")]
        self.ec2(ctx).create_tags(Resources=[resource.id, *volume_ids],
                                  Tags=tag_list(changes[-1].desired))

    def set_security_groups(self, ctx: StepContext, resource: Resource,
                            changes: list[Change]) -> None:
        self.ec2(ctx).modify_instance_attribute(InstanceId=resource.id,
                                                Groups=self._group_ids(ctx))

    def require_imdsv2(self, ctx: StepContext, resource: Resource,
                       changes: list[Change]) -> None:
        self.ec2(ctx).modify_instance_metadata_options(InstanceId=resource.id,
                                                       HttpTokens="required",
                                                       HttpEndpoint="enabled")

    def set_monitoring(self, ctx: StepContext, resource: Resource,
                       changes: list[Change]) -> None:
        """MonitorInstances / UnmonitorInstances: no restart needed."""
        call = (self.ec2(ctx).monitor_instances if self.pgb.detailed_monitoring
                else self.ec2(ctx).unmonitor_instances)
        call(InstanceIds=[resource.id])

    def start(self, ctx: StepContext, resource: Resource, changes: list[Change]) -> None:
        self.ec2(ctx).start_instances(InstanceIds=[resource.id])

    def delete(self, ctx: StepContext, resource: Resource) -> None:
        try:
            self.ec2(ctx).terminate_instances(InstanceIds=[resource.id])
        except aws_errors.ClientError as exc:
            if error_code(exc) == self.kind.not_found:
                return
            raise
        ctx.wait("ec2", "instance_terminated", budget_s=self.wait_budget_s, delay_s=5,
                 region=self.region, InstanceIds=[resource.id])

    def _watching_alarms(self) -> list[str]:
        """The configured alarms that notice a pooler that never came up or died."""
        return [a.name for a in self.config.monitoring.alarms
                if (a.namespace, a.metric_name) == (METRICS_NAMESPACE, HEARTBEAT_METRIC)
                or a.resource == "pgbouncer_instance"]

    def notes(self, ctx: StepContext, resource: Resource | None) -> list[str]:
        notes = [
            f"boot: PgBouncer installs from Amazon's SPAL repository (dnf install "
            f"spal-release); a failed boot raises {', '.join(self._watching_alarms())}",
        ]
        if resource is not None:
            notes.append(f"boot log: aws ec2 get-console-output --region {self.region} "
                         f"--instance-id {resource.id} --latest --output text")
        if self.pgb.datadog_metrics:
            notes.append("datadog_metrics: the boot script does not install the DataDog "
                         "agent yet; PgBouncer's performance metrics reach CloudWatch only")
        return notes

    def outputs(self, resource: Resource) -> dict[str, Any]:
        return {"id": resource.id, "instance_id": resource.id,
                "private_ip": resource.data.get("PrivateIpAddress"),
                "port": self.pgb.listen_port}


def pgbouncer_steps(config: PlatformConfig) -> list[Step]:
    """The pooler instance (one per environment)."""
    return [PgBouncerStep(config)]
