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
  the one to set.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from vivr_provision.steps.base import Change, Resource, StepContext
from vivr_provision.steps.common import wrong_tags

Compare = Literal["exact", "unordered", "defaulted", "tags", "any_of"]
Effect = Literal["in_place", "maintenance", "replace"]

#: What ``Change.when`` says for a setting AWS applies in the maintenance window.
MAINTENANCE_WINDOW = "in the maintenance window"


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
    changes = []
    for field in fields:
        differs, shown_current, shown_desired = _differs(
            field, field.current(data), field.desired(step, ctx))
        if differs:
            changes.append(Change(field.name, shown_current, shown_desired,
                                  replace=field.effect == "replace",
                                  when=MAINTENANCE_WINDOW if field.effect == "maintenance"
                                  else ""))
    return changes


def converge(step: Any, ctx: StepContext, resource: Resource, changes: Iterable[Change],
             fields: Sequence[Field]) -> None:
    """Call each converging method once, with its changes, in table order."""
    by_name = {c.field: c for c in changes}
    methods: dict[str, list[Change]] = {}
    for field in fields:
        if field.name in by_name and field.apply is not None:
            methods.setdefault(field.apply, []).append(by_name[field.name])
    for method, owned in methods.items():
        getattr(step, method)(ctx, resource, owned)


def tags_row(current: Callable[[Mapping[str, Any]], Any] = lambda d: d["TagMap"]) -> Field:
    """The ownership tags as a row: ``current`` (default ``Resource.data["TagMap"]``)
    against ``step.tags()``, converged by the step's ``converge_tags``
    (:class:`~vivr_provision.steps.common.KindTaggedStep`)."""
    return Field("tags", current, lambda s, ctx: s.tags(), compare="tags",
                 apply="converge_tags")


TAGS = tags_row()

__all__ = ["MAINTENANCE_WINDOW", "TAGS", "Field", "converge", "drift", "tags_row"]
