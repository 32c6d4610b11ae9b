"""botocore's data files decoded lean: plain dicts, and service models without their prose.

Why: the clients of a whole-platform apply (about 20 services in two
regions) load some 25 service models, and botocore keeps each decoded
model for the life of the process.  botocore's own file loader decodes
them into ``OrderedDict`` s (an ``object_pairs_hook``, so the decoder calls
back into Python for every JSON object and each mapping costs about twice a
dict's memory), and a third of a model's text is ``documentation``:
HTML prose for every operation, shape, member and error that botocore reads
only to build ``help()`` docstrings (``ClientMethodDocstring``, lazily) and
the API reference.  Dropping both cut the models from ~64 MB to ~27 MB
(tracemalloc) and the decode time by about a third.

What is safe to drop, checked against botocore 1.44's source (``grep -rn
documentation botocore --include=*.py``, outside ``botocore/docs``):
``Shape.documentation``, ``OperationModel.documentation`` and
``ServiceModel.documentation`` are all ``.get('documentation', '')``; the one
indexed read, ``ServiceModel.client_context_parameters``
(``param_val['documentation']``), is under ``clientContextParams``, which is
kept whole.  Plain dicts keep insertion order (members still serialise in the
model's order); botocore never tests for ``OrderedDict``.

Only the decoding differs: :class:`LeanJSONFileLoader` is botocore's
``file_loader`` interface (``exists``, ``load_file``), installed on the
session's own ``Loader``, so search paths, API-version choice, ``sdk-extras``
merging and botocore's per-loader cache stay botocore's.

Each decoded file is also kept in the user's cache directory
(:mod:`vivr_provision.user_cache`) in ``marshal`` form, under a digest of the
file's path, size and modification time, of :data:`FORMAT` and of the
interpreter's marshal version: the next process reads it back in about a
third of the time the gzip, JSON and pruning take (0.125 s for the ~220
files of a whole-platform apply).  ``marshal`` holds exactly JSON's types and
runs no code on load; an entry that does not decode to what JSON would give
(a dict or list) is ignored.  An upgraded botocore is new paths or times,
so new names; old entries age out (:data:`KEEP`).
"""

from __future__ import annotations

import gzip
import json
import marshal
import os
import sys
from collections.abc import Callable
from typing import Any

from vivr_provision import user_cache

#: Keys that carry only prose for people, never anything a request or a parse reads.
DOC_KEYS = ("documentation", "documentationUrl")

#: Bumped when what :func:`strip_documentation` keeps changes: older entries are other names.
FORMAT = 1
#: Entries kept: the data files of some 25 services (model, endpoint rules, paginators,
#: waiters) are about 100; twice that leaves room for a botocore upgrade.
KEEP = 400
#: The cache entries' file names start with this.
FAMILY = "botocore-"

#: The file names botocore tries for a data path, in its order (``loaders._JSON_OPEN_METHODS``).
_SUFFIXES: tuple[tuple[str, Callable[[bytes], bytes]], ...] = (
    (".json", lambda raw: raw),
    (".json.gz", gzip.decompress),
)


def strip_documentation(model: dict[str, Any]) -> dict[str, Any]:
    """Drop :data:`DOC_KEYS` from a ``service-2`` model (service, operations and their
    errors, shapes and their members), in place; anything else is left as it is.

    Written as plain loops over ``dict.pop``: it walks ~100,000 mappings per
    whole-platform apply, where a helper call per mapping doubled its cost."""
    for key in DOC_KEYS:
        model.pop(key, None)
    for operation in _dicts(model.get("operations")):
        operation.pop("documentation", None)
        operation.pop("documentationUrl", None)
        for error in operation.get("errors") or ():
            if isinstance(error, dict):
                error.pop("documentation", None)
    for shape in _dicts(model.get("shapes")):
        shape.pop("documentation", None)
        for member in _dicts(shape.get("members")):
            member.pop("documentation", None)
        for part in ("member", "key", "value"):
            if isinstance(ref := shape.get(part), dict):
                ref.pop("documentation", None)
    return model


def _dicts(mapping: Any) -> list[dict[str, Any]]:
    """The mapping values of ``mapping`` (none when it is not a mapping)."""
    if not isinstance(mapping, dict):
        return []
    return [value for value in mapping.values() if isinstance(value, dict)]


class LeanJSONFileLoader:
    """botocore's ``JSONFileLoader`` interface, decoding to plain dicts; a ``service-2``
    model comes back without its documentation (:func:`strip_documentation`).
    With ``cached``, decoded files are kept in the user's cache (module docstring)."""

    def __init__(self, *, cached: bool = True) -> None:
        self.cached = cached

    def exists(self, file_path: str) -> bool:
        """Whether ``file_path`` plus one of botocore's suffixes is a file."""
        return any(os.path.isfile(file_path + suffix) for suffix, _ in _SUFFIXES)

    def load_file(self, file_path: str) -> Any:
        """The decoded file at ``file_path`` (without suffix), or None when there is none."""
        for suffix, unpack in _SUFFIXES:
            full_path = file_path + suffix
            try:
                found = os.stat(full_path)
            except OSError:
                continue
            name = _entry_name(full_path, found) if self.cached else None
            if name is not None and (data := _cached(name)) is not None:
                return data
            with open(full_path, "rb") as handle:
                data = json.loads(unpack(handle.read()).decode("utf-8"))
            if os.path.basename(file_path) == "service-2" and isinstance(data, dict):
                strip_documentation(data)
            if name is not None:
                user_cache.write(name, marshal.dumps(data), family=FAMILY, keep=KEEP)
            return data
        return None


def _entry_name(full_path: str, found: os.stat_result) -> str:
    """The cache entry of one data file as it is now on disk."""
    return FAMILY + user_cache.digest(FORMAT, marshal.version, sys.version_info[:2], full_path,
                                      found.st_size, found.st_mtime_ns) + ".marshal"


def _cached(name: str) -> Any:
    """The decoded file kept as ``name``, or None (none, unreadable, or not JSON's shape)."""
    stored = user_cache.read(name)
    if stored is None:
        return None
    try:
        data = marshal.loads(stored)
    except (EOFError, ValueError, TypeError):
        return None
    return data if isinstance(data, (dict, list)) else None


def install(session: Any) -> None:
    """Make ``session`` (a botocore session) decode its data files with
    :class:`LeanJSONFileLoader`; call it before the session loads anything."""
    session.get_component("data_loader").file_loader = LeanJSONFileLoader()
