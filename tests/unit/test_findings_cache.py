"""parliament's findings are remembered per set of documents: the same documents are
linted again without parliament, a changed one never gets a stale answer."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from vivr_provision.check import findings_cache
from vivr_provision.check.documents import GeneratedPolicy
from vivr_provision.check.lint import lint

TRUST = GeneratedPolicy("role trust", "trust", {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"Service": "ecs-tasks.amazonaws.com"},
                   "Action": "sts:AssumeRole"}]})
READ = GeneratedPolicy("read secrets", "identity", {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "secretsmanager:GetSecretValue",
                   "Resource": "arn:aws:secretsmanager:us-east-1:123456789012:secret:db-AbCdEf"}]})
#: The same policy with a misspelt action: parliament names it.
MISSPELT = GeneratedPolicy("read secrets", "identity", {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "secretsmanager:GetSecretValu",
                   "Resource": "arn:aws:secretsmanager:us-east-1:123456789012:secret:db-AbCdEf"}]})


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("VIVR_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


def _without_parliament(monkeypatch: pytest.MonkeyPatch) -> None:
    """``import parliament`` now fails: whatever lint answers came from the cache."""
    monkeypatch.setitem(sys.modules, "parliament", None)


def test_the_same_documents_are_linted_again_without_parliament(
        cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = lint([TRUST, READ])
    assert [(r.policy, r.issue, r.ok) for r in first] == [("role trust", "MALFORMED", True)]
    assert len(list(cache.glob("lint-*.json"))) == 1
    _without_parliament(monkeypatch)
    assert lint([TRUST, READ]) == first


def test_a_changed_document_is_linted_by_parliament(
        cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    lint([TRUST, READ])
    found = lint([TRUST, MISSPELT])
    assert [(r.policy, r.issue, r.ok) for r in found] == [
        ("role trust", "MALFORMED", True), ("read secrets", "UNKNOWN_ACTION", False)]
    _without_parliament(monkeypatch)
    with pytest.raises(ImportError):
        lint([READ, TRUST])  # another order is another set of documents


def test_a_damaged_entry_or_an_unwritable_cache_only_costs_time(
        cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    expected = lint([TRUST, READ])
    [entry] = cache.glob("lint-*.json")
    entry.write_text('[["half')
    assert lint([TRUST, READ]) == expected
    blocked = tmp_path / "file"
    blocked.write_text("not a directory")
    monkeypatch.setenv("VIVR_CACHE_DIR", str(blocked / "cache"))
    assert lint([TRUST, READ]) == expected


def test_the_cache_keeps_the_newest_entries(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(findings_cache, "KEEP", 2)
    for number in range(4):
        findings_cache.save(f"{number:064x}", [])
        os.utime(cache / f"lint-{number:064x}.json", (number, number))  # written in that order
    assert sorted(p.name for p in cache.glob("lint-*.json")) == [
        f"lint-{2:064x}.json", f"lint-{3:064x}.json"]
