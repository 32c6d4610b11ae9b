"""``state list|show|rm|migrate`` on hand-written local state files (no AWS anywhere)."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
from pathlib import Path

import pytest

from tests.unit.state_cli import (
    ALB_ARN,
    APPLIED,
    CONFIG,
    LEAKED,
    REPO,
    completions,
    run,
    write_state,
)
from vivr_provision.state import SCHEMA_VERSION, LocalStateStore


@pytest.fixture
def state(tmp_path: Path) -> Path:
    path = tmp_path / "state" / "production.json"
    write_state(path)
    return path


def _load(path: Path) -> dict[str, object]:
    return dict(json.loads(path.read_text()))


# --------------------------------------------------------------------------- list / show


def test_list_names_each_recorded_step_with_status_and_resource(
        state: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    code, out, err = run(monkeypatch, state, "state", "list")
    assert (code, err) == (0, "")
    rows = [line.split() for line in out.splitlines()]
    assert [row[0] for row in rows] == sorted(APPLIED)
    assert ["alb", "ready", ALB_ARN] in rows
    code, out, _ = run(monkeypatch, state, "state", "list", "--output", "json")
    document = json.loads(out)
    assert document["serial"] == 1 and document["state_file"] == str(state)
    assert document["steps"][0] == {"step": "alb", "status": "ready", "resource_id": ALB_ARN,
                                    "origin": "created", "updated_at": "2026-12-06T03:00:00Z"}


def test_list_without_a_state_says_nothing_is_applied(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    code, out, err = run(monkeypatch, tmp_path / "none.json", "state", "list")
    assert (code, out) == (0, "")
    assert err == f"no state at {tmp_path / 'none.json'}: nothing applied yet\n"


def test_show_prints_the_record_with_secret_looking_values_masked(
        state: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    code, out, err = run(monkeypatch, state, "state", "show", "secret.database_credentials")
    assert (code, err) == (0, "")
    assert LEAKED not in out
    lines = out.splitlines()
    assert lines[:4] == ["step        = secret.database_credentials", "status      = ready",
                         "resource_id = " + APPLIED["secret.database_credentials"][0],
                         "origin      = created"]
    assert "  password      = ***redacted***" in lines
    assert "  arn           = " + APPLIED["secret.database_credentials"][0] in lines
    code, out, _ = run(monkeypatch, state, "state", "show", "secret.database_credentials",
                       "--output", "json")
    document = json.loads(out)
    assert LEAKED not in out
    assert document["outputs"]["value"] == "***redacted***"
    assert set(document) == {"step", "status", "resource_id", "origin", "started_at",
                             "updated_at", "error", "observed", "retained", "written",
                             "outputs"}


def test_show_of_an_unknown_step_suggests_the_recorded_one(
        state: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert run(monkeypatch, state, "state", "show", "albb") == (
        2, "", "error: no step 'albb' in the state; did you mean alb?\n")


# --------------------------------------------------------------------------- rm


def test_rm_forgets_the_steps_bumps_the_serial_and_says_aws_is_untouched(
        state: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    code, out, err = run(monkeypatch, state, "state", "rm", "alb", "rds.*", "--yes")
    assert (code, err) == (0, "")
    after = _load(state)
    assert after["serial"] == 2
    assert sorted(after["steps"]) == sorted(  # type: ignore[call-overload]
        set(APPLIED) - {"alb", "rds.vivr-db", "rds.vivr-db-replica-1"})
    assert out.splitlines()[:4] == [
        f"removed from {state} (serial 2):", f"  - alb (ready, {ALB_ARN})",
        "  - rds.vivr-db (ready, vivr-db)", "  - rds.vivr-db-replica-1 (ready, vivr-db-replica-1)"]
    assert "nothing was deleted in AWS" in out and "adopts it" in out
    backup = json.loads(Path(str(state) + ".backup").read_text())
    assert "alb" in backup["steps"], "the state before rm is the backup"


@pytest.mark.parametrize("args, code, message", [
    (("state", "rm", "alb"), 2,
     "error: state rm edits the state: confirm on a terminal or pass --yes\n"),
    (("state", "rm", "alb", "nope", "--yes"), 2,
     "error: no step 'nope' in the state; `vivr-provision state list` lists them\n"),
    (("state", "rm", "sg-rules.*", "--yes"), 2,
     "error: no step 'sg-rules.*' in the state; `vivr-provision state list` lists them\n"),
])
def test_rm_changes_nothing_without_confirmation_or_with_an_unknown_step(
        state: Path, monkeypatch: pytest.MonkeyPatch, args: tuple[str, ...], code: int,
        message: str) -> None:
    before = state.read_bytes()
    assert run(monkeypatch, state, *args) == (code, "", message)
    assert state.read_bytes() == before


def test_rm_without_a_state_touches_nothing(tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    missing = tmp_path / "state" / "production.json"
    assert run(monkeypatch, missing, "state", "rm", "alb", "--yes") == (
        2, "", f"error: no state at {missing}: nothing applied yet; nothing to remove\n")
    assert not missing.parent.exists()


def test_rm_waits_for_no_one_when_the_state_is_locked(
        state: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    before = state.read_bytes()
    with LocalStateStore(state).lock("apply"):
        code, out, err = run(monkeypatch, state, "state", "rm", "alb", "--yes")
    assert (code, out) == (3, "")
    assert err.startswith(f"error: state is locked by PID {os.getpid()}")
    assert state.read_bytes() == before


def _on_terminal(state: Path, answer: bytes, *args: str) -> tuple[int, str]:
    """Run the CLI with a pseudo-terminal as stdin/stdout/stderr, typing ``answer``."""
    controller, terminal = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "vivr_provision", *args, "--config", str(CONFIG),
         "--state", str(state)],
        stdin=terminal, stdout=terminal, stderr=terminal, close_fds=True,
        env={**os.environ, "PYTHONPATH": str(REPO)})
    os.close(terminal)
    os.write(controller, answer)
    seen = b""
    while True:
        try:
            chunk = os.read(controller, 4096)
        except OSError:
            break
        if not chunk:
            break
        seen += chunk
    os.close(controller)
    return process.wait(timeout=60), seen.decode().replace("\r\n", "\n")


@pytest.mark.parametrize("answer, code", [(b"n\n", 1), (b"y\n", 0)])
def test_rm_on_a_terminal_lists_what_goes_and_asks(state: Path, answer: bytes, code: int) -> None:
    before = state.read_bytes()
    exit_code, screen = _on_terminal(state, answer, "state", "rm", "alb")
    assert exit_code == code, screen
    assert f"  - alb (ready, {ALB_ARN})" in screen
    assert "Forget 1 step(s) (resources stay in AWS)? [y/N]" in screen
    if code:
        assert "state rm cancelled; nothing changed" in screen
        assert state.read_bytes() == before
    else:
        assert "alb" not in _load(state)["steps"]  # type: ignore[operator]


# --------------------------------------------------------------------------- migrate


def test_migrate_copies_the_state_as_it_is_and_leaves_the_source(
        state: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    LocalStateStore(state).save(LocalStateStore(state).load("vivr", "production"))  # serial 2
    before = state.read_bytes()
    target = tmp_path / "elsewhere" / "production.json"
    code, out, err = run(monkeypatch, state, "state", "migrate", "--to", str(target))
    assert (code, err) == (0, "")
    assert target.read_bytes() == before, "same serial, lineage, steps: the same file"
    assert state.read_bytes() == before
    lineage = _load(state)["lineage"]
    assert out.splitlines() == [
        f"copied {len(APPLIED)} step(s), serial 2, lineage {lineage}, from {state} to {target}",
        f"{state} is left as it was: use --state {target} from now on"]
    assert oct(target.stat().st_mode & 0o777) == "0o600"


def test_migrate_refuses_an_existing_destination_unless_forced(
        state: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "other.json"
    write_state(target, {"vpc": ("vpc-1", {"id": "vpc-1"})})
    theirs = target.read_bytes()
    code, out, err = run(monkeypatch, state, "state", "migrate", "--to", str(target))
    assert (code, out) == (2, "")
    assert err == f"error: {target} already exists; nothing was written (--force replaces it)\n"
    assert target.read_bytes() == theirs
    code, _, err = run(monkeypatch, state, "state", "migrate", "--to", str(target), "--force")
    assert (code, err) == (0, "")
    assert target.read_bytes() == state.read_bytes()
    assert Path(str(target) + ".backup").read_bytes() == theirs, "the replaced state is kept"


def test_migrate_needs_a_state_and_another_place(
        state: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    none = tmp_path / "none.json"
    assert run(monkeypatch, none, "state", "migrate", "--to", str(tmp_path / "x.json")) == (
        2, "", f"error: no state at {none}: nothing to migrate\n")
    assert not (tmp_path / "x.json").exists()
    assert run(monkeypatch, state, "state", "migrate", "--to", str(state)) == (
        2, "", f"error: --to {state} is the current state; nothing to migrate\n")



def test_global_options_may_come_between_state_and_its_subcommand(
        state: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    code, out, _ = run(monkeypatch, state, "state", "--output", "json", "list")
    assert code == 0 and json.loads(out)["serial"] == 1


def test_migrating_an_older_file_keeps_the_lineage_it_reads_as(
        state: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    document = _load(state)
    del document["lineage"]
    document["schema_version"] = 2
    state.write_text(json.dumps(document))
    lineage = LocalStateStore(state).load("vivr", "production").lineage
    target = tmp_path / "copy.json"
    assert run(monkeypatch, state, "state", "migrate", "--to", str(target))[0] == 0
    copied = _load(target)
    assert (copied["lineage"], copied["serial"]) == (lineage, document["serial"])
    assert copied["schema_version"] == SCHEMA_VERSION


def test_show_and_rm_complete_the_recorded_step_names(state: Path) -> None:
    assert completions(f"vivr-provision state show --state {state} rds.") == [
        "rds.vivr-db", "rds.vivr-db-replica-1"]
    assert completions(f"vivr-provision state rm alb --state {state} se") == [
        "secret.database_credentials"]
