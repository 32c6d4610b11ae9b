"""The CLI's collector policy: what it freezes, and that only a process that asked freezes."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from vivr_provision import gc_policy


@pytest.fixture(autouse=True)
def _fresh_policy(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(gc_policy._Policy, "enabled", False)
    gc.unfreeze()
    yield
    gc.unfreeze()  # hand this test process back its own collector


def test_a_process_that_did_not_ask_keeps_its_collector() -> None:
    gc_policy.long_lived_made()
    assert gc.get_freeze_count() == 0


def test_the_start_and_each_long_lived_build_are_frozen() -> None:
    gc_policy.keep_long_lived_out_of_gc()
    at_start = gc.get_freeze_count()
    assert at_start > 0
    kept = [{"model": [n]} for n in range(1000)]  # what a new client's model would hold
    gc_policy.long_lived_made()
    assert gc.get_freeze_count() >= at_start + len(kept)
