"""PgBouncer instance drift from its field tables: replaced settings, in-place ones, tags.

Each case is what EC2 describes (the instance, its root volume, its user
data), edited as someone changed it by hand; the changes plan lists; and
for in-place ones the exact requests apply sends, in order.  Settings EC2
cannot change on a running instance are replacements (the engine replaces
the stateless pooler), never sent to ``update``.
"""

from __future__ import annotations

import base64
from typing import Any, NamedTuple

import pytest

from tests.unit.stubbed import ACCOUNT, StubbedAws, production_config
from vivr_provision.config import PlatformConfig
from vivr_provision.steps.base import Resource
from vivr_provision.steps.ec2 import tag_list
from vivr_provision.steps.pgbouncer import AMI_PARAMETER_TAG, PgBouncerStep

INSTANCE, VOLUME = "i-0123456789abcdef0", "vol-0123456789abcdef0"
KEY_ARN = f"arn:aws:kms:us-east-1:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
PROFILE = "vivr-pgbouncer-instance-role"
GROUPS = ["sg-0000000000000000a", "sg-0000000000000000b"]
OUTPUTS = {
    "subnet.private-1a": {"subnet_id": "subnet-0a"},
    "sg.vivr-pgbouncer-sg": {"group_id": GROUPS[0]},
    "sg.vivr-pgbouncer-boot-sg": {"group_id": GROUPS[1]},
    "iam.pgbouncer_instance_role": {"instance_profile_name": PROFILE},
    "kms": {"key_arn": KEY_ARN},
    "rds.vivr-db": {"address": "vivr-db.abc.us-east-1.rds.amazonaws.com", "port": 5432},
    "secret.database_credentials": {
        "arn": f"arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:vivr/db-AbCdEf"},
}


@pytest.fixture(scope="module")
def config() -> PlatformConfig:
    return production_config()


#: Instance tags of a launch that predates the AMI parameter tag.
OWNERSHIP_ONLY = "ownership tags only"


def _instance(step: PgBouncerStep, **edits: Any) -> dict[str, Any]:
    """DescribeInstances' entry for the pooler launched as configured."""
    if edits.get("Tags") == OWNERSHIP_ONLY:
        edits["Tags"] = tag_list(step.tags())
    return {"InstanceId": INSTANCE, "InstanceType": "t3.small", "SubnetId": "subnet-0a",
            "State": {"Name": "running"},
            "Tags": tag_list({**step.tags(), AMI_PARAMETER_TAG: step.pgb.ami_parameter}),
            "IamInstanceProfile": {"Arn": f"arn:aws:iam::{ACCOUNT}:instance-profile/{PROFILE}"},
            "SecurityGroups": [{"GroupId": g, "GroupName": g} for g in reversed(GROUPS)],
            "MetadataOptions": {"HttpTokens": "required"},
            "Monitoring": {"State": "enabled"},
            "BlockDeviceMappings": [{"DeviceName": "/dev/xvda", "Ebs": {"VolumeId": VOLUME}}],
            **edits}


VOLUME_AS_LAUNCHED = {"VolumeId": VOLUME, "Size": 20, "VolumeType": "gp3", "Encrypted": True,
                      "KmsKeyId": KEY_ARN}


class Case(NamedTuple):
    instance: dict[str, Any]
    volume: dict[str, Any]
    #: Replaces the user data EC2 returns (None: the script apply would send).
    user_data: str | None
    expected: list[tuple[str, Any, Any, bool]]
    #: (operation, exact params) apply sends for the in-place changes, in order.
    requests: list[tuple[str, dict[str, Any]]]


