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
"""

from __future__ import annotations

import gzip
import json
import os
from collections.abc import Callable
from typing import Any

#: Keys that carry only prose for people, never anything a request or a parse reads.
DOC_KEYS = ("documentation", "documentationUrl")

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
    model comes back without its documentation (:func:`strip_documentation`)."""

    def exists(self, file_path: str) -> bool:
        """Whether ``file_path`` plus one of botocore's suffixes is a file."""
        return any(os.path.isfile(file_path + suffix) for suffix, _ in _SUFFIXES)

    def load_file(self, file_path: str) -> Any:
        """The decoded file at ``file_path`` (without suffix), or None when there is none."""
        for suffix, unpack in _SUFFIXES:
            full_path = file_path + suffix
            if not os.path.isfile(full_path):
                continue
            with open(full_path, "rb") as handle:
                data = json.loads(unpack(handle.read()).decode("utf-8"))
            if os.path.basename(file_path) == "service-2" and isinstance(data, dict):
                strip_documentation(data)
            return data
        return None


def install(session: Any) -> None:
    """Make ``session`` (a botocore session) decode its data files with
    :class:`LeanJSONFileLoader`; call it before the session loads anything."""
    session.get_component("data_loader").file_loader = LeanJSONFileLoader()
