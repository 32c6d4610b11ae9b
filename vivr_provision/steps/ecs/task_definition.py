"""The task definition: one family, a new revision whenever the container changes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from vivr_provision.config import PlatformConfig
from vivr_provision.config.app import (
    ContainerConfig,
    ContainerEndpointConfig,
    writable_volume_name,
)
from vivr_provision.log import get_logger
from vivr_provision.steps.base import (
    Change,
    DependencyMissing,
    NamedStep,
    Resource,
    Site,
    StepContext,
)
from vivr_provision.steps.common import (
    KindTaggedStep,
    absent_on,
    gone_on,
    is_owned_by,
    require_owned,
    tag_map,
)
from vivr_provision.steps.diffing import Exact
from vivr_provision.steps.drift import Field, converge, drift, tags_row
from vivr_provision.steps.ecs.common import (
    EXECUTION_ROLE_STEP,
    RUNTIME_PLATFORM,
    TASK_DEFINITION_STEP,
    TASK_ROLE_STEP,
    EcsStep,
    EcsTier,
    ecs_tags,
    primary_tier,
)
from vivr_provision.steps.elasticache import CacheStep
from vivr_provision.steps.iam import ROLE_PROPAGATION
from vivr_provision.steps.kinds import TASK_DEFINITION
from vivr_provision.steps.pgbouncer import PgBouncerStep
from vivr_provision.steps.rds import DbInstanceBase
from vivr_provision.steps.s3 import BucketStep

log = get_logger("vivr.ecs")


def secret_steps_of(tier: EcsTier) -> list[str]:
    """The secret steps whose ARNs the container references (global steps, any site)."""
    return sorted({f"secret.{s.secret}" for s in tier.ecs.task_definition.container.secrets})


#: The step family each endpoint source reads (``family.key`` when it has a key).
ENDPOINT_FAMILIES: dict[str, str] = {
    "rds": DbInstanceBase.family,
    "pgbouncer": PgBouncerStep.family,
    "redis": CacheStep.family,
    "s3": BucketStep.family,
}
#: Sources whose resource is regional: read from the tier's own site
#: (``dr.rds.<replica>``, ``dr.cache``).  Buckets have global names and
#: live in the primary region whichever tier reads them.
SITE_SOURCES = frozenset({"rds", "pgbouncer", "redis"})


def endpoint_step(entry: ContainerEndpointConfig, site: Site | None = None) -> str:
    """The step whose output an endpoint variable reads."""
    family = ENDPOINT_FAMILIES[entry.source]
    name = family if entry.key is None else f"{family}.{entry.key}"
    return (site or Site()).step(name) if entry.source in SITE_SOURCES else name


def endpoint_steps_of(tier: EcsTier) -> list[str]:
    return sorted({endpoint_step(e, tier.site) for e in tier.endpoints.values()})


def env_text(value: Any) -> str:
    """An output as environment text: ``true``/``false`` for booleans, else ``str``."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def endpoint_environment(ctx: StepContext, tier: EcsTier) -> dict[str, str]:
    """The endpoint variables, read from their steps' outputs.

    An output the resource does not report (an empty endpoint) is an error
    naming the variable, not an empty variable the app would trip over.
    """
    values: dict[str, str] = {}
    for env, entry in tier.endpoints.items():
        step = endpoint_step(entry, tier.site)
        if not ctx.has_outputs(step):
            raise DependencyMissing(f"{step} has not been applied (no outputs recorded)")
        value = (ctx.outputs_of(step) or {}).get(entry.output)
        if value is None or value == "":
            raise RuntimeError(f"{tier.endpoints_where}.{env}: {step} reports no "
                               f"{entry.output}")
        values[env] = env_text(value)
    return values


def latest_revision(ctx: StepContext, region: str, family: str,
                    reader: str) -> Mapping[str, Any] | None:
    """The ``DescribeTaskDefinition`` answer for ``family``'s latest ACTIVE revision (tags
    included), read once per run and handed once to each reader: the task definition
    step's first lookup and the service's comparison of the revision it runs.  None:
    the family has no ACTIVE revision, or ``reader`` already had it (read directly)."""
    client = ctx.client("ecs", region)

    def load() -> dict[str, Mapping[str, Any]]:
        reply = absent_on(TASK_DEFINITION.not_found, client.describe_task_definition,
                          taskDefinition=family, include=["TAGS"])
        return {family: reply} if reply else {}

    return ctx.reads.take(("ecs", region, "task-definition", family), family, load, reader)


def secrets_without_value(ctx: StepContext, tier: EcsTier) -> dict[str, str]:
    """Container variables whose secret has no current value: env var -> secret key."""
    return {entry.env: entry.secret for entry in tier.ecs.task_definition.container.secrets
            if not ctx.output(f"secret.{entry.secret}", "has_value")}


