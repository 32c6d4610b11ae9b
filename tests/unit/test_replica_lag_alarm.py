"""The replica-lag alarms (spec "replication lag < 1 second"): one per read replica,
each in its replica's region and notifying topics of that region.

Expected values are written out here, not read from config, so a wrong row in
config/production.yaml fails: ReplicaLag of AWS/RDS on the replica's
``DBInstanceIdentifier``, above 1 second for five one-minute periods, to the
"immediate" action's topics (critical and devops).
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import REPO
from tests.unit.stubbed import ACCOUNT, StubbedAws, production_config
from vivr_provision.config import load_config
from vivr_provision.errors import ConfigError
from vivr_provision.steps.base import Step
from vivr_provision.steps.monitoring import ReplicaAlarmStep, TopicStep, monitoring_steps

ROW = "vivr-production-replica-lag"
SAME = f"alarm.{ROW}-vivr-db-replica-1"
DR = f"dr.alarm.{ROW}-vivr-db-dr"


def _steps() -> dict[str, Step]:
    return {s.name: s for s in monitoring_steps(production_config())}


def _topic(region: str, name: str) -> str:
    return f"arn:aws:sns:{region}:{ACCOUNT}:{name}"


def test_each_replica_gets_its_alarm_in_its_own_region_with_that_regions_topics() -> None:
    steps = _steps()
    same, dr = steps[SAME], steps[DR]
    assert isinstance(same, ReplicaAlarmStep) and isinstance(dr, ReplicaAlarmStep)
    assert (same.region, same.resource_name()) == ("us-east-1", f"{ROW}-vivr-db-replica-1")
    assert (dr.region, dr.resource_name()) == ("us-west-2", f"{ROW}-vivr-db-dr")
    assert set(same.depends_on()) == {"rds.vivr-db-replica-1", "sns.critical", "sns.devops"}
    assert set(dr.depends_on()) == {"dr.rds.vivr-db-dr", "dr.sns.critical", "dr.sns.devops"}
    # The DR copies of the topics: same names, in us-west-2 (names are per region).
    for key, name in (("critical", "vivr-production-critical-alerts"),
                      ("devops", "vivr-production-devops-alerts")):
        topic = steps[f"dr.sns.{key}"]
        assert isinstance(topic, TopicStep)
        assert (topic.region, topic.resource_name()) == ("us-west-2", name)
    assert "dr.sns.team" not in steps, "only the topics a DR alarm notifies"
    assert f"alarm.{ROW}" not in steps, "the row itself is no alarm"


def test_the_dr_replicas_alarm_is_put_in_us_west_2_on_its_identifier() -> None:
    config = production_config()
    step = _steps()[DR]
    critical = _topic("us-west-2", "vivr-production-critical-alerts")
    devops = _topic("us-west-2", "vivr-production-devops-alerts")
    outputs = {"dr.rds.vivr-db-dr": {"identifier": "vivr-db-dr"},
               "dr.sns.critical": {"topic_arn": critical},
               "dr.sns.devops": {"topic_arn": devops}}
    name = f"{ROW}-vivr-db-dr"
    arn = f"arn:aws:cloudwatch:us-west-2:{ACCOUNT}:alarm:{name}"
    request: dict[str, Any] = {
        "AlarmName": name,
        "AlarmDescription": "Read replica more than 1 second behind its source (spec < 1 "
                            "second)",
        "ActionsEnabled": True, "AlarmActions": [critical, devops],
        "OKActions": [critical, devops], "InsufficientDataActions": [],
        "EvaluationPeriods": 5, "Threshold": 1.0,
        "ComparisonOperator": "GreaterThanThreshold", "TreatMissingData": "missing",
        "Namespace": "AWS/RDS", "MetricName": "ReplicaLag", "Statistic": "Maximum",
        "Dimensions": [{"Name": "DBInstanceIdentifier", "Value": "vivr-db-dr"}],
        "Period": 60}
    tags = [{"Key": k, "Value": v} for k, v in sorted(step.tags().items())]
    with StubbedAws() as aws:  # a call in us-east-1 would find no stub there and fail
        aws.expect("cloudwatch", "put_metric_alarm", {}, {**request, "Tags": tags},
                   region="us-west-2")
        aws.expect("cloudwatch", "describe_alarms", {"MetricAlarms": [
            {**request, "AlarmArn": arn}]}, {"AlarmNames": [name]}, region="us-west-2")
        aws.expect("cloudwatch", "list_tags_for_resource", {"Tags": tags},
                   {"ResourceARN": arn}, region="us-west-2")
        created = step.create(aws.context(config, outputs), "token")
        assert created.id == arn
        # Re-read as created, nothing drifts: a second apply makes no call.
        assert step.diff(aws.context(config, outputs), created) == []


def test_a_replica_lag_row_without_replicas_is_a_config_error(tmp_path: Path) -> None:
    data = yaml.safe_load((REPO / "config" / "staging.yaml").read_text())
    [row] = [a for a in yaml.safe_load((REPO / "config" / "production.yaml").read_text())
             ["monitoring"]["alarms"] if a["name"] == ROW]
    data["monitoring"]["alarms"].append({**copy.deepcopy(row),
                                         "name": "vivr-staging-replica-lag"})
    path = tmp_path / "staging.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError) as caught:
        load_config(path, "staging")
    assert "watches every rds_replica, and rds.read_replicas is empty" in str(caught.value)
