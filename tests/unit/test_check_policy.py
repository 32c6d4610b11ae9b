"""The check's IAM evaluator: the rules of AWS's evaluation logic our documents rely on."""

from __future__ import annotations

from typing import Any

from vivr_provision.check.policy import (
    NamedPolicy,
    Principal,
    Request,
    arn_match,
    evaluate,
)

ACCOUNT = "111122223333"
ROLE = Principal("app", arn=f"arn:aws:iam::{ACCOUNT}:role/app", account=ACCOUNT)
LOGS = Principal("logs", service="logs.us-east-1.amazonaws.com")
KEY = f"arn:aws:kms:us-east-1:{ACCOUNT}:key/k"
ROOT = {"Sid": "Root", "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
        "Action": "kms:*", "Resource": "*"}


def doc(*statements: dict[str, Any]) -> NamedPolicy:
    return NamedPolicy("p", {"Version": "2012-10-17", "Statement": list(statements)})


def allow(action: Any, resource: Any, **extra: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


def test_arn_wildcards_match_per_segment_and_star_spans_slashes() -> None:
    assert arn_match("arn:aws:s3:::bucket/*", "arn:aws:s3:::bucket/a/b.txt")
    assert not arn_match("arn:aws:s3:::bucket/*", "arn:aws:s3:::bucket")
    assert arn_match("arn:aws:logs:*:*:log-group:RDS*:log-stream:*",
                     "arn:aws:logs:us-east-1:1:log-group:RDSOSMetrics:log-stream:db-1")
    assert not arn_match("arn:aws:sqs:us-east-1:1:vivr-*", "arn:aws:sqs:us-west-2:1:vivr-a")
    assert arn_match("arn:aws:secretsmanager:*:*:secret:a?c",
                     "arn:aws:secretsmanager:r:1:secret:abc")
    assert not arn_match("arn:aws:s3:::a[b]", "arn:aws:s3:::ab")  # brackets are literal


def test_actions_match_case_insensitively_with_wildcards_and_not_action() -> None:
    request = Request(ROLE, "kms:GenerateDataKey", KEY)
    assert evaluate(request, [doc(allow("KMS:generatedatakey*", KEY))], None).allowed
    assert not evaluate(request, [doc(allow("kms:Decrypt", KEY))], None).allowed
    not_action = {"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"}
    assert evaluate(request, [doc(not_action)], None).allowed
    assert not evaluate(Request(ROLE, "iam:PassRole", "*"), [doc(not_action)], None).allowed


def test_an_explicit_deny_wins_over_any_allow() -> None:
    request = Request(ROLE, "s3:GetObject", "arn:aws:s3:::b/x")
    deny = {"Effect": "Deny", "Principal": "*", "Action": "s3:*", "Resource": "arn:aws:s3:::b/*"}
    decision = evaluate(request, [doc(allow("s3:*", "*"))], doc(deny))
    assert not decision.allowed and "explicitly denied" in decision.reason


def test_conditions_on_the_request_context() -> None:
    tls_deny = {"Sid": "Tls", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
                "Resource": "*", "Condition": {"Bool": {"aws:SecureTransport": "false"}}}
    grant = [doc(allow("s3:GetObject", "*"))]
    over_tls = Request(ROLE, "s3:GetObject", "arn:aws:s3:::b/x", {"aws:SecureTransport": "true"})
    plain = Request(ROLE, "s3:GetObject", "arn:aws:s3:::b/x", {"aws:SecureTransport": "false"})
    assert evaluate(over_tls, grant, doc(tls_deny)).allowed
    assert not evaluate(plain, grant, doc(tls_deny)).allowed
    scoped = allow("s3:GetObject", "*", Condition={"ArnLike": {
        "aws:SourceArn": "arn:aws:cloudfront::1:distribution/*"}}, Principal={
        "Service": "cloudfront.amazonaws.com"})
    cloudfront = Principal("cf", service="cloudfront.amazonaws.com")
    assert evaluate(Request(cloudfront, "s3:GetObject", "arn:aws:s3:::b/x",
                            {"aws:SourceArn": "arn:aws:cloudfront::1:distribution/E1"}),
                    [], doc(scoped)).allowed
    # A key the request lacks: the Allow grants nothing (the key must be there) ...
    assert not evaluate(Request(cloudfront, "s3:GetObject", "arn:aws:s3:::b/x"),
                        [], doc(scoped)).allowed
    # ... unless IfExists.
    if_exists = allow("s3:GetObject", "*", Condition={"StringEqualsIfExists": {"a:b": "c"}})
    assert evaluate(Request(ROLE, "s3:GetObject", "arn:aws:s3:::b/x"), [doc(if_exists)],
                    None).allowed


def test_conditions_we_cannot_evaluate_never_grant_and_always_deny() -> None:
    odd = {"NumericLessThan": {"s3:max-keys": "10"}}
    request = Request(ROLE, "s3:ListBucket", "arn:aws:s3:::b", {"s3:max-keys": "5"})
    assert not evaluate(request, [doc(allow("s3:*", "*", Condition=odd))], None).allowed
    deny = {"Effect": "Deny", "Action": "s3:*", "Resource": "*", "Condition": odd}
    assert not evaluate(request, [doc(allow("s3:*", "*"), deny)], None).allowed


def test_kms_key_policy_root_delegates_to_iam_and_services_need_the_key_policy() -> None:
    request = Request(ROLE, "kms:Decrypt", KEY)
    decrypt = [doc(allow("kms:Decrypt", KEY))]
    assert evaluate(request, decrypt, doc(ROOT), key_policy=True).allowed
    refused = evaluate(request, [], doc(ROOT), key_policy=True)
    assert not refused.allowed and "delegates to IAM" in refused.reason
    # Without the root statement, even an IAM grant is not enough.
    only_logs = {"Effect": "Allow", "Principal": {"Service": LOGS.service},
                 "Action": "kms:*", "Resource": "*"}
    assert not evaluate(request, decrypt, doc(only_logs), key_policy=True).allowed
    # A service principal is admitted by the key policy alone, never by delegation.
    assert evaluate(Request(LOGS, "kms:Encrypt", KEY), [], doc(only_logs), key_policy=True).allowed
    assert not evaluate(Request(LOGS, "kms:Encrypt", KEY), [], doc(ROOT), key_policy=True).allowed


def test_same_account_role_is_allowed_by_either_identity_or_resource_policy() -> None:
    request = Request(ROLE, "s3:PutObject", "arn:aws:s3:::b/x")
    by_bucket = {"Effect": "Allow", "Principal": {"AWS": ROLE.arn}, "Action": "s3:PutObject",
                 "Resource": "arn:aws:s3:::b/*"}
    assert evaluate(request, [], doc(by_bucket)).allowed
    assert evaluate(request, [doc(allow("s3:PutObject", "arn:aws:s3:::b/*"))], None).allowed
    assert not evaluate(request, [], None).allowed


def test_trust_policies_have_no_resource_and_name_the_service() -> None:
    trust = {"Effect": "Allow", "Principal": {"Service": "ecs-tasks.amazonaws.com"},
             "Action": "sts:AssumeRole"}
    ecs = Principal("ecs", service="ecs-tasks.amazonaws.com")
    ec2 = Principal("ec2", service="ec2.amazonaws.com")
    assert evaluate(Request(ecs, "sts:AssumeRole", ROLE.arn or ""), [], doc(trust)).allowed
    assert not evaluate(Request(ec2, "sts:AssumeRole", ROLE.arn or ""), [], doc(trust)).allowed
