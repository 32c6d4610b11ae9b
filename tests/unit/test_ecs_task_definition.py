"""The task definition's environment and secrets, without AWS.

What the container gets: the data tier's endpoints read from the steps that
build it (a changed endpoint is drift, so a new revision), and only the
secrets that have a value (ECS cannot start a task whose secret has no
AWSCURRENT version).  Whether a secret has a value is decided from
DescribeSecret alone (a botocore Stubber fails on any other call, such as
GetSecretValue).  Config mistakes in the endpoint mapping stop before any
AWS call with the field path.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest
import yaml

from tests.unit.stubbed import ACCOUNT, REPO, StubbedAws, production_config
from vivr_provision.config import PlatformConfig, load_config, parse_config
from vivr_provision.config.app import ENDPOINT_OUTPUTS
from vivr_provision.errors import ConfigError
from vivr_provision.steps.base import Resource, StepContext
from vivr_provision.steps.ecs.task_definition import TaskDefinitionStep, desired_task_definition
from vivr_provision.steps.elasticache import CacheStep
from vivr_provision.steps.pgbouncer import PgBouncerStep
from vivr_provision.steps.rds import DbPrimaryStep
from vivr_provision.steps.s3 import BucketStep
from vivr_provision.steps.secrets import SecretStep

Mutation = Callable[[dict[str, Any]], None]
#: What the steps would record for a built data tier.
DATA_TIER: dict[str, dict[str, Any]] = {
    "pgbouncer": {"private_ip": "10.0.10.25", "port": 6432},
    "rds.vivr-db": {"address": "vivr-db.abc.us-east-1.rds.amazonaws.com", "port": 5432},
    "rds.vivr-db-replica-1": {"address": "vivr-db-replica-1.abc.us-east-1.rds.amazonaws.com",
                              "port": 5432},
    "cache": {"primary_endpoint": "master.vivr-cache.abc.use1.cache.amazonaws.com",
              "reader_endpoint": "replica.vivr-cache.abc.use1.cache.amazonaws.com",
              "port": 6379, "transit_encryption": True},
    "s3.assets": {"bucket": "vivr-assets"},
    "s3.temp": {"bucket": "vivr-temp"},
}


@pytest.fixture(scope="module")
def config() -> PlatformConfig:
    return production_config()


def _outputs(config: PlatformConfig, empty: set[str] = frozenset()) -> dict[str, dict[str, Any]]:
    """Outputs of every dependency; secrets in ``empty`` have no value yet."""
    outputs = copy.deepcopy(DATA_TIER)
    outputs.update({
        "iam.task_role": {"role_arn": f"arn:aws:iam::{ACCOUNT}:role/task"},
        "iam.task_execution_role": {"role_arn": f"arn:aws:iam::{ACCOUNT}:role/exec"},
        "logs.app": {"name": "/vivr/production/app"},
    })
    for key in config.secrets.names():
        outputs[f"secret.{key}"] = {
            "arn": f"arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:{key}-AbCdEf",
            "has_value": key not in empty}
    return outputs


def _context(config: PlatformConfig, outputs: dict[str, dict[str, Any]]) -> StepContext:
    """A context whose clients answer nothing: these rules read outputs only."""
    return StubbedAws().context(config, outputs)


def _container(definition: dict[str, Any]) -> dict[str, Any]:
    [container] = definition["containerDefinitions"]
    return dict(container)


def test_the_container_gets_every_data_tier_endpoint_from_its_step(
        config: PlatformConfig) -> None:
    container = _container(desired_task_definition(_context(config, _outputs(config)), config,
                                                   "us-east-1"))
    environment = {e["name"]: e["value"] for e in container["environment"]}
    assert {k: v for k, v in environment.items() if k.startswith(("DATABASE_", "REDIS_", "S3_"))
            and k != "DATABASE_CONNECT_TIMEOUT_SECONDS"} == {
        "DATABASE_HOST": "10.0.10.25", "DATABASE_PORT": "6432",
        "DATABASE_WRITER_HOST": "vivr-db.abc.us-east-1.rds.amazonaws.com",
        "DATABASE_WRITER_PORT": "5432",
        "DATABASE_READER_HOST": "vivr-db-replica-1.abc.us-east-1.rds.amazonaws.com",
        "DATABASE_READER_PORT": "5432", "DATABASE_SSLMODE": "require",
        "REDIS_HOST": "master.vivr-cache.abc.use1.cache.amazonaws.com",
        "REDIS_READER_HOST": "replica.vivr-cache.abc.use1.cache.amazonaws.com",
        "REDIS_PORT": "6379", "REDIS_TLS": "true",
        "S3_ASSETS_BUCKET": "vivr-assets", "S3_TEMP_BUCKET": "vivr-temp"}
    assert set(TaskDefinitionStep(config).depends_on()) >= {
        "pgbouncer", "rds.vivr-db", "rds.vivr-db-replica-1", "cache", "s3.assets", "s3.temp"}


def test_a_moved_endpoint_is_drift_that_registers_a_new_revision(
        config: PlatformConfig) -> None:
    step = TaskDefinitionStep(config)
    outputs = _outputs(config)
    registered = desired_task_definition(_context(config, outputs), config, "us-east-1")
    current = Resource("arn:aws:ecs:us-east-1:1:task-definition/vivr-app:1",
                       {**registered, "tags": [{"key": k, "value": v}
                                               for k, v in step.tags().items()]})
    assert step.diff(_context(config, outputs), current) == []
    outputs["pgbouncer"]["private_ip"] = "10.0.11.40"  # instance replaced
    [change] = step.diff(_context(config, outputs), current)
    assert "DATABASE_HOST" in change.field
    assert (change.current, change.desired) == ("10.0.10.25", "10.0.11.40")


def test_an_endpoint_the_resource_does_not_report_fails_naming_the_variable(
        config: PlatformConfig) -> None:
    outputs = _outputs(config)
    del outputs["cache"]["reader_endpoint"]
    with pytest.raises(RuntimeError, match=r"endpoints\.REDIS_READER_HOST: cache reports no "
                                           r"reader_endpoint"):
        desired_task_definition(_context(config, outputs), config, "us-east-1")


def test_secrets_without_a_value_are_left_out_and_named_in_the_notes(
        config: PlatformConfig) -> None:
    empty = {"stripe", "sendgrid", "cloudinary", "sentry"}
    ctx = _context(config, _outputs(config, empty))
    container = _container(desired_task_definition(ctx, config, "us-east-1"))
    assert {s["name"] for s in container["secrets"]} == {
        "DATABASE_USERNAME", "DATABASE_PASSWORD", "REDIS_AUTH_TOKEN",
        "CLOUDFRONT_FLE_PRIVATE_KEY"}
    [note] = TaskDefinitionStep(config).notes(ctx, None)
    for env, name in (("STRIPE_SECRET_KEY", "vivr/production/stripe"),
                      ("SENTRY_DSN", "vivr/production/sentry")):
        assert f"{env} ({name})" in note

    ctx = _context(config, _outputs(config, empty - {"stripe"}))
    container = _container(desired_task_definition(ctx, config, "us-east-1"))
    assert {"name": "STRIPE_SECRET_KEY",
            "valueFrom": f"arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:stripe-AbCdEf"} \
        in container["secrets"]
    assert TaskDefinitionStep(config).notes(_context(config, _outputs(config)), None) == []


def _described(step: SecretStep, stages: dict[str, list[str]] | None) -> dict[str, Any]:
    reply: dict[str, Any] = {
        "ARN": f"arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:{step.secret_name}-AbCdEf",
        "Name": step.secret_name, "Description": step.description,
        "Tags": [{"Key": k, "Value": v} for k, v in step.tags().items()]}
    if stages is not None:
        reply["VersionIdsToStages"] = stages
    return reply


V1, V2 = "a" * 32, "b" * 32  # version ids: 32-64 characters (botocore model)


@pytest.mark.parametrize(("stages", "has_value"), [
    (None, False),                                   # created without a value (no version)
    ({}, False),
    ({V1: ["AWSPENDING"]}, False),                   # a rotation's pending version only
    ({V1: ["AWSCURRENT"]}, True),
    ({V1: ["AWSPREVIOUS"], V2: ["AWSCURRENT", "custom"]}, True),
])
def test_a_secret_has_a_value_only_with_an_awscurrent_version_read_from_its_metadata(
        config: PlatformConfig, stages: dict[str, list[str]] | None, has_value: bool) -> None:
    step = SecretStep(config, "stripe", "vivr/production/stripe", "Stripe secret key (payments)")
    with StubbedAws() as aws:  # any other call (GetSecretValue) fails the test
        aws.expect("secretsmanager", "describe_secret", _described(step, stages),
                   {"SecretId": "vivr/production/stripe"})
        ctx = aws.context(config, {})
        found = step.find_by_tags(ctx)
    assert found is not None
    assert step.outputs(found)["has_value"] is has_value
    notes = step.notes(ctx, found)
    if has_value:
        assert notes == []
    else:
        [note] = notes
        assert "aws secretsmanager put-secret-value --secret-id vivr/production/stripe " \
               "--secret-string file://" in note and note.endswith("--region us-east-1`")


def test_every_endpoint_output_the_config_may_name_is_one_its_step_records(
        config: PlatformConfig) -> None:
    """ENDPOINT_OUTPUTS (config) and the steps' outputs() must not drift apart."""
    produced = {
        "rds": DbPrimaryStep(config).outputs(Resource("vivr-db", {
            "Endpoint": {"Address": "a", "Port": 5432}})),
        "pgbouncer": PgBouncerStep(config).outputs(Resource("i-1", {
            "PrivateIpAddress": "10.0.10.5"})),
        "redis": CacheStep(config).outputs(Resource("vivr-cache", {
            "TransitEncryptionEnabled": True, "NodeGroups": [{
                "PrimaryEndpoint": {"Address": "p", "Port": 6379},
                "ReaderEndpoint": {"Address": "r", "Port": 6379}}]})),
        "s3": BucketStep(config, "assets").outputs(Resource("vivr-assets")),
    }
    for source, names in ENDPOINT_OUTPUTS.items():
        assert set(names) <= set(produced[source]), source


