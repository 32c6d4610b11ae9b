"""The origin-verify rotation: the function's four steps and the steps that deploy it.

The handler runs on Stubber clients through the same client factory Lambda
gives it (``boto3.client``), so every request it sends is checked against
botocore's model and its order across services is recorded: the rules
accept both values before CloudFront sends the new one.
"""

from __future__ import annotations

import ast
import copy
import io
import json
import string
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.unit.stubbed import ACCOUNT, StubbedAws, production_config
from vivr_provision.config import PlatformConfig
from vivr_provision.rotation import origin_verify
from vivr_provision.rotation.origin_verify import (
    ENV_DISTRIBUTION,
    ENV_RULES,
    ENV_VALUE,
    RotationNotReady,
    RotationRefused,
    rotate,
)
from vivr_provision.steps import build_steps
from vivr_provision.steps.base import Resource
from vivr_provision.steps.secret_policies import secret_policy
from vivr_provision.steps.secret_rotation import (
    HANDLER_FILE,
    InvokePermissionStep,
    RotationFunctionStep,
    SecretRotationStep,
    code_sha256,
    package,
    role_statements,
    value_rules,
)

SECRET_ARN = f"arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:origin-verify-AbCdEf"
TOKEN, CURRENT_ID = "t" * 36, "c" * 32
CURRENT, PENDING = "current-value-0123456789", "pending-value-9876543210"
RULE_1 = f"arn:aws:elasticloadbalancing:us-east-1:{ACCOUNT}:listener-rule/app/vivr-alb/1/2/3"
RULE_2 = f"arn:aws:elasticloadbalancing:us-west-2:{ACCOUNT}:listener-rule/app/vivr-dr/4/5/6"
DIST_ID = "E2DISTRIBUTION"
ENVIRON = {
    ENV_RULES: json.dumps([{"arn": RULE_1, "region": "us-east-1", "header": "X-Origin-Verify"},
                           {"arn": RULE_2, "region": "us-west-2", "header": "X-Origin-Verify"}]),
    ENV_DISTRIBUTION: json.dumps({"id": DIST_ID,
                                  "headers": [{"origin": "app", "header": "X-Origin-Verify"}]}),
    ENV_VALUE: json.dumps({"length": 48, "exclude_punctuation": True}),
}


@pytest.fixture
def config() -> PlatformConfig:
    return production_config()


@pytest.fixture
def aws() -> Iterator[StubbedAws]:
    with StubbedAws() as stubbed:
        yield stubbed


def _factory(aws: StubbedAws, calls: list[str]) -> Callable[..., Any]:
    """``boto3.client`` as the handler calls it, recording each call in order."""
    def client(service: str, region_name: str | None = None) -> Any:
        made = aws.client(service, region_name)
        if not getattr(made, "_recorded", False):
            # Stubber answers at before-call; parameters are built just before that.
            made.meta.events.register("before-parameter-build", lambda model, **_: calls.append(
                f"{service}.{model.name}"))
            made._recorded = True
        return made
    return client


def _event(step: str) -> dict[str, str]:
    return {"Step": step, "SecretId": SECRET_ARN, "ClientRequestToken": TOKEN}


def _expect_described(aws: StubbedAws, pending: list[str] | None = None,
                      enabled: bool = True) -> None:
    aws.expect("secretsmanager", "describe_secret", {
        "ARN": SECRET_ARN, "RotationEnabled": enabled,
        "VersionIdsToStages": {CURRENT_ID: ["AWSCURRENT"], TOKEN: pending or ["AWSPENDING"]}},
        {"SecretId": SECRET_ARN})


def _rule(arn: str, values: list[str]) -> dict[str, Any]:
    """A rule as DescribeRules returns it: conditions in both spellings."""
    return {"RuleArn": arn, "Priority": "1", "IsDefault": False,
            "Conditions": [{"Field": "http-header", "Values": [],
                            "HttpHeaderConfig": {"HttpHeaderName": "X-Origin-Verify",
                                                 "Values": values}}],
            "Actions": [{"Type": "forward", "TargetGroupArn": "arn:tg"}]}


