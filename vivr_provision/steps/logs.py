"""CloudWatch log groups: ``/vivr/<env>/{app,database,cache,alb,cloudfront}``.

Each group gets the spec's retention and is encrypted with the platform key
(the key policy of the ``kms`` step lets CloudWatch Logs use it for exactly
these groups).  ``CreateLogGroup`` has no token; the name is the identity, and
a same-named group without our tags is refused rather than adopted.
"""

from __future__ import annotations

from typing import Any

from vivr_provision.config import PlatformConfig
from vivr_provision.config.app import LogGroupConfig
from vivr_provision.retry import policy, until_found
from vivr_provision.steps.base import Change, Resource, Step, StepContext
from vivr_provision.steps.common import gone_on, require_owned, tag_drift

NOT_FOUND = ("ResourceNotFoundException",)
#: A key just created or a policy just changed can be refused for a short while.
KEY_PROPAGATION = policy({"AccessDeniedException", "InvalidParameterException"},
                         "CloudWatch Logs may not see a new KMS key or key policy yet",
                         deadline_s=120, message=r"kms|key")


class LogGroupStep(Step):
    """One log group with its retention, KMS key and tags."""

    family = "logs"
    service = "logs"

    def __init__(self, config: PlatformConfig, key: str, group: LogGroupConfig) -> None:
        super().__init__(config, key)
        self.group = group

    def resource_name(self) -> str:
        return self.group.name

    def depends_on(self) -> tuple[str, ...]:
        return ("kms",)

    def logs(self, ctx: StepContext) -> Any:
        return ctx.client("logs", self.region)

    def _get(self, ctx: StepContext) -> Resource | None:
        pages = self.logs(ctx).get_paginator("describe_log_groups").paginate(
            logGroupNamePrefix=self.group.name)
        for page in pages:
            for group in page.get("logGroups", []):
                if group["logGroupName"] == self.group.name:
                    arn = str(group["arn"]).removesuffix(":*")
                    tags = self.logs(ctx).list_tags_for_resource(resourceArn=arn).get("tags", {})
                    require_owned(self, f"log group {self.group.name}", tags)
                    return Resource(arn, {**group, "TagMap": tags})
        return None

    def describe_by_id(self, ctx: StepContext, resource_id: str) -> Resource | None:
        return self._get(ctx)

    def find_by_tags(self, ctx: StepContext) -> Resource | None:
        return self._get(ctx)

    def create(self, ctx: StepContext, token: str) -> Resource:
        logs = self.logs(ctx)
        KEY_PROPAGATION.call(f"create {self.group.name}", logs.create_log_group,
                             logGroupName=self.group.name, kmsKeyId=ctx.output("kms", "key_arn"),
                             tags=self.tags())
        logs.put_retention_policy(logGroupName=self.group.name,
                                  retentionInDays=self.group.retention_days)
        return until_found(f"log group {self.group.name}", lambda: self._get(ctx))

    def diff(self, ctx: StepContext, resource: Resource) -> list[Change]:
        data = resource.data
        changes = tag_drift(self, data["TagMap"])
        if data.get("retentionInDays") != self.group.retention_days:
            changes.append(Change("retention_days", data.get("retentionInDays"),
                                  self.group.retention_days))
        key_arn = ctx.output("kms", "key_arn")
        if data.get("kmsKeyId") != key_arn:
            changes.append(Change("kms_key", data.get("kmsKeyId"), key_arn))
        return changes

    def update(self, ctx: StepContext, resource: Resource, changes: list[Change]) -> Resource:
        logs = self.logs(ctx)
        for change in changes:
            if change.field == "retention_days":
                logs.put_retention_policy(logGroupName=self.group.name,
                                          retentionInDays=self.group.retention_days)
            elif change.field == "kms_key":
                KEY_PROPAGATION.call(f"encrypt {self.group.name}", logs.associate_kms_key,
                                     logGroupName=self.group.name, kmsKeyId=change.desired)
            elif change.field == "tags":
                logs.tag_resource(resourceArn=resource.id, tags=change.desired)
        return until_found(f"log group {self.group.name}", lambda: self._get(ctx))

    def delete(self, ctx: StepContext, resource: Resource) -> None:
        gone_on(NOT_FOUND, self.logs(ctx).delete_log_group, logGroupName=self.group.name)

    def outputs(self, resource: Resource) -> dict[str, Any]:
        return {"id": resource.id, "name": self.group.name, "arn": resource.id}


def log_steps(config: PlatformConfig) -> list[Step]:
    return [LogGroupStep(config, key, group) for key, group in config.logs.groups.items()]
