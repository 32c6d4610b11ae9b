"""The drift engine: one field table gives plan's changes and apply's grouped calls."""

from __future__ import annotations

from typing import Any

import pytest

from tests.unit.stubbed import StubbedAws, production_config
from vivr_provision.steps.base import Change, Resource, StepContext
from vivr_provision.steps.diffing import Exact
from vivr_provision.steps.drift import MAINTENANCE_WINDOW, UNREPORTED, Field, converge, drift


class _Step:
    """A stand-in step: what the config wants, and a log of the converging calls."""

    def __init__(self, **wanted: Any) -> None:
        self.wanted = wanted
        self.calls: list[tuple[str, list[str]]] = []

    def set_a(self, ctx: StepContext, resource: Resource, changes: list[Change]) -> None:
        self.calls.append(("set_a", [c.field for c in changes]))

    def set_b(self, ctx: StepContext, resource: Resource, changes: list[Change]) -> None:
        self.calls.append(("set_b", [c.field for c in changes]))


def _field(name: str, **options: Any) -> Field:
    return Field(name, lambda d: d.get(name), lambda s, ctx: s.wanted[name], **options)


CASES = [
    ("exact, equal", _field("size"), {"size": 3}, {"size": 3}, None),
    ("exact, differs", _field("size"), {"size": 2}, {"size": 3},
     Change("size", 2, 3)),
    ("unordered lists compare as sets of the same length", _field("ids", compare="unordered"),
     {"ids": ["b", "a"]}, {"ids": ["a", "b"]}, None),
    ("unordered, a member missing", _field("ids", compare="unordered"),
     {"ids": ["a"]}, {"ids": ["a", "b"]}, Change("ids", ["a"], ["a", "b"])),
    ("defaulted: AWS omits the default", _field("interval", compare="defaulted", default=600),
     {}, {"interval": 600}, None),
    ("defaulted: omitted but another value wanted",
     _field("interval", compare="defaulted", default=600), {}, {"interval": 60},
     Change("interval", 600, 60)),
    ("tags: others' tags are left alone", _field("tags", compare="tags"),
     {"tags": {"Name": "x", "team": "theirs"}}, {"tags": {"Name": "x"}}, None),
    ("tags: only ours that differ are listed", _field("tags", compare="tags"),
     {"tags": {"Name": "old", "Project": "vivr"}}, {"tags": {"Name": "x", "Project": "vivr"}},
     Change("tags", {"Name": "old"}, {"Name": "x"})),
    ("any_of: one of the spellings", _field("key", compare="any_of"),
     {"key": "alias/k"}, {"key": ("arn:k", "k-id", "alias/k")}, None),
    ("any_of: none matches, the first is wanted", _field("key", compare="any_of"),
     {"key": "arn:other"}, {"key": ("arn:k", "k-id")}, Change("key", "arn:other", "arn:k")),
    ("replace", _field("engine", effect="replace"), {"engine": "a"}, {"engine": "b"},
     Change("engine", "a", "b", replace=True)),
    ("maintenance window", _field("class", effect="maintenance"), {"class": "s"},
     {"class": "m"}, Change("class", "s", "m", when=MAINTENANCE_WINDOW)),
    ("unreported: nothing to compare against",
     Field("iops", lambda d: d.get("iops", UNREPORTED), lambda s, ctx: 3000), {}, {}, None),
    ("document: keys AWS adds are not drift", _field("doc", compare="document"),
     {"doc": {"cpu": 256, "added": 0}}, {"doc": {"cpu": 256}}, None),
    ("document: one change per differing setting, named by its path",
     _field("doc", compare="document"), {"doc": {"cpu": 256, "env": {"A": "1", "B": "2"}}},
     {"doc": {"cpu": 512, "env": Exact({"A": "1"})}}, [
         Change("doc.cpu", 256, 512), Change("doc.env.B", "2", None)]),
]


@pytest.mark.parametrize(("field", "current", "wanted", "expected"),
                         [pytest.param(*case[1:], id=case[0]) for case in CASES])
def test_one_field(field: Field, current: dict[str, Any], wanted: dict[str, Any],
                   expected: Change | list[Change] | None) -> None:
    with StubbedAws() as aws:  # the comparison calls nothing
        changes = drift(_Step(**wanted), aws.context(production_config()), current, [field])
    assert changes == ([] if expected is None else
                       expected if isinstance(expected, list) else [expected])


def test_changes_come_in_table_order_and_each_method_is_called_once() -> None:
    fields = [_field("a1", apply="set_a"), _field("b", apply="set_b"),
              _field("a2", apply="set_a"), _field("unmanaged")]
    step = _Step(a1=1, b=1, a2=1, unmanaged=1)
    with StubbedAws() as aws:
        ctx = aws.context(production_config())
        changes = drift(step, ctx, {"a1": 0, "b": 0, "a2": 0, "unmanaged": 0}, fields)
        assert [c.field for c in changes] == ["a1", "b", "a2", "unmanaged"]
        converge(step, ctx, Resource("r-1", {}), list(reversed(changes)), fields)
    assert step.calls == [("set_a", ["a1", "a2"]), ("set_b", ["b"])]


def test_a_documents_changes_all_go_to_its_method_once() -> None:
    fields = [_field("doc", compare="document", apply="set_a"), _field("b", apply="set_b")]
    step = _Step(doc={"x": 1, "y": 1}, b=1)
    with StubbedAws() as aws:
        ctx = aws.context(production_config())
        changes = drift(step, ctx, {"doc": {"x": 0, "y": 0}, "b": 0}, fields)
        converge(step, ctx, Resource("r-1", {}), changes, fields)
    assert step.calls == [("set_a", ["doc.x", "doc.y"]), ("set_b", ["b"])]
