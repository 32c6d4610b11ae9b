"""The origin-verify secret rotates with no request refused, through the real CLI.

One lifecycle on purpose (the suite's time budget): ``apply --target`` of the
rotation pulls the ALBs, CloudFront and the secret; the read-back checks the
function, its role, permission and schedule; then a rotation is started as
``aws secretsmanager rotate-secret --secret-id <name>`` starts it, and the
sandbox runs the function's zip against itself (vivr_sandbox/fixes/awslambda.py):
both ALB rules accept the old and the new value, CloudFront sends the new
one, it is AWSCURRENT, and a re-apply makes no mutating call.  The four
steps' requests, and what happens when CloudFront is still deploying, are
proven on Stubber clients in tests/unit/test_origin_verify_rotation.py.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from tests.conftest import REPO, Aws
from vivr_provision.config import load_config
from vivr_provision.steps.secret_rotation import code_sha256, package

pytestmark = pytest.mark.e2e

PLATFORM = load_config(REPO / "config" / "production.yaml", "production")
SECRET = PLATFORM.secrets.origin_verify
ROTATION = SECRET.rotation
TARGET = ("--target", "secret-rotation.origin_verify")
STEPS = ("logs.origin_verify_rotation", "iam.origin_verify_rotation_role",
         "rotation-function.origin_verify", "rotation-permission.origin_verify",
         "secret-rotation.origin_verify")


def _errors(report: dict[str, Any]) -> list[tuple[str, str]]:
    return [(s["step"], s["error"]) for s in report["steps"] if s.get("error")]


def _outputs(aws: Aws, step: str) -> dict[str, Any]:
    return dict(json.loads(aws.state_path.read_text())["steps"][step]["outputs"])


def _rule_values(aws: Aws, listener_step: str, region: str) -> list[str]:
    arn = _outputs(aws, listener_step)["rule_arns"]["origin-verify"]
    [rule] = aws.client("elbv2", region).describe_rules(RuleArns=[arn])["Rules"]
    [condition] = [c for c in rule["Conditions"] if c["Field"] == "http-header"]
    return sorted(condition["HttpHeaderConfig"]["Values"])


def _sent(aws: Aws) -> list[str]:
    distribution = _outputs(aws, "cloudfront")["distribution_id"]
    config = aws.client("cloudfront").get_distribution_config(Id=distribution)
    return [h["HeaderValue"] for o in config["DistributionConfig"]["Origins"]["Items"]
            for h in (o.get("CustomHeaders") or {}).get("Items", [])
            if h["HeaderName"] == "X-Origin-Verify"]


def _read_back(aws: Aws, secret_arn: str) -> None:
    assert ROTATION is not None
    lam, iam = aws.client("lambda"), aws.client("iam")
    function = lam.get_function(FunctionName=ROTATION.function)["Configuration"]
    role = iam.get_role(RoleName=ROTATION.role)["Role"]
    assert (function["Runtime"], function["Handler"], function["Role"]) == (
        ROTATION.runtime, "origin_verify.handler", role["Arn"])
    assert function["CodeSha256"] == code_sha256(package()), "the zip built from the module"
    assert "VpcConfig" not in function or not function["VpcConfig"].get("SubnetIds")
    env = function["Environment"]["Variables"]
    rules = json.loads(env["ORIGIN_VERIFY_RULES"])
    assert sorted(r["region"] for r in rules) == ["us-east-1", "us-west-2"]
    assert json.loads(env["ORIGIN_VERIFY_VALUE_RULES"])["length"] == SECRET.length

    trust = role["AssumeRolePolicyDocument"]
    trust = json.loads(trust) if isinstance(trust, str) else trust
    assert trust["Statement"] == [{
        "Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"},
        "Action": "sts:AssumeRole",
        "Condition": {"StringEquals": {"aws:SourceAccount": aws.account}}}]
    document = iam.get_role_policy(RoleName=ROTATION.role, PolicyName="vivr-grants")
    granted = document["PolicyDocument"]
    granted = json.loads(granted) if isinstance(granted, str) else granted
    by_sid = {s["Sid"]: s for s in granted["Statement"]}
    assert by_sid["RotateThisSecret"]["Resource"] == [secret_arn]
    assert sorted(by_sid["AcceptBothValues"]["Resource"]) == sorted(r["arn"] for r in rules)

    [statement] = json.loads(lam.get_policy(FunctionName=ROTATION.function)["Policy"])[
        "Statement"]
    assert statement["Principal"] == {"Service": "secretsmanager.amazonaws.com"}
    assert statement["Condition"] == {"StringEquals": {"AWS:SourceAccount": aws.account},
                                      "ArnLike": {"AWS:SourceArn": secret_arn}}

    group = aws.client("logs").describe_log_groups(
        logGroupNamePrefix=f"/aws/lambda/{ROTATION.function}")["logGroups"][0]
    assert group["retentionInDays"] == 30 and group.get("kmsKeyId")

    # RotateImmediately false: Secrets Manager tests the function asynchronously with an
    # AWSPENDING version it then removes (AWS: "the test creates an AWSPENDING version
    # of the secret and then removes it"); wait for that test run to end (the sandbox
    # runs it after the answer, as AWS does: under load it ends after apply returns).
    sm, deadline = aws.client("secretsmanager"), time.monotonic() + 60
    described = sm.describe_secret(SecretId=secret_arn)
    while any("AWSPENDING" in stages for stages in described["VersionIdsToStages"].values()) \
            and time.monotonic() < deadline:
        time.sleep(0.2)
        described = sm.describe_secret(SecretId=secret_arn)
    assert described["RotationEnabled"] is True
    assert described["RotationLambdaARN"] == function["FunctionArn"]
    assert described["RotationRules"]["AutomaticallyAfterDays"] == ROTATION.days
    # RotateImmediately false: the setup was tested, no value changed yet.
    assert [stages for stages in described["VersionIdsToStages"].values()] == [["AWSCURRENT"]]
    requests = aws.requests("RotateSecret")
    assert [r.get("RotateImmediately") for r in requests] == [False]


def _rotated(aws: Aws, secret_arn: str) -> dict[str, Any]:
    """The secret once the rotation Secrets Manager runs after its answer has finished."""
    sm = aws.client("secretsmanager")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        described = dict(sm.describe_secret(SecretId=secret_arn))
        if described.get("LastRotatedDate"):
            return described
        time.sleep(0.5)
    raise AssertionError(f"the rotation did not finish: {described.get('VersionIdsToStages')}")


def test_the_origin_header_rotates_with_both_values_accepted_and_a_quiet_reapply(
        aws: Aws) -> None:
    assert ROTATION is not None
    code, report = aws.cli_json("apply", *TARGET)
    assert code == 0, _errors(report)
    created = {s["step"]: s.get("action") or s.get("status") for s in report["steps"]}
    assert {step: created.get(step) for step in STEPS} == dict.fromkeys(STEPS, "created")
    secret_arn = _outputs(aws, "secret.origin_verify")["arn"]
    _read_back(aws, secret_arn)

    sm = aws.client("secretsmanager")
    old = sm.get_secret_value(SecretId=secret_arn)["SecretString"]
    assert _sent(aws) == [old]
    # What `aws secretsmanager rotate-secret --secret-id <name>` sends.
    sm.rotate_secret(SecretId=SECRET.name)
    described = _rotated(aws, secret_arn)
    new = sm.get_secret_value(SecretId=secret_arn)["SecretString"]
    assert new != old and len(new) == SECRET.length and new.isalnum()
    stages = sorted(described["VersionIdsToStages"].values())
    assert stages == [["AWSPENDING", "AWSCURRENT"], ["AWSPREVIOUS"]]
    # Both ALBs admit the old and the new value, CloudFront sends the new one.
    assert _rule_values(aws, "alb-listener.443", "us-east-1") == sorted([old, new])
    assert _rule_values(aws, "dr.alb-listener.443", "us-west-2") == sorted([old, new])
    assert _sent(aws) == [new]

    logs = aws.client("logs")
    group = f"/aws/lambda/{ROTATION.function}"
    lines = [e["message"] for s in logs.describe_log_streams(logGroupName=group)["logStreams"]
             for e in logs.get_log_events(logGroupName=group,
                                          logStreamName=s["logStreamName"])["events"]]
    assert any("finishSecret" in line for line in lines)
    assert not [line for line in lines if old in line or new in line], "values never logged"

    mark = len(aws.calls())
    code, report = aws.cli_json("apply", *TARGET)
    assert code == 0, _errors(report)
    assert aws.mutating_calls(since=mark) == []