def _distribution_config(value: str) -> dict[str, Any]:
    return {"CallerReference": "ref", "Comment": "vivr-cdn", "Enabled": True,
            "Origins": {"Quantity": 1, "Items": [{
                "Id": "app", "DomainName": "origin.vivr.example.com",
                "CustomHeaders": {"Quantity": 1, "Items": [
                    {"HeaderName": "X-Origin-Verify", "HeaderValue": value}]},
                "CustomOriginConfig": {"HTTPPort": 80, "HTTPSPort": 443,
                                       "OriginProtocolPolicy": "https-only"}}]},
            "DefaultCacheBehavior": {"TargetOriginId": "app",
                                     "ViewerProtocolPolicy": "redirect-to-https"}}


# --------------------------------------------------------------------------- the handler


def test_create_stores_a_generated_value_as_pending_under_the_token(aws: StubbedAws) -> None:
    calls: list[str] = []
    _expect_described(aws)
    aws.expect_error("secretsmanager", "get_secret_value", "ResourceNotFoundException",
                     params={"SecretId": SECRET_ARN, "VersionId": TOKEN,
                             "VersionStage": "AWSPENDING"})
    aws.expect("secretsmanager", "get_random_password", {"RandomPassword": PENDING},
               {"PasswordLength": 48, "ExcludePunctuation": True, "IncludeSpace": False,
                "RequireEachIncludedType": True})
    aws.expect("secretsmanager", "put_secret_value", {}, {
        "SecretId": SECRET_ARN, "ClientRequestToken": TOKEN, "SecretString": PENDING,
        "VersionStages": ["AWSPENDING"]})
    rotate(_event("createSecret"), ENVIRON, _factory(aws, calls))


def test_create_again_keeps_the_value_it_stored(aws: StubbedAws) -> None:
    """Secrets Manager retries a step: the second createSecret makes no second value."""
    _expect_described(aws)
    aws.expect("secretsmanager", "get_secret_value", {"SecretString": PENDING},
               {"SecretId": SECRET_ARN, "VersionId": TOKEN, "VersionStage": "AWSPENDING"})
    rotate(_event("createSecret"), ENVIRON, _factory(aws, []))


def _run_set(aws: StubbedAws) -> list[str]:
    """setSecret from a rotation's start; the calls made, in order."""
    calls: list[str] = []
    _expect_described(aws)
    aws.expect("secretsmanager", "get_secret_value", {"SecretString": CURRENT},
               {"SecretId": SECRET_ARN, "VersionStage": "AWSCURRENT"})
    aws.expect("secretsmanager", "get_secret_value", {"SecretString": PENDING},
               {"SecretId": SECRET_ARN, "VersionId": TOKEN, "VersionStage": "AWSPENDING"})
    both = [{"Field": "http-header", "HttpHeaderConfig": {
        "HttpHeaderName": "X-Origin-Verify", "Values": [CURRENT, PENDING]}}]
    for arn, region in ((RULE_1, "us-east-1"), (RULE_2, "us-west-2")):
        aws.expect("elbv2", "describe_rules", {"Rules": [_rule(arn, [CURRENT])]},
                   {"RuleArns": [arn]}, region=region)
        aws.expect("elbv2", "modify_rule", {}, {"RuleArn": arn, "Conditions": both},
                   region=region)
    aws.expect("cloudfront", "get_distribution_config",
               {"ETag": "E1", "DistributionConfig": _distribution_config(CURRENT)}, {"Id": DIST_ID})
    aws.expect("cloudfront", "update_distribution", {"ETag": "E2"}, {
        "Id": DIST_ID, "IfMatch": "E1", "DistributionConfig": _distribution_config(PENDING)})
    rotate(_event("setSecret"), ENVIRON, _factory(aws, calls))
    return calls


def test_set_makes_every_rule_accept_both_values_before_cloudfront_sends_the_new_one(
        aws: StubbedAws) -> None:
    writes = [c for c in _run_set(aws) if c.endswith(("ModifyRule", "UpdateDistribution"))]
    assert writes == ["elbv2.ModifyRule", "elbv2.ModifyRule", "cloudfront.UpdateDistribution"]


