"""Fixtures the unit tests of the local state store share (test_state_store.py,
test_state_journal.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from vivr_provision.state import LocalStateStore


@pytest.fixture
def state_path(tmp_path: Path) -> Path:
    return tmp_path / "state" / "production.json"


@pytest.fixture
def store(state_path: Path) -> LocalStateStore:
    return LocalStateStore(state_path)
