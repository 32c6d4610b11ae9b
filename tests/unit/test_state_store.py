"""Behaviour of the local state file an operator relies on: it survives crashes, bad
files are reported and left alone, and only one run at a time can hold it."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

import vivr_provision
from vivr_provision.errors import StateCorruptError, StateError, StateLockedError
from vivr_provision.state import SCHEMA_VERSION, LocalStateStore, State, StepRecord, utc_now

PROJECT = "vivr"
ENV = "production"


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _saved_state(store: LocalStateStore) -> State:
    state = store.load(PROJECT, ENV)
    record = state.record("vpc")
    record.status = "ready"
    record.resource_id = "vpc-0123"
    record.outputs = {"vpc_id": "vpc-0123", "cidr": "10.0.0.0/16"}
    record.token = "tok-1"
    record.origin = "created"
    store.save(state)
    return state


def _leftovers(directory: Path) -> list[str]:
    return sorted(name for name in os.listdir(directory) if name.endswith(".tmp"))


# --------------------------------------------------------------------- model


def test_utc_now_is_iso_seconds_with_z() -> None:
    now = utc_now()
    assert len(now) == 20
    assert now.endswith("Z")
    assert now[10] == "T"


def test_record_creates_pending_record_once() -> None:
    state = State(project=PROJECT, environment=ENV, created_at=utc_now(), updated_at=utc_now())
    record = state.record("vpc")
    assert record.status == "pending"
    record.status = "creating"
    assert state.record("vpc") is record
    assert state.steps == {"vpc": record}


def test_record_rejects_invalid_assignment() -> None:
    record = StepRecord()
    with pytest.raises(ValueError, match="status"):
        record.status = "exploded"  # type: ignore[assignment]


# --------------------------------------------------------------------- load / save


def test_missing_file_loads_fresh_state_without_writing(
    store: LocalStateStore, state_path: Path
) -> None:
    assert not store.exists()
    state = store.load(PROJECT, ENV)
    assert (state.project, state.environment, state.serial) == (PROJECT, ENV, 0)
    assert state.schema_version == SCHEMA_VERSION
    assert state.steps == {}
    assert state.created_at == state.updated_at
    assert not state_path.exists()
    assert not state_path.parent.exists()


def test_round_trip(store: LocalStateStore, state_path: Path) -> None:
    saved = _saved_state(store)
    assert store.exists()
    loaded = LocalStateStore(state_path).load(PROJECT, ENV)
    assert loaded == saved
    assert loaded.steps["vpc"].outputs == {"vpc_id": "vpc-0123", "cidr": "10.0.0.0/16"}


def test_file_is_sorted_indented_json(store: LocalStateStore, state_path: Path) -> None:
    _saved_state(store)
    text = state_path.read_text()
    document = json.loads(text)
    assert text == json.dumps(document, indent=2, sort_keys=True) + "\n"


def test_files_are_private(store: LocalStateStore, state_path: Path) -> None:
    old_umask = os.umask(0o000)  # even a permissive umask must not widen the modes
    try:
        _saved_state(store)
        _saved_state(store)
    finally:
        os.umask(old_umask)
    assert _mode(state_path) == 0o600
    assert _mode(store.backup_path) == 0o600
    assert _mode(state_path.parent) == 0o700


def test_serial_increments_and_updated_at_is_set(store: LocalStateStore) -> None:
    state = store.load(PROJECT, ENV)
    state.updated_at = "2000-01-01T00:00:00Z"
    store.save(state)
    assert state.serial == 1
    assert state.updated_at != "2000-01-01T00:00:00Z"
    store.save(state)
    assert state.serial == 2
    assert store.load(PROJECT, ENV).serial == 2


def test_backup_holds_previous_version(store: LocalStateStore, state_path: Path) -> None:
    state = _saved_state(store)
    first = state_path.read_bytes()
    state.record("subnet").status = "creating"
    store.save(state)
    assert store.backup_path.read_bytes() == first
    assert json.loads(store.backup_path.read_bytes())["serial"] == 1
    assert json.loads(state_path.read_bytes())["serial"] == 2


def test_failed_replace_leaves_old_file_and_no_temp_files(
    store: LocalStateStore, state_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    state = _saved_state(store)
    state.record("vpc").status = "deleting"
    store.save(state)
    before = state_path.read_bytes()
    real_replace = os.replace

    def failing_replace(src: str, dst: str | Path) -> None:
        if Path(dst) == state_path:
            raise OSError(28, "No space left on device")
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", failing_replace)
    state.record("vpc").status = "deleted"
    with pytest.raises(OSError, match="No space"):
        store.save(state)
    assert state_path.read_bytes() == before
    assert _leftovers(state_path.parent) == []
    assert state.serial == 2  # restored: a retry writes serial 3, as the failed save meant to
    # The backup was refreshed with the intact current version, never with the failed one.
    assert store.backup_path.read_bytes() == before


def test_failed_write_leaves_old_file_and_no_temp_files(
    store: LocalStateStore, state_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _saved_state(store)
    before = state_path.read_bytes()
    state = store.load(PROJECT, ENV)

    def failing_fsync(fd: int) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(os, "fsync", failing_fsync)
    with pytest.raises(OSError, match="Input/output"):
        store.save(state)
    assert state_path.read_bytes() == before
    assert not store.backup_path.exists()
    assert _leftovers(state_path.parent) == []


def test_unserializable_output_writes_nothing(store: LocalStateStore, state_path: Path) -> None:
    state = store.load(PROJECT, ENV)
    state.record("vpc").outputs = {"client": object()}  # e.g. a boto3 object by mistake
    with pytest.raises(ValueError, match="serialize"):
        store.save(state)
    assert not state_path.exists()
    assert state.serial == 0


# --------------------------------------------------------------------- unreadable files


CORRUPT_CASES = {
    "invalid-json": (b'{\n  "project": "vivr",\n    oops\n}', "invalid JSON at line 3 column 5"),
    "empty": (b"", "empty"),
    "whitespace": (b"  \n", "empty"),
    "not-object": (b"[1, 2]", "expected a JSON object, found an array"),
    "not-utf8": (b'{"project": "\xff"}', "not UTF-8"),
    "model": (
        json.dumps(
            {
                "schema_version": 1,
                "project": PROJECT,
                "environment": ENV,
                "created_at": "x",
                "updated_at": "x",
                "steps": {"vpc": {"status": "exploded"}},
            }
        ).encode(),
        "steps.vpc.status",
    ),
    "unknown-key": (
        json.dumps(
            {"project": PROJECT, "environment": ENV, "created_at": "x", "updated_at": "x", "x": 1}
        ).encode(),
        "x: unknown key",
    ),
}


@pytest.mark.parametrize("case", sorted(CORRUPT_CASES))
def test_corrupt_file_is_reported_and_left_untouched(
    case: str, store: LocalStateStore, state_path: Path
) -> None:
    content, expected = CORRUPT_CASES[case]
    state_path.parent.mkdir()
    state_path.write_bytes(content)
    with pytest.raises(StateCorruptError) as caught:
        store.load(PROJECT, ENV)
    message = str(caught.value)
    assert expected in message
    assert str(state_path) in message
    assert "left untouched" in message
    assert "\n" not in message
    assert caught.value.exit_code == 3
    assert state_path.read_bytes() == content


def test_save_refuses_to_overwrite_corrupt_file(store: LocalStateStore, state_path: Path) -> None:
    state = store.load(PROJECT, ENV)  # fresh: the file did not exist yet
    state_path.parent.mkdir()
    state_path.write_bytes(b"{not json")
    with pytest.raises(StateCorruptError, match="invalid JSON"):
        store.save(state)
    assert state_path.read_bytes() == b"{not json"
    assert not store.backup_path.exists()


def test_corrupt_message_points_at_backup_when_there_is_one(
    store: LocalStateStore, state_path: Path
) -> None:
    state = _saved_state(store)
    store.save(state)
    state_path.write_bytes(b"garbage")
    with pytest.raises(StateCorruptError, match=r"restore it from .*\.backup"):
        store.load(PROJECT, ENV)


def test_newer_schema_is_refused_before_model_validation(
    store: LocalStateStore, state_path: Path
) -> None:
    content = json.dumps(
        {"schema_version": 7, "project": PROJECT, "environment": ENV, "new_field": {"a": 1}}
    ).encode()
    state_path.parent.mkdir()
    state_path.write_bytes(content)
    with pytest.raises(StateCorruptError) as caught:
        store.load(PROJECT, ENV)
    assert str(caught.value) == (
        f"state file {state_path} was written by a newer vivr-provision "
        f"(schema 7, this version reads up to {SCHEMA_VERSION}); "
        "upgrade vivr-provision, the file was left untouched"
    )
    assert state_path.read_bytes() == content


def test_other_environment_is_refused(store: LocalStateStore, state_path: Path) -> None:
    _saved_state(store)
    before = state_path.read_bytes()
    with pytest.raises(StateError) as caught:
        store.load(PROJECT, "staging")
    assert not isinstance(caught.value, StateCorruptError)
    assert "'production'" in str(caught.value)
    assert "'staging'" in str(caught.value)
    staging = State(project=PROJECT, environment="staging", created_at="x", updated_at="x")
    with pytest.raises(StateError, match="staging"):
        store.save(staging)
    assert state_path.read_bytes() == before


def test_unreadable_file_is_state_error(
    store: LocalStateStore, state_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _saved_state(store)

    def denied(self: Path) -> bytes:
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "read_bytes", denied)
    with pytest.raises(StateError, match="Permission denied") as caught:
        store.load(PROJECT, ENV)
    assert str(state_path) in str(caught.value)


# --------------------------------------------------------------------- lock


def test_lock_writes_holder_info_and_removes_it(store: LocalStateStore) -> None:
    with store.lock("apply"):
        info = json.loads(store.lock_info_path.read_text())
        assert info["pid"] == os.getpid()
        assert info["operation"] == "apply"
        assert info["host"]
        assert info["since"].endswith("Z")
        assert _mode(store.lock_info_path) == 0o600
    assert not store.lock_info_path.exists()
    with store.lock("apply again"):  # released, so it can be taken again
        pass


def test_second_store_in_same_process_conflicts(store: LocalStateStore, state_path: Path) -> None:
    _saved_state(store)
    before = state_path.read_bytes()
    with store.lock("apply"):
        with pytest.raises(StateLockedError) as caught, LocalStateStore(state_path).lock("plan"):
            pass
        message = str(caught.value)
        assert f"PID {os.getpid()}" in message
        assert "since" in message
        assert "(apply)" in message
        assert caught.value.exit_code == 3
        with pytest.raises(StateLockedError), store.lock("again"):  # same instance: not reentrant
            pass
        assert store.lock_info_path.exists()  # the failed attempts did not remove the holder's info
    assert state_path.read_bytes() == before
    assert not store.lock_info_path.exists()


def test_lock_released_when_body_raises(store: LocalStateStore) -> None:
    with pytest.raises(RuntimeError), store.lock("apply"):
        raise RuntimeError("boom")
    with store.lock("apply"):
        pass


def test_conflict_without_info_says_another_process(store: LocalStateStore) -> None:
    with store.lock("apply"):
        store.lock_info_path.unlink()
        with pytest.raises(StateLockedError, match="locked by another process"), store.lock("x"):
            pass


def test_lock_never_creates_state_file(store: LocalStateStore, state_path: Path) -> None:
    with store.lock("apply"):
        pass
    assert not state_path.exists()


def test_sigkilled_holder_releases_lock(store: LocalStateStore, state_path: Path) -> None:
    _saved_state(store)
    before = state_path.read_bytes()
    holder_code = textwrap.dedent(
        """
        import sys, time
        from pathlib import Path
        from vivr_provision.state import LocalStateStore
        with LocalStateStore(Path(sys.argv[1])).lock("apply"):
            print("locked", flush=True)
            time.sleep(60)
        """
    )
    repo_root = Path(vivr_provision.__file__).resolve().parent.parent
    env = {**os.environ, "PYTHONPATH": str(repo_root)}
    holder = subprocess.Popen(
        [sys.executable, "-c", holder_code, str(state_path)],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(StateLockedError) as caught, store.lock("plan"):
            pass
        assert f"PID {holder.pid}" in str(caught.value)
        assert "since" in str(caught.value)
        assert state_path.read_bytes() == before
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=10)
        if holder.stdout is not None:
            holder.stdout.close()
    assert holder.returncode == -signal.SIGKILL
    with store.lock("apply"):  # the kernel dropped the dead holder's flock
        info = json.loads(store.lock_info_path.read_text())
        assert info["pid"] == os.getpid()  # the stale info file was replaced
    assert state_path.read_bytes() == before


def test_a_file_older_than_schema_3_reads_with_a_stable_lineage(tmp_path: Path) -> None:
    """Two reads of one legacy file agree on its lineage (a saved plan made from
    it must still apply); the first save keeps that lineage."""
    path = tmp_path / "production.json"
    path.write_text(json.dumps({"schema_version": 2, "project": "vivr",
                                "environment": "production", "serial": 4,
                                "created_at": "2026-01-01T00:00:00Z",
                                "updated_at": "2026-01-01T00:00:00Z", "steps": {}}))
    store = LocalStateStore(path)
    first, second = store.load("vivr", "production"), store.load("vivr", "production")
    assert first.lineage == second.lineage
    store.save(first)
    saved = json.loads(path.read_text())
    assert saved["lineage"] == second.lineage and saved["schema_version"] == SCHEMA_VERSION
    fresh = LocalStateStore(tmp_path / "other.json").load("vivr", "production")
    assert fresh.lineage != first.lineage


# ----------------------------------------------------- save outside the guard


def test_save_holds_the_guard_to_encode_and_not_to_write(
        store: LocalStateStore, monkeypatch: pytest.MonkeyPatch) -> None:
    """The engine passes its lock as ``guard``: workers must not wait on fsyncs."""
    import threading

    import vivr_provision.state.codec as codec_module
    import vivr_provision.state.store as store_module

    state = _saved_state(store)
    guard = threading.Lock()
    seen: dict[str, bool] = {}
    real_encode, real_fsync = codec_module.encode_document, store_module._fsync_directory

    def encode(value: dict[str, Any]) -> bytes:
        seen["encode"] = guard.locked()
        return real_encode(value)

    def fsync(directory: Path) -> None:
        seen["fsync"] = guard.locked()
        real_fsync(directory)

    monkeypatch.setattr(codec_module, "encode_document", encode)
    monkeypatch.setattr(store_module, "_fsync_directory", fsync)
    serial = state.serial
    store.save(state, guard=guard)

    assert seen == {"encode": True, "fsync": False}
    assert store.load(PROJECT, ENV).serial == serial + 1


def test_a_failed_write_restores_the_serial_and_releases_the_guard(
        store: LocalStateStore, monkeypatch: pytest.MonkeyPatch) -> None:
    import threading

    import vivr_provision.state.store as store_module

    state = _saved_state(store)
    serial, guard = state.serial, threading.Lock()

    def full_disk(path: Path, data: bytes) -> str:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(store_module, "_write_temp", full_disk)
    with pytest.raises(OSError):
        store.save(state, guard=guard)
    assert state.serial == serial
    assert not guard.locked()
    assert store.load(PROJECT, ENV).serial == serial
