"""The product's commands never load the sandbox or moto (issue 8: the sandbox is its own package).

Each command runs in a fresh interpreter that reports, at exit, which of
those modules it imported; ``sandbox --help`` is the control that shows the
report would see them.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
#: Runs the CLI like the console script, then prints the loaded sandbox/moto modules.
PROBE = """
import atexit, json, sys
atexit.register(lambda: print("LOADED=" + json.dumps(sorted(
    m for m in sys.modules if m.split(".")[0] in ("moto", "vivr_sandbox")))))
sys.argv = ["vivr-provision", *sys.argv[1:]]
from vivr_provision.cli import main
main()
"""


def _loaded(*args: str, cwd: Path) -> tuple[int, list[str], str]:
    result = subprocess.run([sys.executable, "-c", PROBE, *args], cwd=cwd, text=True,
                            capture_output=True, timeout=60, check=False,
                            env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO)})
    [line] = [x for x in result.stdout.splitlines() if x.startswith("LOADED=")]
    return result.returncode, json.loads(line.removeprefix("LOADED=")), result.stdout


@pytest.mark.parametrize("args", [
    ("--help",),
    ("status", "--config", str(REPO / "config" / "production.yaml")),
    ("check", "--config", str(REPO / "config" / "production.yaml")),
])
def test_product_commands_import_neither_moto_nor_the_sandbox(
        args: tuple[str, ...], tmp_path: Path) -> None:
    code, loaded, output = _loaded(*args, "--state", str(tmp_path / "none.json"), cwd=tmp_path) \
        if args[0] != "--help" else _loaded(*args, cwd=tmp_path)
    assert code == 0, output
    assert loaded == []


def test_the_sandbox_command_loads_its_package_only_when_it_runs(tmp_path: Path) -> None:
    code, loaded, output = _loaded("sandbox", "--help", cwd=tmp_path)
    assert code == 0, output
    assert "vivr_sandbox.cli" in loaded
    for subcommand in ("start", "stop", "status"):
        assert subcommand in output
    assert "sandbox" in _loaded("--help", cwd=tmp_path)[2], "listed in the top-level help"


def test_no_product_module_imports_moto_or_the_sandbox_at_module_level() -> None:
    """Statically: only the ``sandbox`` command's body may name the sandbox package."""

    offenders = []
    for path in sorted((REPO / "vivr_provision").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            for name in names:
                if name.split(".")[0] in ("moto", "vivr_sandbox"):
                    offenders.append(f"{path.relative_to(REPO)} {name}")
    assert offenders == ["vivr_provision/cli/sandbox.py vivr_sandbox.cli"]
