"""How long a run still has to go: the longest expected path through its unfinished steps.

The live view shows it beside the elapsed time.  The figures are AWS's
typical durations (:mod:`vivr_provision.steps.durations`, the same numbers as
the sandbox's timing profile and the scheduler's waits), so the estimate is
what the run would take on AWS if the graph were the only limit: the bench
(``bench/critical_path.py``) measures apply within about 10 % of that bound
at the default parallelism.  Why a path and not a sum: steps run side by
side, so the run ends when its longest chain of dependent steps ends.

* A step not started costs its operation's typical duration (create on apply;
  nothing for one the state already records as made, whose apply is usually
  reads only; delete on destroy), plus :data:`OWN_CALLS_S` for its own calls.
* A started step costs what is left of the duration its verb predicts (an
  update predicts a modify): never less than nothing, so a late step adds
  nothing and the estimate falls back to the others.
* ``VIVR_TIME_SCALE`` scales AWS's durations (a time-scaled sandbox), not
  the client's own calls.

It is an estimate for a person, never a timeout: waits keep their own budgets.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

from vivr_provision.steps.base import Step
from vivr_provision.steps.durations import Operation

#: Seconds a step's own calls take on AWS (a find, a create, a tag: a few calls of
#: 100-300 ms each), added to every step on a path whatever AWS makes it wait.
OWN_CALLS_S = 1.0
#: What a verb of the live view predicts for a started step.
VERB_OPERATIONS: dict[str, Operation] = {"create": "create", "update": "modify",
                                         "delete": "delete"}

Direction = Literal["apply", "destroy"]


@dataclass(frozen=True)
class RemainingPath:
    """The selected steps of one run, their order and what each is expected to take."""

    #: Step -> the steps of this run that start only after it ends.
    after: Mapping[str, tuple[str, ...]]
    #: Every step, each before all of those it comes after (sinks first).
    order: tuple[str, ...]
    #: Step -> operation -> expected seconds (scaled, own calls not included).
    seconds: Mapping[str, Mapping[Operation, float]]
    #: Step -> the operation it is expected to run when it starts (None: reads only).
    planned: Mapping[str, Operation | None]
    #: The run's clock as a share of AWS's (``VIVR_TIME_SCALE``).
    scale: float = 1.0

    @classmethod
    def of(cls, steps: Mapping[str, Step], edges: Mapping[str, Iterable[str]],
           order: Iterable[str], direction: Direction, *, made: Iterable[str] = (),
           scale: float = 1.0) -> RemainingPath:
        """The run over ``steps`` (only the selected ones); ``edges`` maps a step to
        those it waits for (its dependencies on apply, its dependents on destroy),
        ``order`` is the graph's topological order, ``made`` the steps the state
        records as made."""
        made = set(made)
        after: dict[str, list[str]] = {name: [] for name in steps}
        for name in steps:
            for before in edges.get(name, ()):
                if before in after:
                    after[before].append(name)
        topological = [n for n in order if n in steps]
        sinks_first = tuple(topological if direction == "destroy" else reversed(topological))
        planned: dict[str, Operation | None] = {
            name: ("delete" if name in made else None) if direction == "destroy"
            else (None if name in made else "create") for name in steps}
        operations: tuple[Operation, ...] = ("create", "modify", "delete")
        seconds = {name: {op: step.aws_seconds(op) * scale for op in operations}
                   for name, step in steps.items()}
        return cls({n: tuple(a) for n, a in after.items()}, sinks_first,
                   seconds, planned, scale)

    def remaining(self, finished: set[str], started: Mapping[str, tuple[str, float]]) -> float:
        """Seconds until the last step ends: ``started`` maps a running step to its
        verb (``create``, ``update``, ``delete``; "" when unknown) and the seconds
        since it started."""
        longest: dict[str, float] = {}
        for name in self.order:
            tail = max((longest[n] for n in self.after[name]), default=0.0)
            longest[name] = tail + (0.0 if name in finished else self._own(name, started))
        return max(longest.values(), default=0.0)

    def _own(self, name: str, started: Mapping[str, tuple[str, float]]) -> float:
        if name not in started:
            operation = self.planned[name]
            return OWN_CALLS_S + (self.seconds[name][operation] if operation else 0.0)
        verb, elapsed = started[name]
        operation = VERB_OPERATIONS.get(verb) or self.planned[name]
        expected = OWN_CALLS_S + (self.seconds[name][operation] if operation else 0.0)
        return max(0.0, expected - elapsed)


__all__ = ["OWN_CALLS_S", "RemainingPath"]
