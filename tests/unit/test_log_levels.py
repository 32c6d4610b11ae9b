"""Quiet by default: which log events each of -q, (nothing), -v and -vv shows."""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import structlog

from vivr_provision import log
from vivr_provision.aws import AwsSettings, ClientFactory
from vivr_provision.config import load_config
from vivr_provision.settings import CommandOptions
from vivr_provision.steps.base import StepContext

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _restore() -> Iterator[None]:
    yield
    log.configure(0, json_logs=True, stream=io.StringIO())


def _events(verbosity: int, emit: Callable[[], None]) -> list[str]:
    stream = io.StringIO()
    log.configure(verbosity, json_logs=True, stream=stream)
    emit()
    return [json.loads(line)["event"] for line in stream.getvalue().splitlines()]


def _a_run() -> None:
    """One event of each kind, as the engine, the steps and the AWS layer log them."""
    structlog.get_logger("vivr.engine").error("step.failed", step="nat")
    structlog.get_logger("vivr.cloudfront").warning("cloudfront.field_level_encryption")
    structlog.get_logger("vivr.engine").info("step.created", step="vpc")
    structlog.get_logger("vivr.aws").debug("aws.call", service="ec2", operation="CreateVpc")
    structlog.get_logger("vivr.aws").debug("aws.retry", service="ec2", attempt=2)


@pytest.mark.parametrize(("verbosity", "shown"), [
    (-1, ["step.failed", "cloudfront.field_level_encryption"]),
    (0, ["step.failed", "cloudfront.field_level_encryption"]),
    (1, ["step.failed", "cloudfront.field_level_encryption", "step.created"]),
    (2, ["step.failed", "cloudfront.field_level_encryption", "step.created", "aws.call",
         "aws.retry"]),
], ids=["-q", "default", "-v", "-vv"])
def test_each_flag_adds_one_kind_of_detail(verbosity: int, shown: list[str]) -> None:
    assert _events(verbosity, _a_run) == shown
    assert log.enabled(10) is (verbosity >= 2)


def test_waiter_polls_are_logged_at_vv_only() -> None:
    config = load_config(REPO / "config" / "production.yaml", "production")
    ctx = StepContext(config, ClientFactory(AwsSettings(region="us-east-1")), lambda _: None)
    answers = iter([False, False, True])

    def poll() -> None:
        ctx.poll("rds waiter db_instance_available", lambda: next(answers), budget_s=5,
                 delay_s=0)

    assert _events(1, poll) == []
    answers = iter([False, False, True])
    stream = io.StringIO()
    log.configure(2, json_logs=True, stream=stream)
    poll()
    polls = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [(p["event"], p["what"], p["attempt"], p["ready"]) for p in polls] == [
        ("aws.poll", "rds waiter db_instance_available", 1, False),
        ("aws.poll", "rds waiter db_instance_available", 2, False),
        ("aws.poll", "rds waiter db_instance_available", 3, True)]


def test_log_format_is_chosen_by_flag_then_by_output_then_by_the_terminal() -> None:
    assert CommandOptions(log_format="json").json_logs is True
    assert CommandOptions(log_format="text", output="json").json_logs is False
    assert CommandOptions(output="json").json_logs is True
    assert CommandOptions().json_logs is None  # JSON lines unless stderr is a terminal
    merged = CommandOptions(log_format="json").merged(CommandOptions(verbose=2))
    assert (merged.json_logs, merged.verbosity) == (True, 2)


def test_text_lines_carry_the_time_of_day_and_json_lines_the_utc_instant() -> None:
    stream = io.StringIO()
    log.configure(0, json_logs=False, stream=stream)
    structlog.get_logger("t").warning("something.odd", step="vpc")
    assert stream.getvalue().split()[1:3] == ["[warning", "]"]
    assert len(stream.getvalue().split()[0]) == len("04:05:06")
    stream = io.StringIO()
    log.configure(0, json_logs=True, stream=stream)
    structlog.get_logger("t").warning("something.odd")
    assert json.loads(stream.getvalue())["timestamp"].endswith("Z")
