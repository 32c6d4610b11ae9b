"""Approval and saved plans through the real CLI, at a terminal and off one (issue 10).

A person at an 80-column terminal sees the plan (each marker, the changed
settings, the summary) and is asked before anything changes; a script
without ``--yes`` gets a refusal for replacements and deletes; a saved
plan applies exactly once and is refused when the state moved on;
``destroy`` refuses up front when protected resources would stop it.
"""

from __future__ import annotations

import fcntl
import os
import re
import select
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

import yaml

from tests.conftest import Aws

ALARM = "alarm.vivr-production-pgbouncer-status-check"
#: The alarm needs PgBouncer, which needs the database: ~24 steps, all cheap in the sandbox.
TARGET = ("--target", ALARM)
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\r")


def at_terminal(aws: Aws, *args: str, answer: str | None = None, config: Path | None = None,
                columns: int = 80, timeout: float = 180) -> tuple[int, str]:
    """Run the CLI on a pseudo-terminal of ``columns``; type ``answer`` at its prompt."""
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, columns, 0, 0))
    env = aws.env(COLUMNS=str(columns), LINES="50", TERM="xterm")
    process = subprocess.Popen(
        [sys.executable, "-m", "vivr_provision", *args, "--config", str(config or aws.config),
         "--state", str(aws.state_path)],
        cwd=aws.workdir, env=env, stdin=slave, stdout=slave, stderr=slave,
        start_new_session=True)
    os.close(slave)
    seen, answered, deadline = b"", answer is None, time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.2)
            if ready:
                try:
                    chunk = os.read(master, 65536)
                except OSError:
                    break
                if not chunk:
                    break
                seen += chunk
            if not answered and re.search(rb"\[y/N\]: |to confirm: ", seen):
                os.write(master, (answer or "").encode() + b"\n")
                answered = True
            if process.poll() is not None and not ready:
                break
        code = process.wait(timeout=max(deadline - time.monotonic(), 1))
    finally:
        os.close(master)
        if process.poll() is None:
            process.kill()
    return code, ANSI.sub("", seen.decode(errors="replace"))


def _changed_config(aws: Aws) -> Path:
    """The production config with PgBouncer's pool resized (replaces the instance)
    and the database class raised (applied in the maintenance window)."""
    document = yaml.safe_load(aws.config.read_text())
    document["pgbouncer"]["default_pool_size"] += 5
    document["rds"]["instance_class"] = "db.t3.medium"
    path = aws.workdir / "changed.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


def _one_line(text: str) -> str:
    """Terminal text with wrapped setting lines joined back."""
    return re.sub(r"\n {10}", " ", text)


def test_a_reviewed_plan_at_a_terminal_a_script_refused_and_a_saved_plan(aws: Aws) -> None:
    assert aws.cli("apply", "--yes", *TARGET).returncode == 0
    aws.client("cloudwatch").delete_alarms(AlarmNames=["vivr-production-pgbouncer-status-check"])
    aws.client("rds").modify_db_instance(DBInstanceIdentifier="vivr-db",
                                         BackupRetentionPeriod=7, ApplyImmediately=True)
    changed = _changed_config(aws)
    before = len(aws.mutating_calls())

    # At a terminal: every marker, each setting, the summary, then the question.
    code, seen = at_terminal(aws, "apply", *TARGET, "-q", answer="n", config=changed)
    text = _one_line(seen)
    assert code != 0 and "apply not confirmed; nothing was changed" in text
    assert re.search(rf"^  \+ {re.escape(ALARM)}", text, re.M), text
    assert re.search(r"^  ~ rds\.vivr-db +vivr-db", text, re.M)
    assert re.search(r"^-/\+ pgbouncer +i-", text, re.M)
    assert "BackupRetentionPeriod: 7 → 30" in text
    assert ('DBInstanceClass: "db.t3.small" → "db.t3.medium" (at the maintenance window)'
            in text)
    assert re.search(r"default_pool_size.*→.*\(forces replacement\)", text)
    assert "Plan: 1 to add, 1 to change, 1 to replace, 0 to destroy." in text
    assert "Apply 1 to add, 1 to change, 1 to replace to vivr production? [y/N]" in text
    assert ("a backup snapshot of vivr-db is taken (dr.backups.before_apply)"
            in " ".join(text.split())), "the database changes: a backup goes first"
    assert all(len(line) <= 80 for line in seen.splitlines()), "fits 80 columns"
    assert aws.mutating_calls()[before:] == [], "a no at the prompt changes nothing"

    # A script without --yes: the replacement is refused before any call.
    refused = aws.cli("apply", *TARGET, config=changed)
    assert refused.returncode == 1
    assert "apply would replace 1 resource(s) (pgbouncer); nothing was changed" in \
        refused.stderr
    assert "-/+ pgbouncer" in refused.stdout
    assert aws.mutating_calls()[before:] == []

    # Automation: 2 means changes; a saved plan applies exactly once.
    exit_code = aws.cli("plan", *TARGET, "--detailed-exitcode", "--out", "reviewed.json",
                        config=changed)
    assert exit_code.returncode == 2, exit_code.stderr
    shown = aws.cli("show", "reviewed.json", "--output", "json", config=changed)
    assert shown.returncode == 0
    assert '"text": "Plan: 1 to add, 1 to change, 1 to replace, 0 to destroy."' in shown.stdout
    applied = aws.cli("apply", "reviewed.json", "--output", "json", config=changed)
    assert applied.returncode == 0, applied.stderr[-2000:]
    assert '"action": "replaced"' in applied.stdout
    stale = aws.cli("apply", "reviewed.json", config=changed)
    assert stale.returncode == 1
    assert "the saved plan is stale: the state changed (serial" in stale.stderr
    assert aws.cli("plan", *TARGET, "--detailed-exitcode", config=changed).returncode == 0
    other = aws.cli("plan", *TARGET, "--out", "other.json", config=changed)
    assert other.returncode == 0
    assert "the config changed" in aws.cli("apply", "other.json").stderr


def test_yes_at_a_terminal_applies_and_a_typed_environment_name_destroys(aws: Aws) -> None:
    code, seen = at_terminal(aws, "apply", *TARGET, "-q", answer="y")
    assert code == 0, seen[-2000:]
    planned = re.search(r"Plan: (\d+) to add, 0 to change, 0 to replace, 0 to destroy\.", seen)
    assert planned and int(planned.group(1)) > 20, seen[-2000:]
    assert f"Apply complete: {planned.group(1)} added" in seen
    code, seen = at_terminal(aws, "destroy", "--target", "pgbouncer", "-q",
                             answer="production")
    assert code == 0, seen[-2000:]
    assert "Plan: 0 to add, 0 to change, 0 to replace, 2 to destroy." in seen
    assert "Destroy 2 resource(s) of vivr production in account" in seen
    assert re.search(r"^  - pgbouncer +i-", seen, re.M)
