"""Shared behaviour of EC2-family steps, driven by per-resource metadata.

EC2 resources all share one shape: a ``Describe*`` call with an id list or
tag filters, a ``*.NotFound`` error code, ``TagSpecifications`` at create and
``CreateTags`` for drift.  The differences are data (:class:`Ec2Kind`), kept
apart from the logic, as Cloud Custodian does with its ``TypeInfo``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from vivr_provision import aws_errors
from vivr_provision.aws import error_code
from vivr_provision.log import get_logger
from vivr_provision.retry import READ_AFTER_CREATE
from vivr_provision.steps.base import STEP_TAG, Change, Resource, Step, StepContext
from vivr_provision.steps.drift import Field, converge, drift, tags_row

log = get_logger("vivr.ec2")


@dataclass(frozen=True)
class Ec2Kind:
    """How to describe, identify and tag one EC2 resource type."""

    describe: str
    result_key: str
    id_field: str
    ids_param: str
    tag_type: str
    not_found: str
    state_field: str | None = None
    dead_states: frozenset[str] = field(default_factory=frozenset)
    #: What a create (or an authorize, attach, associate inside it) answers when
    #: botocore retried it after a lost response and the first attempt had done
    #: the work (EC2 API reference, "Error codes for the Amazon EC2 API").
    already_exists: frozenset[str] = field(default_factory=frozenset)
    #: Not-found codes of the calls inside delete besides :attr:`not_found`
    #: (a detach, revoke or disassociate retried after a lost response).
    inner_not_found: frozenset[str] = field(default_factory=frozenset)
    #: (client method, id parameter) deleting one resource of the kind, for a
    #: create that takes no idempotency token (``CreateVpc``): a retry after a
    #: lost response makes a second one, which :meth:`Ec2Step.reap_twins` removes.
    delete: tuple[str, str] | None = None


def image_id(ctx: StepContext, key: str, parameter: str, region: str) -> str:
    """The AMI behind a public SSM parameter: the one ``plan`` resolved and showed
    (``ctx.catalog``, validated against the instance type), so apply launches
    what was reviewed even if AWS publishes a newer image in between; read
    from SSM only when nothing was resolved (unit tests, a bare ``StepContext``).
    """
    resolved = ctx.catalog.value(key, "")
    if resolved:
        return resolved
    reply = ctx.client("ssm", region).get_parameter(Name=parameter)
    return str(reply["Parameter"]["Value"])


def tag_list(tags: dict[str, str]) -> list[dict[str, str]]:
    return [{"Key": k, "Value": v} for k, v in sorted(tags.items())]


def tag_dict(items: list[dict[str, str]] | None) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in items or []}


class Ec2Step(Step):
    """A step whose resource is an EC2 object described by :attr:`kind`."""

    service = "ec2"
    kind: ClassVar[Ec2Kind]

    def ec2(self, ctx: StepContext) -> Any:
        return ctx.client("ec2", self.region)

    def exists_codes(self) -> frozenset[str]:
        return self.kind.already_exists

    def gone_codes(self) -> frozenset[str]:
        return frozenset({self.kind.not_found}) | self.kind.inner_not_found

    def reap_twins(self, ctx: StepContext, keep: str) -> None:
        """Delete the other resources carrying this step's tags, right after a create.

        For creates without an idempotency token: when botocore retries one
        after a lost response, AWS makes a second resource, tagged like the
        first (``TagSpecifications`` apply at creation).  Nothing else carries
        this step's tags at that moment (the step only creates when its
        lookup found none, under the state lock), so every other one is the
        lost attempt's twin.
        """
        assert self.kind.delete is not None, f"{self.name}: no delete call declared"
        method, id_param = self.kind.delete
        for item in self._live(self._describe(ctx, Filters=self.ownership_filters())):
            twin = str(item[self.kind.id_field])
            if twin != keep:
                log.warning("ec2.twin_deleted", step=self.name, kept=keep, deleted=twin,
                            reason="a create retried after a lost response made a second one")
                getattr(self.ec2(ctx), method)(**{id_param: twin})

    def tag_specifications(self) -> list[dict[str, Any]]:
        return [{"ResourceType": self.kind.tag_type, "Tags": tag_list(self.tags())}]

    def ownership_filters(self) -> list[dict[str, Any]]:
        tags = self.tags()
        keys = ("Project", "Environment", "ManagedBy", STEP_TAG)
        return [{"Name": f"tag:{k}", "Values": [tags[k]]} for k in keys]

    def _live(self, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        state_field = self.kind.state_field
        if state_field is None:
            return items
        return [i for i in items if i.get(state_field) not in self.kind.dead_states]

    def _resource(self, item: dict[str, Any]) -> Resource:
        return Resource(id=item[self.kind.id_field], data=item)

    def describe_by_id(self, ctx: StepContext, resource_id: str) -> Resource | None:
        batched = ctx.reads.take(("ec2", self.region, self.kind.describe), resource_id,
                                 lambda: self._ours(ctx), self.name)
        if batched is not None:
            return self._resource(dict(batched))
        try:
            items = self._describe(ctx, **{self.kind.ids_param: [resource_id]})
        except aws_errors.ClientError as exc:
            if error_code(exc) == self.kind.not_found:
                return None
            raise
        live = self._live(items)
        return self._resource(live[0]) if live else None

    def _ours(self, ctx: StepContext) -> dict[str, dict[str, Any]]:
        """Every live resource of this kind in the region carrying this project's and
        environment's ownership tags (one call for all the kind's steps: batch_reads)."""
        tags = self.tags()
        filters = [{"Name": f"tag:{k}", "Values": [tags[k]]}
                   for k in ("Project", "Environment", "ManagedBy")]
        return {str(item[self.kind.id_field]): item
                for item in self._live(self._describe(ctx, Filters=filters))}

    def find_by_tags(self, ctx: StepContext) -> Resource | None:
        live = self._live(self._describe(ctx, Filters=self.ownership_filters()))
        if len(live) > 1:
            ids = ", ".join(i[self.kind.id_field] for i in live)
            raise RuntimeError(
                f"{self.name}: several resources carry this step's tags ({ids}); "
                "delete the duplicates by hand, then rerun"
            )
        return self._resource(live[0]) if live else None

    def _describe(self, ctx: StepContext, **params: Any) -> list[dict[str, Any]]:
        paginator_able = self.ec2(ctx).can_paginate(self.kind.describe)
        if paginator_able:
            pages = self.ec2(ctx).get_paginator(self.kind.describe).paginate(**params)
            return [item for page in pages for item in page.get(self.kind.result_key, [])]
        result = getattr(self.ec2(ctx), self.kind.describe)(**params)
        return list(result.get(self.kind.result_key, []))

    def refresh(self, ctx: StepContext, resource: Resource) -> Resource:
        """Re-describe after a change, tolerating EC2's read-after-write lag."""

        def _get() -> Resource:
            items = self._describe(ctx, **{self.kind.ids_param: [resource.id]})
            if not items:
                raise RuntimeError(f"{self.name}: {resource.id} vanished")
            return self._resource(items[0])

        return READ_AFTER_CREATE.call(f"describe {resource.id}", _get)

    # -- drift, from the step's table ----------------------------------------
    #: The tags row of every EC2 resource (``Tags`` in its description).
    FIELDS: ClassVar[tuple[Field, ...]] = (tags_row(lambda d: tag_dict(d.get("Tags"))),)

    def observed(self, ctx: StepContext, resource: Resource) -> Mapping[str, Any]:
        """What the table compares: the description, plus what other calls report
        (a VPC's DNS attributes)."""
        return resource.data

    def diff(self, ctx: StepContext, resource: Resource) -> list[Change]:
        return drift(self, ctx, self.observed(ctx, resource), self.FIELDS)

    def update(self, ctx: StepContext, resource: Resource, changes: list[Change]) -> Resource:
        converge(self, ctx, resource, changes, self.FIELDS)
        return self.refresh(ctx, resource)

    def converge_tags(self, ctx: StepContext, resource: Resource,
                      changes: list[Change]) -> None:
        self.ec2(ctx).create_tags(Resources=[resource.id], Tags=tag_list(changes[-1].desired))
