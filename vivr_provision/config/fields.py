"""Which keys the config model accepts at a given path, for "did you mean" hints.

pydantic says only "Extra inputs are not permitted" for a typo; to suggest
the key that was meant we walk the model's type annotations along the
error's location (fields, list items, dict values, union members) down to
the model that refused the key, and compare with its field names.
"""

from __future__ import annotations

import difflib
import types
from collections.abc import Mapping, Sequence
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel

_SEQUENCES = (list, tuple, set, frozenset, Sequence)
_MAPPINGS = (dict, Mapping)


def _is_model(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, BaseModel)


def _unwrap(tp: Any) -> Any:
    """Strip ``Annotated`` and a lone ``| None``."""
    while True:
        origin = get_origin(tp)
        if origin is Annotated:
            tp = get_args(tp)[0]
        elif origin in (Union, types.UnionType):
            members = [a for a in get_args(tp) if a is not type(None)]
            if len(members) != 1:
                return tp
            tp = members[0]
        else:
            return tp


def _tags(model: type[BaseModel]) -> set[object]:
    """The literal values of a model's fields: how a discriminated union names its member."""
    values: set[object] = set()
    for info in model.model_fields.values():
        annotation = _unwrap(info.annotation)
        if get_origin(annotation) is Literal:
            values.update(get_args(annotation))
    return values


def _descend(tp: Any, item: int | str) -> Any:
    """The type found at ``item`` inside ``tp``, or None when the path leaves the model."""
    tp = _unwrap(tp)
    origin = get_origin(tp)
    if origin in (Union, types.UnionType):
        members = [_unwrap(a) for a in get_args(tp) if a is not type(None)]
        for member in members:  # pydantic names the member it tried (tag or class)
            if _is_model(member) and (item == member.__name__ or item in _tags(member)):
                return member
        return next((found for m in members if (found := _descend(m, item)) is not None), None)
    if _is_model(tp):
        info = tp.model_fields.get(str(item))
        return info.annotation if info is not None else None
    args = get_args(tp)
    if isinstance(item, int) and origin in _SEQUENCES and args:
        return args[0]
    if origin in _MAPPINGS and len(args) == 2:  # key and value types
        return args[1]
    return None


def field_names_at(model: type[BaseModel], loc: Sequence[int | str]) -> list[str]:
    """The field names of the model at ``loc`` below ``model``; [] when there is none."""
    tp: Any = model
    for item in loc:
        tp = _descend(tp, item)
        if tp is None:
            return []
    tp = _unwrap(tp)
    return list(tp.model_fields) if _is_model(tp) else []


def close_names(key: str, names: Sequence[str], limit: int = 2) -> list[str]:
    """The names ``key`` most resembles (difflib), best first."""
    return difflib.get_close_matches(key, names, n=limit, cutoff=0.6)
