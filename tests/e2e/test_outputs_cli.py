"""``output`` and ``state rm`` after a real (sandboxed) apply of a few steps."""

from __future__ import annotations

import json

import pytest

from tests.conftest import Aws

pytestmark = pytest.mark.e2e

#: The writer, both replicas (one cross-region), Redis, PgBouncer and CloudFront bring the
#: zone, the ALB, the buckets, the keys and the generated secrets with them (~15 s).
TARGETS = ("rds.vivr-db-replica-1", "dr.rds.vivr-db-dr", "cache", "pgbouncer", "cloudfront",
           "sns.devops")


def _shown(text: str) -> dict[str, str]:
    return {name.strip(): value for name, value in
            (line.split(" = ", 1) for line in text.splitlines())}


def test_output_shows_the_applied_endpoints_and_never_a_secret(aws: Aws) -> None:
    code, report = aws.cli_json("apply", *[a for t in TARGETS for a in ("--target", t)])
    assert code == 0, report

    before = len(aws.calls())
    result = aws.cli("output")
    assert result.returncode == 0, result.stderr
    assert len(aws.calls()) == before, "output makes no AWS call"
    shown = _shown(result.stdout)

    def instance(region: str, identifier: str) -> str:
        [db] = aws.client("rds", region).describe_db_instances(
            DBInstanceIdentifier=identifier)["DBInstances"]
        return str(db["Endpoint"]["Address"])

    assert shown["rds_writer_endpoint"] == instance("us-east-1", "vivr-db")
    assert shown["rds_reader_endpoint.vivr-db-replica-1"] == instance(
        "us-east-1", "vivr-db-replica-1")
    assert shown["dr_rds_reader_endpoint.vivr-db-dr"] == instance("us-west-2", "vivr-db-dr")
    [group] = aws.client("elasticache").describe_replication_groups()["ReplicationGroups"]
    nodes = group["NodeGroups"][0]
    assert shown["redis_primary_endpoint"] == nodes["PrimaryEndpoint"]["Address"]
    assert shown["redis_reader_endpoint"] == nodes["ReaderEndpoint"]["Address"]
    [reservation] = aws.client("ec2").describe_instances(Filters=[
        {"Name": "tag:vivr:step", "Values": ["pgbouncer"]}])["Reservations"]
    assert shown["pgbouncer_endpoint"] == f"{reservation['Instances'][0]['PrivateIpAddress']}:6432"
    [balancer] = aws.client("elbv2").describe_load_balancers()["LoadBalancers"]
    assert shown["alb_dns_name"] == balancer["DNSName"]
    [distribution] = aws.client("cloudfront").list_distributions()["DistributionList"]["Items"]
    assert shown["cloudfront_domain_name"] == distribution["DomainName"]
    [zone] = aws.client("route53").list_hosted_zones()["HostedZones"]
    servers = aws.client("route53").get_hosted_zone(Id=zone["Id"])["DelegationSet"]["NameServers"]
    assert shown["route53_name_servers"] == ", ".join(servers)
    assert [shown["sns_topic_arn.devops"]] == [
        t["TopicArn"] for t in aws.client("sns").list_topics()["Topics"]]
    assert shown["bucket.assets"] == "vivr-assets"

    raw = aws.cli("output", "route53_name_servers")
    assert raw.stdout.splitlines() == servers
    code, document = aws.cli_json("output")
    assert document["rds_writer_endpoint"]["step"] == "rds.vivr-db"

    secrets = aws.client("secretsmanager")
    listed = secrets.list_secrets()["SecretList"]
    assert {shown[n] for n in shown if n.startswith("secret_arn.")} == {s["ARN"] for s in listed}
    values = []
    for secret in listed:
        try:
            value = secrets.get_secret_value(SecretId=secret["ARN"])["SecretString"]
        except secrets.exceptions.ResourceNotFoundException:
            continue  # created without a value (set by the operator)
        values.append(value)
        if value.startswith("{"):  # a JSON secret: its password alone must not show either
            values += [v for k, v in json.loads(value).items() if "password" in k]
    assert len(values) >= 3, "the generated secrets have values to leak"
    shows = [aws.cli("state", "show", output["step"]) for name, output in document.items()
             if name.startswith("secret_arn.")]
    assert [show.returncode for show in shows] == [0] * len(listed)
    shows_text = [show.stdout for show in shows]
    for text in (result.stdout, json.dumps(document), *shows_text):
        assert not any(value in text for value in values)


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
