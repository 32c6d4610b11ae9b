"""The standby ALB in config and in the graph: what is refused, what is built, and where.

Config mistakes must stop before any AWS call with the field path and the
reason; the graph must hold the standby's steps on the DR site only when
``dr.standby.alb`` asks for them, and leave the primary's steps as they are.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from vivr_provision.config import parse_config
from vivr_provision.errors import ConfigError
from vivr_provision.steps import build_steps

REPO = Path(__file__).resolve().parents[2]
Mutation = Callable[[dict[str, Any]], None]


@pytest.fixture(scope="module")
def production() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((REPO / "config" / "production.yaml").read_text())
    return data


def _dr_subnet(data: dict[str, Any], name: str) -> dict[str, Any]:
    return next(s for s in data["dr"]["network"]["subnets"] if s["name"] == name)


def _drop_dr_public_route(data: dict[str, Any]) -> None:
    data["dr"]["network"]["route_tables"] = [
        t for t in data["dr"]["network"]["route_tables"] if t["name"] != "vivr-dr-public-rt"]


# (what is wrong, mutation, text the error must contain)
INVALID: list[tuple[str, Mutation, str]] = [
    ("standby promised, no alb", lambda d: d["dr"].pop("alb"),
     "dr.standby.alb: the standby ALB needs a dr.alb section"),
    ("alb in a database subnet", lambda d: d["dr"]["alb"].update(subnets=["dr-db-2a", "dr-db-2b"]),
     "dr.alb.subnets[0] 'dr-db-2a' is a database subnet; the ALB needs public"),
    ("alb in a primary subnet",
     lambda d: d["dr"]["alb"].update(subnets=["public-1a", "dr-public-2b"]),
     "dr.alb.subnets[0] 'public-1a' is not a subnet of dr.network"),
    ("alb in one AZ", lambda d: _dr_subnet(d, "dr-public-2b").update(
        availability_zone="us-west-2a"),
     "dr.alb.subnets: an ALB needs subnets in two availability zones, got ['us-west-2a']"),
    ("dr subnet outside dr.region",
     lambda d: _dr_subnet(d, "dr-public-2b").update(availability_zone="us-east-1b"),
     "dr.network.subnets.dr-public-2b.availability_zone us-east-1b is not in region us-west-2"),
    ("primary group on the standby",
     lambda d: d["dr"]["alb"].update(security_groups=["vivr-alb-sg"]),
     "dr.alb.security_groups[0] 'vivr-alb-sg' is not a group of dr.security_groups"),
    ("listener port closed", lambda d: d["dr"]["security_groups"][0]["ingress"].pop(1),
     "dr.alb.listeners[0].port 443: no ingress rule of vivr-dr-alb-sg allows tcp 443"),
    ("logs with no DR log bucket", lambda d: d["dr"].pop("logs_bucket"),
     "dr.alb.access_logs: an ALB writes access logs only to a bucket in its own region "
     "(us-west-2) and s3.buckets are in us-east-1: set bucket to dr.logs_bucket.settings_of"),
    ("logs to a primary bucket", lambda d: d["dr"]["alb"]["access_logs"].update(bucket="temp"),
     "dr.alb.access_logs: an ALB writes access logs only to a bucket in its own region"),
    ("logs with no bucket", lambda d: d["dr"]["alb"]["access_logs"].pop("bucket"),
     "enabled access logs need a bucket"),
    ("DR log bucket like an unknown bucket",
     lambda d: d["dr"]["logs_bucket"].update(settings_of="audit"),
     "dr.logs_bucket.settings_of 'audit' is not a key of s3.buckets"),
    ("DR log bucket like a KMS bucket", lambda d: d["dr"]["logs_bucket"].update(
        settings_of="backups"),
     "dr.logs_bucket.settings_of 'backups': ALB and S3 access logs need SSE-S3 (AES256)"),
    ("DR log bucket like a replicated bucket", lambda d: d["dr"]["logs_bucket"].update(
        settings_of="backups"),
     "a replicated bucket's DR copy is already dr.s3.backups"),
    ("DR log bucket like a bucket ELB may not write",
     lambda d: d["dr"]["logs_bucket"].update(settings_of="temp"),
     "s3.buckets.temp.policy must be alb-log-delivery"),
    ("DR log bucket named as another", lambda d: d["dr"]["logs_bucket"].update(
        name="vivr-backups-dr"),
     "dr.logs_bucket.name: bucket name 'vivr-backups-dr' is used twice"),
    ("internet-facing with no route out", _drop_dr_public_route,
     "dr.alb.subnets[0] 'dr-public-2a' has no route table to dr.network's internet gateway"),
    ("alb without a dr network", lambda d: d["dr"].pop("network"),
     "dr.alb: the standby ALB needs dr.network"),
    ("replicated secrets without a DR key", lambda d: d["kms"].update(multi_region=False),
     "dr.standby.replicate_secrets: the replicas are encrypted with the key's replica in "
     "dr.region, which needs kms.multi_region: true"),
    ("replicated secrets with DR off", lambda d: d["dr"].update(
        enabled=False, standby={"ecs": False, "redis": False, "alb": False,
                                "replicate_secrets": True}),
     "standby resources need enabled: true"),
    ("failover without the standby",
     lambda d: d["dr"]["standby"].update(alb=False),
     "route53.failover_records[0]: failover needs dr.enabled and dr.standby.alb"),
]


@pytest.mark.parametrize(("what", "mutate", "expected"), INVALID, ids=[i[0] for i in INVALID])
def test_a_wrong_standby_config_is_refused_with_its_path(
        production: dict[str, Any], what: str, mutate: Mutation, expected: str) -> None:
    data = copy.deepcopy(production)
    mutate(data)
    with pytest.raises(ConfigError) as caught:
        parse_config(data, "production.yaml")
    assert expected in str(caught.value), (what, str(caught.value))


def test_the_standby_steps_live_on_the_dr_site(production: dict[str, Any]) -> None:
    steps = {s.name: s for s in build_steps(parse_config(production, "production.yaml"))}
    standby = {"dr.acm", "dr.alb-target-group", "dr.alb", "dr.alb-listener.443",
               "dr.alb-listener.80"}
    assert standby <= set(steps)
    assert {steps[name].region for name in standby} == {"us-west-2"}
    # Its access logs go to the DR site's log bucket: an ALB logs only within its region.
    assert set(steps["dr.alb"].depends_on()) == {
        "dr.subnet.dr-public-2a", "dr.subnet.dr-public-2b", "dr.sg.vivr-dr-alb-sg",
        "dr.alb-target-group", "dr.rtb.vivr-dr-public-rt", "dr.sg-rules.vivr-dr-alb-sg",
        "dr.s3.logs"}
    assert steps["dr.s3.logs"].region == "us-west-2"
    assert steps["dr.alb-target-group"].depends_on() == ("dr.vpc",)
    # The origin-check header's value is a secret of the primary region.
    assert set(steps["dr.alb-listener.443"].depends_on()) == {
        "dr.alb", "dr.alb-target-group", "dr.acm", "secret.origin_verify"}
    # Same validation CNAMEs as the primary certificate: made after it, destroyed before it.
    assert set(steps["dr.acm"].depends_on()) == {"route53-zone", "acm"}
    assert "dr.alb" in steps["dns-failover.origin.vivr.example.com"].depends_on()
    # The primary balancer is untouched by the DR site.
    assert steps["alb"].region == "us-east-1"
    assert set(steps["alb"].depends_on()) == {
        "subnet.public-1a", "subnet.public-1b", "sg.vivr-alb-sg", "alb-target-group", "s3.logs"}
    assert set(steps["alb-listener.443"].depends_on()) == {
        "alb", "alb-target-group", "acm", "secret.origin_verify"}
    assert steps["alb-target-group"].depends_on() == ("vpc",)


def test_no_standby_steps_without_the_standby(production: dict[str, Any]) -> None:
    data = copy.deepcopy(production)
    data["dr"]["standby"]["alb"] = False
    data["dr"]["standby"]["ecs"] = False  # the standby service registers with the ALB
    data["route53"]["failover_records"] = []
    data["cloudfront"]["origins"][0].pop("failover_record")  # back on the ALB's own name
    names = {s.name for s in build_steps(parse_config(data, "production.yaml"))}
    assert not {n for n in names if n.startswith(("dr.alb", "dr.acm", "dr.ecs-", "dr.logs.app"))}
    assert "dr.vpc" in names, "the DR network stays for the replica"


def test_the_dr_log_bucket_is_built_only_with_dr_on() -> None:
    """Staging declares it (dr.logs_bucket) with DR off: nothing in us-west-2 to log."""
    staging = yaml.safe_load((REPO / "config" / "staging.yaml").read_text())
    config = parse_config(staging, "staging.yaml")
    assert config.dr.logs_bucket is not None and not config.dr.enabled
    assert config.dr_log_bucket_name() is None
    assert not {s.name for s in build_steps(config) if s.name.startswith("dr.")}
    enabled = config.model_copy(update={"dr": config.dr.model_copy(update={"enabled": True})})
    assert enabled.dr_log_bucket_name() == "vivr-logs-dr-staging", "s3.name_suffix too"