CASES = {
    "converged": Case({}, {}, None, [], []),
    "instance type": Case({"InstanceType": "t3.medium"}, {}, None,
                          [("instance_type", "t3.medium", "t3.small", True)], []),
    "a launch without the parameter tag has no image to compare": Case(
        {"Tags": OWNERSHIP_ONLY}, {}, None, [], []),
    "root volume resized by hand": Case(
        {}, {"Size": 40}, None,
        [("root_volume", (40, "gp3", True, KEY_ARN), (20, "gp3", True, KEY_ARN), True)], []),
    "instance profile": Case(
        {"IamInstanceProfile": {"Arn": f"arn:aws:iam::{ACCOUNT}:instance-profile/other"}}, {},
        None, [("instance_profile", "other", PROFILE, True)], []),
    "a user data change names the pgbouncer.ini keys that moved": Case(
        {}, {}, "pool_mode = session", [], []),
    "a stopped pooler is started": Case(
        {"State": {"Name": "stopped"}}, {}, None, [("state", "stopped", "running", False)],
        [("start_instances", {"InstanceIds": [INSTANCE]})]),
    "an instance on its way is not drift": Case({"State": {"Name": "pending"}}, {}, None, [], []),
    # Issue 12: detailed monitoring (1-minute metrics) is switched back on in place.
    "detailed monitoring turned off by hand": Case(
        {"Monitoring": {"State": "disabled"}}, {}, None,
        [("detailed_monitoring", False, True, False)],
        [("monitor_instances", {"InstanceIds": [INSTANCE]})]),
    "detailed monitoring on its way on is not drift": Case(
        {"Monitoring": {"State": "pending"}}, {}, None, [], []),
    "in place, in table order": Case(
        {"SecurityGroups": [{"GroupId": GROUPS[0], "GroupName": "x"}],
         "MetadataOptions": {"HttpTokens": "optional"}}, {}, None,
        [("security_groups", [GROUPS[0]], GROUPS, False),
         ("imdsv2", "optional", "required", False)],
        [("modify_instance_attribute", {"InstanceId": INSTANCE, "Groups": GROUPS}),
         ("modify_instance_metadata_options", {"InstanceId": INSTANCE, "HttpTokens": "required",
                                               "HttpEndpoint": "enabled"})]),
}


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_pgbouncer_drift(config: PlatformConfig, case: Case) -> None:
    step = PgBouncerStep(config)
    resource = Resource(INSTANCE, _instance(step, **case.instance))
    with StubbedAws() as aws:
        ctx = aws.context(config, OUTPUTS)
        script = step.desired_user_data(ctx)
        if case.user_data is not None:  # one ini setting edited in the script
            script = script.replace("pool_mode = transaction", case.user_data)
        aws.expect("ec2", "describe_volumes", {"Volumes": [{**VOLUME_AS_LAUNCHED, **case.volume}]},
                   {"VolumeIds": [VOLUME]})
        aws.expect("ec2", "describe_instance_attribute", {"UserData": {
            "Value": base64.b64encode(script.encode()).decode()}},
            {"InstanceId": INSTANCE, "Attribute": "userData"})
        changes = step.diff(ctx, resource)
        expected = case.expected
        if case.user_data is not None:
            expected = [("user_data (pgbouncer.ini)", {"pgbouncer.pool_mode": "session"},
                         {"pgbouncer.pool_mode": "transaction"}, True)]
        assert [(c.field, c.current, c.desired, c.replace) for c in changes] == expected
        for operation, params in case.requests:
            aws.expect("ec2", operation, {}, params)
        if case.requests:
            aws.expect("ec2", "describe_instances", {"Reservations": [{"Instances": [
                _instance(step)]}]}, {"InstanceIds": [INSTANCE]})
            step.update(ctx, resource, changes)


def test_tags_go_to_the_instance_and_its_volume(config: PlatformConfig) -> None:
    step = PgBouncerStep(config)
    mine = step.tags()
    resource = Resource(INSTANCE, _instance(step, Tags=tag_list(
        {k: v for k, v in mine.items() if k != "Project"})))
    with StubbedAws() as aws:
        ctx = aws.context(config, OUTPUTS)
        aws.expect("ec2", "describe_volumes", {"Volumes": [VOLUME_AS_LAUNCHED]})
        aws.expect("ec2", "describe_instance_attribute", {"UserData": {
            "Value": base64.b64encode(step.desired_user_data(ctx).encode()).decode()}})
        changes = step.diff(ctx, resource)
        assert [(c.field, c.current, c.desired) for c in changes] == [
            ("tags", {"Project": None}, {"Project": "vivr"})]
        aws.expect("ec2", "create_tags", {}, {"Resources": [INSTANCE, VOLUME],
                                              "Tags": [{"Key": "Project", "Value": "vivr"}]})
        aws.expect("ec2", "describe_instances", {"Reservations": [{"Instances": [
            _instance(step)]}]}, {"InstanceIds": [INSTANCE]})
        step.update(ctx, resource, changes)
