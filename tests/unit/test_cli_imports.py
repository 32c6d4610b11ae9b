"""What the product's commands import: never the sandbox or moto (issue 8), and,
for the commands that make no AWS call, not the AWS SDK either (issue 10: they
must start fast; ``bench/startup.py`` measures how fast).

Each command runs in a fresh interpreter that reports, at exit, which of the
watched packages it imported; ``sandbox --help`` and ``status --refresh`` are
the controls that show the report would see them.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

from vivr_provision.config import load_config
from vivr_provision.plan import Plan
from vivr_provision.state import State, StepRecord
from vivr_provision.state.codec import encode
from vivr_provision.steps import build_steps

REPO = Path(__file__).resolve().parents[2]
CONFIG = REPO / "config" / "production.yaml"
WATCHED = ("boto3", "botocore", "moto", "vivr_sandbox")
ALB_DNS = "vivr-alb-1234567890.us-east-1.elb.amazonaws.com"
#: Runs the CLI like the console script, then prints the watched packages it loaded.
PROBE = f"""
import atexit, json, sys
atexit.register(lambda: print("LOADED=" + json.dumps(sorted(
    {{m.split(".")[0] for m in sys.modules}} & set({list(WATCHED)!r})))))
sys.argv = ["vivr-provision", *sys.argv[1:]]
from vivr_provision.cli import main
main()
"""
#: Commands that make no AWS call (arguments after the global ``--config``/``--state``,
#: ``{plan}`` standing for a saved plan, and a text their output shows): they must
#: import neither the AWS SDK nor the sandbox.  One line per command.
NO_AWS_COMMANDS = [
    pytest.param(("--help",), "Usage: vivr-provision", id="--help"),
    pytest.param(("status",), "id-rds.vivr-db", id="status"),
    pytest.param(("status", "--output", "json"), '"resource_id": "id-vpc"', id="status-json"),
    pytest.param(("graph",), "subnet.public-1a  <- vpc", id="graph"),
    pytest.param(("cost",), "358.09", id="cost"),
    pytest.param(("check",), "policy lint (parliament)", id="check"),
    pytest.param(("output",), ALB_DNS, id="output"),
    pytest.param(("output", "alb_dns_name"), ALB_DNS, id="output-name"),
    pytest.param(("state", "list"), "id-rds.vivr-db", id="state-list"),
    pytest.param(("state", "show", "vpc"), "id-vpc", id="state-show"),
    pytest.param(("show", "{plan}"), "No changes.", id="show"),
    pytest.param(("dr", "--help"), "Which side serves", id="dr-help"),
    pytest.param(("dr", "promote", "--help"), "the RTO/RPO budgets", id="dr-promote-help"),
]


def _loaded(*args: str, cwd: Path) -> tuple[int, list[str], str]:
    result = subprocess.run([sys.executable, "-c", PROBE, *args], cwd=cwd, text=True,
                            capture_output=True, timeout=60, check=False,
                            env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO)})
    [line] = [x for x in result.stdout.splitlines() if x.startswith("LOADED=")]
    loaded = json.loads(line.removeprefix("LOADED="))
    return result.returncode, loaded, result.stdout + result.stderr


@pytest.fixture(scope="module")
def applied_state(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A state file as a completed apply leaves it: every step ready, with an id
    (and the load balancer's DNS name for ``output``)."""
    steps = build_steps(load_config(CONFIG, "production"))
    state = State(project="vivr", environment="production", account_id="123456789012",
                  region="us-east-1", serial=1, created_at="2026-12-01T00:00:00Z",
                  updated_at="2026-12-01T00:00:00Z")
    for step in steps:
        state.steps[step.name] = StepRecord(status="ready", resource_id=f"id-{step.name}")
    state.steps["alb"].outputs = {"dns_name": ALB_DNS}
    path = tmp_path_factory.mktemp("state") / "production.json"
    path.write_bytes(encode(state))
    return path


