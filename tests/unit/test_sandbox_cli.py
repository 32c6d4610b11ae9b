"""``sandbox start`` while one runs: idempotent on its address, refused on another."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO
from vivr_sandbox.cli import default_pidfile


def _start(pidfile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIVR_", "AWS_"))}
    env["PYTHONPATH"] = str(REPO)
    return subprocess.run(
        [sys.executable, "-m", "vivr_provision", "sandbox", "start", "--pidfile", str(pidfile),
         *args], cwd=pidfile.parent, env=env, capture_output=True, text=True, timeout=60,
        check=False)


def _running(tmp_path: Path) -> Path:
    """A pidfile naming a live process (this one) serving port 4566."""
    pidfile = tmp_path / "sandbox.json"
    pidfile.write_text(json.dumps({"pid": os.getpid(), "url": "http://127.0.0.1:4566"}))
    return pidfile


def test_starting_again_on_the_same_port_says_where_it_runs_and_succeeds(
        tmp_path: Path) -> None:
    result = _start(_running(tmp_path), "--port", "4566")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == (
        f"sandbox already running at http://127.0.0.1:4566 (PID {os.getpid()})")


def test_starting_on_another_port_names_the_running_one_and_fails(tmp_path: Path) -> None:
    pidfile = _running(tmp_path)
    before = pidfile.read_text()
    result = _start(pidfile, "--port", "4577")
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.strip() == (
        f"error: a sandbox already runs at http://127.0.0.1:4566 (PID {os.getpid()}, "
        f"{pidfile}), not at http://127.0.0.1:4577; use that URL, or stop it first "
        "(vivr-provision sandbox stop) or give another --pidfile")
    assert pidfile.read_text() == before


def test_the_default_pidfile_belongs_to_the_project(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("VIVR_ENV", raising=False)
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "production.yaml").write_text("{}")
    (tmp_path / "docs").mkdir()
    monkeypatch.chdir(tmp_path / "docs")
    assert default_pidfile() == tmp_path / "state" / "sandbox.json"
    monkeypatch.chdir(tmp_path.parent)
    assert default_pidfile() == Path("state") / "sandbox.json"


def test_a_time_scale_without_a_profile_is_refused(tmp_path: Path) -> None:
    result = _start(tmp_path / "sandbox.json", "--time-scale", "0.01")
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr.strip() == (
        "error: --time-scale needs --timing PROFILE (e.g. profiles/aws.yaml)")


def test_a_wrong_profile_is_refused_before_anything_starts(tmp_path: Path) -> None:
    profile = tmp_path / "slow.yaml"
    profile.write_text("description: x\nkinds:\n  nat_gateway:\n"
                       "    create: {minutes: 2, source: VPC guide, typo: 1}\n")
    result = _start(tmp_path / "sandbox.json", "--timing", str(profile))
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr.strip() == (
        f"error: {profile}: kinds.nat_gateway.create.typo: Extra inputs are not permitted")
    assert not (tmp_path / "sandbox.json").exists()


def test_starting_with_another_pace_than_the_running_one_is_refused(tmp_path: Path) -> None:
    profile = REPO / "profiles" / "aws.yaml"
    result = _start(_running(tmp_path), "--port", "4566", "--timing", str(profile),
                    "--time-scale", "0.5")
    assert result.returncode == 2
    assert result.stderr.strip() == (
        f"error: the sandbox at http://127.0.0.1:4566 (PID {os.getpid()}) runs without "
        f"timing, not with timing {profile} x 0.5; stop it first (vivr-provision sandbox stop)")
