"""The application tier on ECS (spec "Compute Resources"): cluster, task definition,
service and its task auto scaling.

Why it is built this way:

* **Fargate by default, EC2 on request.**  ``ecs.launch_type`` picks the
  spec's Option 2 (Fargate, the default) or Option 1 (container instances in
  an Auto Scaling group, see :mod:`vivr_provision.steps.ecs.ec2`).  Only the
  launch settings differ; the task definition and the service are the same
  steps either way.
* **A task definition revision is immutable.**  The step compares the whole
  desired definition with the latest ACTIVE revision of the family (fields
  AWS adds are ignored, environment and secrets are compared as maps) and
  registers a new revision when they differ.  That is reported as an
  in-place *update*: the family is the resource, a revision is its version.
  Older revisions stay ACTIVE so the deployment circuit breaker can roll
  back to them; destroy deregisters (and deletes) every revision we made.
* **The container finds its data tier in its environment.**  Endpoint
  variables (``ecs.task_definition.container.endpoints``) are read from the
  outputs of the steps that build PgBouncer, RDS, ElastiCache and the
  buckets, so the task definition depends on them and a replaced instance
  or a moved endpoint shows as drift and registers a new revision.
* **Only secrets that have a value are injected.**  ECS cannot start a task
  whose Secrets Manager reference has no ``AWSCURRENT`` version
  (``ResourceInitializationError``), so the service would never become
  stable while a placeholder is empty.  Such a variable is left out (see
  the notes of plan/apply for the command that sets the value); once the
  secret has one, the next plan shows the change and apply registers a
  revision that references it.
* **A config change rolls out through the service.**  The service points at
  the task definition step's ARN; when that changes, ``update_service``
  starts a rolling deployment (min 100 % / max 200 %) and apply waits until
  the service is stable.  ``plan`` already shows the service as *update*,
  because it compares the running revision's content with the config too.
* **Auto scaling owns the task count.**  Once Application Auto Scaling moves
  ``desiredCount``, apply must not fight it: the service only corrects a
  count outside ``[min_capacity, max_capacity]``.
* **No duplicate or replaced services.**  ``CreateService`` takes a
  ``clientToken`` (the engine's deterministic token), but a lookup by name
  always comes first: some implementations replace a same-named service
  instead of honouring the token.
* **Teardown in the order AWS needs.**  Scaling policies before the scalable
  target; the service is scaled to zero and drained (``services_stable``)
  before ``delete_service`` and then waited to ``INACTIVE``; the cluster
  goes last.  A deleted cluster stays listed as ``INACTIVE`` and counts as
  absent.
* **IAM propagation.**  A role created seconds earlier can be refused by
  ECS; register/create/update retry under ``ROLE_PROPAGATION`` (plus, for
  ``CreateService``, the other transient refusals Terraform retries).
"""


from __future__ import annotations

from vivr_provision.config import PlatformConfig
from vivr_provision.steps.base import Step
from vivr_provision.steps.ecs.autoscaling import EcsAutoscalingStep
from vivr_provision.steps.ecs.cluster import EcsClusterStep
from vivr_provision.steps.ecs.common import uses_ec2
from vivr_provision.steps.ecs.ec2 import ecs_ec2_steps
from vivr_provision.steps.ecs.service import EcsServiceStep
from vivr_provision.steps.ecs.task_definition import TaskDefinitionStep


def ecs_steps(config: PlatformConfig) -> list[Step]:
    """Cluster, task definition, service and task auto scaling; the EC2 capacity when chosen."""
    steps: list[Step] = [EcsClusterStep(config), TaskDefinitionStep(config),
                         EcsServiceStep(config), EcsAutoscalingStep(config)]
    if uses_ec2(config):
        steps += ecs_ec2_steps(config)
    return steps


__all__ = ["ecs_steps"]
