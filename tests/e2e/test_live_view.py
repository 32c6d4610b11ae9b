"""What a person sees at an 80x40 terminal: the live view by default, log lines on request."""

from __future__ import annotations

import json
import re

import pytest

from tests.conftest import Aws
from tests.pty_cli import PtyCli

pytestmark = pytest.mark.e2e

#: The live view's first line: ``apply 12s eta ~24m  done 40/128 · calling 1 · ... · failed 0``
#: (the time left is left out on a narrow line, or once every running step is late).
HEADER = re.compile(
    r"^apply (?:\d+s|\d+m\d\ds)(?: eta ~(?:\d+s|\d+m|\d+h\d\dm))?  done (\d+)/(\d+)"
    r"(?: · [a-z]+ \d+)*$")
#: A structlog line as the console renderer writes it (time, level, event); in the
#: transcript it may follow the view's last row, which rich erases before printing it.
LOG_LINE = re.compile(r"\d\d:\d\d:\d\d \[(debug|info|warning|error) *\] (\S+)")


def _counts(header: str) -> dict[str, int]:
    return {name: int(n) for name, n in re.findall(r"([a-z]+) (\d+)(?![\d/])", header)}


def _views(frames: list[list[str]]) -> list[list[str]]:
    """The live view in each screen: its header and the rows under it."""
    views = []
    for screen in frames:
        starts = [i for i, row in enumerate(screen) if HEADER.match(row)]
        if starts:
            rows = screen[starts[-1]:]
            while rows and not rows[-1]:
                rows.pop()
            views.append(rows)
    return views


def test_apply_shows_a_truthful_live_view_that_fits_and_no_log_lines(aws: Aws) -> None:
    with PtyCli(aws, "apply", "--parallelism", "1") as run:
        run.expect(r"Apply (\d+ to add[^?]*) to vivr production\? \[y/N\]")  # the plan; asks
        run.send("y\n")
        code = run.wait()
    assert code == 0, run.text[-3000:]
    views = _views(run.frames)
    assert len(views) >= 5, "the view is drawn while the run goes"
    # AWS's typical durations (no VIVR_TIME_SCALE): the database alone is minutes away.
    assert any(" eta ~" in view[0] for view in views), "the time left is shown"
    summary = re.search(r"^Apply complete: (\d+) added, 0 changed in [\d.]+s\.$", run.text,
                        re.MULTILINE)
    assert summary, run.text[-2000:]
    steps = int(summary.group(1))
    done = []
    for view in views:
        header = HEADER.match(view[0])
        assert header
        assert int(header.group(2)) == steps, "the total is the run's steps"
        counts = _counts(view[0])
        assert counts.get("calling", 0) <= 1, f"--parallelism 1 means one step calling: {view}"
        assert counts.get("failed", 0) == 0
        done.append(int(header.group(1)))
        rows = view[1:]
        assert len(view) <= 39, "the view leaves the terminal's last line free"
        states = [row.split()[0] for row in rows if not row.lstrip().startswith("…")]
        assert set(states) <= {"calling", "waiting", "reading", "queued"}
        order = ["calling", "waiting", "reading", "queued"]
        assert states == sorted(states, key=order.index), "running steps first, queued last"
        shown = sum(counts.get(s, 0) for s in order)
        more = re.match(r"^  … and (\d+) more", rows[-1]) if rows else None
        assert len(states) + (int(more.group(1)) if more else 0) == shown, view
    assert done == sorted(done), "done only grows"
    assert any(v[-1].startswith("  … and ") and v[-1].endswith(" more queued") for v in views), \
        "with one slot, more steps queue than 40 lines can show"
    assert any("queued" in v[0] and _counts(v[0])["queued"] > 30 for v in views)
    logged = [m.group(1, 2) for m in LOG_LINE.finditer(run.text)]
    # (issue 12: field-level encryption is built now, so its warning is gone;
    # tests/unit/test_log_levels.py shows that a warning still passes.)
    assert logged == [], "by default no per-step line"
    assert "step.created" not in run.text
    final = [row for row in run.screen() if row]
    assert final[-1] == summary.group(0), "the view is gone; the report's summary is last"
    assert not any(HEADER.match(row) for row in final)


