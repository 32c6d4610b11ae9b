"""Catalog resolution rules on botocore Stubber clients: what AWS's catalogs answer
decides the engine version, and what they do not offer stops plan with one line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from vivr_provision.catalog import Catalog, CatalogError, Resolved, version_key
from vivr_provision.catalog_requests import lazy, resolve
from vivr_provision.config import PlatformConfig, load_config
from vivr_provision.steps.base import StepContext
from vivr_provision.steps.rds import DbPrimaryStep

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def config() -> PlatformConfig:
    return load_config(REPO / "config" / "production.yaml", "production")


class StubbedClients:
    """A ClientFactory stand-in: one Stubber-backed client per service and region."""

    def __init__(self) -> None:
        self.stubbers: dict[tuple[str, str], Stubber] = {}
        self.clients: dict[tuple[str, str], Any] = {}

    def client(self, service: str, region: str | None = None) -> Any:
        key = (service, region or "us-east-1")
        if key not in self.clients:
            client = boto3.client(service, region_name=key[1], aws_access_key_id="a",
                                  aws_secret_access_key="b")
            self.clients[key] = client
            self.stubbers[key] = Stubber(client)
            self.stubbers[key].activate()
        return self.clients[key]

    def stub(self, service: str, region: str, operation: str, reply: dict[str, Any],
             expected: dict[str, Any] | None = None) -> None:
        self.client(service, region)
        self.stubbers[(service, region)].add_response(operation, reply, expected)

    def error(self, service: str, region: str, operation: str, code: str) -> None:
        self.client(service, region)
        self.stubbers[(service, region)].add_client_error(operation, code, http_status_code=400)

    def verify(self) -> None:
        for stubber in self.stubbers.values():
            stubber.assert_no_pending_responses()


def _versions(*versions: str, status: str = "available") -> dict[str, Any]:
    return {"DBEngineVersions": [{"Engine": "postgres", "EngineVersion": v, "Status": status}
                                 for v in versions]}


def _option(**overrides: Any) -> dict[str, Any]:
    option = {"Engine": "postgres", "DBInstanceClass": "db.t3.small", "StorageType": "gp3",
              "MultiAZCapable": True, "ReadReplicaCapable": True, "Vpc": True,
              "SupportsStorageEncryption": True, "SupportsIAMDatabaseAuthentication": True,
              "SupportsEnhancedMonitoring": True, "SupportsPerformanceInsights": True,
              "SupportsStorageAutoscaling": True, "MinStorageSize": 20,
              "MaxStorageSize": 65536}
    option.update(overrides)
    return option


def _stub_everything_after_rds_versions(clients: StubbedClients, primary: list[dict[str, Any]],
                                        *, version: str, tls_known: bool = True,
                                        image_arch: str = "x86_64") -> None:
    for region in ("us-east-1", "us-east-1", "us-west-2"):  # primary, replica-1, dr replica
        clients.stub("rds", region, "describe_orderable_db_instance_options",
                     {"OrderableDBInstanceOptions": primary},
                     {"Engine": "postgres", "EngineVersion": version,
                      "DBInstanceClass": "db.t3.small", "Vpc": True})
    for region in ("us-east-1", "us-west-2"):  # the primary cache, the DR standby's
        clients.stub("elasticache", region, "describe_cache_engine_versions",
                     {"CacheEngineVersions": [
                         {"Engine": "redis", "EngineVersion": v,
                          "CacheParameterGroupFamily": "redis7"} for v in ("7.0", "7.1")]},
                     {"Engine": "redis"})
        clients.stub("elasticache", region, "describe_reserved_cache_nodes_offerings",
                     {"ReservedCacheNodesOfferings": [{"CacheNodeType": "cache.t3.small"}]},
                     {"CacheNodeType": "cache.t3.small", "ProductDescription": "redis"})
    parameter = "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64"
    clients.stub("ssm", "us-east-1", "get_parameters",
                 {"Parameters": [{"Name": parameter, "Value": "ami-12345678"}]},
                 {"Names": [parameter]})
    clients.stub("ec2", "us-east-1", "describe_images",
                 {"Images": [{"ImageId": "ami-12345678", "State": "available",
                              "Architecture": image_arch, "Name": "al2023-ami-2023.9"}]},
                 {"ImageIds": ["ami-12345678"]})
    clients.stub("ec2", "us-east-1", "describe_instance_types",
                 {"InstanceTypes": [{"InstanceType": "t3.small", "ProcessorInfo": {
                     "SupportedArchitectures": ["x86_64"]}}]}, {"InstanceTypes": ["t3.small"]})
    if not tls_known:
        clients.error("elbv2", "us-east-1", "describe_ssl_policies", "SSLPolicyNotFound")
        return
    for region in ("us-east-1", "us-west-2"):
        clients.stub("elbv2", region, "describe_ssl_policies",
                     {"SslPolicies": [{"Name": "ELBSecurityPolicy-TLS13-1-2-Res-FIPS-PQ-2025-09",
                                       "SslProtocols": ["TLSv1.2", "TLSv1.3"]}]},
                     {"Names": ["ELBSecurityPolicy-TLS13-1-2-Res-FIPS-PQ-2025-09"]})


@pytest.fixture
def clients() -> StubbedClients:
    return StubbedClients()


def _with(config: PlatformConfig, **rds: Any) -> PlatformConfig:
    return config.model_copy(update={"rds": config.rds.model_copy(update=rds)})


def test_a_major_resolves_to_the_newest_minor_both_regions_create(
        config: PlatformConfig, clients: StubbedClients) -> None:
    # us-east-1 already creates 16.15; the DR region (us-west-2) does not yet:
    # the cross-region replica is created at the primary's version, so 16.14 wins.
    clients.stub("rds", "us-east-1", "describe_db_engine_versions",
                 _versions("16.9", "16.15", "16.14"), {"Engine": "postgres", "EngineVersion": "16"})
    clients.stub("rds", "us-west-2", "describe_db_engine_versions",
                 _versions("16.9", "16.14"), {"Engine": "postgres", "EngineVersion": "16"})
    _stub_everything_after_rds_versions(clients, [_option()], version="16.14")
    found = resolve(config, clients)  # type: ignore[arg-type]
    clients.verify()
    assert found.value("rds.engine_version", "x") == "16.14"
    assert found.records()["rds.engine_version"].requested == "16"
    notes = found.notes_for("rds.vivr-db")
    assert any("engine postgres 16.14 (the newest 16.x RDS creates in us-east-1 and us-west-2"
               in n for n in notes), notes
    assert found.value("redis.engine_version", "x") == "7.0"
    # The standby Redis is resolved in its own region, under its own key and step.
    standby = found.records()["dr.redis.engine_version"]
    assert (standby.value, standby.regions) == ("7.0", ["us-west-2"])
    assert any(n.startswith("engine redis 7.0") for n in found.notes_for("dr.cache"))
    assert found.value("pgbouncer.ami_parameter", "x") == "ami-12345678"


def test_deprecated_versions_are_never_chosen(config: PlatformConfig,
                                              clients: StubbedClients) -> None:
    reply = _versions("16.9", "16.10")
    reply["DBEngineVersions"].append({"Engine": "postgres", "EngineVersion": "16.99",
                                      "Status": "deprecated"})
    clients.stub("rds", "us-east-1", "describe_db_engine_versions", reply)
    clients.stub("rds", "us-west-2", "describe_db_engine_versions", reply)
    _stub_everything_after_rds_versions(clients, [_option()], version="16.10")
    assert resolve(config, clients).value("rds.engine_version", "x") == "16.10"  # type: ignore[arg-type]


def test_a_pinned_version_aws_no_longer_creates_names_the_newest(
        config: PlatformConfig, clients: StubbedClients) -> None:
    for region in ("us-east-1", "us-west-2"):
        clients.stub("rds", region, "describe_db_engine_versions", _versions("16.9", "16.15"))
    with pytest.raises(CatalogError) as caught:
        resolve(_with(config, engine_version="16.1"), clients)  # type: ignore[arg-type]
    message = str(caught.value)
    assert "\n" not in message and caught.value.exit_code == 2
    assert message.startswith("rds.engine_version '16.1': AWS no longer creates")
    assert "the newest valid 16.x is 16.15" in message


def test_a_pinned_version_only_the_primary_region_creates_is_refused(
        config: PlatformConfig, clients: StubbedClients) -> None:
    clients.stub("rds", "us-east-1", "describe_db_engine_versions", _versions("16.9", "16.15"))
    clients.stub("rds", "us-west-2", "describe_db_engine_versions", _versions("16.9"))
    with pytest.raises(CatalogError, match=r"in us-east-1 and us-west-2; the newest valid "
                                           r"16\.x is 16\.9"):
        resolve(_with(config, engine_version="16.15"), clients)  # type: ignore[arg-type]


@pytest.mark.parametrize(("options", "expected"), [
    ([], "rds.instance_class db.t3.small: not orderable for postgres 16.15 in us-east-1"),
    ([_option(StorageType="gp2")], "offers storage gp2, not gp3"),
    ([_option(MultiAZCapable=False)], "does not support Multi-AZ"),
    ([_option(SupportsPerformanceInsights=False, SupportsIAMDatabaseAuthentication=False)],
     "does not support IAM database authentication, Performance Insights"),
    ([_option(MaxStorageSize=50)], "100 GiB (allowed 20-50)"),
])
def test_an_instance_class_not_orderable_as_configured_is_refused(
        config: PlatformConfig, clients: StubbedClients, options: list[dict[str, Any]],
        expected: str) -> None:
    for region in ("us-east-1", "us-west-2"):
        clients.stub("rds", region, "describe_db_engine_versions", _versions("16.15"))
    clients.stub("rds", "us-east-1", "describe_orderable_db_instance_options",
                 {"OrderableDBInstanceOptions": options})
    with pytest.raises(CatalogError) as caught:
        resolve(config, clients)  # type: ignore[arg-type]
    assert expected in str(caught.value)


def test_an_unknown_tls_policy_is_refused_naming_the_listener(
        config: PlatformConfig, clients: StubbedClients) -> None:
    for region in ("us-east-1", "us-west-2"):
        clients.stub("rds", region, "describe_db_engine_versions", _versions("16.15"))
    _stub_everything_after_rds_versions(clients, [_option()], version="16.15", tls_known=False)
    with pytest.raises(CatalogError, match=r"alb\.listeners\[0\]\.ssl_policy "
                       r"ELBSecurityPolicy-TLS13-1-2-Res-FIPS-PQ-2025-09: not an ELB"):
        resolve(config, clients)  # type: ignore[arg-type]


def test_version_order_is_numeric() -> None:
    assert sorted(["16.10", "16.9", "16.15", "16.2"], key=version_key) == \
        ["16.2", "16.9", "16.10", "16.15"]
    assert version_key("11.22-rds.20250508") > version_key("11.22")


# --------------------------------------------------------------------------- drift


def _resolved(value: str) -> Catalog:
    found = Catalog()
    found.add(Resolved("rds.engine_version", "16", value, ("us-east-1",), "test",
                       "rds.vivr-db", "engine"))
    return found


def _ctx(config: PlatformConfig, catalog: Catalog) -> StepContext:
    return StepContext(config, clients=None, outputs_of=lambda _: None,  # type: ignore[arg-type]
                       catalog=catalog)


@pytest.mark.parametrize(("configured", "running", "change"), [
    ("16", "16.9", None),                    # a newer minor at AWS is no reason to upgrade
    ("16", "17.2", ("replace", "")),          # a major change is deliberate
    ("16.15", "16.9", ("update", "in the maintenance window")),
    ("16.9", "16.15", None),                  # RDS cannot downgrade: a note, not a change
])
def test_engine_version_drift_follows_the_config_intent(
        config: PlatformConfig, configured: str, running: str,
        change: tuple[str, str] | None) -> None:
    step = DbPrimaryStep(_with(config, engine_version=configured))
    found = step.version_change({"EngineVersion": running})
    if change is None:
        assert found is None
    else:
        assert found is not None
        assert ("replace" if found.replace else "update", found.when) == change


def test_a_running_older_minor_gets_a_note_and_the_create_uses_the_resolved_version(
        config: PlatformConfig) -> None:
    from vivr_provision.steps.base import Resource

    step = DbPrimaryStep(config)
    ctx = _ctx(config, _resolved("16.15"))
    assert step.engine_version(ctx) == "16.15"
    assert step.engine_version(_ctx(config, Catalog())) == "16"
    (note,) = step.notes(ctx, Resource("vivr-db", {"EngineVersion": "16.9"}))
    assert "runs postgres 16.9; RDS creates 16.15 now" in note
    assert "auto minor version upgrade moves it" in note
    assert step.notes(ctx, Resource("vivr-db", {"EngineVersion": "16.15"})) == []
    pinned = DbPrimaryStep(_with(config, engine_version="16.9"))
    (note,) = pinned.notes(ctx, Resource("vivr-db", {"EngineVersion": "16.15"}))
    assert "newer than the pinned 16.9; RDS cannot downgrade" in note


def test_recording_in_state_keeps_unchanged_values_as_they_were() -> None:
    from vivr_provision.state import State, utc_now

    state = State(project="vivr", environment="production", created_at=utc_now(),
                  updated_at=utc_now())
    assert _resolved("16.15").merge_into(state)
    first = state.catalog["rds.engine_version"]
    assert (first.requested, first.value, first.source) == ("16", "16.15", "test")
    assert not _resolved("16.15").merge_into(state)  # nothing new: no save needed
    assert state.catalog["rds.engine_version"] is first
    assert _resolved("16.16").merge_into(state)
    assert state.catalog["rds.engine_version"].value == "16.16"


def test_an_image_the_instance_type_cannot_boot_is_refused(
        config: PlatformConfig, clients: StubbedClients) -> None:
    for region in ("us-east-1", "us-west-2"):
        clients.stub("rds", region, "describe_db_engine_versions", _versions("16.15"))
    _stub_everything_after_rds_versions(clients, [_option()], version="16.15",
                                        image_arch="arm64")
    with pytest.raises(CatalogError, match=r"pgbouncer\.ami_parameter .* is a arm64 image "
                                           r"\(ami-12345678\); t3\.small runs x86_64"):
        resolve(config, clients)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- asked lazily


def test_nothing_is_asked_until_a_step_about_to_change_demands_it(
        config: PlatformConfig, clients: StubbedClients) -> None:
    found = lazy(config, clients)  # type: ignore[arg-type]
    assert found.asked() == [] and found.notes_for("rds.vivr-db") == []
    # The primary about to be created: its version (in every region that will hold an
    # instance) and its own class; not the replicas' classes, the caches, AMIs or TLS.
    for region in ("us-east-1", "us-west-2"):
        clients.stub("rds", region, "describe_db_engine_versions", _versions("16.15"))
    clients.stub("rds", "us-east-1", "describe_orderable_db_instance_options",
                 {"OrderableDBInstanceOptions": [_option()]},
                 {"Engine": "postgres", "EngineVersion": "16.15",
                  "DBInstanceClass": "db.t3.small", "Vpc": True})
    found.demand(["rds.vivr-db", "vpc"])
    found.demand(["rds.vivr-db"])  # once per run
    clients.verify()
    assert found.asked() == ["rds.engine_version", "rds.instance_class@us-east-1"]
    assert found.value("rds.engine_version", "16") == "16.15"
    # A create asks for the value it sends: only that site's cache request.
    clients.stub("elasticache", "us-west-2", "describe_cache_engine_versions",
                 {"CacheEngineVersions": [{"Engine": "redis", "EngineVersion": v,
                                           "CacheParameterGroupFamily": "redis7"}
                                          for v in ("7.0", "7.1")]})
    clients.stub("elasticache", "us-west-2", "describe_reserved_cache_nodes_offerings",
                 {"ReservedCacheNodesOfferings": []})
    assert found.value("dr.redis.engine_version", "7") == "7.0"
    clients.verify()
    assert "dr.redis.engine_version" in found.asked() and "redis.engine_version" not in \
        found.asked()


def test_a_refused_request_is_asked_once_and_refuses_every_demand(
        config: PlatformConfig, clients: StubbedClients) -> None:
    found = lazy(_with(config, engine_version="16.1"), clients)  # type: ignore[arg-type]
    for region in ("us-east-1", "us-west-2"):
        clients.stub("rds", region, "describe_db_engine_versions", _versions("16.15"))
    for _ in range(2):
        with pytest.raises(CatalogError, match=r"the newest valid 16\.x is 16\.15"):
            found.demand(["dr.rds.vivr-db-dr"])
    clients.verify()


def test_a_value_not_asked_this_run_keeps_its_record_while_the_config_asks_it(
        config: PlatformConfig) -> None:
    from vivr_provision.state import CatalogRecord, State, utc_now

    old = CatalogRecord(requested="16", value="16.9", regions=["us-east-1"], source="test",
                        resolved_at="2026-11-01T00:00:00Z")
    gone = old.model_copy(update={"requested": "db.t2.micro"})
    state = State(project="vivr", environment="production", created_at=utc_now(),
                  updated_at=utc_now(),
                  catalog={"rds.engine_version": old, "rds.read_replicas[9].instance_class": gone})
    found = lazy(config, StubbedClients(), state.catalog)  # type: ignore[arg-type]
    assert found.merge_into(state)  # only the record the config no longer asks is dropped
    assert state.catalog == {"rds.engine_version": old}
    # A running database behind the recorded newest minor still gets its note.
    step = DbPrimaryStep(config)
    from vivr_provision.steps.base import Resource
    (note,) = step.notes(_ctx(config, found), Resource("vivr-db", {"EngineVersion": "16.2"}))
    assert "runs postgres 16.2; RDS created 16.9 when last asked (2026-11-01)" in note


def test_before_the_walk_only_values_changed_since_state_recorded_them_are_asked(
        config: PlatformConfig) -> None:
    from vivr_provision.state import CatalogRecord

    every = lazy(config, StubbedClients())  # type: ignore[arg-type]
    assert every.changed() == list(every.requests)  # nothing recorded: all of them
    recorded = {key: CatalogRecord(requested=wanted, value=wanted, regions=[], source="test",
                                   resolved_at="2026-12-01T00:00:00Z")
                for request in every.requests.values() for key, wanted in request.keys.items()}
    assert lazy(config, StubbedClients(), recorded).changed() == []  # type: ignore[arg-type]
    moved = config.model_copy(update={"pgbouncer": config.pgbouncer.model_copy(
        update={"ami_parameter": "/aws/service/ami-amazon-linux-latest/other"})})
    assert lazy(moved, StubbedClients(), recorded).changed() == [  # type: ignore[arg-type]
        "pgbouncer.ami_parameter"]
