"""Helpers shared by steps of services other than EC2.

Kept tiny on purpose: the shapes AWS uses for tags differ by service
(``Key``/``Value``, ``TagKey``/``TagValue``, ``key``/``value``), "not found"
is an error code that differs by service, and a resource found by its name
must be checked for our ownership tags before we adopt (and later delete) it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any, ClassVar, TypeVar

import jmespath

from vivr_provision import aws_errors
from vivr_provision.aws import error_code
from vivr_provision.steps.base import (
    MANAGED_BY,
    STEP_TAG,
    Change,
    NamedStep,
    Resource,
    Step,
    StepContext,
)
from vivr_provision.steps.drift import NAME_KEY, Field, converge, drift, wrong_tags
from vivr_provision.steps.kinds import Kind
from vivr_provision.tag_batch import batched_tags

T = TypeVar("T")


class ForeignResourceError(Exception):
    """A resource with our name exists but was not created by this tool.

    Adopting it would make a later ``destroy`` delete something we did not
    create, so the step stops and says how to resolve it.
    """


def aws_tags(tags: Mapping[str, str], key: str = "Key",
             value: str = "Value") -> list[dict[str, str]]:
    """Tags in the list-of-pairs shape most APIs take, sorted for stable requests."""
    return [{key: k, value: v} for k, v in sorted(tags.items())]


def tag_map(items: Iterable[Mapping[str, str]] | None, key: str = "Key",
            value: str = "Value") -> dict[str, str]:
    """The inverse of :func:`aws_tags`."""
    return {item[key]: item[value] for item in items or []}


def absent_on(codes: Iterable[str], call: Callable[..., T], *args: Any, **kwargs: Any) -> T | None:
    """``call(...)``, or None when AWS answers with one of the "not found" ``codes``."""
    try:
        return call(*args, **kwargs)
    except aws_errors.ClientError as exc:
        if error_code(exc) in set(codes):
            return None
        raise


def gone_on(codes: Iterable[str], call: Callable[..., Any], *args: Any, **kwargs: Any) -> bool:
    """Run a delete call; True if it deleted, False if the resource was already gone."""
    try:
        call(*args, **kwargs)
    except aws_errors.ClientError as exc:
        if error_code(exc) in set(codes):
            return False
        raise
    return True


def write_tags(client: Any, kind: Kind, resource: str, tags: Mapping[str, str]) -> None:
    """Add or overwrite ``tags`` on ``resource`` in the shape its service takes
    (:attr:`Kind.tags <vivr_provision.steps.kinds.Kind.tags>`)."""
    if kind.tags is None:
        raise TypeError(f"{kind.noun}: no tag API declared")
    getattr(client, kind.tags.write)(**kind.tags.request(resource, tags))


class KindTaggedStep(Step):
    """A step whose tags converge through its kind's tag API (:attr:`Kind.tags`).

    The drift table's :data:`~vivr_provision.steps.drift.TAGS` row calls
    :meth:`converge_tags`; ``tag_target`` names what the tag call takes
    (the resource's ARN by default; a role's name for IAM).
    """

    kind: ClassVar[Kind]

    def tag_target(self, resource: Resource) -> str:
        return resource.id

    def exists_codes(self) -> frozenset[str]:
        return self.kind.already_exists

    def gone_codes(self) -> frozenset[str]:
        return self.kind.not_found

    def converge_tags(self, ctx: StepContext, resource: Resource,
                      changes: list[Change]) -> None:
        if not changes:
            return
        write_tags(ctx.client(self.kind.service, self.region), self.kind,
                   self.tag_target(resource), changes[-1].desired)


def read_tags(client: Any, kind: Kind, target: str) -> dict[str, str]:
    """The tags on ``target`` through the kind's list call (:attr:`TagApi.list_call`)."""
    api = kind.tags
    if api is None or api.list_call is None:
        raise TypeError(f"{kind.noun}: no tag list call declared")
    listed = jmespath.search(api.listed, getattr(client, api.list_call)(**api.list_request(target)))
    if api.key is None:
        return dict(listed or {})
    return tag_map(listed, api.key, api.value)


def step_tags(ctx: StepContext, step: Step, client: Any, kind: Kind, target: str, *,
              arn: str | None = None) -> dict[str, str]:
    """:func:`read_tags` for ``step``'s resource, which its own describe just found:
    on the step's first read of an ARN the region's tag batch answers
    (:mod:`vivr_provision.tag_batch`, one ``GetResources`` for all steps); an ARN
    the batch lacks, or a second read, asks the service.  ``arn``: the resource's
    ARN when the tag call takes something else (a KMS key's id)."""
    batched = batched_tags(ctx, step.name, arn or target, step.tags())
    return batched if batched is not None else read_tags(client, kind, target)


