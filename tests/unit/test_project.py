"""The config and state found from any directory of the project, like git finds .git."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO
from vivr_provision.errors import ConfigError
from vivr_provision.settings import CommandOptions


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project with a production config, entered from two directories below its root."""
    monkeypatch.delenv("VIVR_CONFIG", raising=False)
    monkeypatch.delenv("VIVR_ENV", raising=False)
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "production.yaml").write_text("{}")
    deep = tmp_path / "docs" / "notes"
    deep.mkdir(parents=True)
    monkeypatch.chdir(deep)
    return tmp_path


def test_from_a_subdirectory_config_and_state_are_the_project_roots(project: Path) -> None:
    options = CommandOptions()
    assert options.config_file == project / "config" / "production.yaml"
    assert options.state_file == str(project / "state" / "production.json")


def test_at_the_root_the_paths_stay_short(project: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(project)
    options = CommandOptions()
    assert options.config_file == Path("config/production.yaml")
    assert options.state_file == "state/production.json"


def test_the_flags_win_then_the_environment_variable(project: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VIVR_CONFIG", "/elsewhere/vivr.yaml")
    assert CommandOptions().config_file == Path("/elsewhere/vivr.yaml")
    explicit = CommandOptions(config_path=Path("mine.yaml"), state_path="s3://bucket/key")
    assert explicit.config_file == Path("mine.yaml")
    assert explicit.state_file == "s3://bucket/key"
    assert CommandOptions(config_path=Path("mine.yaml")).state_file == str(
        project / "state" / "production.json"), "state stays with the project"


def test_each_environment_finds_its_own_file(project: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        _ = CommandOptions(env="staging").config_file
    message = str(caught.value)
    assert message.startswith("no config/staging.yaml in ")
    assert str(Path.cwd()) in message and "--config" in message and "\n" not in message


def _cli(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIVR_", "AWS_"))}
    env["PYTHONPATH"] = str(REPO)
    return subprocess.run([sys.executable, "-m", "vivr_provision", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=60, check=False)


def test_the_cli_runs_from_a_subdirectory_and_says_where_it_looked_outside(
        tmp_path: Path) -> None:
    inside = _cli(REPO / "docs", "graph", "--format", "json")
    assert inside.returncode == 0, inside.stderr
    assert '"step": "vpc"' in inside.stdout
    outside = _cli(tmp_path, "graph")
    assert outside.returncode == 2
    assert outside.stderr.strip() == (
        f"error: no config/production.yaml in {tmp_path} or any parent directory; run inside "
        "the project or pass --config PATH (or set VIVR_CONFIG)")
