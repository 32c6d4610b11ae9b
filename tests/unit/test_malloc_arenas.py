"""The malloc arena cap: taken on glibc, a no-op elsewhere, and set before the engine's workers."""

from __future__ import annotations

import platform
import sys

import pytest

from vivr_provision import malloc_arenas


def test_glibc_accepts_the_cap() -> None:
    on_glibc = sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc"
    assert malloc_arenas.limit_malloc_arenas() is on_glibc


def test_other_platforms_are_left_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "platform", "darwin")
    assert malloc_arenas.limit_malloc_arenas() is False
