"""Retries, rate limiting, settings precedence, tokens, redaction, lazy logging and SDK
errors, YAML errors, the call journal."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import botocore.exceptions
import pytest
from botocore.exceptions import ClientError

from vivr_provision import aws_errors, log
from vivr_provision.aws import AwsSettings, error_code, error_text
from vivr_provision.config import load_config
from vivr_provision.errors import ConfigError
from vivr_provision.retry import policy
from vivr_provision.settings import CommandOptions, aws_settings, load_effective_config
from vivr_provision.steps.base import idempotency_token
from vivr_sandbox.server import SandboxApp, _operation

REPO = Path(__file__).resolve().parents[2]


def _client_error(code: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": f"{code} happened"}}, "Op")


class Flaky:
    def __init__(self, failures: list[str]) -> None:
        self.failures = list(failures)
        self.calls = 0

    def __call__(self) -> str:
        self.calls += 1
        if self.failures:
            raise _client_error(self.failures.pop(0))
        return "done"


def test_retry_policy_retries_declared_codes_until_success() -> None:
    rule = policy({"DependencyViolation"}, "ENIs draining", initial_s=0.001, max_wait_s=0.01)
    flaky = Flaky(["DependencyViolation", "DependencyViolation"])
    assert rule.call("delete sg", flaky) == "done"
    assert flaky.calls == 3


def test_retry_policy_does_not_retry_other_codes() -> None:
    rule = policy({"DependencyViolation"}, "ENIs draining", initial_s=0.001)
    flaky = Flaky(["UnauthorizedOperation"])
    with pytest.raises(ClientError):
        rule.call("delete sg", flaky)
    assert flaky.calls == 1


def test_retry_policy_gives_up_after_its_attempts() -> None:
    rule = policy({"DependencyViolation"}, "x", initial_s=0.001, max_wait_s=0.001, max_attempts=4)
    flaky = Flaky(["DependencyViolation"] * 10)
    with pytest.raises(ClientError):
        rule.call("delete sg", flaky)
    assert flaky.calls == 4


def test_tokens_are_deterministic_and_fit_every_api() -> None:
    token = idempotency_token("vivr", "production", "nat", 0)
    assert token == idempotency_token("vivr", "production", "nat", 0)
    assert token != idempotency_token("vivr", "production", "nat", 1)
    assert token != idempotency_token("vivr", "staging", "nat", 0)
    assert len(token) == 32 and token.isalnum()


def test_flags_beat_environment_beat_config(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)
    monkeypatch.delenv("AWS_REGION", raising=False)
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:1111")
    options = CommandOptions()
    config = load_effective_config(options)
    assert config.aws.region == "us-east-1"
    assert aws_settings(options, config).endpoint_url == "http://127.0.0.1:1111"
    flagged = CommandOptions(endpoint_url="http://127.0.0.1:2222")
    assert aws_settings(flagged, config).endpoint_url == "http://127.0.0.1:2222"
    assert CommandOptions(env="staging").config_file == Path("config/staging.yaml")
    assert CommandOptions(env="staging").state_file == str(Path("state/staging.json"))


def test_options_after_the_command_override_those_before() -> None:
    before = CommandOptions(env="staging", output="json", verbose=1)
    after = CommandOptions(env="production")
    merged = before.merged(after)
    assert (merged.env, merged.output, merged.verbose) == ("production", "json", 1)


def test_region_override_revalidates_availability_zones(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)
    with pytest.raises(ConfigError, match="us-east-1a is not in region eu-west-1"):
        load_effective_config(CommandOptions(region="eu-west-1"))


def test_local_endpoint_detection() -> None:
    assert AwsSettings("us-east-1", endpoint_url="http://127.0.0.1:4566").is_local_endpoint
    assert AwsSettings("us-east-1", endpoint_url="http://localhost:4566").is_local_endpoint
    assert not AwsSettings("us-east-1", endpoint_url="https://ec2.amazonaws.com").is_local_endpoint
    assert not AwsSettings("us-east-1").is_local_endpoint


def test_error_text_is_one_line() -> None:
    error = ClientError({"Error": {"Code": "Bad", "Message": "line one\nline two"}}, "Op")
    assert error_text(error) == "Bad: line one line two"


def test_registered_secrets_never_reach_the_log() -> None:
    stream = io.StringIO()
    log.configure(0, json_logs=True, stream=stream)
    secret = "s3cr3t-value-1234567890"
    log.register_secret(secret)
    import structlog

    structlog.get_logger("t").warning("event", detail=f"password={secret}", nested={"x": secret})
    output = stream.getvalue()
    assert secret not in output
    assert log.REDACTED in output


def test_logging_set_up_for_the_first_event_applies_the_commands_settings(
        capsys: pytest.CaptureFixture[str]) -> None:
    """What the CLI does (``-q``, JSON): nothing is set up until something logs."""
    try:
        log.configure_on_first_use(-1, json_logs=True)
        events = log.get_logger("vivr.test")
        events.info("step.creating", step="vpc")
        events.warning("retrying", operation="CreateVpc")
        lines = capsys.readouterr().err.splitlines()
        assert [json.loads(line)["event"] for line in lines] == ["retrying"]
    finally:
        log.configure(0, json_logs=True, stream=io.StringIO())


def test_sdk_errors_are_botocores_own_classes() -> None:
    """``except aws_errors.ClientError`` catches what a boto3 call raises."""
    assert aws_errors.ClientError is botocore.exceptions.ClientError
    assert aws_errors.WaiterError is botocore.exceptions.WaiterError
    with pytest.raises(AttributeError, match="ClientEror"):
        _ = aws_errors.ClientEror
    assert error_code(_client_error("Throttling")) == "Throttling"
    assert error_code(RuntimeError("no AWS here")) is None


def test_invalid_yaml_names_the_line_column_and_character(tmp_path: Path) -> None:
    path = tmp_path / "production.yaml"
    path.write_text("project: vivr\nnetwork:\n\t- x\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert str(caught.value) == (f"{path}: line 3, column 1: invalid YAML: "
                                 "found character '\\t' that cannot start any token")


@pytest.mark.parametrize(("environ", "body", "expected"), [
    ({"CONTENT_TYPE": "application/x-www-form-urlencoded"}, b"Action=CreateVpc&Version=1",
     ("CreateVpc", True)),
    ({"CONTENT_TYPE": "application/x-www-form-urlencoded"}, b"Action=DescribeVpcs",
     ("DescribeVpcs", False)),
    ({"HTTP_X_AMZ_TARGET": "AmazonSSM.GetParameter"}, b"{}", ("GetParameter", False)),
    ({"HTTP_X_AMZ_TARGET": "secretsmanager.CreateSecret"}, b"{}", ("CreateSecret", True)),
    ({"REQUEST_METHOD": "PUT", "PATH_INFO": "/bucket"}, b"", ("PUT /bucket", True)),
    ({"REQUEST_METHOD": "GET", "PATH_INFO": "/2020-05-31/distribution"}, b"",
     ("GET /2020-05-31/distribution", False)),
])
def test_journal_classifies_operations(environ: dict[str, Any], body: bytes,
                                       expected: tuple[str, bool]) -> None:
    assert _operation(environ, body) == expected


def test_journal_routes_accounts_by_access_key() -> None:
    seen: dict[str, Any] = {}

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        seen.update(environ)
        start_response("200 OK", [])
        return [b""]

    middleware = SandboxApp(app)
    environ = {
        "HTTP_AUTHORIZATION": "AWS4-HMAC-SHA256 Credential=sandbox000000000007/20260101/"
                              "us-east-1/ec2/aws4_request, SignedHeaders=host, Signature=x",
        "CONTENT_TYPE": "application/x-www-form-urlencoded", "CONTENT_LENGTH": "16",
        "wsgi.input": io.BytesIO(b"Action=CreateVpc"), "REQUEST_METHOD": "POST",
    }
    middleware(environ, lambda *a: None)
    assert seen["HTTP_X_MOTO_ACCOUNT_ID"] == "000000000007"
    [call] = middleware.journal("000000000007")
    assert (call.service, call.region, call.mutating) == ("ec2", "us-east-1", True)
