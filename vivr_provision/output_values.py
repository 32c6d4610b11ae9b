"""Resolve the :mod:`vivr_provision.outputs` table against a state: no AWS, no step classes.

Only steps recorded ``ready`` count: a step being created, failed or deleted
has no endpoint an operator should be handed.
"""

from __future__ import annotations

import difflib
import string
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from vivr_provision.outputs import OUTPUTS, OutputSpec

if TYPE_CHECKING:  # the state model loads with the first state read, not for --help
    from vivr_provision.state.model import State

_FORMATTER = string.Formatter()


@dataclass(frozen=True)
class OutputValue:
    """One output with its value, as ``output`` prints it."""

    name: str
    value: Any
    description: str
    step: str

    def as_json(self) -> dict[str, Any]:
        return {"value": self.value, "description": self.description, "step": self.step}


def _members(spec: OutputSpec, state: State) -> Iterator[tuple[str, str]]:
    """(step name, member) of the recorded ready steps the row reads."""
    for step, record in state.steps.items():
        if record.status != "ready":
            continue
        if spec.step.endswith("*"):
            prefix = spec.step[:-1]
            if step.startswith(prefix) and len(step) > len(prefix):
                yield step, step[len(prefix):]
        elif step == spec.step:
            yield step, ""


def _value(key: str, outputs: Mapping[str, Any]) -> Any:
    """The recorded value of ``key``, or the template filled in; None when anything is missing."""
    fields = [name for _, name, _, _ in _FORMATTER.parse(key) if name is not None]
    if not fields:
        return outputs.get(key)
    if any(outputs.get(name) in (None, "") for name in fields):
        return None
    return key.format_map(outputs)


def resolve(state: State, table: Iterable[OutputSpec] = OUTPUTS) -> list[OutputValue]:
    """Every output that has a value in ``state``, in table order, members sorted."""
    values: list[OutputValue] = []
    for spec in table:
        for step, member in sorted(_members(spec, state)):
            outputs = state.steps[step].outputs
            if spec.role is not None and outputs.get("role") != spec.role:
                continue
            value = _value(spec.key, outputs)
            if value is None or value in ([], ""):
                continue
            values.append(OutputValue(spec.name.replace("{member}", member), value,
                                      spec.description, step))
    return values


def unresolved(name: str, table: Iterable[OutputSpec] = OUTPUTS) -> OutputSpec | None:
    """The fixed-name row ``name`` (known output, no value yet), or None if it names none."""
    return next((spec for spec in table if spec.name == name), None)


def suggestions(name: str, known: Iterable[str]) -> list[str]:
    """The closest names, for a "did you mean" after a typo."""
    return difflib.get_close_matches(name, list(known), n=3, cutoff=0.6)


def known_names(values: Iterable[OutputValue], table: Iterable[OutputSpec] = OUTPUTS) -> list[str]:
    """Names a user may mean: those with a value and every fixed name of the table."""
    names = {value.name for value in values}
    names.update(spec.name for spec in table if "{member}" not in spec.name)
    return sorted(names)


def text_value(value: Any, separator: str = ", ") -> str:
    """A value as a person or a script reads it: lists joined, booleans lower case."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return separator.join(text_value(item) for item in value)
    return str(value)


__all__ = ["OutputValue", "known_names", "resolve", "suggestions", "text_value", "unresolved"]