def _endpoint(data: dict[str, Any], env: str) -> dict[str, Any]:
    endpoints: dict[str, dict[str, Any]] = data["ecs"]["task_definition"]["container"]["endpoints"]
    return endpoints[env]


INVALID: list[tuple[str, Mutation, str]] = [
    ("unknown source", lambda d: _endpoint(d, "DATABASE_HOST").update(source="dynamodb"),
     "endpoints.DATABASE_HOST.source"),
    ("output of another source",
     lambda d: _endpoint(d, "REDIS_HOST").update(output="address"),
     "output 'address' is not an output of redis"),
    ("rds without an instance", lambda d: _endpoint(d, "DATABASE_WRITER_HOST").pop("key"),
     "source rds needs key"),
    ("key on a single resource", lambda d: _endpoint(d, "REDIS_HOST").update(key="vivr-cache"),
     "source redis is a single resource"),
    ("the cross-region replica",
     lambda d: _endpoint(d, "DATABASE_READER_HOST").update(key="vivr-db-dr"),
     "endpoints.DATABASE_READER_HOST.key 'vivr-db-dr' is not an RDS instance in us-east-1"),
    ("unknown bucket", lambda d: _endpoint(d, "S3_ASSETS_BUCKET").update(key="media"),
     "endpoints.S3_ASSETS_BUCKET.key 'media' is not a key of s3.buckets"),
    ("a variable set twice",
     lambda d: d["ecs"]["task_definition"]["container"]["environment"].update(REDIS_HOST="x"),
     "variable(s) set twice (environment, endpoints, secrets): REDIS_HOST"),
]


