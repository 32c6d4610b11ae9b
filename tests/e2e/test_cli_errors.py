"""Bad input through the real CLI: clear one-line errors, right exit codes, nothing touched."""

from __future__ import annotations

import copy
import json
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import REPO, Aws

pytestmark = pytest.mark.e2e

Mutation = Callable[[dict[str, Any]], None]


def _subnet(data: dict[str, Any], name: str) -> dict[str, Any]:
    return next(s for s in data["network"]["subnets"] if s["name"] == name)


def _group(data: dict[str, Any], name: str) -> dict[str, Any]:
    return next(g for g in data["security_groups"] if g["name"] == name)


# (what is wrong, mutation, text one line of the error must contain)
INVALID: list[tuple[str, Mutation, str]] = [
    ("cidr outside vpc", lambda d: _subnet(d, "private-1c").update(cidr="10.1.12.0/24"),
     "subnets.private-1c.cidr 10.1.12.0/24 is outside vpc.cidr 10.0.0.0/16"),
    ("overlapping cidrs", lambda d: _subnet(d, "db-1b").update(cidr="10.0.20.0/24"),
     "subnets.db-1b.cidr 10.0.20.0/24 overlaps subnets.db-1a.cidr"),
    ("az not in region", lambda d: _subnet(d, "cache-1a").update(availability_zone="us-west-2a"),
     "subnets.cache-1a.availability_zone us-west-2a is not in region us-east-1"),
    ("unknown sg in rule",
     lambda d: _group(d, "vivr-db-sg")["ingress"][0].update(group="vivr-nope-sg"),
     "security_groups.vivr-db-sg.ingress[0].group 'vivr-nope-sg' is not a security group"),
    ("port out of range", lambda d: _group(d, "vivr-alb-sg")["ingress"][0].update(port=70000),
     "security_groups[0].ingress[0].port"),
    ("unknown environment", lambda d: d.update(environment="prod"), "environment"),
    ("unknown top-level key", lambda d: d.update(netwrok={}),
     "netwrok: unknown key (did you mean network?)"),
    ("unknown nested key", lambda d: d["network"]["vpc"].update(cidr_block="10.0.0.0/16"),
     "network.vpc.cidr_block: unknown key"),
    ("wrong type", lambda d: d["network"]["vpc"].update(enable_dns_support="yes"),
     "network.vpc.enable_dns_support"),
    ("bad cidr", lambda d: d["network"]["vpc"].update(cidr="10.0.0.0/33"),
     "network.vpc.cidr"),
    ("nat in private subnet", lambda d: d["network"]["nat_gateway"].update(subnet="private-1a"),
     "nat_gateway.subnet 'private-1a' is a private subnet"),
    ("db subnet routed to internet",
     lambda d: d["network"]["route_tables"][0]["subnets"].append("db-1a"),
     "'db-1a' is already associated"),
    ("reserved tag", lambda d: d["tags"].update(ManagedBy="me"), "tags.ManagedBy: reserved"),
    ("bad region", lambda d: d["aws"].update(region="us-east"), "aws.region"),
]


def test_invalid_configs_exit_2_naming_the_field_without_any_api_call(
        aws: Aws, tmp_path: Path) -> None:
    base = yaml.safe_load((REPO / "config" / "production.yaml").read_text())
    assert len(INVALID) >= 10
    for index, (what, mutate, expected) in enumerate(INVALID):
        data = copy.deepcopy(base)
        mutate(data)
        path = tmp_path / f"bad-{index}.yaml"
        path.write_text(yaml.safe_dump(data))
        result = aws.cli("apply", config=path)
        assert result.returncode == 2, (what, result.stderr)
        lines = result.stderr.rstrip().splitlines()
        assert lines[0].startswith(f"error: {path}: "), (what, lines)
        if len(lines) > 1:  # a count, then one indented line per problem
            assert lines[0] == f"error: {path}: {len(lines) - 1} errors", (what, lines)
            assert all(line.startswith("  ") for line in lines[1:]), (what, lines)
        assert any(expected in line for line in lines), (what, lines)
    broken = tmp_path / "broken.yaml"
    broken.write_text("network: [unclosed\n")
    result = aws.cli("plan", config=broken)
    assert result.returncode == 2 and "invalid YAML" in result.stderr
    assert aws.calls() == [], "config errors must be caught before any AWS call"
    assert not aws.state_path.exists()