def test_set_again_changes_nothing(aws: StubbedAws) -> None:
    _expect_described(aws)
    aws.expect("secretsmanager", "get_secret_value", {"SecretString": CURRENT})
    aws.expect("secretsmanager", "get_secret_value", {"SecretString": PENDING})
    for arn, region in ((RULE_1, "us-east-1"), (RULE_2, "us-west-2")):
        aws.expect("elbv2", "describe_rules", {"Rules": [_rule(arn, [PENDING, CURRENT])]},
                   region=region)
    aws.expect("cloudfront", "get_distribution_config",
               {"ETag": "E2", "DistributionConfig": _distribution_config(PENDING)})
    rotate(_event("setSecret"), ENVIRON, _factory(aws, []))


def _expect_deployed(aws: StubbedAws, status: str, sent: str) -> None:
    aws.expect("cloudfront", "get_distribution", {"ETag": "E2", "Distribution": {
        "Id": DIST_ID, "ARN": f"arn:aws:cloudfront::{ACCOUNT}:distribution/{DIST_ID}",
        "Status": status, "LastModifiedTime": "2026-12-06T10:00:00Z",
        "InProgressInvalidationBatches": 0, "DomainName": "d1.cloudfront.net",
        "ActiveTrustedSigners": {"Enabled": False, "Quantity": 0},
        "DistributionConfig": _distribution_config(sent)}}, {"Id": DIST_ID})


def test_test_gives_up_while_cloudfront_deploys_when_the_invocation_has_no_time_left(
        aws: StubbedAws) -> None:
    """InProgress: some edges still send the old value; Secrets Manager tries again."""
    _expect_described(aws)
    _expect_deployed(aws, "InProgress", PENDING)
    with pytest.raises(RotationNotReady, match="InProgress"):
        rotate(_event("testSecret"), ENVIRON, _factory(aws, []), lambda: 25.0)


def test_test_polls_until_cloudfront_is_deployed_while_time_is_left(aws: StubbedAws) -> None:
    slept: list[float] = []
    _expect_deployed(aws, "InProgress", PENDING)
    _expect_deployed(aws, "Deployed", PENDING)
    for arn, region in ((RULE_1, "us-east-1"), (RULE_2, "us-west-2")):
        aws.expect("elbv2", "describe_rules", {"Rules": [_rule(arn, [CURRENT, PENDING])]},
                   {"RuleArns": [arn]}, region=region)
    origin_verify.check_deployed(json.loads(ENVIRON[ENV_RULES]),
                                 json.loads(ENVIRON[ENV_DISTRIBUTION]), _factory(aws, []),
                                 remaining_s=lambda: 600.0, sleep=slept.append)
    assert slept == [origin_verify.POLL_S]


@pytest.mark.parametrize(("second_rule", "passes"), [
    ([CURRENT, PENDING], True),
    ([CURRENT], False),         # the standby would refuse CloudFront after a failover
])
def test_test_checks_every_rule_accepts_what_cloudfront_sends(
        aws: StubbedAws, second_rule: list[str], passes: bool) -> None:
    _expect_described(aws)
    _expect_deployed(aws, "Deployed", PENDING)
    aws.expect("elbv2", "describe_rules", {"Rules": [_rule(RULE_1, [CURRENT, PENDING])]},
               {"RuleArns": [RULE_1]})
    aws.expect("elbv2", "describe_rules", {"Rules": [_rule(RULE_2, second_rule)]},
               {"RuleArns": [RULE_2]}, region="us-west-2")
    if passes:
        rotate(_event("testSecret"), ENVIRON, _factory(aws, []))
    else:
        with pytest.raises(RotationRefused, match="does not accept"):
            rotate(_event("testSecret"), ENVIRON, _factory(aws, []))


def test_finish_moves_current_to_the_new_version(aws: StubbedAws) -> None:
    _expect_described(aws)
    aws.expect("secretsmanager", "describe_secret", {
        "VersionIdsToStages": {CURRENT_ID: ["AWSCURRENT"], TOKEN: ["AWSPENDING"]}},
        {"SecretId": SECRET_ARN})
    aws.expect("secretsmanager", "update_secret_version_stage", {}, {
        "SecretId": SECRET_ARN, "VersionStage": "AWSCURRENT", "MoveToVersionId": TOKEN,
        "RemoveFromVersionId": CURRENT_ID})
    rotate(_event("finishSecret"), ENVIRON, _factory(aws, []))