@pytest.mark.parametrize(("what", "mutate", "expected"), INVALID, ids=[i[0] for i in INVALID])
def test_a_wrong_endpoint_mapping_is_refused_with_its_path(
        what: str, mutate: Mutation, expected: str) -> None:
    data = yaml.safe_load((REPO / "config" / "production.yaml").read_text())
    mutate(data)
    with pytest.raises(ConfigError) as caught:
        parse_config(data, "production.yaml")
    assert expected in str(caught.value), (what, str(caught.value))


def test_staging_reads_from_its_primaries_having_no_replicas() -> None:
    staging = load_config(REPO / "config" / "staging.yaml", "staging")
    endpoints = staging.ecs.task_definition.container.endpoints
    assert endpoints["DATABASE_READER_HOST"].key == endpoints["DATABASE_WRITER_HOST"].key \
        == staging.rds.identifier
    assert endpoints["REDIS_READER_HOST"].output == "primary_endpoint"


def test_the_root_filesystem_is_read_only_with_tmp_a_task_volume(config: PlatformConfig) -> None:
    request = desired_task_definition(_context(config, _outputs(config)), config, "us-east-1")
    container = _container(request)
    assert container["readonlyRootFilesystem"] is True
    assert container["mountPoints"] == [
        {"sourceVolume": "rw-tmp", "containerPath": "/tmp", "readOnly": False}]
    # A volume with a name and no host: empty, task-scoped (Fargate ephemeral storage).
    assert request["volumes"] == [{"name": "rw-tmp"}]


