"""Alarms, SNS topics, the scale-out policy and the dashboard through the real CLI.

Expected values are the spec's ("Monitoring & Logging / Alarms" and
"Request Count"; ../shared/spec/infrastructure-requirements.md), written here
rather than read from config, so a wrong config fails.  Each alarm is
judged by what it does: the metric values the spec calls a breach are fed
through the alarm's own metric, expression and comparison as AWS stores
them, and must (or must not) trip it.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from tests.conftest import Aws
from vivr_provision.config.ops import (
    AlarmConfig,
    MetricQueryConfig,
    SubscriptionConfig,
    TopicConfig,
)
from vivr_provision.steps.monitoring import metric_part, missing_subscriptions

pytestmark = pytest.mark.e2e

GIB = 1024 ** 3
CLUSTER, SERVICE = "vivr-prod", "vivr-app"
DB = "vivr-db"
DB_MAX_CONNECTIONS = 200      # spec "Max connections: 200"
DB_STORAGE_GIB = 100          # spec "Storage: 100GB minimum"
PREFIX = "vivr-production-"
CPU, MEMORY, ERRORS = PREFIX + "cpu-high", PREFIX + "memory-high", PREFIX + "5xx-rate"
CONNECTIONS, STORAGE = PREFIX + "db-connections", PREFIX + "db-storage"
UNHEALTHY = PREFIX + "unhealthy-targets"
QUEUE, POOLER_ERRORS = PREFIX + "pgbouncer-queue", PREFIX + "pgbouncer-errors"
HEARTBEAT, STATUS_CHECK = PREFIX + "pgbouncer-heartbeat", PREFIX + "pgbouncer-status-check"
#: Spec "replication lag < 1 second": one alarm per read replica, in its region.
REPLICA_LAG, DR_REPLICA_LAG = PREFIX + "replica-lag-vivr-db-replica-1", \
    PREFIX + "replica-lag-vivr-db-dr"
ALARMS = {CPU, MEMORY, ERRORS, CONNECTIONS, STORAGE, UNHEALTHY, QUEUE, POOLER_ERRORS,
          HEARTBEAT, STATUS_CHECK, REPLICA_LAG}
#: The standby Redis's alarms (resource dr_redis), in us-west-2 like the cache.
DR_CACHE_ALARMS = {PREFIX + "dr-cache-not-reporting", PREFIX + "dr-cache-engine-cpu-high"}
DR = "us-west-2"
POOLER = {"Service": "pgbouncer-vivr"}   # the dimension the boot script publishes with
#: Topic name -> e-mail endpoint ("Alert team", "Alert DevOps", "Immediate alert").
TOPICS = {"vivr-production-team-alerts": "team@vivr.example.com",
          "vivr-production-devops-alerts": "devops@vivr.example.com",
          "vivr-production-critical-alerts": "oncall@vivr.example.com"}
#: The DR replica's alarm notifies the "immediate" topics' us-west-2 copies.
TOPIC_STEPS = {"sns.team", "sns.devops", "sns.critical", "dr.sns.critical", "dr.sns.devops"}
#: The standby tier's alarms (dr.standby.app.alarms), in us-west-2 with the DR topics.
STANDBY_ALARMS = ("vivr-production-dr-unhealthy-targets", "vivr-production-dr-no-healthy-targets")
OUR_STEPS = {f"alarm.{name}" for name in ALARMS} | TOPIC_STEPS | {
    "scaling-policy.scale-out", "dashboard", f"dr.alarm.{DR_REPLICA_LAG}"} | {
    f"dr.alarm.{name}" for name in (*DR_CACHE_ALARMS, *STANDBY_ALARMS)}
APPLY = ("apply", "--target", "dashboard")
DESTROY = ("destroy", "--yes", *[arg for step in sorted(TOPIC_STEPS | {"scaling-policy.scale-out"})
                                 for arg in ("--target", step)])
OWNERSHIP = {"Project": "vivr", "Environment": "production", "ManagedBy": "vivr-provision"}
COMPARE = {"GreaterThanThreshold": lambda v, t: v > t,
           "GreaterThanOrEqualToThreshold": lambda v, t: v >= t,
           "LessThanThreshold": lambda v, t: v < t,
           "LessThanOrEqualToThreshold": lambda v, t: v <= t}


def _failed(report: dict[str, Any]) -> list[tuple[str, str, str | None]]:
    return [(s["step"], s["action"], s.get("error")) for s in report.get("steps", [])
            if s["action"] not in ("created", "updated", "unchanged", "adopted", "deleted",
                                   "absent", "ok", "drifted")]


def _actions(report: dict[str, Any]) -> dict[str, str]:
    return {s["step"]: s["action"] for s in report["steps"]}


def _ours(names: list[str]) -> list[str]:
    """Alarms other than the ones target tracking creates for itself (AWS-owned)."""
    return [n for n in names if not n.startswith("TargetTracking-")]


def _alarms(aws: Aws) -> dict[str, dict[str, Any]]:
    described = aws.client("cloudwatch").describe_alarms()["MetricAlarms"]
    return {a["AlarmName"]: a for a in described if a["AlarmName"] in _ours([a["AlarmName"]])}


def _dims(items: list[dict[str, str]]) -> dict[str, str]:
    return {d["Name"]: d["Value"] for d in items}


def _watched(alarm: dict[str, Any]) -> list[tuple[str, str, str, int, dict[str, str]]]:
    """(namespace, metric, statistic, period, dimensions) of every metric the alarm reads."""
    if alarm.get("MetricName"):
        return [(alarm["Namespace"], alarm["MetricName"], alarm["Statistic"], alarm["Period"],
                 _dims(alarm["Dimensions"]))]
    return [(q["MetricStat"]["Metric"]["Namespace"], q["MetricStat"]["Metric"]["MetricName"],
             q["MetricStat"]["Stat"], q["MetricStat"]["Period"],
             _dims(q["MetricStat"]["Metric"].get("Dimensions", [])))
            for q in alarm["Metrics"] if "MetricStat" in q]


def _window_s(alarm: dict[str, Any]) -> int:
    """How long the condition must hold: period x evaluation periods."""
    [period] = {w[3] for w in _watched(alarm)}
    return int(period) * int(alarm["EvaluationPeriods"])


def _breaches(alarm: dict[str, Any], values: dict[str, float]) -> bool:
    """Whether metric values (by metric name) trip the alarm, as CloudWatch evaluates it."""
    if alarm.get("MetricName"):
        value = values[alarm["MetricName"]]
    else:
        [result] = [q for q in alarm["Metrics"] if q.get("ReturnData", True)]
        expression = result["Expression"]
        for query in alarm["Metrics"]:
            if "MetricStat" in query:
                number = repr(float(values[query["MetricStat"]["Metric"]["MetricName"]]))
                expression = re.sub(rf"\b{query['Id']}\b", number, expression)
        assert re.fullmatch(r"[0-9.eE+\-*/() ]+", expression), expression
        value = eval(expression, {"__builtins__": {}})  # arithmetic only, checked above
    return bool(COMPARE[alarm["ComparisonOperator"]](value, alarm["Threshold"]))


def _topic_arns(aws: Aws) -> dict[str, str]:
    topics = aws.client("sns").list_topics()["Topics"]
    return {t["TopicArn"].rsplit(":", 1)[-1]: t["TopicArn"] for t in topics}


def _owned(tags: dict[str, str], name: str) -> None:
    assert {k: tags.get(k) for k in OWNERSHIP} == OWNERSHIP, tags
    assert tags.get("Name") == name


def _assert_alarms_match_the_spec(aws: Aws) -> None:
    elbv2 = aws.client("elbv2")
    [balancer] = elbv2.describe_load_balancers(Names=["vivr-alb"])["LoadBalancers"]
    lb_dimension = balancer["LoadBalancerArn"].split(":loadbalancer/", 1)[1]
    [group] = elbv2.describe_target_groups(Names=["vivr-app-tg"])["TargetGroups"]
    tg_dimension = group["TargetGroupArn"].rsplit(":", 1)[1]
    assert tg_dimension.startswith("targetgroup/vivr-app-tg/")
    assert aws.client("rds").describe_db_instances(DBInstanceIdentifier=DB)["DBInstances"]
    topics = _topic_arns(aws)
    team, devops, critical = (topics[name] for name in TOPICS)
    scaling = aws.client("application-autoscaling")
    [policy] = [p for p in scaling.describe_scaling_policies(
        ServiceNamespace="ecs", ResourceId=f"service/{CLUSTER}/{SERVICE}")["ScalingPolicies"]
        if p["PolicyType"] == "StepScaling"]
    step = policy["StepScalingPolicyConfiguration"]
    assert step["AdjustmentType"] == "ChangeInCapacity"
    assert [(s["MetricIntervalLowerBound"], s["ScalingAdjustment"])
            for s in step["StepAdjustments"]] == [(0.0, 1)]
    assert step["Cooldown"] == 60, "spec scale-out cooldown 60 s"

    alarms = _alarms(aws)
    assert set(alarms) == ALARMS
    service = {"ClusterName": CLUSTER, "ServiceName": SERVICE}

    # CPU > 80 % for 5 minutes, memory > 85 % for 5 minutes: scale out.
    for name, metric, limit in ((CPU, "CPUUtilization", 80), (MEMORY, "MemoryUtilization", 85)):
        alarm = alarms[name]
        assert _watched(alarm) == [("AWS/ECS", metric, "Average", 300, service)]
        assert _window_s(alarm) == 5 * 60
        assert _breaches(alarm, {metric: limit + 1}) and not _breaches(alarm, {metric: limit})
        assert policy["PolicyARN"] in alarm["AlarmActions"]

    # 5xx > 1 % of requests for 2 minutes: alert the team.
    errors = alarms[ERRORS]
    assert {(w[0], w[1], w[2], json.dumps(w[4])) for w in _watched(errors)} == {
        ("AWS/ApplicationELB", metric, "Sum", json.dumps({"LoadBalancer": lb_dimension}))
        for metric in ("HTTPCode_Target_5XX_Count", "HTTPCode_ELB_5XX_Count", "RequestCount")}
    assert _window_s(errors) == 2 * 60
    for target, elb, requests, breach in ((1, 1, 100, True), (1, 0, 100, False),
                                          (0, 3, 200, True), (0, 0, 50, False)):
        assert _breaches(errors, {"HTTPCode_Target_5XX_Count": target, "RequestCount": requests,
                                  "HTTPCode_ELB_5XX_Count": elb}) is breach
    assert errors["AlarmActions"] == [team]

    # Database connections > 80 % of max for 5 minutes: alert DevOps.
    connections = alarms[CONNECTIONS]
    assert _watched(connections) == [("AWS/RDS", "DatabaseConnections", "Average", 300,
                                      {"DBInstanceIdentifier": DB})]
    assert _window_s(connections) == 5 * 60
    at_80 = 0.8 * DB_MAX_CONNECTIONS
    assert _breaches(connections, {"DatabaseConnections": at_80 + 1})
    assert not _breaches(connections, {"DatabaseConnections": at_80})
    assert connections["AlarmActions"] == [devops]

    # Database storage > 85 % used for 60 minutes: alert to increase the size.
    storage = alarms[STORAGE]
    [(namespace, metric, _, _, dims)] = _watched(storage)
    assert (namespace, metric, dims) == ("AWS/RDS", "FreeStorageSpace",
                                         {"DBInstanceIdentifier": DB})
    assert _window_s(storage) == 60 * 60
    for used, breach in ((0.86, True), (0.84, False)):
        free = (1 - used) * DB_STORAGE_GIB * GIB
        assert _breaches(storage, {"FreeStorageSpace": free}) is breach
    assert storage["AlarmActions"] == [devops]

    # Health check failures: > 50 % unhealthy targets for 2 minutes: immediate alert.
    unhealthy = alarms[UNHEALTHY]
    pair = {"TargetGroup": tg_dimension, "LoadBalancer": lb_dimension}
    assert {(w[0], w[1], json.dumps(w[4], sort_keys=True)) for w in _watched(unhealthy)} == {
        ("AWS/ApplicationELB", metric, json.dumps(pair, sort_keys=True))
        for metric in ("UnHealthyHostCount", "HealthyHostCount")}
    assert _window_s(unhealthy) == 2 * 60
    for bad, good, breach in ((2, 1, True), (1, 1, False), (3, 0, True), (0, 3, False)):
        assert _breaches(unhealthy, {"UnHealthyHostCount": bad,
                                     "HealthyHostCount": good}) is breach
    assert critical in unhealthy["AlarmActions"]

    # PgBouncer "Alerts: High queue depth, connection errors", per pooler (staging
    # shares the account and region, so the metrics carry the service name).
    assert [(*w[:2], w[4]) for w in _watched(alarms[QUEUE])] == \
        [("VIVR/PgBouncer", "cl_waiting", POOLER)]
    assert [(*w[:2], w[4]) for w in _watched(alarms[POOLER_ERRORS])] == \
        [("VIVR/PgBouncer", "connection_errors", POOLER)]

    # A failed PgBouncer boot is loud: no heartbeat for 10 minutes is a breach
    # (missing data counts), and so is a failed EC2 status check of the instance.
    heartbeat = alarms[HEARTBEAT]
    assert _watched(heartbeat) == [("VIVR/PgBouncer", "pgbouncer_up", "SampleCount", 60,
                                    POOLER)]
    assert heartbeat["TreatMissingData"] == "breaching"
    assert _window_s(heartbeat) == 10 * 60
    assert not _breaches(heartbeat, {"pgbouncer_up": 1})
    assert critical in heartbeat["AlarmActions"]
    [pooler] = [i for r in aws.client("ec2").describe_instances(Filters=[
        {"Name": "tag:Name", "Values": ["pgbouncer-vivr"]},
        {"Name": "instance-state-name", "Values": ["pending", "running"]}])["Reservations"]
        for i in r["Instances"]]
    status = alarms[STATUS_CHECK]
    assert _watched(status) == [("AWS/EC2", "StatusCheckFailed", "Maximum", 60,
                                 {"InstanceId": pooler["InstanceId"]})]
    assert _breaches(status, {"StatusCheckFailed": 1})
    assert not _breaches(status, {"StatusCheckFailed": 0})
    assert critical in status["AlarmActions"]
    assert [r["TreatMissingData"] for r in aws.requests("PutMetricAlarm")
            if r["AlarmName"] == HEARTBEAT] == ["breaching"]

    # Replication lag < 1 second, per replica; the DR one in us-west-2.
    lag = alarms[REPLICA_LAG]
    assert _watched(lag) == [("AWS/RDS", "ReplicaLag", "Maximum", 60,
                              {"DBInstanceIdentifier": "vivr-db-replica-1"})]
    assert _breaches(lag, {"ReplicaLag": 1.5}) and not _breaches(lag, {"ReplicaLag": 1})
    assert critical in lag["AlarmActions"]
    [dr_lag] = aws.client("cloudwatch", DR).describe_alarms(
        AlarmNames=[DR_REPLICA_LAG])["MetricAlarms"]
    assert _watched(dr_lag) == [("AWS/RDS", "ReplicaLag", "Maximum", 60,
                                 {"DBInstanceIdentifier": "vivr-db-dr"})]
    assert {arn.split(":")[3] for arn in dr_lag["AlarmActions"]} == {DR}

    cloudwatch = aws.client("cloudwatch")
    for name, alarm in alarms.items():
        assert alarm["ActionsEnabled"] and alarm["AlarmActions"]
        assert set(alarm["OKActions"]) <= set(topics.values())
        tags = cloudwatch.list_tags_for_resource(ResourceARN=alarm["AlarmArn"])["Tags"]
        _owned({t["Key"]: t["Value"] for t in tags}, name)


def _assert_topics_and_dashboard(aws: Aws) -> None:
    sns = aws.client("sns")
    topics = _topic_arns(aws)
    assert set(topics) == set(TOPICS)
    key = aws.client("kms").describe_key(KeyId="alias/vivr-production")["KeyMetadata"]["Arn"]
    for name, endpoint in TOPICS.items():
        attributes = sns.get_topic_attributes(TopicArn=topics[name])["Attributes"]
        assert attributes["DisplayName"]
        assert attributes["KmsMasterKeyId"] == key, "issue 12: encrypted with the platform key"
        _owned({t["Key"]: t["Value"] for t in
                sns.list_tags_for_resource(ResourceArn=topics[name])["Tags"]}, name)
        subscriptions = sns.list_subscriptions_by_topic(TopicArn=topics[name])["Subscriptions"]
        assert [(s["Protocol"], s["Endpoint"]) for s in subscriptions] == [("email", endpoint)]

    cloudwatch = aws.client("cloudwatch")
    body = json.loads(cloudwatch.get_dashboard(DashboardName="vivr-production")["DashboardBody"])
    [balancer] = aws.client("elbv2").describe_load_balancers(Names=["vivr-alb"])["LoadBalancers"]
    lb_dimension = balancer["LoadBalancerArn"].split(":loadbalancer/", 1)[1]
    # "Request Count: requests per minute, tracked for capacity planning".
    requests = [w["properties"] for w in body["widgets"]
                if ["AWS/ApplicationELB", "RequestCount", "LoadBalancer", lb_dimension]
                in w["properties"].get("metrics", [])]
    assert [(p["stat"], p["period"]) for p in requests] == [("Sum", 60)]
    graphed = {arn for w in body["widgets"]
               for arn in w["properties"].get("annotations", {}).get("alarms", [])}
    # The us-west-2 alarms too: the DR replica's lag, the standby Redis's and the
    # standby tier's targets.
    dr_alarms = aws.client("cloudwatch", DR).describe_alarms(
        AlarmNames=[DR_REPLICA_LAG, *DR_CACHE_ALARMS, *STANDBY_ALARMS])["MetricAlarms"]
    assert len(dr_alarms) == 5
    assert graphed == {a["AlarmArn"] for a in _alarms(aws).values()} | \
        {a["AlarmArn"] for a in dr_alarms}
    assert any("Managed by vivr-provision" in w["properties"].get("markdown", "")
               for w in body["widgets"] if w["type"] == "text")


def _hand_set_threshold(aws: Aws, name: str, threshold: float) -> None:
    """What an operator does in the console: the same alarm with another threshold."""
    cloudwatch = aws.client("cloudwatch")
    [alarm] = cloudwatch.describe_alarms(AlarmNames=[name])["MetricAlarms"]
    keep = ("AlarmName", "AlarmDescription", "ActionsEnabled", "OKActions", "AlarmActions",
            "MetricName", "Namespace", "Statistic", "Dimensions", "Period", "EvaluationPeriods",
            "ComparisonOperator", "TreatMissingData")
    cloudwatch.put_metric_alarm(**{k: alarm[k] for k in keep}, Threshold=threshold)


def test_alarms_follow_the_spec_reapply_is_silent_drift_is_repaired_destroy_is_exact(
        aws: Aws) -> None:
    code, report = aws.cli_json(*APPLY)
    assert code == 0, _failed(report)
    assert {_actions(report)[s] for s in OUR_STEPS} == {"created"}
    _assert_alarms_match_the_spec(aws)
    _assert_topics_and_dashboard(aws)

    mark = len(aws.calls())
    code, report = aws.cli_json(*APPLY)
    assert code == 0, _failed(report)
    assert set(_actions(report).values()) == {"unchanged"}
    assert aws.mutating_calls(since=mark) == []
    # Their tags came from one GetResources per region (tag_batch), not a call each.
    reads = [f"{c['service']}.{c['operation']}" for c in aws.calls()[mark:]]
    assert "tagging.GetResources" in reads  # the signing name
    assert [r for r in reads if r.endswith("ListTagsForResource")] == []

    # A threshold changed by hand is drift; apply puts the spec's value back.
    _hand_set_threshold(aws, CONNECTIONS, 190)
    code, report = aws.cli_json("status", "--refresh")
    assert code == 0, _failed(report)
    drifted = {s["step"]: s["changes"] for s in report["steps"] if s["action"] == "drifted"}
    assert list(drifted) == [f"alarm.{CONNECTIONS}"]
    assert any("Threshold" in c and "190" in c and "160" in c
               for c in drifted[f"alarm.{CONNECTIONS}"])
    mark = len(aws.calls())
    code, report = aws.cli_json(*APPLY)
    assert code == 0, _failed(report)
    assert {s: a for s, a in _actions(report).items() if a != "unchanged"} == \
        {f"alarm.{CONNECTIONS}": "updated"}
    assert aws.mutating_calls(since=mark) == ["monitoring.PutMetricAlarm"]  # signing name
    assert _alarms(aws)[CONNECTIONS]["Threshold"] == 0.8 * DB_MAX_CONNECTIONS

    # Destroy takes what depends on the topics and the policy: exactly our steps.
    before = aws.inventory()
    mark = len(aws.calls())
    code, report = aws.cli_json(*DESTROY)
    assert code == 0, _failed(report)
    # The RDS event subscriptions (issue 12) notify the devops topics: they go with
    # them, and this apply never built them.
    assert _actions(report) == {**{step: "deleted" for step in OUR_STEPS},
                                "rds-events": "absent", "dr.rds-events": "absent"}
    journal = [c["operation"] for c in aws.calls()[mark:] if c["mutating"]]
    assert journal.index("DeleteAlarms") < journal.index("DeleteScalingPolicy")
    after = aws.inventory()
    east_before, east_after = before["us-east-1"], after["us-east-1"]
    target_tracking = [n for n in east_before["alarms"] if n not in _ours([n])]
    assert target_tracking, "ecs-autoscaling's own alarms exist"
    assert east_after["alarms"] == target_tracking
    assert east_after["scaling_policies"] == [
        p for p in east_before["scaling_policies"] if p != "vivr-app-scale-out"]
    untouched = {k: v for k, v in east_before.items() if k not in ("alarms", "scaling_policies")}
    assert {k: east_after[k] for k in untouched} == untouched
    assert after[DR]["alarms"] == [n for n in before[DR]["alarms"]
                                   if n not in {DR_REPLICA_LAG, *DR_CACHE_ALARMS, *STANDBY_ALARMS}]
    assert {k: v for k, v in after[DR].items() if k != "alarms"} == \
        {k: v for k, v in before[DR].items() if k != "alarms"}
    assert {k: v for k, v in after.items() if k not in ("us-east-1", DR)} == \
        {k: v for k, v in before.items() if k not in ("us-east-1", DR)}
    assert aws.client("sns").list_topics()["Topics"] == []
    assert aws.client("sns", DR).list_topics()["Topics"] == []
    assert aws.client("cloudwatch").list_dashboards()["DashboardEntries"] == []


def test_a_topic_created_just_before_a_crash_is_adopted_and_subscribed_once(aws: Aws) -> None:
    for point in ("sns.CreateTopic", "sns.Subscribe"):
        crashed = aws.cli("apply", "--target", "sns.team", env={"VIVR_FAULT_CRASH_AFTER": point})
        assert crashed.returncode == 137, (point, crashed.stderr[-2000:])
    mark = len(aws.calls())
    code, report = aws.cli_json("apply", "--target", "sns.team")
    assert code == 0, _failed(report)
    # The topic's key (issue 12: topics are encrypted) is pulled in and already there.
    assert _actions(report) == {"kms": "unchanged", "sns.team": "adopted"}
    assert aws.mutating_calls(since=mark) == []
    sns = aws.client("sns")
    [arn] = _topic_arns(aws).values()
    assert [(s["Protocol"], s["Endpoint"]) for s in sns.list_subscriptions_by_topic(
        TopicArn=arn)["Subscriptions"]] == [("email", "team@vivr.example.com")]
    assert [r["Name"] for r in aws.requests("CreateTopic")] == ["vivr-production-team-alerts"]


def test_an_unconfirmed_email_subscription_counts_as_subscribed() -> None:
    # The emulator confirms at once; AWS lists an unconfirmed one as PendingConfirmation.
    topic = TopicConfig(name="t", display_name="T", subscriptions=[
        SubscriptionConfig(protocol="email", endpoint="team@vivr.example.com"),
        SubscriptionConfig(protocol="email", endpoint="oncall@vivr.example.com")])
    live = [{"SubscriptionArn": "PendingConfirmation", "Protocol": "email",
             "Endpoint": "Team@vivr.example.com"}]
    assert missing_subscriptions(topic, live) == [("email", "oncall@vivr.example.com")]


def test_a_cache_alarm_watches_the_worst_member_cluster() -> None:
    # ElastiCache publishes per member cluster (<group>-001, -002), never per group.
    members = [[{"Name": "CacheClusterId", "Value": f"vivr-cache-00{i}"}] for i in (1, 2)]
    memory = AlarmConfig(name="cache-memory", description="d", resource="redis",
                         namespace="AWS/ElastiCache", metric_name="DatabaseMemoryUsagePercentage",
                         statistic="Maximum", threshold=80, comparison="GreaterThanThreshold",
                         period_seconds=300, evaluation_periods=1,
                         treat_missing_data="missing", action="alert_devops")
    metrics = metric_part(memory, members)["Metrics"]
    assert [q["MetricStat"]["Metric"]["Dimensions"] for q in metrics if "MetricStat" in q] == \
        members
    [result] = [q for q in metrics if q["ReturnData"]]
    assert result["Expression"] == "MAX([m0, m1])"
    ratio = AlarmConfig(name="cache-hits", description="d", resource="redis",
                        expression="100 * misses / (hits + misses)",
                        metrics=[MetricQueryConfig(id="hits", namespace="AWS/ElastiCache",
                                                   metric_name="CacheHits", statistic="Sum"),
                                 MetricQueryConfig(id="misses", namespace="AWS/ElastiCache",
                                                   metric_name="CacheMisses", statistic="Sum")],
                        threshold=20, comparison="LessThanThreshold", period_seconds=300,
                        evaluation_periods=1, treat_missing_data="missing",
                        action="alert_devops")
    expressions = {q["Id"]: q["Expression"] for q in metric_part(ratio, members)["Metrics"]
                   if "Expression" in q}
    assert expressions == {"result_m0": "100 * misses_m0 / (hits_m0 + misses_m0)",
                           "result_m1": "100 * misses_m1 / (hits_m1 + misses_m1)",
                           "result": "MIN([result_m0, result_m1])"}
