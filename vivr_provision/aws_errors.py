"""botocore's exception classes, imported the first time one is looked up.

Why: importing botocore (and boto3 with it) costs about 0.1 s, yet ``status``,
``graph``, ``cost``, ``check`` and ``--help`` make no AWS call and still
import every step module to build the step graph.  A step module that says
``from botocore.exceptions import ClientError`` would load botocore for all
of them.  Step modules therefore name the classes through this module::

    from vivr_provision import aws_errors

    try:
        client.delete_thing(...)
    except aws_errors.ClientError as exc:
        ...

Python evaluates an ``except`` expression only when an exception reaches
that clause, and by then the call that raised it has loaded botocore; the
module ``__getattr__`` below (PEP 562) resolves the name then, once, and
caches it.  For mypy the ``TYPE_CHECKING`` block declares the same names as
re-exports of botocore's own, so every use is checked as if imported
directly (``tests/unit/test_cli_imports.py`` checks that no product module
imports botocore or boto3 at module level).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from botocore.exceptions import (
        BotoCoreError,
        ClientError,
        EndpointConnectionError,
        NoCredentialsError,
        WaiterError,
    )

#: The botocore exceptions the product catches; any other name is a typo.
__all__ = ["BotoCoreError", "ClientError", "EndpointConnectionError", "NoCredentialsError",
           "WaiterError"]


def __getattr__(name: str) -> Any:
    if name not in __all__:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import botocore.exceptions

    value = getattr(botocore.exceptions, name)
    globals()[name] = value  # later lookups are plain module attributes
    return value