def _production_with(**container: Any) -> PlatformConfig:
    data = yaml.safe_load((REPO / "config" / "production.yaml").read_text())
    data["ecs"]["task_definition"]["container"].update(container)
    return parse_config(data, "production.yaml")


def test_each_writable_path_is_its_own_volume_and_none_means_none() -> None:
    config = _production_with(writable_paths=["/tmp", "/var/cache/next"])
    request = desired_task_definition(_context(config, _outputs(config)), config, "us-east-1")
    assert [m["sourceVolume"] for m in _container(request)["mountPoints"]] == \
        ["rw-tmp", "rw-var-cache-next"]
    assert request["volumes"] == [{"name": "rw-tmp"}, {"name": "rw-var-cache-next"}]
    writable = _production_with(read_only_root_filesystem=False, writable_paths=[])
    request = desired_task_definition(_context(writable, _outputs(writable)), writable,
                                      "us-east-1")
    assert request["volumes"] == []
    assert not {"readonlyRootFilesystem", "mountPoints"} & set(_container(request))


@pytest.mark.parametrize(("paths", "message"), [
    (["tmp"], "'tmp' is not an absolute directory path other than /"),
    (["/"], "'/' is not an absolute directory path other than /"),
    (["/var/cache", "/var-cache"], "paths that name the same volume (rw-var-cache)"),
])
def test_a_bad_writable_path_is_refused_with_its_reason(paths: list[str], message: str) -> None:
    with pytest.raises(ConfigError) as refused:
        _production_with(writable_paths=paths)
    assert message in str(refused.value)


def test_awslogs_delivers_non_blocking_with_its_buffer(config: PlatformConfig) -> None:
    request = desired_task_definition(_context(config, _outputs(config)), config, "us-east-1")
    options = _container(request)["logConfiguration"]["options"]
    assert (options["mode"], options["max-buffer-size"]) == ("non-blocking", "10m")
    blocking = _production_with(log_mode="blocking")
    options = _container(desired_task_definition(
        _context(blocking, _outputs(blocking)), blocking, "us-east-1"))["logConfiguration"]
    # max-buffer-size means nothing in blocking mode (ECS API reference): not sent.
    assert options["options"]["mode"] == "blocking"
    assert "max-buffer-size" not in options["options"]


def test_a_revision_still_in_blocking_mode_is_drift(config: PlatformConfig) -> None:
    ctx = _context(config, _outputs(config))
    step = TaskDefinitionStep(config)
    current = copy.deepcopy(step.desired(ctx))
    options = current["containerDefinitions"][0]["logConfiguration"]["options"]
    del options["max-buffer-size"]
    options["mode"] = "blocking"
    changes = step.diff(ctx, Resource("arn:td:1", {**current, "tags": [
        {"key": k, "value": v} for k, v in step.tags().items()]}))
    assert {(c.field.rsplit(".", 1)[-1], c.current, c.desired) for c in changes} == {
        ("mode", "blocking", "non-blocking"), ("max-buffer-size", None, "10m")}


@pytest.mark.parametrize("size", ["10", "10 m", "0m", "10M", "1t"])
def test_a_bad_buffer_size_is_refused(size: str) -> None:
    with pytest.raises(ConfigError) as refused:
        _production_with(log_max_buffer_size=size)
    assert "a buffer size such as 10m" in str(refused.value)
