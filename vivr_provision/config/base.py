"""Shared building blocks of the config model.

Every section derives from :class:`StrictModel`: unknown keys (typos) and
wrong types are rejected instead of being silently ignored or coerced, so a
mistake in YAML never reaches an AWS call.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field


class ConfigProblems(ValueError):
    """Independent problems one cross-field check found, kept apart.

    Raised instead of ``ValueError("; ".join(problems))`` so that the loader
    prints each on its own line (pydantic keeps the exception in the error's
    context) rather than a 1,000-character line, and never splits a message
    that itself contains "; ".
    """

    def __init__(self, problems: Sequence[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = list(problems)


class StrictModel(BaseModel):
    """A frozen model that forbids unknown keys and type coercion."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


def _check_cidr(value: str) -> str:
    try:
        network = ipaddress.IPv4Network(value, strict=True)
    except ValueError as exc:
        raise ValueError(f"{value!r} is not a valid IPv4 CIDR ({exc})") from None
    return str(network)


def _check_region(value: str) -> str:
    if not re.fullmatch(r"[a-z]{2}(-gov)?-[a-z]+-\d", value):
        raise ValueError(f"{value!r} is not an AWS region name (e.g. us-east-1)")
    return value


def _check_name(value: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._/-]{0,254}", value):
        raise ValueError(f"{value!r} is not a valid resource name")
    return value


Cidr = Annotated[str, AfterValidator(_check_cidr)]
Region = Annotated[str, AfterValidator(_check_region)]
Name = Annotated[str, AfterValidator(_check_name)]
Port = Annotated[int, Field(ge=0, le=65535)]
PositiveInt = Annotated[int, Field(gt=0)]
NonNegativeInt = Annotated[int, Field(ge=0)]
Percent = Annotated[float, Field(ge=0, le=100)]


def az_in_region(az: str, region: str) -> bool:
    """True when ``az`` names an availability zone of ``region`` (e.g. us-east-1a)."""
    return re.fullmatch(re.escape(region) + r"[a-z]", az) is not None