def test_verbosity_flags_add_detail_above_the_view(aws: Aws) -> None:
    with PtyCli(aws, "apply", "--yes", "--target", "subnet.db-1a", "-v",
                env={"VIVR_FAULT_DELAY_S": "0.05"}) as run:  # slow AWS: the view is drawn
        assert run.wait() == 0, run.text[-3000:]
    events = [m.group(2) for m in LOG_LINE.finditer(run.text)]
    assert {"step.created", "step.creating"} <= set(events)
    assert {"aws.call", "aws.retry", "aws.poll"}.isdisjoint(events), "API detail waits for -vv"
    logged = [screen for screen in run.frames if any(LOG_LINE.match(r) for r in screen)
              and any(HEADER.match(r) for r in screen)]
    assert logged, "log lines and the view share the screen"
    for screen in logged:  # log lines scroll above the view, never through it
        header = next(i for i, row in enumerate(screen) if HEADER.match(row))
        assert not any(LOG_LINE.match(row) for row in screen[header:]), screen

    with PtyCli(aws, "plan", "--target", "vpc", "-vv",
                env={"VIVR_FAULT_THROTTLE": "ec2.DescribeVpcs:1"}) as run:
        assert run.wait() == 0, run.text[-3000:]
    lines = {m.group(2): m.group(0) for m in LOG_LINE.finditer(run.text)}
    assert "step.no-op" in lines
    calls = re.findall(r"aws\.call .*operation=(\w+)", run.text)
    assert "DescribeVpcs" in calls and "GetCallerIdentity" in calls
    retry = re.search(r"\[debug *\] aws\.retry .*", run.text)
    assert retry and "operation=DescribeVpcs" in retry.group(0)


def test_quiet_and_json_log_lines_on_request(aws: Aws) -> None:
    with PtyCli(aws, "apply", "--yes", "--target", "vpc", "-q") as run:
        assert run.wait() == 0, run.text[-3000:]
    assert not any(HEADER.match(row) for screen in run.frames for row in screen), "no live view"
    assert not LOG_LINE.search(run.text)
    assert re.search(r"^Apply complete: 1 added, 0 changed in [\d.]+s\.$", run.text,
                     re.MULTILINE)

    with PtyCli(aws, "plan", "--target", "vpc", "-v", "--log-format", "json") as run:
        assert run.wait() == 0, run.text[-3000:]
    records = [json.loads(line) for line in run.text.splitlines() if line.startswith("{")]
    assert [r["event"] for r in records] == ["step.no-op"]
    assert records[0]["step"] == "vpc" and records[0]["level"] == "info"
    assert not LOG_LINE.search(run.text)


def test_off_a_terminal_the_default_is_the_report_and_warnings_only(aws: Aws) -> None:
    quiet = aws.cli("apply", "--target", "subnet.db-1a")
    assert quiet.returncode == 0, quiet.stderr[-2000:]
    assert quiet.stderr == "", "no per-step lines, no live view off a terminal"
    assert "Apply complete: 2 added, 0 changed in" in quiet.stdout  # the vpc and subnet
    verbose = aws.cli("plan", "--target", "subnet.db-1a", "-v")
    events = [json.loads(line)["event"] for line in verbose.stderr.splitlines()]
    assert events.count("step.no-op") == 2, "JSON lines off a terminal, one per step at -v"
    text = aws.cli("plan", "--target", "vpc", "-v", "--log-format", "text")
    assert LOG_LINE.search(text.stderr) and not text.stderr.lstrip().startswith("{")


def test_a_failure_is_shown_by_default_above_the_view(aws: Aws) -> None:
    with PtyCli(aws, "apply", "--yes", "--target", "rtb.vivr-public-rt",
                env={"VIVR_FAULT_FAIL": "ec2.CreateRouteTable"}) as run:
        assert run.wait() == 1
    logged = [m.group(1, 2) for m in LOG_LINE.finditer(run.text)]
    assert logged == [("error", "step.failed")], run.text
    assert re.search(r"^error: step rtb\.vivr-public-rt failed: UnauthorizedOperation",
                     run.text, re.MULTILINE)