def test_unknown_target_and_bad_option_exit_2(aws: Aws) -> None:
    result = aws.cli("apply", "--target", "subnet.nope")
    assert result.returncode == 2
    assert "unknown --target subnet.nope" in result.stderr
    result = aws.cli("apply", "--parallelism", "0")
    assert result.returncode == 2
    assert aws.calls() == []


def test_corrupt_state_exits_3_and_is_left_byte_for_byte(aws: Aws) -> None:
    aws.state_path.parent.mkdir(parents=True)
    corrupt = b'{"schema_version": 1, "steps": {"vpc": '
    aws.state_path.write_bytes(corrupt)
    for command in (["apply"], ["destroy", "--yes"], ["status"], ["plan"]):
        result = aws.cli(*command)
        assert result.returncode == 3, (command, result.stderr)
        assert "corrupt" in result.stderr and str(aws.state_path) in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1
    assert aws.state_path.read_bytes() == corrupt
    future = json.dumps({"schema_version": 99, "project": "vivr", "environment": "production"})
    aws.state_path.write_text(future)
    result = aws.cli("apply")
    assert result.returncode == 3 and "newer vivr-provision" in result.stderr
    assert aws.state_path.read_text() == future
    assert aws.mutating_calls() == []


def test_concurrent_run_exits_3_and_state_is_unchanged(aws: Aws) -> None:
    first = aws.popen("apply", env={"VIVR_FAULT_DELAY_S": "0.1"})
    lock_info = Path(str(aws.state_path) + ".lock.info")
    deadline = time.monotonic() + 60
    while not (lock_info.exists() and aws.state_path.exists()) and time.monotonic() < deadline:
        time.sleep(0.05)
    before = aws.state_path.read_bytes()
    second = aws.cli("apply", env={"VIVR_FAULT_DELAY_S": "0"})
    during = aws.state_path.read_bytes()
    first.send_signal(signal.SIGINT)
    first.communicate(timeout=120)
    assert second.returncode == 3, second.stderr
    assert f"state is locked by PID {first.pid}" in second.stderr
    assert " since " in second.stderr
    # The second run wrote nothing: whatever changed came from the first run only.
    assert json.loads(during)["serial"] >= json.loads(before)["serial"]


def test_locked_state_exits_3_and_is_left_byte_for_byte(aws: Aws) -> None:
    assert aws.cli("apply", "--target", "vpc").returncode == 0
    before = aws.state_path.read_bytes()
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, time\n"
         "from pathlib import Path\n"
         "from vivr_provision.state import LocalStateStore\n"
         "with LocalStateStore(Path(sys.argv[1])).lock('apply'):\n"
         "    print('locked', flush=True)\n"
         "    time.sleep(60)\n", str(aws.state_path)],
        cwd=REPO, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        for command in (["apply"], ["destroy", "--yes"]):
            result = aws.cli(*command)
            assert result.returncode == 3, (command, result.stderr)
            assert f"state is locked by PID {holder.pid}" in result.stderr
            assert len(result.stderr.strip().splitlines()) == 1
    finally:
        holder.kill()
        holder.wait()
    assert aws.state_path.read_bytes() == before


def test_unreachable_endpoint_is_one_line_exit_1(aws: Aws) -> None:
    result = aws.cli("plan", env={"AWS_ENDPOINT_URL": "http://127.0.0.1:9"})
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "error: cannot reach the AWS endpoint http://127.0.0.1:9"]


def test_state_of_another_account_is_refused(aws: Aws) -> None:
    assert aws.cli("apply", "--target", "vpc").returncode == 0
    other_key = "sandbox999999999999"
    result = aws.cli("plan", env={"AWS_ACCESS_KEY_ID": other_key})
    assert result.returncode == 3
    assert "belongs to account" in result.stderr


def test_destroy_without_yes_off_a_terminal_refuses(aws: Aws) -> None:
    assert aws.cli("apply", "--target", "vpc").returncode == 0
    mark = len(aws.calls())
    result = aws.cli("destroy")
    assert result.returncode == 2
    assert ("destroy would delete 1 resource(s) and asks for confirmation: pass --yes when "
            "not at a terminal (nothing was deleted)") in result.stderr
    assert aws.mutating_calls(since=mark) == []


def test_version_and_help() -> None:
    out = subprocess.run([sys.executable, "-m", "vivr_provision", "--version"],
                         capture_output=True, text=True, check=False)
    assert out.returncode == 0 and "vivr-provision" in out.stdout
