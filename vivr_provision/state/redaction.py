"""What ``state show`` hides: values stored under a name that says "secret".

Steps record no secret values (their ``outputs()`` contract), but a state
file may have been edited by hand or written by a buggy version; a command
that prints a record masks anything whose key looks like a credential, and
whatever value the process was told is secret (:func:`vivr_provision.log.redact`).
"""

from __future__ import annotations

import re
from typing import Any

from vivr_provision.log import REDACTED, redact

#: Keys whose values could be a credential.  Identifiers *of* a secret
#: (``secret_arn``, ``secret_name``, ``token_id``) are names, not values.
SECRET_KEY = re.compile(r"password|passwd|secret|token|credential|private_key|api_key|"
                        r"auth|^value$|secret_string", re.IGNORECASE)
IDENTIFIER_KEY = re.compile(r"(_arn|_id|_name|_names|_arns|^arn|^name|^id)$", re.IGNORECASE)


def is_secret_key(key: str) -> bool:
    """Whether a value stored under ``key`` must not be printed."""
    return bool(SECRET_KEY.search(key)) and not IDENTIFIER_KEY.search(key)


def redact_value(value: Any, key: str = "") -> Any:
    """``value`` with secret-looking entries masked, recursively."""
    if isinstance(value, dict):
        return {k: redact_value(v, str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [redact_value(item, key) for item in value]
    if key and is_secret_key(key) and value is not None and not isinstance(value, bool):
        return REDACTED
    if isinstance(value, str):
        return redact(value)
    return value


__all__ = ["SECRET_KEY", "is_secret_key", "redact_value"]
