"""The state journal an operator relies on after a crash: a step transition appends only
what changed, a killed run's journal is replayed (and folded in by the next locked
command), a torn last line is ignored, a hole or a garbled line is refused, and no save
can ever lose or be overtaken by journal records."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
from collections.abc import Collection, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

import pytest

import vivr_provision
from vivr_provision.errors import StateCorruptError, StateError
from vivr_provision.state import LocalStateStore, State
from vivr_provision.state.codec import encode

PROJECT = "vivr"
ENV = "production"
REPO_ROOT = Path(vivr_provision.__file__).resolve().parent.parent


def names(*changed: str) -> AbstractContextManager[Collection[str]]:
    """What the engine passes as ``guard``: its lock, yielding the changed records."""
    lock = threading.Lock()

    @contextmanager
    def guard() -> Iterator[Collection[str]]:
        with lock:
            yield set(changed)

    return guard()


def change(state: State, name: str, resource_id: str) -> None:
    record = state.record(name)
    record.status = "ready"
    record.resource_id = resource_id
    record.outputs = {"id": resource_id}


def base(store: LocalStateStore) -> State:
    """A saved state with two records (the snapshot a journal sits on)."""
    state = store.load(PROJECT, ENV)
    change(state, "vpc", "vpc-1")
    change(state, "subnet", "subnet-1")
    store.save(state)
    return state


def lines(store: LocalStateStore) -> list[dict[str, object]]:
    return [json.loads(line) for line in store.journal_path.read_bytes().splitlines()]


def crash_after_appends(state_path: Path, count: int) -> None:
    """A run holding the lock appends ``count`` journal lines and is SIGKILLed before the
    lock is released (so before any compaction)."""
    code = textwrap.dedent(
        """
        import os, signal, sys, threading
        from contextlib import contextmanager
        from pathlib import Path
        from vivr_provision.state import LocalStateStore
        store = LocalStateStore(Path(sys.argv[1]))
        lock = threading.Lock()
        with store.lock("apply"):
            state = store.load("vivr", "production")
            for number in range(int(sys.argv[2])):
                name = f"bucket.{number}"
                record = state.record(name)
                record.status, record.resource_id = "creating", f"b-{number}"
                @contextmanager
                def guard():
                    with lock:
                        yield {name}
                store.save_records(state, guard())
            os.kill(os.getpid(), signal.SIGKILL)
        """)
    result = subprocess.run([sys.executable, "-c", code, str(state_path), str(count)],
                            env={**os.environ, "PYTHONPATH": str(REPO_ROOT)}, check=False)
    assert result.returncode == -signal.SIGKILL


# ------------------------------------------------------------------ appending


def test_a_transition_appends_only_the_changed_records(
        store: LocalStateStore, state_path: Path) -> None:
    state = base(store)
    snapshot = state_path.read_bytes()
    change(state, "vpc", "vpc-2")
    store.save_records(state, names("vpc"))
    change(state, "bucket", "b-1")
    change(state, "subnet", "subnet-2")
    store.save_records(state, names("bucket", "subnet"))

    assert state_path.read_bytes() == snapshot  # the file is not rewritten
    written = lines(store)
    assert [line["serial"] for line in written] == [2, 3]
    assert [sorted(line["steps"]) for line in written] == [["vpc"], ["bucket", "subnet"]]
    assert written[1]["steps"]["subnet"]["resource_id"] == "subnet-2"
    assert "head" not in written[0]
    assert encode(store.load(PROJECT, ENV)) == encode(state)


def test_other_top_level_changes_travel_in_the_line(store: LocalStateStore) -> None:
    state = base(store)
    state.account_id, state.region = "123456789012", "us-east-1"  # what a run binds
    change(state, "vpc", "vpc-2")
    store.save_records(state, names("vpc"))

    assert lines(store)[0]["head"] == {"account_id": "123456789012", "region": "us-east-1"}
    assert store.load(PROJECT, ENV).account_id == "123456789012"


def test_without_a_known_file_the_first_durable_point_is_a_full_save(
        store: LocalStateStore, state_path: Path) -> None:
    state = store.load(PROJECT, ENV)  # no file yet: nothing for a line to sit on
    change(state, "vpc", "vpc-1")
    store.save_records(state, names("vpc"))

    assert not store.journal_path.exists()
    assert state_path.read_bytes() == encode(state)


def test_releasing_the_lock_compacts(store: LocalStateStore, state_path: Path) -> None:
    base(store)
    with store.lock("apply"):
        state = store.load(PROJECT, ENV)
        change(state, "vpc", "vpc-2")
        store.save_records(state, names("vpc"))
        assert store.journal_path.exists()
    assert not store.journal_path.exists()
    assert state_path.read_bytes() == encode(state)
    assert json.loads(store.backup_path.read_bytes())["serial"] == 1  # the file before the run


def test_a_compacted_file_is_byte_for_byte_what_full_saves_write(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import vivr_provision.state.codec as codec_module
    import vivr_provision.state.store as store_module

    monkeypatch.setattr(codec_module, "utc_now", lambda: "2026-12-06T14:00:00Z")
    monkeypatch.setattr(store_module, "utc_now", lambda: "2026-12-06T14:00:00Z")
    journaled, full = (LocalStateStore(tmp_path / name / "s.json") for name in ("j", "f"))
    states = [base(journaled), base(full)]
    states[1].lineage, states[1].created_at = states[0].lineage, states[0].created_at
    full.save(states[1])
    journaled.save(states[0])
    for number in range(5):
        for state in states:
            change(state, f"bucket.{number}", f"b-{number}")
            change(state, "vpc", f"vpc-{number}")
        journaled.save_records(states[0], names(f"bucket.{number}", "vpc"))
        full.save(states[1])
    journaled.compact()

    assert not journaled.journal_path.exists()
    assert journaled.path.read_bytes() == full.path.read_bytes()


def test_a_failed_append_restores_the_serial_and_the_next_point_saves_in_full(
        store: LocalStateStore, state_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import vivr_provision.state.store as store_module

    state = base(store)
    change(state, "vpc", "vpc-2")
    store.save_records(state, names("vpc"))  # creates the journal
    real_write = store_module._write_all

    def half_then_full_disk(fd: int, data: bytes) -> None:
        real_write(fd, data[:10])
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(store_module, "_write_all", half_then_full_disk)
    change(state, "subnet", "subnet-2")
    with pytest.raises(OSError):
        store.save_records(state, names("subnet"))
    assert state.serial == 2
    assert len(lines(store)) == 1  # the torn half was cut off again

    monkeypatch.setattr(store_module, "_write_all", real_write)
    store.save_records(state, names("subnet"))
    assert not store.journal_path.exists()  # a full save superseded the journal
    assert state_path.read_bytes() == encode(state)
    assert store.load(PROJECT, ENV).steps["subnet"].resource_id == "subnet-2"


# ------------------------------------------------------------------ crashes


def test_a_killed_run_is_replayed_by_readers_and_folded_in_by_the_next_locked_load(
        store: LocalStateStore, state_path: Path) -> None:
    base(store)
    snapshot = state_path.read_bytes()
    crash_after_appends(state_path, 3)

    assert state_path.read_bytes() == snapshot  # killed before any compaction
    read = LocalStateStore(state_path).load(PROJECT, ENV)  # `status`: no lock
    assert read.serial == 4
    assert [read.steps[f"bucket.{n}"].resource_id for n in range(3)] == ["b-0", "b-1", "b-2"]
    assert store.journal_path.exists()  # a reader changes nothing

    with store.lock("apply"):
        locked = store.load(PROJECT, ENV)
        assert not store.journal_path.exists()
    assert encode(locked) == encode(read)
    assert state_path.read_bytes() == encode(read)  # same serial: the same state


def test_a_torn_last_line_is_ignored_and_dropped_by_compaction(
        store: LocalStateStore, state_path: Path) -> None:
    base(store)
    crash_after_appends(state_path, 2)
    with store.journal_path.open("ab") as journal:
        journal.write(b'{"serial": 4, "steps": {"bucket.9": {"stat')  # the append never returned

    assert LocalStateStore(state_path).load(PROJECT, ENV).serial == 3
    with store.lock("apply"):
        state = store.load(PROJECT, ENV)
    assert (state.serial, "bucket.9" in state.steps) == (3, False)
    assert not store.journal_path.exists()


@pytest.mark.parametrize("damage, says", [
    (lambda raw: raw.splitlines(keepends=True)[0] + raw.splitlines(keepends=True)[2],
     "serial 4 follows 2: a line is missing"),
    (lambda raw: b"garbage\n" + raw, "line 1 of 4 is unreadable"),
])
def test_a_gap_or_a_garbled_line_before_the_last_is_refused_and_nothing_is_touched(
        store: LocalStateStore, state_path: Path,
        damage: object, says: str) -> None:
    base(store)
    crash_after_appends(state_path, 3)
    raw = store.journal_path.read_bytes()
    assert callable(damage)
    store.journal_path.write_bytes(damage(raw))
    files = {path: path.read_bytes() for path in (state_path, store.journal_path)}

    for locked in (False, True):
        with pytest.raises(StateCorruptError) as caught:
            if locked:
                with store.lock("apply"):
                    store.load(PROJECT, ENV)
            else:
                store.load(PROJECT, ENV)
        message = str(caught.value)
        assert "\n" not in message
        assert says in message and str(store.journal_path) in message
        assert {path: path.read_bytes() for path in files} == files


def test_a_full_save_after_a_crash_keeps_the_journal_records(
        store: LocalStateStore, state_path: Path) -> None:
    base(store)
    crash_after_appends(state_path, 2)
    state = store.load(PROJECT, ENV)  # `state rm` and friends load, change, save
    del state.steps["vpc"]
    store.save(state)

    assert not store.journal_path.exists()
    reread = LocalStateStore(state_path).load(PROJECT, ENV)
    assert (reread.serial, sorted(reread.steps)) == (4, ["bucket.0", "bucket.1", "subnet"])


def test_a_save_older_than_a_journal_it_did_not_write_is_refused(
        store: LocalStateStore, state_path: Path) -> None:
    stale = base(store)  # loaded before the crashed run journalled on top of it
    crash_after_appends(state_path, 2)
    files = {path: path.read_bytes() for path in (state_path, store.journal_path)}

    with pytest.raises(StateError, match="holds changes up to serial 3, newer than this "
                                         "state \\(serial 1\\); nothing was written"):
        LocalStateStore(state_path).save(stale)
    assert {path: path.read_bytes() for path in files} == files


def test_a_journal_without_its_file_is_refused(store: LocalStateStore, state_path: Path) -> None:
    base(store)
    crash_after_appends(state_path, 1)
    state_path.unlink()

    with pytest.raises(StateCorruptError, match="has no state file"):
        store.load(PROJECT, ENV)


def test_a_copy_over_a_crashed_journal_folds_it_into_the_backup(
        store: LocalStateStore, state_path: Path, tmp_path: Path) -> None:
    base(store)
    crash_after_appends(state_path, 2)
    other = LocalStateStore(tmp_path / "other.json")
    copy = other.load(PROJECT, ENV)
    change(copy, "vpc", "vpc-copied")
    other.save(copy)

    store.write_copy(copy, overwrite=True)

    assert not store.journal_path.exists()
    assert encode(store.load(PROJECT, ENV)) == encode(copy)
    assert "bucket.1" in json.loads(store.backup_path.read_bytes())["steps"]


def test_a_failed_compaction_on_release_loses_nothing(
        store: LocalStateStore, state_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    base(store)
    with store.lock("apply"):
        state = store.load(PROJECT, ENV)
        change(state, "vpc", "vpc-2")
        store.save_records(state, names("vpc"))

        def disk_full(*args: object) -> None:
            raise OSError(28, "No space left on device")

        monkeypatch.setattr(store, "_write_snapshot", disk_full)
    monkeypatch.undo()

    assert store.journal_path.exists()  # the command's outcome stands; the journal holds it
    assert encode(LocalStateStore(state_path).load(PROJECT, ENV)) == encode(state)
    with LocalStateStore(state_path).lock("apply"):
        pass  # a lock alone folds nothing: a load does
    later = LocalStateStore(state_path)
    with later.lock("apply"):
        assert encode(later.load(PROJECT, ENV)) == encode(state)
    assert not store.journal_path.exists()
    assert state_path.read_bytes() == encode(state)
