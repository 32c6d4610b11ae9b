"""Shell completion through click's protocol, as bash's completion function calls it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO


def _complete(words: str, cwd: Path = REPO) -> list[str]:
    """What ``_VIVR_PROVISION_COMPLETE=bash_complete`` offers for the last of ``words``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIVR_", "AWS_"))}
    env.update(PYTHONPATH=str(REPO), _VIVR_PROVISION_COMPLETE="bash_complete",
               COMP_WORDS=words, COMP_CWORD=str(len(words.split()) - (0 if words.endswith(" ")
                                                                       else 1)))
    result = subprocess.run([sys.executable, "-m", "vivr_provision"], cwd=cwd, env=env,
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    return [line.removeprefix("plain,") for line in result.stdout.splitlines() if line]


def test_target_completes_step_names_from_the_projects_config() -> None:
    offered = _complete("vivr-provision apply --target sg-")
    assert "sg-rules.vivr-alb-sg" in offered
    assert all(name.startswith("sg-rules.") for name in offered)
    assert len(offered) == 7, "the rules of the seven groups"
    assert "sg.vivr-db-sg" in _complete("vivr-provision apply --target sg.")


def test_commands_complete() -> None:
    assert _complete("vivr-provision ap") == ["apply"]
    assert {"apply", "plan", "destroy", "status"} <= set(_complete("vivr-provision "))


def test_the_config_typed_so_far_is_the_one_read() -> None:
    offered = _complete("vivr-provision destroy --env staging --target rds")
    assert offered and all(name.startswith("rds") for name in offered)


def test_no_config_means_no_completions_and_no_noise(tmp_path: Path) -> None:
    assert _complete("vivr-provision apply --target sg-", cwd=tmp_path) == []
    assert _complete("vivr-provision plan --config nope.yaml --target sg-") == []
