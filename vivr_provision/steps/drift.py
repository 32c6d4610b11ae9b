"""One drift engine: a step's managed settings as a table, compared and converged the same way.

A step declares each setting it manages as a :class:`Field`: where the
value lives in AWS's description, what the config wants, how the two are
compared, what a difference means (changed in place, at the maintenance
window, or only by replacing the resource) and which of the step's methods
converges it.  :func:`drift` turns the table into the ``Change`` list
``plan`` shows; :func:`converge` calls each converging method once with the
changes it owns, in table order.  No step then writes ``if change.field ==
...`` chains or compares dicts by hand.

Comparisons:

* ``exact``: equal values;
* ``unordered``: equal as sorted lists (security group ids, subnet ids);
* ``defaulted``: AWS omits the value when it is the service default
  (``Field.default``), which then stands for it;
* ``tags``: our ownership tags are present with our values; tags others
  added are left alone (the change lists only ours that differ);
* ``any_of``: the config's value may appear in several spellings (a KMS
  key as its ARN, id or alias); ``desired`` gives them all, the first is
  the one to set;
* ``document``: a nested document (a container definition, a cache
  behaviour) compared as :func:`~vivr_provision.steps.diffing.differences`
  does (dicts as projections, :class:`~vivr_provision.steps.diffing.Exact`
  maps both ways); each differing setting is its own change, named
  ``<field>.<path>``, and all of them go to the field's method.

A row whose ``current`` returns :data:`UNREPORTED` is skipped: the
description does not carry that setting (an endpoint that omits it), so
there is nothing to compare against.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

from vivr_provision.steps.base import Change, Resource, StepContext
from vivr_provision.steps.diffing import changes_from, differences

Compare = Literal["exact", "unordered", "defaulted", "tags", "any_of", "document"]
Effect = Literal["in_place", "maintenance", "replace"]

#: Where :class:`~vivr_provision.steps.common.KindStep` puts the resource's name in
#: ``Resource.data`` (the :data:`NAME` row).
NAME_KEY = "KindName"

#: What ``Change.when`` says for a setting AWS applies in the maintenance window.
MAINTENANCE_WINDOW = "in the maintenance window"


class _Unreported:
    """The type of :data:`UNREPORTED`."""

    def __repr__(self) -> str:
        return "UNREPORTED"


#: What a row's ``current`` returns when the description does not carry the setting.
UNREPORTED: Any = _Unreported()


@dataclass(frozen=True)
class Field:
    """One managed setting of a resource."""

    name: str
    #: Where the current value lives in the step's description (``Resource.data``).
    current: Callable[[Mapping[str, Any]], Any]
    #: What the config wants; called with the step and the context.
    desired: Callable[[Any, StepContext], Any]
    compare: Compare = "exact"
    #: AWS's value when the description omits it (``compare="defaulted"``).
    default: Any = None
    effect: Effect = "in_place"
    #: Name of the step method that converges it: ``method(ctx, resource, changes)``.
    #: Fields naming the same method are converged by one call.
    apply: str | None = None


def wrong_tags(desired: Mapping[str, str], current: Mapping[str, str]) -> dict[str, str]:
    """Our tags that are missing or different on the resource (others' tags are left alone)."""
    return {k: v for k, v in desired.items() if current.get(k) != v}


def _differs(field: Field, current: Any, desired: Any) -> tuple[bool, Any, Any]:
    """(differs, current as shown, desired as shown)."""
    if field.compare == "tags":
        have = dict(current or {})
        wrong = wrong_tags(desired, have)
        return bool(wrong), {k: have.get(k) for k in wrong}, wrong
    if field.compare == "any_of":
        spellings = tuple(desired)
        return current not in spellings, current, spellings[0]
    if field.compare == "unordered":
        return sorted(current or []) != sorted(desired or []), current, desired
    if field.compare == "defaulted" and current is None:
        current = field.default
    return current != desired, current, desired


def drift(step: Any, ctx: StepContext, data: Mapping[str, Any],
          fields: Sequence[Field]) -> list[Change]:
    """The changes between ``data`` (AWS's description) and the config, in table order."""
    changes: list[Change] = []
    for field in fields:
        current = field.current(data)
        if current is UNREPORTED:
            continue
        if field.compare == "document":
            changes += [replace(c, replace=field.effect == "replace", when=_when(field))
                        for c in changes_from(differences(current, field.desired(step, ctx)),
                                              prefix=f"{field.name}.")]
            continue
        differs, shown_current, shown_desired = _differs(field, current, field.desired(step, ctx))
        if differs:
            changes.append(Change(field.name, shown_current, shown_desired,
                                  replace=field.effect == "replace", when=_when(field)))
    return changes


def _when(field: Field) -> str:
    return MAINTENANCE_WINDOW if field.effect == "maintenance" else ""


def _owner(fields: Sequence[Field], change: Change) -> Field | None:
    """The row a change came from (a ``document`` row owns ``<name>.<path>``)."""
    for field in fields:
        if change.field == field.name or (
                field.compare == "document" and change.field.startswith(f"{field.name}.")):
            return field
    return None


def converge(step: Any, ctx: StepContext, resource: Resource, changes: Iterable[Change],
             fields: Sequence[Field]) -> None:
    """Call each converging method once, with its changes, in table order."""
    order = {field.name: index for index, field in enumerate(fields)}
    owned_by: list[tuple[int, Field, Change]] = []
    for change in changes:
        field = _owner(fields, change)
        if field is not None and field.apply is not None:
            owned_by.append((order[field.name], field, change))
    methods: dict[str, list[Change]] = {}
    for _, field, change in sorted(owned_by, key=lambda item: item[0]):
        assert field.apply is not None
        methods.setdefault(field.apply, []).append(change)
    for method, owned in methods.items():
        getattr(step, method)(ctx, resource, owned)


def tags_row(current: Callable[[Mapping[str, Any]], Any] = lambda d: d["TagMap"]) -> Field:
    """The ownership tags as a row: ``current`` (default ``Resource.data["TagMap"]``)
    against ``step.tags()``, converged by the step's ``converge_tags``
    (:class:`~vivr_provision.steps.common.KindTaggedStep`)."""
    return Field("tags", current, lambda s, ctx: s.tags(), compare="tags",
                 apply="converge_tags")


TAGS = tags_row()

#: The resource's name (a :class:`~vivr_provision.steps.common.KindStep`'s): AWS
#: renames none of these, so a name changed in the config is a new resource.
#: ``describe_by_id`` reads the one state recorded, so the old one is compared
#: and this row reports the rename as a replacement (apply stops and says so)
#: instead of creating a second one and leaving the old behind.
NAME = Field("name", lambda d: d.get(NAME_KEY, UNREPORTED),
             lambda s, ctx: s.resource_name(), effect="replace")

__all__ = ["MAINTENANCE_WINDOW", "NAME", "NAME_KEY", "TAGS", "UNREPORTED", "Field", "converge",
           "drift", "tags_row", "wrong_tags"]
