"""How a fix changes moto: add a method moto lacks, or wrap one it has.

Both work on moto's classes in the sandbox server's own process; nothing
here is reachable from the product.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any


def add_missing(owner: type, name: str, function: object) -> None:
    """Add a method moto lacks; never replace one a newer moto may have."""
    if name not in vars(owner):
        setattr(owner, name, function)


def wrap(owner: type, name: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorator: replace ``owner.name`` by ``wrapper(original, self, ...)``."""

    def decorate(wrapper: Callable[..., Any]) -> Callable[..., Any]:
        original = vars(owner)[name]

        @functools.wraps(original)
        def patched(self: Any, *args: Any, **kwargs: Any) -> Any:
            return wrapper(original, self, *args, **kwargs)

        setattr(owner, name, patched)
        return patched

    return decorate

