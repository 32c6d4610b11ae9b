"""``vivr-provision output``: what an operator or CI reads after an apply, from state alone."""

from __future__ import annotations

import ast
import json
import string
from pathlib import Path

import pytest

from tests.unit.state_cli import (
    ALB_ARN,
    LEAKED,
    REPO,
    SECRET_ARN,
    completions,
    run,
    write_state,
)
from vivr_provision.config.loader import load_config
from vivr_provision.outputs import OUTPUTS
from vivr_provision.state.redaction import is_secret_key
from vivr_provision.steps.base import Resource
from vivr_provision.steps.rds import DbPrimaryStep, DbReplicaStep


@pytest.fixture
def state(tmp_path: Path) -> Path:
    path = tmp_path / "state" / "production.json"
    write_state(path)
    return path


def test_text_lists_every_endpoint_as_aligned_name_value_lines(
        state: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    code, out, err = run(monkeypatch, state, "output")
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert len({line.index(" = ") for line in lines}) == 1, "the = signs line up"
    shown = {name.strip(): value for name, value in (line.split(" = ", 1) for line in lines)}
    assert shown == {
        "cloudfront_domain_name": "d111111abcdef8.cloudfront.net",
        "cloudfront_distribution_id": "E2ABC",
        "alb_dns_name": "vivr-alb-1234567890.us-east-1.elb.amazonaws.com",
        "alb_zone_id": "Z35SXDOTRQ7X7K",
        "alb_arn": ALB_ARN,
        "route53_zone_name": "vivr.example.com",
        "route53_zone_id": "Z0123",
        "route53_name_servers": "ns-1.awsdns-01.org, ns-2.awsdns-02.co.uk",
        "rds_writer_endpoint": "vivr-db.c1.us-east-1.rds.amazonaws.com",
        "rds_port": "5432",
        "rds_reader_endpoint.vivr-db-replica-1": "vivr-db-replica-1.c1.us-east-1.rds.amazonaws.com",
        "dr_rds_reader_endpoint.vivr-db-dr": "vivr-db-dr.c2.us-west-2.rds.amazonaws.com",
        "pgbouncer_endpoint": "10.0.10.5:6432",
        "pgbouncer_instance_id": "i-0abc",
        "redis_primary_endpoint": "master.vivr-redis.x.use1.cache.amazonaws.com",
        "redis_reader_endpoint": "replica.vivr-redis.x.use1.cache.amazonaws.com",
        "redis_port": "6379",
        "redis_tls": "true",
        "bucket.assets": "vivr-assets",
        "secret_arn.database_credentials": SECRET_ARN,
        "sns_topic_arn.critical": "arn:aws:sns:us-east-1:123456789012:vivr-critical",
    }


def test_a_name_prints_the_raw_value_for_scripts(
        state: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert run(monkeypatch, state, "output", "pgbouncer_endpoint") == (0, "10.0.10.5:6432\n", "")
    assert run(monkeypatch, state, "output", "route53_name_servers") == (
        0, "ns-1.awsdns-01.org\nns-2.awsdns-02.co.uk\n", ""), "one name server a line"


def test_json_maps_each_name_to_value_description_and_step(
        state: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    code, out, _ = run(monkeypatch, state, "output", "--output", "json")
    document = json.loads(out)
    assert code == 0
    assert document["route53_name_servers"] == {
        "value": ["ns-1.awsdns-01.org", "ns-2.awsdns-02.co.uk"],
        "description": "Name servers to delegate the domain to (at the registrar)",
        "step": "route53-zone"}
    assert document["rds_port"]["value"] == 5432
    code, out, _ = run(monkeypatch, state, "output", "alb_dns_name", "--output", "json")
    assert json.loads(out)["value"] == "vivr-alb-1234567890.us-east-1.elb.amazonaws.com"


def test_a_secret_value_in_state_is_never_printed(
        state: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for args in (("output",), ("output", "--output", "json"),
                 ("output", "secret_arn.database_credentials")):
        code, out, err = run(monkeypatch, state, *args)
        assert code == 0
        assert SECRET_ARN in out
        assert LEAKED not in out + err


def test_an_unknown_name_is_one_line_with_a_suggestion_and_exit_2(
        state: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    code, out, err = run(monkeypatch, state, "output", "alb_dns")
    assert (code, out) == (2, "")
    assert err == "error: no output named 'alb_dns'; did you mean alb_dns_name?\n"
    code, _, err = run(monkeypatch, state, "output", "bucket.asets")
    assert code == 2 and "did you mean bucket.assets?" in err


def test_a_known_output_of_a_step_not_applied_says_so(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "state.json"
    write_state(path, {"vpc": ("vpc-1", {"id": "vpc-1"})})
    code, out, err = run(monkeypatch, path, "output", "alb_dns_name")
    assert (code, out) == (1, "")
    assert err.startswith("error: output alb_dns_name has no value yet: step alb is not applied")
    assert len(err.splitlines()) == 1


def test_nothing_applied_yet_is_said_plainly(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    missing = tmp_path / "none.json"
    code, out, err = run(monkeypatch, missing, "output")
    assert (code, out) == (0, "")
    assert err == (f"no outputs: nothing applied yet in {missing} "
                   "(run `vivr-provision apply`)\n")
    assert run(monkeypatch, missing, "output", "--output", "json")[:2] == (0, "{}\n")
    assert not missing.exists(), "reading outputs writes nothing"


def test_only_ready_steps_give_outputs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "state.json"
    write_state(path, status="failed")
    assert run(monkeypatch, path, "output")[1] == ""


def test_names_complete_from_the_outputs_the_state_has(state: Path) -> None:
    assert completions(f"vivr-provision output --state {state} rds_") == [
        "rds_writer_endpoint", "rds_port", "rds_reader_endpoint.vivr-db-replica-1"]


# ------------------------------------------------------------------ the table


def _fields(key: str) -> list[str]:
    names = [name for _, name, _, _ in string.Formatter().parse(key) if name]
    return names or [key]


def test_the_table_is_consistent_and_names_no_secret_value() -> None:
    names = [spec.name for spec in OUTPUTS]
    assert len(names) == len(set(names))
    for spec in OUTPUTS:
        if "{member}" in spec.name:
            assert spec.step.endswith("*"), spec
        elif spec.step.endswith("*"):
            assert spec.role == "writer", f"one name for a family only for its one writer: {spec}"
        assert "*" not in spec.step[:-1], spec
        assert spec.description and len(spec.description) <= 70, spec
        assert not any(is_secret_key(field) for field in _fields(spec.key)), spec


def test_rds_instances_record_whether_they_are_the_writer_or_a_reader() -> None:
    config = load_config(REPO / "config" / "production.yaml")
    resource = Resource("vivr-db", {"Endpoint": {"Address": "h", "Port": 5432}})
    assert DbPrimaryStep(config).outputs(resource)["role"] == "writer"
    replica = DbReplicaStep(config, config.rds.read_replicas[0])
    assert replica.outputs(resource)["role"] == "reader"


NEW_MODULES = ("vivr_provision/outputs.py", "vivr_provision/output_values.py",
               "vivr_provision/cli/outputs.py", "vivr_provision/cli/state_cmd.py",
               "vivr_provision/cli/state_access.py", "vivr_provision/state/migrate.py",
               "vivr_provision/state/redaction.py")
HEAVY = ("boto3", "botocore", "vivr_provision.aws", "vivr_provision.engine",
         "vivr_provision.steps", "vivr_provision.render", "vivr_provision.cli.run",
         "vivr_provision.state.s3")


@pytest.mark.parametrize("module", NEW_MODULES)
def test_output_and_state_modules_import_no_aws_code_at_module_level(module: str) -> None:
    """boto3 and the step classes load only inside ``state migrate`` to or from S3."""
    tree = ast.parse((REPO / module).read_text())
    top = [node for node in tree.body if isinstance(node, ast.Import | ast.ImportFrom)]
    names = [alias.name for node in top if isinstance(node, ast.Import) for alias in node.names]
    names += [node.module or "" for node in top if isinstance(node, ast.ImportFrom)]
    assert [n for n in names if n.startswith(HEAVY)] == []
