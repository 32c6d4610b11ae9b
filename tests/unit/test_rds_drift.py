"""RDS drift on the drift engine: each case is AWS's description, the changes plan
shows, and for converging cases the exact requests apply sends.

An instance's in-place settings go in one ModifyDBInstance applied at once,
its disruptive ones in one queued for the maintenance window (in that
order: ApplyImmediately=True also applies what is pending), a pending value
counts as current, and what RDS cannot change is a replacement apply never
sends.  Subnet and parameter groups are tables too.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.unit.stubbed import ACCOUNT, StubbedAws, production_config
from vivr_provision.config import PlatformConfig
from vivr_provision.steps.base import Change, Resource
from vivr_provision.steps.common import aws_tags
from vivr_provision.steps.rds import (
    DbInstanceBase,
    DbParameterGroupStep,
    DbPrimaryStep,
    DbReplicaStep,
    DbSubnetGroupStep,
)

ARN = f"arn:aws:rds:us-east-1:{ACCOUNT}:db:vivr-db"
KEY_ID = "1234abcd-12ab-34cd-56ef-1234567890ab"
KEY_ARN = f"arn:aws:kms:us-east-1:{ACCOUNT}:key/{KEY_ID}"
ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/vivr-rds-monitoring-role"
OUTPUTS = {
    "kms": {"key_arn": KEY_ARN, "key_id": KEY_ID},
    "iam.rds_monitoring_role": {"role_arn": ROLE_ARN},
    "sg.vivr-db-sg": {"group_id": "sg-db"},
    "subnet.db-1a": {"subnet_id": "subnet-a"},
    "subnet.db-1b": {"subnet_id": "subnet-b"},
}
DROP = object()  # an edit that removes the key (the description does not report it)


@pytest.fixture(scope="module")
def config() -> PlatformConfig:
    return production_config()


def _edited(data: dict[str, Any], edits: dict[str, Any]) -> dict[str, Any]:
    data.update(edits)
    return {k: v for k, v in data.items() if v is not DROP}


def _primary(step: DbInstanceBase, **edits: Any) -> dict[str, Any]:
    """DescribeDBInstances of a primary as the production config wants it."""
    return _edited({
        "DBInstanceIdentifier": step.identifier, "DBInstanceArn": ARN,
        "DBInstanceStatus": "available", "Engine": "postgres", "EngineVersion": "16.4",
        "DBName": "vivr", "MasterUsername": "vivr_admin", "StorageEncrypted": True,
        "PubliclyAccessible": False, "DBSubnetGroup": {"DBSubnetGroupName": "vivr-db-subnet-group"},
        "DBInstanceClass": "db.t3.small", "MultiAZ": True, "AllocatedStorage": 100,
        "StorageType": "gp3", "Iops": 3000, "StorageThroughput": 125, "MaxAllocatedStorage": 200,
        "BackupRetentionPeriod": 30, "PreferredBackupWindow": "03:00-04:00",
        "PreferredMaintenanceWindow": "sun:05:00-sun:06:00", "DeletionProtection": True,
        "VpcSecurityGroups": [{"VpcSecurityGroupId": "sg-db", "Status": "active"}],
        "DBParameterGroups": [{"DBParameterGroupName": "vivr-db-pg",
                               "ParameterApplyStatus": "in-sync"}],
        "EnabledCloudwatchLogsExports": ["postgresql"], "IAMDatabaseAuthenticationEnabled": True,
        "CopyTagsToSnapshot": True, "AutoMinorVersionUpgrade": True, "MonitoringInterval": 60,
        "MonitoringRoleArn": ROLE_ARN, "PerformanceInsightsEnabled": True,
        "PerformanceInsightsRetentionPeriod": 31, "PerformanceInsightsKMSKeyId": KEY_ARN,
        "TagList": aws_tags(step.tags()),
    }, edits)


def _resource(data: dict[str, Any]) -> Resource:
    """What KindStep.lookup makes of a description (tags as ``TagMap``)."""
    return Resource(data["DBInstanceIdentifier"],
                    {**data, "TagMap": {t["Key"]: t["Value"] for t in data.get("TagList", [])}})


def _changes(step: Any, config: PlatformConfig, resource: Resource) -> list[str]:
    with StubbedAws() as aws:  # comparing an instance reads nothing
        return [c.describe() for c in step.diff(aws.context(config, OUTPUTS), resource)]


@pytest.mark.parametrize(("edits", "expected"), [
    ({}, []),
    ({"BackupRetentionPeriod": 7}, ["BackupRetentionPeriod: 7 -> 30 (update)"]),
    ({"DBInstanceClass": "db.t3.micro"},
     ["DBInstanceClass: 'db.t3.micro' -> 'db.t3.small' (update in the maintenance window)"]),
    # A value RDS accepted for the window counts as current: nothing to re-send ...
    ({"DBInstanceClass": "db.t3.micro",
      "PendingModifiedValues": {"DBInstanceClass": "db.t3.small"}}, []),
    # ... and a pending value the config does not want is what is compared.
    ({"PendingModifiedValues": {"DBInstanceClass": "db.t3.medium"}},
     ["DBInstanceClass: 'db.t3.medium' -> 'db.t3.small' (update in the maintenance window)"]),
    ({"PendingModifiedValues": {"MultiAZ": False, "AllocatedStorage": 150}},
     ["MultiAZ: False -> True (update in the maintenance window)",
      "AllocatedStorage: 150 -> 100 (update in the maintenance window)"]),
    ({"DBParameterGroups": [{"DBParameterGroupName": "default.postgres16"}]},
     ["DBParameterGroupName: 'default.postgres16' -> 'vivr-db-pg' "
      "(update in the maintenance window)"]),
    # Security groups: unordered, and one being removed is already gone.
    ({"VpcSecurityGroups": [{"VpcSecurityGroupId": "sg-old", "Status": "removing"},
                            {"VpcSecurityGroupId": "sg-db", "Status": "active"}]}, []),
    ({"VpcSecurityGroups": [{"VpcSecurityGroupId": "sg-db"}, {"VpcSecurityGroupId": "sg-x"}]},
     ["VpcSecurityGroupIds: ['sg-db', 'sg-x'] -> ['sg-db'] (update)"]),
    ({"EnabledCloudwatchLogsExports": DROP},
     ["CloudwatchLogsExports: [] -> ['postgresql'] (update)"]),
    # Reported under their DescribeDBInstances names.
    ({"IAMDatabaseAuthenticationEnabled": False},
     ["EnableIAMDatabaseAuthentication: False -> True (update)"]),
    ({"IAMDatabaseAuthenticationEnabled": False,
      "PendingModifiedValues": {"IAMDatabaseAuthenticationEnabled": True}}, []),
    ({"PerformanceInsightsEnabled": False, "PerformanceInsightsRetentionPeriod": DROP,
      "PerformanceInsightsKMSKeyId": DROP},
     ["EnablePerformanceInsights: False -> True (update)"]),
    # The Performance Insights key reported as its id is the same key.
    ({"PerformanceInsightsKMSKeyId": KEY_ID}, []),
    ({"PerformanceInsightsKMSKeyId": "other"},
     [f"PerformanceInsightsKMSKeyId: 'other' -> '{KEY_ARN}' (update)"]),
    # Monitoring off: RDS still reports the role, which is unused without an interval.
    ({"MonitoringInterval": 0},
     ["MonitoringInterval: 0 -> 60 (update)", f"MonitoringRoleArn: None -> '{ROLE_ARN}' (update)"]),
    ({"MonitoringInterval": 0, "MonitoringRoleArn": DROP},
     ["MonitoringInterval: 0 -> 60 (update)"]),
    # A setting the description does not report is not compared.
    ({"MaxAllocatedStorage": DROP, "CopyTagsToSnapshot": DROP}, []),
    # Provisioned IOPS are not ours to set on gp3 below 400 GiB.
    ({"Iops": 12000}, []),
    ({"PubliclyAccessible": True}, ["PubliclyAccessible: True -> False (update)"]),
    # What RDS cannot change is a replacement.
    ({"StorageEncrypted": False}, ["StorageEncrypted: False -> True (replace)"]),
    ({"Engine": "mysql", "DBName": "app", "MasterUsername": "root"},
     ["Engine: 'mysql' -> 'postgres' (replace)", "DBName: 'app' -> 'vivr' (replace)",
      "MasterUsername: 'root' -> 'vivr_admin' (replace)"]),
    ({"DBSubnetGroup": {"DBSubnetGroupName": "other"}},
     ["DBSubnetGroupName: 'other' -> 'vivr-db-subnet-group' (replace)"]),
    ({"DBSubnetGroup": DROP}, []),
    # Engine version, judged against the config's "16": any 16.x; another major is a replacement.
    ({"EngineVersion": "16.9"}, []),
    ({"EngineVersion": "15.7"}, ["EngineVersion: '15.7' -> '16' (replace)"]),
    ({"PendingModifiedValues": {"EngineVersion": "17.1"}},
     ["EngineVersion: '17.1' -> '16' (replace)"]),
])
def test_primary_drift(config: PlatformConfig, edits: dict[str, Any],
                       expected: list[str]) -> None:
    step = DbPrimaryStep(config)
    assert _changes(step, config, _resource(_primary(step, **edits))) == expected


def test_a_pinned_minor_above_the_running_one_is_queued_for_the_window(
        config: PlatformConfig) -> None:
    pinned = config.model_copy(update={"rds": config.rds.model_copy(
        update={"engine_version": "16.6"})})
    step = DbPrimaryStep(pinned)
    assert _changes(step, pinned, _resource(_primary(step))) == [
        "EngineVersion: '16.4' -> '16.6' (update in the maintenance window)"]
    assert _changes(step, pinned, _resource(_primary(step, EngineVersion="16.8"))) == []


def _converge(step: DbInstanceBase, config: PlatformConfig, drifted: dict[str, Any],
              expected_fields: list[str], requests: list[dict[str, Any]]) -> None:
    """Plan ``drifted``, then apply: exactly ``requests`` (ModifyDBInstance), then the re-read."""
    with StubbedAws() as aws:
        ctx = aws.context(config, OUTPUTS)
        resource = _resource(drifted)
        changes = step.diff(ctx, resource)
        assert [c.field for c in changes] == expected_fields
        for request in requests:
            aws.expect("rds", "modify_db_instance", {"DBInstance": {}},
                       {"DBInstanceIdentifier": step.identifier, **request})
        aws.expect("rds", "describe_db_instances", {"DBInstances": [_primary(step)]},
                   {"DBInstanceIdentifier": step.identifier})
        step.update(ctx, resource, changes)


@pytest.mark.parametrize(("edits", "fields", "requests"), [
    # Formerly e2e test_drifted_backup_retention_is_converged_immediately (with the plan
    # line "BackupRetentionPeriod: 7 -> 30 (update)" in test_primary_drift).
    pytest.param({"BackupRetentionPeriod": 7}, ["BackupRetentionPeriod"],
                 [{"ApplyImmediately": True, "BackupRetentionPeriod": 30}], id="immediate-only"),
    pytest.param({"DBInstanceClass": "db.t3.micro", "StorageType": "gp2"},
                 ["DBInstanceClass", "StorageType"],
                 [{"ApplyImmediately": False, "DBInstanceClass": "db.t3.small",
                   "StorageType": "gp3"}], id="deferred-only"),
    # The queued call goes second: ApplyImmediately=True would apply it at once.
    pytest.param({"DBInstanceClass": "db.t3.micro", "BackupRetentionPeriod": 7,
                  "DeletionProtection": False, "MultiAZ": False},
                 ["DBInstanceClass", "MultiAZ", "BackupRetentionPeriod", "DeletionProtection"],
                 [{"ApplyImmediately": True, "BackupRetentionPeriod": 30,
                   "DeletionProtection": True},
                  {"ApplyImmediately": False, "DBInstanceClass": "db.t3.small",
                   "MultiAZ": True}], id="immediate-then-deferred"),
    pytest.param({"EnabledCloudwatchLogsExports": ["upgrade"]}, ["CloudwatchLogsExports"],
                 [{"ApplyImmediately": True, "CloudwatchLogsExportConfiguration": {
                     "EnableLogTypes": ["postgresql"], "DisableLogTypes": ["upgrade"]}}],
                 id="log-exports"),
    pytest.param({"EnabledCloudwatchLogsExports": ["postgresql", "upgrade"]},
                 ["CloudwatchLogsExports"],
                 [{"ApplyImmediately": True, "CloudwatchLogsExportConfiguration": {
                     "EnableLogTypes": [], "DisableLogTypes": ["upgrade"]}}],
                 id="log-exports-disable-only"),
    # The interval and its role go together, even when only the interval drifted.
    pytest.param({"MonitoringInterval": 30}, ["MonitoringInterval"],
                 [{"ApplyImmediately": True, "MonitoringInterval": 60,
                   "MonitoringRoleArn": ROLE_ARN}], id="monitoring-interval"),
    pytest.param({"MonitoringInterval": 0}, ["MonitoringInterval", "MonitoringRoleArn"],
                 [{"ApplyImmediately": True, "MonitoringInterval": 60,
                   "MonitoringRoleArn": ROLE_ARN}], id="monitoring-back-on"),
    # Turned back on with our key and retention (alone, RDS would pick its default key).
    pytest.param({"PerformanceInsightsEnabled": False, "PerformanceInsightsKMSKeyId": DROP,
                  "PerformanceInsightsRetentionPeriod": DROP}, ["EnablePerformanceInsights"],
                 [{"ApplyImmediately": True, "EnablePerformanceInsights": True,
                   "PerformanceInsightsRetentionPeriod": 31,
                   "PerformanceInsightsKMSKeyId": KEY_ARN}], id="performance-insights-on"),
    pytest.param({"PerformanceInsightsRetentionPeriod": 7}, ["PerformanceInsightsRetentionPeriod"],
                 [{"ApplyImmediately": True, "PerformanceInsightsRetentionPeriod": 31}],
                 id="performance-insights-retention"),
    pytest.param({"PubliclyAccessible": True, "VpcSecurityGroups": []},
                 ["PubliclyAccessible", "VpcSecurityGroupIds"],
                 [{"ApplyImmediately": True, "PubliclyAccessible": False,
                   "VpcSecurityGroupIds": ["sg-db"]}], id="public-and-groups-at-once"),
    pytest.param({"DBInstanceClass": "db.t3.micro",
                  "PendingModifiedValues": {"DBInstanceClass": "db.t3.small"}}, [], [],
                 id="pending-equal-to-config"),
    # A replacement is never sent (apply refuses it before update).
    pytest.param({"StorageEncrypted": False}, ["StorageEncrypted"], [], id="replace"),
])
def test_primary_converges_in_one_immediate_and_one_queued_call(
        config: PlatformConfig, edits: dict[str, Any], fields: list[str],
        requests: list[dict[str, Any]]) -> None:
    step = DbPrimaryStep(config)
    _converge(step, config, _primary(step, **edits), fields, requests)


def test_our_tags_are_added_without_touching_others(config: PlatformConfig) -> None:
    step = DbPrimaryStep(config)
    tags = {**step.tags(), "Owner": "someone", "team": "db"}
    drifted = _primary(step, TagList=aws_tags(tags))
    with StubbedAws() as aws:
        ctx = aws.context(config, OUTPUTS)
        changes = step.diff(ctx, _resource(drifted))
        assert [(c.field, c.current, c.desired) for c in changes] == [
            ("tags", {"Owner": "someone"}, {"Owner": step.tags()["Owner"]})]
        aws.expect("rds", "add_tags_to_resource", {},
                   {"ResourceName": ARN, "Tags": [{"Key": "Owner", "Value": "platform-team"}]})
        aws.expect("rds", "describe_db_instances", {"DBInstances": [_primary(step)]},
                   {"DBInstanceIdentifier": step.identifier})
        step.update(ctx, _resource(drifted), changes)


def test_provisioned_storage_performance_is_converged_at_once(config: PlatformConfig) -> None:
    io = config.model_copy(update={"rds": config.rds.model_copy(update={
        "storage": config.rds.storage.model_copy(update={"type": "io1", "iops": 12000})})})
    step = DbPrimaryStep(io)
    _converge(step, io, _primary(step, StorageType="io1", Iops=3000), ["Iops"],
              [{"ApplyImmediately": True, "Iops": 12000}])


# --------------------------------------------------------------------------- replicas

def _replica(step: DbReplicaStep, **edits: Any) -> dict[str, Any]:
    return _primary(step, **{
        "DBInstanceArn": f"arn:aws:rds:us-east-1:{ACCOUNT}:db:{step.identifier}",
        "ReadReplicaSourceDBInstanceIdentifier": "vivr-db", "MultiAZ": False,
        "DeletionProtection": True, "TagList": aws_tags(step.tags()), **edits})


@pytest.mark.parametrize(("edits", "expected"), [
    ({}, []),
    ({"ReadReplicaSourceDBInstanceIdentifier": ARN}, []),   # the primary, by ARN (DR)
    ({"ReadReplicaSourceDBInstanceIdentifier": "other-db"},
     ["source: 'other-db' -> 'vivr-db' (replace)"]),
    ({"ReadReplicaSourceDBInstanceIdentifier": DROP}, []),  # promoted: nothing to compare
    # A replica's own settings (protection from the config: issue 12); the
    # primary's fixed ones are not compared.
    ({"DeletionProtection": False, "BackupRetentionPeriod": 0, "PubliclyAccessible": True},
     ["DeletionProtection: False -> True (update)"]),
    ({"DBInstanceClass": "db.t3.micro"},
     ["DBInstanceClass: 'db.t3.micro' -> 'db.t3.small' (update in the maintenance window)"]),
])
def test_replica_drift(config: PlatformConfig, edits: dict[str, Any],
                       expected: list[str]) -> None:
    step = DbReplicaStep(config, config.rds.read_replicas[0])
    assert _changes(step, config, _resource(_replica(step, **edits))) == expected


# --------------------------------------------------------------------------- subnet group

GROUP_ARN = f"arn:aws:rds:us-east-1:{ACCOUNT}:subgrp:vivr-db-subnet-group"


def _subnet_group(step: DbSubnetGroupStep, subnets: list[str],
                  description: str = "VIVR database subnets") -> dict[str, Any]:
    return {"DBSubnetGroupName": step.group.name, "DBSubnetGroupArn": GROUP_ARN,
            "DBSubnetGroupDescription": description,
            "Subnets": [{"SubnetIdentifier": s} for s in subnets], "TagMap": step.tags()}


@pytest.mark.parametrize(("subnets", "description", "expected"), [
    (["subnet-b", "subnet-a"], "VIVR database subnets", []),        # in any order
    (["subnet-a"], "VIVR database subnets",
     [("subnets", ["subnet-a"], ["subnet-a", "subnet-b"])]),
    (["subnet-a", "subnet-b"], "edited", [("description", "edited", "VIVR database subnets")]),
])
def test_subnet_group_drift(config: PlatformConfig, subnets: list[str], description: str,
                            expected: list[tuple[str, Any, Any]]) -> None:
    step = DbSubnetGroupStep(config, config.rds.subnet_group)
    with StubbedAws() as aws:
        changes = step.diff(aws.context(config, OUTPUTS),
                            Resource(step.group.name, _subnet_group(step, subnets, description)))
    assert [(c.field, c.current, c.desired) for c in changes] == expected


def test_subnets_and_description_go_in_one_modify(config: PlatformConfig) -> None:
    step = DbSubnetGroupStep(config, config.rds.subnet_group)
    drifted = Resource(step.group.name, _subnet_group(step, ["subnet-x"], "edited"))
    with StubbedAws() as aws:
        ctx = aws.context(config, OUTPUTS)
        changes = step.diff(ctx, drifted)
        assert [c.field for c in changes] == ["subnets", "description"]
        aws.expect("rds", "modify_db_subnet_group", {}, {
            "DBSubnetGroupName": "vivr-db-subnet-group",
            "DBSubnetGroupDescription": "VIVR database subnets",
            "SubnetIds": ["subnet-a", "subnet-b"]})
        described = {k: v for k, v in _subnet_group(step, ["subnet-a", "subnet-b"]).items()
                     if k != "TagMap"}
        aws.expect("rds", "describe_db_subnet_groups", {"DBSubnetGroups": [described]},
                   {"DBSubnetGroupName": "vivr-db-subnet-group"})
        aws.expect("rds", "list_tags_for_resource", {"TagList": aws_tags(step.tags())},
                   {"ResourceName": GROUP_ARN})
        step.update(ctx, drifted, changes)


# --------------------------------------------------------------------------- parameter group

PG_ARN = f"arn:aws:rds:us-east-1:{ACCOUNT}:pg:vivr-db-pg"


def _user_parameters(config: PlatformConfig, **edits: str | None) -> list[dict[str, str]]:
    values: dict[str, str | None] = {
        n: p.value for n, p in config.rds.parameter_group.parameters.items()}
    values.update(edits)
    return [{"ParameterName": n, "ParameterValue": v} for n, v in values.items() if v is not None]


def _parameter_group(step: DbParameterGroupStep, family: str = "postgres16") -> Resource:
    return Resource(step.resource_name(), {
        "DBParameterGroupName": step.resource_name(), "DBParameterGroupArn": PG_ARN,
        "DBParameterGroupFamily": family, "TagMap": step.tags()})


def _parameter_diff(step: DbParameterGroupStep, aws: StubbedAws, config: PlatformConfig,
                    resource: Resource, parameters: list[dict[str, str]]) -> list[Change]:
    aws.expect("rds", "describe_db_parameters", {"Parameters": parameters},
               {"DBParameterGroupName": "vivr-db-pg", "Source": "user"})
    return step.diff(aws.context(config), resource)


@pytest.mark.parametrize(("family", "edits", "expected"), [
    ("postgres16", {}, []),
    ("postgres15", {}, [("family", "postgres15", "postgres16")]),
    ("postgres16", {"work_mem": "8192", "timezone": None},
     [("parameters", {"timezone": None, "work_mem": "8192"}, {"timezone": "UTC",
                                                               "work_mem": "4096"})]),
    ("postgres16", {"log_min_duration_statement": "100"},
     [("parameters_not_in_config", ["log_min_duration_statement"], None)]),
])
def test_parameter_group_drift(config: PlatformConfig, family: str, edits: dict[str, Any],
                               expected: list[tuple[str, Any, Any]]) -> None:
    step = DbParameterGroupStep(config)
    with StubbedAws() as aws:
        changes = _parameter_diff(step, aws, config, _parameter_group(step, family),
                                  _user_parameters(config, **edits))
    assert [(c.field, c.current, c.desired) for c in changes] == expected
    assert [c.replace for c in changes] == [c[0] == "family" for c in expected]


def test_wrong_parameters_are_set_and_foreign_ones_reset(config: PlatformConfig) -> None:
    step = DbParameterGroupStep(config)
    with StubbedAws() as aws:
        ctx = aws.context(config)
        changes = _parameter_diff(step, aws, config, _parameter_group(step), _user_parameters(
            config, work_mem="8192", timezone=None, log_min_duration_statement="100"))
        assert [c.field for c in changes] == ["parameters", "parameters_not_in_config"]
        aws.expect("rds", "modify_db_parameter_group", {}, {
            "DBParameterGroupName": "vivr-db-pg", "Parameters": [
                {"ParameterName": "timezone", "ParameterValue": "UTC",
                 "ApplyMethod": "immediate"},
                {"ParameterName": "work_mem", "ParameterValue": "4096",
                 "ApplyMethod": "immediate"}]})
        aws.expect("rds", "reset_db_parameter_group", {}, {
            "DBParameterGroupName": "vivr-db-pg", "Parameters": [
                {"ParameterName": "log_min_duration_statement",
                 "ApplyMethod": "pending-reboot"}]})
        described = {k: v for k, v in _parameter_group(step).data.items() if k != "TagMap"}
        aws.expect("rds", "describe_db_parameter_groups", {"DBParameterGroups": [described]},
                   {"DBParameterGroupName": "vivr-db-pg"})
        aws.expect("rds", "list_tags_for_resource", {"TagList": aws_tags(step.tags())},
                   {"ResourceName": PG_ARN})
        step.update(ctx, _parameter_group(step), changes)