@pytest.fixture(scope="module")
def saved_plan(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A plan as ``plan --out`` saves it, with nothing to change."""
    path = tmp_path_factory.mktemp("plan") / "no-changes.json"
    Plan(kind="apply", project="vivr", environment="production", region="us-east-1",
         account_id="123456789012", created_at="2026-12-01T00:00:00Z", state_serial=1,
         state_lineage="vivr/production/2026-12-01T00:00:00Z", config_digest="0" * 64,
         steps=[]).save(path)
    return path


@pytest.mark.parametrize(("command", "shows"), NO_AWS_COMMANDS)
def test_commands_without_aws_calls_import_neither_the_sdk_nor_the_sandbox(
        command: tuple[str, ...], shows: str, applied_state: Path, saved_plan: Path,
        tmp_path: Path) -> None:
    args = [arg.format(plan=saved_plan) for arg in command]
    code, loaded, output = _loaded("--config", str(CONFIG), "--state", str(applied_state),
                                   *args, cwd=tmp_path)
    assert code == 0, output
    assert shows in output, "the command did its work"
    assert loaded == [], f"{' '.join(command)} imported {loaded}"


def test_a_command_that_calls_aws_loads_the_sdk(applied_state: Path, tmp_path: Path) -> None:
    """The control: ``status --refresh`` reaches for AWS, and the probe sees botocore."""
    code, loaded, output = _loaded("status", "--refresh", "--config", str(CONFIG), "--state",
                                   str(applied_state), "--endpoint-url", "http://127.0.0.1:9",
                                   cwd=tmp_path)
    assert code == 1, output
    assert "cannot reach the AWS endpoint http://127.0.0.1:9" in output
    assert {"boto3", "botocore"} <= set(loaded)
    assert "moto" not in loaded


def test_the_sandbox_command_loads_its_package_only_when_it_runs(tmp_path: Path) -> None:
    code, loaded, output = _loaded("sandbox", "--help", cwd=tmp_path)
    assert code == 0, output
    assert "vivr_sandbox" in loaded
    for subcommand in ("start", "stop", "status"):
        assert subcommand in output
    assert "sandbox" in _loaded("--help", cwd=tmp_path)[2], "listed in the top-level help"


def _imports(node: ast.AST) -> list[str]:
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if isinstance(node, ast.ImportFrom):
        return [node.module or ""]
    return []


def test_no_product_module_imports_moto_or_the_sandbox() -> None:
    """Statically: only the ``sandbox`` command's body may name the sandbox package."""
    offenders = []
    for path in sorted((REPO / "vivr_provision").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            for name in _imports(node):
                if name.split(".")[0] in ("moto", "vivr_sandbox"):
                    offenders.append(f"{path.relative_to(REPO)} {name}")
    assert offenders == ["vivr_provision/cli/sandbox.py vivr_sandbox.cli"]


def _module_level(body: list[ast.stmt]) -> list[ast.stmt]:
    """Statements run at import: not function bodies, not ``if TYPE_CHECKING:`` blocks."""
    found: list[ast.stmt] = []
    for node in body:
        if isinstance(node, ast.If):
            typing_only = isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING"
            found += _module_level(node.orelse if typing_only else node.body + node.orelse)
        elif isinstance(node, ast.Try):
            found += _module_level(node.body + node.orelse + node.finalbody
                                   + [s for h in node.handlers for s in h.body])
        elif isinstance(node, ast.With):
            found += _module_level(node.body)
        else:
            found.append(node)
    return found


def test_no_product_module_imports_the_aws_sdk_at_module_level() -> None:
    """boto3/botocore are imported inside the functions that call AWS.

    Exception classes come from ``vivr_provision.aws_errors`` (resolved when an
    ``except`` clause is reached); annotations import under ``TYPE_CHECKING``.
    """
    offenders = []
    for path in sorted((REPO / "vivr_provision").rglob("*.py")):
        for node in _module_level(ast.parse(path.read_text()).body):
            for name in _imports(node):
                if name.split(".")[0] in ("boto3", "botocore"):
                    offenders.append(f"{path.relative_to(REPO)}:{node.lineno} {name}")
    assert offenders == []