@pytest.mark.parametrize(("stages", "enabled", "error"), [
    (["AWSPENDING", "AWSCURRENT"], True, None),      # already finished: nothing to do
    (["AWSPREVIOUS"], True, "is not AWSPENDING"),
    (["AWSPENDING"], False, "rotation is not enabled"),
])
def test_a_version_not_pending_is_refused_or_left_alone(
        aws: StubbedAws, stages: list[str], enabled: bool, error: str | None) -> None:
    _expect_described(aws, stages, enabled)
    if error is None:
        rotate(_event("setSecret"), ENVIRON, _factory(aws, []))
    else:
        with pytest.raises(RotationRefused, match=error):
            rotate(_event("setSecret"), ENVIRON, _factory(aws, []))


def test_the_handler_logs_no_value(aws: StubbedAws, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("INFO")
    _run_set(aws)
    assert caplog.messages and not [m for m in caplog.messages
                                    if CURRENT in m or PENDING in m]


# --------------------------------------------------------------------------- the package


def test_the_package_is_the_module_alone_and_the_same_every_time() -> None:
    archive = package()
    assert archive == package()
    with zipfile.ZipFile(io.BytesIO(archive)) as opened:
        assert opened.namelist() == [HANDLER_FILE]
        assert opened.read(HANDLER_FILE) == Path(origin_verify.__file__).read_bytes()
        assert opened.getinfo(HANDLER_FILE).date_time == (1980, 1, 1, 0, 0, 0)
    assert len(code_sha256(archive)) == 44  # base64 of 32 bytes, as Lambda reports it


def test_the_function_imports_only_the_standard_library_and_boto3() -> None:
    """It runs in Lambda with nothing else installed."""
    import sys

    tree = ast.parse(Path(origin_verify.__file__).read_text())
    roots = {(n.module or "").split(".")[0] for n in ast.walk(tree)
             if isinstance(n, ast.ImportFrom)}
    roots |= {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import)
              for a in n.names}
    assert roots - {"__future__", "boto3"} <= set(sys.stdlib_module_names)


def test_generated_values_keep_the_header_alphabet(config: PlatformConfig) -> None:
    """With punctuation allowed, only -_.~: * and ? are wildcards in an ALB condition."""
    secrets = config.secrets
    loose = config.model_copy(update={"secrets": secrets.model_copy(update={
        "origin_verify": secrets.origin_verify.model_copy(
            update={"exclude_punctuation": False})})})
    excluded = value_rules(loose)["exclude_characters"]
    assert {"*", "?", '"'} <= set(excluded)
    assert not set("-_.~") & set(excluded)
    assert set(excluded) | set("-_.~") == set(string.punctuation)
    assert "exclude_characters" not in value_rules(config)
    assert origin_verify.random_value_request(value_rules(loose))["ExcludeCharacters"] == excluded


# --------------------------------------------------------------------------- the steps

OUTPUTS: dict[str, dict[str, Any]] = {
    "secret.origin_verify": {"arn": SECRET_ARN},
    "kms": {"key_arn": f"arn:aws:kms:us-east-1:{ACCOUNT}:key/mrk-1"},
    "dr.kms": {"key_arn": f"arn:aws:kms:us-west-2:{ACCOUNT}:key/mrk-1"},
    "cloudfront": {"distribution_id": DIST_ID,
                   "arn": f"arn:aws:cloudfront::{ACCOUNT}:distribution/{DIST_ID}"},
    "alb-listener.443": {"rule_arns": {"origin-verify": RULE_1}},
    "dr.alb-listener.443": {"rule_arns": {"origin-verify": RULE_2}},
    "logs.origin_verify_rotation": {"arn": f"arn:aws:logs:us-east-1:{ACCOUNT}:log-group:"
                                           "/aws/lambda/vivr-production-origin-verify-rotation"},
    "iam.origin_verify_rotation_role": {
        "role_arn": f"arn:aws:iam::{ACCOUNT}:role/vivr-production-origin-verify-rotation-role"},
    "rotation-function.origin_verify": {"arn": f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:"
                                               "vivr-production-origin-verify-rotation"},
}