def _as_exact(items: list[dict[str, Any]] | None, value_key: str) -> Exact:
    return Exact({item["name"]: item.get(value_key) for item in items or []})


def containers(definition: Mapping[str, Any]) -> Exact:
    """A definition's containers (request or description) as the ``document`` row compares them.

    Keyed by name, both ways (an extra or a missing container is a
    difference); environment variables and secrets become exact maps
    (order-free, extras count); the rest of a container is a projection
    (fields ECS adds, such as ``cpu: 0`` or ``mountPoints``, are not drift;
    log driver options included: ECS may add defaults such as the delivery
    mode, and we always set all of ours).
    """
    return Exact({container["name"]: {
        **container,
        "environment": _as_exact(container.get("environment"), "value"),
        "secrets": _as_exact(container.get("secrets"), "valueFrom")}
        for container in definition.get("containerDefinitions") or []})


def volumes(definition: Mapping[str, Any]) -> Exact:
    """A definition's volumes by name, both ways (a volume more or less is a difference);
    each one a projection (ECS adds ``host: {}`` to a bind mount without one)."""
    return Exact({v["name"]: v for v in definition.get("volumes") or []})


def log_mode_options(container: ContainerConfig) -> dict[str, str]:
    """The awslogs delivery mode options (ECS API reference, LogConfiguration):
    ``max-buffer-size`` applies to ``non-blocking`` only, so it is sent only then."""
    if container.log_mode == "blocking":
        return {"mode": "blocking"}
    return {"mode": "non-blocking", "max-buffer-size": container.log_max_buffer_size}


def desired_task_definition(ctx: StepContext, config: PlatformConfig, region: str,
                            tier: EcsTier | None = None) -> dict[str, Any]:
    """The ``RegisterTaskDefinition`` request the config describes (without tags).

    Container-level ``memory`` is set as well as the task-level one: a hard
    limit per container is what the EC2 launch type needs, and some ECS
    implementations cannot run a task without it.  A tier whose secrets are
    replicated (the standby) references each replica's ARN in its own
    region (``dr_arn``), so its tasks start while the primary region is down.
    The root filesystem is read-only where the config says so, with each
    writable path an empty task volume (both tiers: the standby copies the
    container).  ``readonlyRootFilesystem`` is sent only when true and
    ``mountPoints`` only when there are some, so a definition without them
    compares equal to what ECS reports (it omits the one, adds ``[]`` for the other).
    """
    tier = tier or primary_tier(config)
    task = tier.ecs.task_definition
    container = task.container
    empty = secrets_without_value(ctx, tier)
    secrets = []
    for entry in container.secrets:
        if entry.env in empty:
            continue  # ECS could not start the task (see secrets_without_value)
        arn = str(ctx.output(f"secret.{entry.secret}", tier.secret_arn_output(entry.secret)))
        # Secrets Manager reference syntax: <arn>:<json-key>:<version-stage>:<version-id>
        secrets.append({"name": entry.env,
                        "valueFrom": f"{arn}:{entry.json_key}::" if entry.json_key else arn})
    environment = {**container.environment, **endpoint_environment(ctx, tier)}
    health = container.health_check
    definition: dict[str, Any] = {
        "name": container.name,
        "image": container.image,
        "essential": container.essential,
        "memory": task.memory,
        "portMappings": [{"containerPort": container.port, "hostPort": container.port,
                          "protocol": "tcp"}],
        "environment": [{"name": k, "value": v} for k, v in sorted(environment.items())],
        "secrets": sorted(secrets, key=lambda s: s["name"]),
        "healthCheck": {"command": list(health.command),
                        "interval": health.interval_seconds,
                        "timeout": health.timeout_seconds,
                        "retries": health.retries,
                        "startPeriod": health.start_period_seconds},
        "logConfiguration": {"logDriver": "awslogs", "options": {
            "awslogs-group": str(ctx.output(tier.step(f"logs.{container.log_group}"), "name")),
            "awslogs-region": region,
            "awslogs-stream-prefix": container.log_stream_prefix,
            **log_mode_options(container)}},
    }
    if container.read_only_root_filesystem:
        definition["readonlyRootFilesystem"] = True
    if container.writable_paths:
        definition["mountPoints"] = [
            {"sourceVolume": writable_volume_name(path), "containerPath": path,
             "readOnly": False} for path in container.writable_paths]
    return {
        "family": task.family,
        "taskRoleArn": str(ctx.output(TASK_ROLE_STEP, "role_arn")),
        "executionRoleArn": str(ctx.output(EXECUTION_ROLE_STEP, "role_arn")),
        "networkMode": task.network_mode,
        "requiresCompatibilities": ["EC2"] if tier.ecs.launch_type == "ec2" else ["FARGATE"],
        "cpu": str(task.cpu),
        "memory": str(task.memory),
        "runtimePlatform": dict(RUNTIME_PLATFORM),
        "containerDefinitions": [definition],
        # Empty bind mounts (a name, no host): task-scoped scratch space.
        "volumes": [{"name": writable_volume_name(path)} for path in container.writable_paths],
    }