class KindStep(NamedStep, KindTaggedStep):
    """A step whose resource is read by name as its kind declares (:attr:`Kind.read`).

    Describe-by-name, "not found", the ownership check, tags (inline or
    listed), the re-read after a write, and drift from the step's ``FIELDS``
    table are implemented here once; a step module holds only what is
    particular to its resource.  The resource's tags are in
    ``Resource.data["TagMap"]`` (what the table's
    :data:`~vivr_provision.steps.drift.TAGS` row reads).
    """

    #: The managed settings (see :mod:`vivr_provision.steps.drift`).
    FIELDS: ClassVar[tuple[Field, ...]] = ()

    def diff(self, ctx: StepContext, resource: Resource) -> list[Change]:
        return drift(self, ctx, resource.data, self.FIELDS)

    def update(self, ctx: StepContext, resource: Resource, changes: list[Change]) -> Resource:
        converge(self, ctx, resource, changes, self.FIELDS)
        return self.reread(ctx)

    def is_live(self, item: Mapping[str, Any]) -> bool:
        """Whether a described resource still counts (not one being deleted)."""
        return True

    def lookup(self, ctx: StepContext, name: str | None = None) -> Resource | None:
        """The resource named in the config (or ``name``), if ours."""
        read = self.kind.read
        assert read is not None, f"{self.kind.noun}: no read declared"
        return self._read_kind(ctx, read.request(name or self.resource_name()))

    def describe_by_id(self, ctx: StepContext, resource_id: str) -> Resource | None:
        """The resource state recorded, found by its id where the kind can read one
        (:attr:`Read.by_id`): after a rename in the config it is still the old one,
        which the ``NAME`` row reports; else the configured name is read."""
        read = self.kind.read
        assert read is not None, f"{self.kind.noun}: no read declared"
        if read.by_id is None:
            return self.lookup(ctx)
        return self._read_kind(ctx, read.request(resource_id, read.by_id))

    def with_details(self, ctx: StepContext, resource: Resource) -> Resource:
        """Add what the describe call does not carry (attributes read by another call)."""
        return resource

    def batched_item(self, ctx: StepContext, request: dict[str, Any]) -> Mapping[str, Any] | None:
        """The item ``request`` reads, from one list call shared by the kind's steps
        (:mod:`vivr_provision.batch_reads`), or None: read it directly.  A step whose
        kind can be listed by a server-side filter overrides this."""
        return None

    def _read_kind(self, ctx: StepContext, request: dict[str, Any]) -> Resource | None:
        read = self.kind.read
        assert read is not None
        client = ctx.client(self.kind.service, self.region)
        item = self.batched_item(ctx, request)
        if item is None:
            reply = absent_on(self.kind.not_found, getattr(client, read.operation), **request)
            item = jmespath.search(read.item, reply) if reply else None
        if not item or not self.is_live(item):
            return None
        data = dict(item)
        target = str(jmespath.search(read.tag_target, data))
        data["TagMap"] = (tag_map(jmespath.search(read.tags, data)) if read.tags
                          else step_tags(ctx, self, client, self.kind, target))
        data[NAME_KEY] = str(jmespath.search(read.name_field or read.id_field, data))
        require_owned(self, f"{self.kind.noun} {data[NAME_KEY]}", data["TagMap"])
        return self.with_details(ctx, Resource(str(jmespath.search(read.id_field, data)), data))

    def reread(self, ctx: StepContext) -> Resource:
        """The description after a write (a resource we just wrote is describable)."""
        found = self.lookup(ctx)
        assert found is not None, f"{self.kind.noun} {self.resource_name()} is describable"
        return found

    def tag_target(self, resource: Resource) -> str:
        read = self.kind.read
        assert read is not None
        return str(jmespath.search(read.tag_target, resource.data))


def is_owned_by(step: Step, tags: Mapping[str, str]) -> bool:
    """Whether ``tags`` say this step of this project/environment created the resource."""
    mine = step.tags()
    return (tags.get("ManagedBy") == MANAGED_BY
            and tags.get("Project") == mine["Project"]
            and tags.get("Environment") == mine["Environment"]
            and tags.get(STEP_TAG) == mine[STEP_TAG])


def require_owned(step: Step, what: str, tags: Mapping[str, str]) -> None:
    """Refuse to adopt a same-named resource that carries no ownership tags of ours."""
    if not is_owned_by(step, tags):
        raise ForeignResourceError(
            f"{step.name}: {what} already exists but was not created by vivr-provision for "
            f"{step.config.project}/{step.config.environment} (ownership tags missing); "
            "rename it in the config, delete it, or tag it with "
            f"ManagedBy={MANAGED_BY}, Project, Environment and {STEP_TAG}={step.name} to adopt it"
        )


def tag_drift(step: Step, current: Mapping[str, str]) -> list[Change]:
    """A ``tags`` change when any of our tags is missing or different."""
    wrong = wrong_tags(step.tags(), current)
    if not wrong:
        return []
    return [Change("tags", {k: current.get(k) for k in wrong}, wrong)]


def timestamp() -> str:
    """A UTC stamp safe inside AWS identifiers (``20261125t193000z``-style, lowercase)."""
    return datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