def test_the_role_may_do_what_the_four_steps_do_on_these_resources_only(
        config: PlatformConfig, aws: StubbedAws) -> None:
    statements = {s["Sid"]: s for s in role_statements(config, aws.context(config, OUTPUTS))}
    assert statements["RotateThisSecret"]["Resource"] == [SECRET_ARN]
    assert statements["AcceptBothValues"]["Resource"] == [RULE_1, RULE_2]
    assert statements["SendTheNewValue"]["Resource"] == [OUTPUTS["cloudfront"]["arn"]]
    assert statements["UseThePlatformKeyThroughSecretsManager"]["Condition"] == {
        "StringEquals": {"kms:ViaService": "secretsmanager.us-east-1.amazonaws.com"}}
    assert statements["WriteItsLogs"]["Resource"] == [
        OUTPUTS["logs.origin_verify_rotation"]["arn"] + ":*"]
    wildcard = {sid for sid, s in statements.items() if s["Resource"] == ["*"]}
    assert wildcard == {"GenerateTheValue", "ReadTheRules"}  # no resource-level permissions


def test_the_secret_policy_admits_the_role_on_origin_verify_and_no_other_secret(
        config: PlatformConfig) -> None:
    rules = config.secrets.resource_policy
    assert rules is not None
    role = f"arn:aws:iam::{ACCOUNT}:role/vivr-production-origin-verify-rotation-role"

    def denied(key: str) -> list[str]:
        statements = secret_policy(config, rules, key, ACCOUNT)["Statement"]
        return [arn for s in statements if s["Sid"] == "DenyRolesWithoutGrant"
                for arn in s["Condition"]["ArnLike"]["aws:PrincipalArn"]]

    assert role not in denied("origin_verify")
    assert role in denied("database_credentials") and role in denied("stripe")


def test_the_function_is_created_with_its_zip_environment_and_role(
        config: PlatformConfig, aws: StubbedAws) -> None:
    step = RotationFunctionStep(config)
    ctx = aws.context(config, OUTPUTS)
    settings = step.settings(ctx)
    assert set(json.loads(settings["Environment"]["Variables"][ENV_RULES])[0]) == {
        "arn", "region", "header"}
    aws.expect("lambda", "create_function", {}, {
        **settings, "Code": {"ZipFile": package()}, "PackageType": "Zip", "Tags": step.tags()})
    aws.expect("lambda", "get_function", {"Configuration": {"State": "Active"}},
               {"FunctionName": "vivr-production-origin-verify-rotation"})
    configuration = {"FunctionName": "vivr-production-origin-verify-rotation",
                     "FunctionArn": OUTPUTS["rotation-function.origin_verify"]["arn"],
                     "CodeSha256": code_sha256(package()), "Runtime": "python3.13"}
    aws.expect("lambda", "get_function", {"Configuration": configuration},
               {"FunctionName": "vivr-production-origin-verify-rotation"})
    aws.expect("lambda", "list_tags", {"Tags": step.tags()},
               {"Resource": configuration["FunctionArn"]})
    found = step.create(ctx, "token")
    assert step.outputs(found)["code_sha256"] == code_sha256(package())


def test_other_code_is_drift_that_updates_the_code(config: PlatformConfig,
                                                   aws: StubbedAws) -> None:
    step = RotationFunctionStep(config)
    ctx = aws.context(config, OUTPUTS)
    settings = step.settings(ctx)
    described = {**{k: v for k, v in settings.items() if k != "FunctionName"},
                 "CodeSha256": "b3RoZXI=", "TagMap": step.tags()}
    changes = step.diff(ctx, Resource("arn:fn", described))
    assert [c.field for c in changes] == ["code"]
    assert step.diff(ctx, Resource("arn:fn", {**described,
                                             "CodeSha256": code_sha256(package())})) == []


