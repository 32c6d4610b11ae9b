"""``output`` and ``state rm`` after a real (sandboxed) apply of a few steps."""

from __future__ import annotations

import json

import pytest

from tests.conftest import Aws

pytestmark = pytest.mark.e2e

TARGETS = ("alb", "route53-zone", "sns.devops", "secret.database_credentials")


def test_output_shows_the_applied_endpoints_and_never_the_secret(aws: Aws) -> None:
    args = [arg for target in TARGETS for arg in ("--target", target)]
    code, report = aws.cli_json("apply", *args)
    assert code == 0, report

    before = len(aws.calls())
    result = aws.cli("output")
    assert result.returncode == 0, result.stderr
    assert len(aws.calls()) == before, "output makes no AWS call"
    shown = dict(line.split(" = ", 1) for line in result.stdout.splitlines())
    shown = {name.strip(): value for name, value in shown.items()}

    [balancer] = aws.client("elbv2").describe_load_balancers()["LoadBalancers"]
    assert shown["alb_dns_name"] == balancer["DNSName"]
    assert shown["alb_arn"] == balancer["LoadBalancerArn"]
    [zone] = aws.client("route53").list_hosted_zones()["HostedZones"]
    servers = aws.client("route53").get_hosted_zone(Id=zone["Id"])["DelegationSet"]["NameServers"]
    assert shown["route53_name_servers"] == ", ".join(servers)
    assert shown["route53_zone_name"] == zone["Name"].rstrip(".")
    topics = [t["TopicArn"] for t in aws.client("sns").list_topics()["Topics"]]
    assert [shown["sns_topic_arn.devops"]] == topics
    secrets = aws.client("secretsmanager")
    [secret] = secrets.list_secrets()["SecretList"]
    assert shown["secret_arn.database_credentials"] == secret["ARN"]
    value = secrets.get_secret_value(SecretId=secret["ARN"])["SecretString"]
    assert "bucket.logs" in shown, "the ALB's access-log bucket came with it"

    raw = aws.cli("output", "route53_name_servers")
    assert raw.stdout.splitlines() == servers
    code, document = aws.cli_json("output")
    assert document["alb_dns_name"]["step"] == "alb"
    for run in (result.stdout, raw.stdout, json.dumps(document),
                aws.cli("state", "show", "secret.database_credentials").stdout):
        assert value not in run and json.loads(value).get("password", "-") not in run


def test_a_removed_step_is_adopted_again_by_the_next_apply(aws: Aws) -> None:
    code, report = aws.cli_json("apply", "--target", "sns.devops")
    assert code == 0, report
    [topic] = aws.client("sns").list_topics()["Topics"]

    result = aws.cli("state", "rm", "sns.devops", "--yes")
    assert result.returncode == 0, result.stderr
    assert "nothing was deleted in AWS" in result.stdout
    assert "sns.devops" not in json.loads(aws.state_path.read_text())["steps"]
    assert aws.client("sns").list_topics()["Topics"] == [topic]

    code, report = aws.cli_json("apply", "--target", "sns.devops")
    assert code == 0, report
    assert {s["step"]: s["action"] for s in report["steps"]}["sns.devops"] == "adopted"
    assert aws.client("sns").list_topics()["Topics"] == [topic], "no twin"