def _revision_of(arn: str) -> int:
    return int(arn.rsplit(":", 1)[-1])


def _setting(key: str, compare: Any = "exact") -> Field:
    """One top-level member of the definition; any difference registers a revision."""
    return Field(key, lambda d: d.get(key),
                 lambda s, ctx: s.desired(ctx)[key],
                 compare=compare, apply="register")


class TaskDefinitionStep(EcsStep, NamedStep, KindTaggedStep):
    """The task definition family: one essential container, awslogs, secrets by ARN.

    Read by its own lookup, not its kind's: the family is the resource and
    its latest ACTIVE revision is what is compared, found among the family's
    revisions (``familyPrefix`` is a prefix match).
    """

    family = TASK_DEFINITION_STEP
    kind = TASK_DEFINITION
    expected_seconds = 3.0

    #: A revision is immutable: any setting registers a new one (made the latest).
    SETTINGS = (
        *(_setting(key) for key in ("family", "taskRoleArn", "executionRoleArn", "networkMode",
                                    "requiresCompatibilities", "cpu", "memory")),
        _setting("runtimePlatform", "document"),
        Field("volumes", volumes, lambda s, ctx: volumes(s.desired(ctx)),
              compare="document", apply="register"),
        Field("containerDefinitions", containers,
              lambda s, ctx: containers(s.desired(ctx)),
              compare="document", apply="register"),
    )
    #: Tags are changed on the current revision.
    FIELDS = (tags_row(lambda d: tag_map(d.get("tags"), "key", "value")), *SETTINGS)

    @property
    def task_family(self) -> str:
        return self.tier.ecs.task_definition.family

    def resource_name(self) -> str:
        return self.task_family

    def desired(self, ctx: StepContext) -> dict[str, Any]:
        return desired_task_definition(ctx, self.config, self.region, self.tier)

    def depends_on(self) -> tuple[str, ...]:
        container = self.tier.ecs.task_definition.container
        return (EXECUTION_ROLE_STEP, TASK_ROLE_STEP, self.tier.step(f"logs.{container.log_group}"),
                *secret_steps_of(self.tier), *endpoint_steps_of(self.tier))

    def notes(self, ctx: StepContext, resource: Resource | None) -> list[str]:
        """Variables left out until their secret has a value (the secret's note says how)."""
        empty = secrets_without_value(ctx, self.tier)
        if not empty:
            return []
        names = self.config.secrets.names()
        listed = ", ".join(f"{env} ({names[key]})" for env, key in sorted(empty.items()))
        return [f"not injected until their secret has a value: {listed}; the next apply "
                "after put-secret-value registers a revision with them"]

    def _active_arns(self, ctx: StepContext) -> list[str]:
        """ACTIVE revisions of exactly our family (``familyPrefix`` is a prefix match)."""
        pages = self.ecs(ctx).get_paginator("list_task_definitions").paginate(
            familyPrefix=self.task_family, status="ACTIVE")
        arns = [arn for page in pages for arn in page.get("taskDefinitionArns", [])
                if arn.rsplit("/", 1)[-1].rsplit(":", 1)[0] == self.task_family]
        return sorted(arns, key=_revision_of)

    def _describe(self, ctx: StepContext, arn: str) -> Resource | None:
        reply = absent_on(TASK_DEFINITION.not_found, self.ecs(ctx).describe_task_definition,
                          taskDefinition=arn, include=["TAGS"])
        if reply is None or reply["taskDefinition"].get("status") != "ACTIVE":
            return None
        definition = dict(reply["taskDefinition"])
        definition["tags"] = reply.get("tags", [])
        return Resource(definition["taskDefinitionArn"], definition)

    def _latest(self, ctx: StepContext) -> Resource | None:
        """The latest ACTIVE revision; the family, not one revision, is the resource.

        ``DescribeTaskDefinition`` given the family alone answers exactly that
        (API reference, ``taskDefinition``), in one call where listing the
        family's revisions first took two.  The first read of a run is shared
        with the service that runs the revision (:func:`latest_revision`).
        """
        reply = latest_revision(ctx, self.region, self.task_family, self.name)
        if reply is None:
            reply = absent_on(TASK_DEFINITION.not_found, self.ecs(ctx).describe_task_definition,
                              taskDefinition=self.task_family, include=["TAGS"])
        if reply is None or reply["taskDefinition"].get("status") != "ACTIVE":
            return None
        definition = dict(reply["taskDefinition"])
        definition["tags"] = reply.get("tags", [])
        require_owned(self, f"task definition {definition['taskDefinitionArn']}",
                      tag_map(definition["tags"], "key", "value"))
        return Resource(definition["taskDefinitionArn"], definition)

    def lookup(self, ctx: StepContext) -> Resource | None:
        # A recorded revision may have been superseded (by us or a deploy
        # pipeline): always compare against the latest one.
        return self._latest(ctx)

    def _register(self, ctx: StepContext) -> Resource:
        request = self.desired(ctx)
        before = set(self._active_arns(ctx))
        reply = ROLE_PROPAGATION.call(
            f"register {self.task_family}", self.ecs(ctx).register_task_definition,
            **request, tags=ecs_tags(self.tags()))
        definition = dict(reply["taskDefinition"])
        self._deregister_twins(ctx, before, str(definition["taskDefinitionArn"]))
        definition["tags"] = reply.get("tags") or ecs_tags(self.tags())
        log.info("ecs.task_definition.registered", step=self.name,
                 task_definition=definition["taskDefinitionArn"])
        return Resource(definition["taskDefinitionArn"], definition)

    def _deregister_twins(self, ctx: StepContext, before: set[str], new: str) -> None:
        """Deregister revisions our own register call made besides ``new``.

        ``RegisterTaskDefinition`` takes no idempotency token: retried by
        botocore after a lost answer, it registers the same definition twice.
        A revision that appeared during the call and is not the one it
        returned is that twin (the state lock keeps other runs of this tool
        out; a deploy pipeline registering at that very moment would tag it
        otherwise, and only ours are touched).
        """
        for arn in self._active_arns(ctx):
            if arn in before or arn == new:
                continue
            twin = self._describe(ctx, arn)
            if twin is not None and is_owned_by(
                    self, tag_map(twin.data.get("tags"), "key", "value")):
                log.warning("ecs.task_definition.twin_deregistered", step=self.name,
                            kept=new, deregistered=arn,
                            reason="a register retried after a lost answer made two")
                gone_on(TASK_DEFINITION.not_found, self.ecs(ctx).deregister_task_definition,
                        taskDefinition=arn)

    def create(self, ctx: StepContext, token: str) -> Resource:
        return self._register(ctx)

    def diff(self, ctx: StepContext, resource: Resource) -> list[Change]:
        return drift(self, ctx, resource.data, self.FIELDS)

    def update(self, ctx: StepContext, resource: Resource, changes: list[Change]) -> Resource:
        """A new revision for any setting; tags are changed on the current one."""
        converge(self, ctx, resource, changes, self.FIELDS)
        latest = self._latest(ctx)  # the new revision, or the current one re-tagged
        assert latest is not None, "a task definition just written is describable"
        return latest

    def register(self, ctx: StepContext, resource: Resource, changes: list[Change]) -> None:
        self._register(ctx)

    def delete(self, ctx: StepContext, resource: Resource) -> None:
        """Deregister every ACTIVE revision we registered, then delete them."""
        ecs = self.ecs(ctx)
        mine = []
        for arn in self._active_arns(ctx):
            revision = self._describe(ctx, arn)
            if revision is not None and is_owned_by(
                    self, tag_map(revision.data.get("tags"), "key", "value")):
                gone_on(TASK_DEFINITION.not_found, ecs.deregister_task_definition,
                        taskDefinition=arn)
                mine.append(arn)
        # DeleteTaskDefinitions takes at most 10 revisions per call.
        for start in range(0, len(mine), 10):
            reply = ecs.delete_task_definitions(taskDefinitions=mine[start:start + 10])
            for failure in reply.get("failures", []):
                log.warning("ecs.task_definition.not_deleted", step=self.name,
                            task_definition=failure.get("arn"), reason=failure.get("reason"))

    def outputs(self, resource: Resource) -> dict[str, Any]:
        return {"id": resource.id, "task_definition_arn": resource.id,
                "family": self.task_family, "revision": _revision_of(resource.id)}


def revision_drift(ctx: StepContext, config: PlatformConfig, current: Mapping[str, Any],
                   tier: EcsTier | None = None) -> list[Change]:
    """Where a registered revision's settings differ from the config (its tags apart):
    the task definition step's table, which the service also compares its running
    revision with."""
    return drift(TaskDefinitionStep(config, tier=tier), ctx, current,
                 TaskDefinitionStep.SETTINGS)
