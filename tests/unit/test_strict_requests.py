"""The strict-request checker: what AWS rejects that botocore lets through.

The checker (tests/faults/strict_requests.py) runs inside every CLI
subprocess of the e2e suite; these tests pin its rules on real botocore
operation models and its translation of the Java regex constructs found
in the models of the services the tool calls.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import botocore.session
import pytest

from tests.faults import strict_requests as strict
from tests.faults.strict_requests import UncheckedPattern, check_request, java_matches

FAULTS = Path(strict.__file__).resolve().parent
_session = botocore.session.get_session()


def _op(service: str, operation: str) -> Any:
    return _session.get_service_model(service).operation_model(operation)


def _rules(service: str, operation: str, params: dict[str, Any]) -> list[tuple[str, str]]:
    return [(v.path, v.rule) for v in check_request(_op(service, operation), params)]


def test_a_valid_request_passes() -> None:
    params = {"CidrBlock": "10.0.0.0/16", "InstanceTenancy": "default",
              "TagSpecifications": [{"ResourceType": "vpc",
                                     "Tags": [{"Key": "Name", "Value": "vivr-vpc"}]}]}
    assert _rules("ec2", "CreateVpc", params) == []
    assert _rules("logs", "CreateLogGroup", {"logGroupName": "/vivr/production/app",
                                             "tags": {"Project": "vivr"}}) == []


def test_enum_violation_is_caught_with_its_path() -> None:
    found = check_request(_op("ec2", "CreateVpc"), {
        "CidrBlock": "10.0.0.0/16",
        "TagSpecifications": [{"ResourceType": "vpcs", "Tags": []}]})
    assert [(v.path, v.rule) for v in found] == [
        ("CreateVpc.TagSpecifications[0].ResourceType", "enum")]
    assert "'vpcs' not in enum [" in found[0].message


def test_string_over_max_names_the_nested_path_and_length() -> None:
    tags = [{"Key": f"k{i}", "Value": "v"} for i in range(3)] + [{"Key": "k" * 129, "Value": "v"}]
    found = check_request(_op("elbv2", "AddTags"), {"ResourceArns": ["arn"], "Tags": tags})
    assert [v.message for v in found] == ["AddTags.Tags[3].Key: 129 chars > max 128"]


def test_list_over_max_and_map_over_max() -> None:
    # ACM's SubjectAlternativeNames: at most 100 names; CloudWatch Logs tags: 50.
    names = [f"a{i}.example.com" for i in range(101)]
    assert ("RequestCertificate.SubjectAlternativeNames", "max") in _rules(
        "acm", "RequestCertificate", {"DomainName": "example.com",
                                      "SubjectAlternativeNames": names})
    tags = {f"k{i}": "v" for i in range(51)}
    assert ("CreateLogGroup.tags", "max") in _rules(
        "logs", "CreateLogGroup", {"logGroupName": "g", "tags": tags})


def test_integer_under_min_and_over_max() -> None:
    assert _rules("elbv2", "CreateTargetGroup", {
        "Name": "vivr-tg", "Port": 3000, "HealthCheckIntervalSeconds": 30}) == []
    rules = _rules("elbv2", "CreateTargetGroup", {
        "Name": "vivr-tg", "Port": 0, "HealthCheckIntervalSeconds": 301})
    assert ("CreateTargetGroup.Port", "min") in rules
    assert ("CreateTargetGroup.HealthCheckIntervalSeconds", "max") in rules


def test_pattern_mismatch_is_caught_and_a_match_passes() -> None:
    # logs: log group names match [\.\-_/#A-Za-z0-9]+
    assert _rules("logs", "CreateLogGroup", {"logGroupName": "/vivr/prod app"}) == [
        ("CreateLogGroup.logGroupName", "pattern")]
    # Java \p{L}: a tag value with a letter outside ASCII passes, a '!' does not.
    ok = {"resourceArn": "arn:aws:logs:us-east-1:1:log-group:g", "tags": {"Team": "Ménage"}}
    assert _rules("logs", "TagResource", ok) == []
    bad = {"resourceArn": "arn:aws:logs:us-east-1:1:log-group:g", "tags": {"Team": "a!"}}
    assert _rules("logs", "TagResource", bad) == [("TagResource.tags['Team']", "pattern")]


def test_secret_like_members_are_never_printed() -> None:
    found = check_request(_op("secretsmanager", "PutSecretValue"), {
        "SecretId": "s", "SecretString": "x" * 70000})
    assert [v.rule for v in found] == ["max"]
    assert "x" * 10 not in found[0].message and "70000 chars" in found[0].message


def test_allow_list_takes_generic_paths() -> None:
    op = _op("ec2", "CreateVpc")
    params = {"TagSpecifications": [{"ResourceType": "vpcs"}]}
    seen: list[tuple[str, str]] = []

    def allow(path: str, rule: str) -> bool:
        seen.append((path, rule))
        return True

    assert check_request(op, params, allow) == []
    assert seen == [("CreateVpc.TagSpecifications[*].ResourceType", "enum")]


@pytest.mark.parametrize(("pattern", "good", "bad"), [
    # Unicode general categories and their complements
    (r"[\p{L}\p{Z}\p{N}_.:/=+\-@]*", ["vivr prod", "Ünïcödé 1", ""], ["a!", "a#b"]),
    (r"^\P{C}*$", ["any text é"], ["tab\tnot allowed"]),
    # POSIX classes are ASCII only in Java
    (r"\p{Print}+", ["abc ~"], ["é", "a\tb"]),
    (r"\p{ASCII}+", ["abc"], ["é"]),
    # class intersection
    (r"[\p{Print}&&[^|:/]]+", ["abc"], ["a|b", "a/b"]),
    # UTF-16 surrogate pairs denote one supplementary code point
    (r"[\u0020-\uD7FF\uE000-\uFFFD\uD800\uDC00-\uDBFF\uDFFF\r\n\t]*",
     ["line\n", "emoji \U0001F600"], ["\x01"]),
    # '-' after a class escape is a literal in Java
    (r"[\w-_]*", ["a-b_c"], ["a.b"]),
    (r"^arn:aws[a-z0-9-]*:iam::\d{12}:role\/[\w-\/.@+=,]{1,1017}$",
     ["arn:aws:iam::123456789012:role/a-b/c"], ["arn:aws:iam::1:role/x"]),
    # mid-pattern inline flags apply to the rest of the group
    (r"^(?![^:\\]*/action/|(?i).*<script>.*</script>.*)[^:\\]+$", ["abc"],
     ["x<SCRIPT></Script>", "a/action/b"]),
    # \z is Java's absolute end; Java's '.' excludes line terminators
    (r"\A\d+\z", ["12"], ["12\n"]),
    (r"a.b", ["a-b"], ["a\rb", "a\u2028b"]),
    (r"(?s)a.b", ["a\nb"], []),
    # \d \w \s are ASCII in Java
    (r"\d+", ["123"], ["١٢٣"]),
    # Java's matches(): the whole value, not a substring
    (r"[a-z]+", ["abc"], ["abc1"]),
])
def test_java_regex_constructs(pattern: str, good: list[str], bad: list[str]) -> None:
    for value in good:
        assert java_matches(pattern, value), (pattern, value)
    for value in bad:
        assert not java_matches(pattern, value), (pattern, value)


def test_an_untranslatable_pattern_is_reported_unchecked_not_passed() -> None:
    with pytest.raises(UncheckedPattern):
        java_matches(r"\p{InGreek}+", "abc")

    class Shape:
        type_name = "string"
        metadata = {"pattern": r"\p{IsLatin}+"}
        enum: list[str] = []

    class Input(Shape):
        type_name = "structure"
        metadata: dict[str, str] = {}
        members = {"Name": Shape()}

    class Op:
        name = "Op"
        input_shape = Input()

    found = check_request(Op(), {"Name": "abc"})
    assert [(v.path, v.rule) for v in found] == [("Op.Name", "unchecked-pattern")]


# Every pattern of every operation input in the services the tool calls
# translates; a model update that brings a construct the translator lacks
# fails here (add it, or list the pattern here with the reason).
TOOL_SERVICES = ["acm", "application-autoscaling", "autoscaling", "cloudfront", "cloudwatch",
                 "ec2", "ecs", "elasticache", "elbv2", "iam", "kms", "logs", "rds", "route53",
                 "s3", "secretsmanager", "sns", "ssm", "sts", "wafv2"]
UNCHECKED: dict[str, str] = {}


def test_every_pattern_in_the_tools_services_translates() -> None:
    untranslated = {}
    for service in TOOL_SERVICES:
        model = _session.get_service_model(service)
        for name in model.shape_names:
            shape = model.shape_for(name)
            pattern = shape.metadata.get("pattern")
            if pattern is None or pattern in UNCHECKED:
                continue
            try:
                strict.translate(pattern, "é\U0001F600")
            except UncheckedPattern as why:
                untranslated[pattern] = f"{service}.{name}: {why}"
    assert untranslated == {}


def test_the_cli_hook_writes_violations_from_botocore(tmp_path: Path) -> None:
    """sitecustomize runs the checker on the parameters of every call."""
    out = tmp_path / "strict.jsonl"
    script = (
        "import boto3\n"
        "from botocore.stub import Stubber\n"
        "c = boto3.client('ec2', region_name='us-east-1', aws_access_key_id='a',"
        " aws_secret_access_key='b')\n"
        "s = Stubber(c); s.add_response('create_vpc', {}); s.activate()\n"
        "c.create_vpc(CidrBlock='10.0.0.0/16', InstanceTenancy='shared')\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "VIVR_"))}
    env.update(PYTHONPATH=str(FAULTS), VIVR_STRICT_REQUESTS=str(out))
    subprocess.run([sys.executable, "-c", script], env=env, check=True, timeout=60)
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert lines == [{"service": "ec2", "operation": "CreateVpc",
                      "path": "CreateVpc.InstanceTenancy", "rule": "enum",
                      "message": "CreateVpc.InstanceTenancy: 'shared' not in enum "
                                 "[default, dedicated, host]"}]