def test_secrets_manager_may_invoke_it_for_this_secret_only(config: PlatformConfig,
                                                           aws: StubbedAws) -> None:
    step = InvokePermissionStep(config)
    ctx = aws.context(config, OUTPUTS)
    aws.expect("lambda", "add_permission", {}, {
        "FunctionName": "vivr-production-origin-verify-rotation",
        "StatementId": "SecretsManagerRotation", "Action": "lambda:InvokeFunction",
        "Principal": "secretsmanager.amazonaws.com", "SourceAccount": ACCOUNT,
        "SourceArn": SECRET_ARN})
    # GetPolicy as Lambda writes the statement back (condition keys spelled AWS:...).
    statement = {"Sid": "SecretsManagerRotation", "Effect": "Allow",
                 "Principal": {"Service": "secretsmanager.amazonaws.com"},
                 "Action": "lambda:InvokeFunction", "Resource": "arn:fn",
                 "Condition": {"StringEquals": {"AWS:SourceAccount": ACCOUNT},
                               "ArnLike": {"AWS:SourceArn": SECRET_ARN}}}
    aws.expect("lambda", "get_policy", {"Policy": json.dumps({"Statement": [statement]})})
    found = step.create(ctx, "token")
    assert step.diff(ctx, found) == []
    wider = copy.deepcopy(found)
    wider.data["Condition"] = {"StringEquals": {"aws:sourceaccount": ACCOUNT}}
    assert [c.field for c in step.diff(ctx, wider)] == ["statement.Condition.ArnLike"]


def test_rotation_is_turned_on_without_rotating_and_off_on_destroy(
        config: PlatformConfig, aws: StubbedAws) -> None:
    step = SecretRotationStep(config)
    ctx = aws.context(config, OUTPUTS)
    name = config.secrets.origin_verify.name
    function_arn = OUTPUTS["rotation-function.origin_verify"]["arn"]
    aws.expect("secretsmanager", "rotate_secret", {}, {
        "SecretId": name, "RotationLambdaARN": function_arn,
        "RotationRules": {"AutomaticallyAfterDays": 30}, "RotateImmediately": False})
    aws.expect("secretsmanager", "describe_secret", {
        "ARN": SECRET_ARN, "RotationEnabled": True, "RotationLambdaARN": function_arn,
        "RotationRules": {"AutomaticallyAfterDays": 30}}, {"SecretId": name})
    found = step.create(ctx, "token")
    assert step.diff(ctx, found) == []
    # A rotation cut short by the destroy: its AWSPENDING version is released.
    aws.expect("secretsmanager", "cancel_rotate_secret", {}, {"SecretId": name})
    aws.expect("secretsmanager", "describe_secret", {"VersionIdsToStages": {
        CURRENT_ID: ["AWSCURRENT"], TOKEN: ["AWSPENDING"]}}, {"SecretId": name})
    aws.expect("secretsmanager", "update_secret_version_stage", {}, {
        "SecretId": name, "VersionStage": "AWSPENDING", "RemoveFromVersionId": TOKEN})
    step.delete(ctx, found)


def test_the_rotation_steps_come_after_what_they_act_on(config: PlatformConfig) -> None:
    steps = {s.name: s for s in build_steps(config)}
    assert set(steps["rotation-function.origin_verify"].depends_on()) >= {
        "cloudfront", "alb-listener.443", "dr.alb-listener.443",
        "iam.origin_verify_rotation_role", "logs.origin_verify_rotation"}
    assert "secret-policy.origin_verify" in steps["secret-rotation.origin_verify"].depends_on()


def test_destroying_the_standby_leaves_the_function_without_its_rule(
        config: PlatformConfig, aws: StubbedAws) -> None:
    """``destroy --target 'dr.*'``: the function stays and stops naming the gone rule."""
    step = RotationFunctionStep(config)
    ctx = aws.context(config, OUTPUTS)
    variables = step.settings(ctx)["Environment"]["Variables"]
    resource = Resource("arn:fn", {"Environment": {"Variables": variables}})
    changes = step.detach_changes(ctx, resource, frozenset({"dr.alb-listener.443"}))
    assert [[r["arn"] for r in c.desired] for c in changes] == [[RULE_1]]
    aws.expect("lambda", "update_function_configuration", {}, {
        "FunctionName": "vivr-production-origin-verify-rotation",
        "Environment": {"Variables": {**variables, ENV_RULES: json.dumps(
            [{"arn": RULE_1, "header": "X-Origin-Verify", "region": "us-east-1"}],
            sort_keys=True)}}})
    aws.expect("lambda", "get_function", {"Configuration": {"LastUpdateStatus": "Successful"}})
    step.detach(ctx, resource, changes)
    assert step.detach_changes(ctx, resource, frozenset({"dr.kms"})) == []
