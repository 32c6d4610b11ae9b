"""Attributes of moto's models that read as AWS's transitional values while a phase lasts.

moto serialises a model by reading its attributes (``DBInstance.status``,
``NatGateway.state``, ``Service.running_count`` ...), and its own logic reads
the same attributes.  :func:`time_attribute` replaces one of them, on the
model class, by a data descriptor that returns what moto stored, unless the
object carries an active phase (:mod:`vivr_sandbox.timing.clock`) that
overrides it.  Writes always go to what moto stores, so when the phase ends
the object reads exactly as moto left it, and objects without a phase (every
object of a plain sandbox) are not affected at all.

An attribute moto already computes through a property (CloudFront's
``ManagedState.status``) keeps that property underneath.
"""

from __future__ import annotations

import inspect
from typing import Any

from vivr_sandbox.timing.clock import active_phase

_MISSING = object()


class TimedAttribute:
    """A data descriptor: the active phase's override, else the stored value."""

    def __init__(self, name: str, inner: Any | None, default: Any = _MISSING) -> None:
        self.name = name
        #: The data descriptor moto defines for the name (a property), if any.
        self.inner = inner
        #: A plain class-level default the instance may not override.
        self.default = default

    def _stored(self, obj: Any, owner: type | None) -> Any:
        if self.inner is not None:
            return self.inner.__get__(obj, owner)
        value = obj.__dict__.get(self.name, self.default)
        if value is _MISSING:
            raise AttributeError(self.name)
        return value

    def __get__(self, obj: Any, owner: type | None = None) -> Any:
        if obj is None:
            return self
        stored = self._stored(obj, owner)
        phase = active_phase(obj)
        if phase is None or self.name not in phase.overrides:
            return stored
        value = phase.overrides[self.name]
        return value(obj, stored) if callable(value) else value

    def __set__(self, obj: Any, value: Any) -> None:
        if self.inner is not None:
            self.inner.__set__(obj, value)
        else:
            obj.__dict__[self.name] = value

    def __delete__(self, obj: Any) -> None:
        obj.__dict__.pop(self.name, None)


def stored(obj: Any, name: str) -> Any:
    """What moto stores for ``name``, whatever phase ``obj`` is in."""
    descriptor = inspect.getattr_static(type(obj), name, None)
    if isinstance(descriptor, TimedAttribute):
        return descriptor._stored(obj, type(obj))
    return getattr(obj, name)


def time_attribute(owner: type, name: str) -> None:
    """Make ``owner.name`` phase-aware (idempotent)."""
    if isinstance(vars(owner).get(name), TimedAttribute):
        return
    inner = inspect.getattr_static(owner, name, None)
    if hasattr(inner, "__get__") and hasattr(inner, "__set__"):
        setattr(owner, name, TimedAttribute(name, inner))
    else:
        setattr(owner, name, TimedAttribute(name, None, _MISSING if inner is None else inner))


__all__ = ["TimedAttribute", "stored", "time_attribute"]
