"""The AWS-managed policies our roles attach, as the documents the check evaluates.

The check makes no AWS call, so it cannot ``GetPolicyVersion``.  Each entry
is the part of the policy's published document (AWS Managed Policy Reference
Guide, docs.aws.amazon.com/aws-managed-policy/latest/reference/<name>.html)
that our principals rely on.  An entry may grant *less* than the real policy
(AWS adds actions over time), never more: a missing action makes the check
fail falsely, an invented one would make it pass falsely.  A policy not in
this table grants nothing, and the check says so.
"""

from __future__ import annotations

from typing import Any

Statement = dict[str, Any]


def _allow(sid: str, actions: list[str], resources: list[str] | str = "*") -> Statement:
    return {"Sid": sid, "Effect": "Allow", "Action": actions, "Resource": resources}


#: name (as in config, without arn:aws:iam::aws:policy/) -> statements.
MANAGED_POLICIES: dict[str, list[Statement]] = {
    # Version v3+: read-only ECR, including the registry token.
    "AmazonEC2ContainerRegistryReadOnly": [_allow("ReadOnly", [
        "ecr:GetAuthorizationToken", "ecr:BatchCheckLayerAvailability",
        "ecr:GetDownloadUrlForLayer", "ecr:GetRepositoryPolicy", "ecr:DescribeRepositories",
        "ecr:ListImages", "ecr:DescribeImages", "ecr:BatchGetImage"])],
    "CloudWatchLogsFullAccess": [_allow("CloudWatchLogsFullAccess", ["logs:*"])],
    "AmazonSSMReadOnlyAccess": [_allow("ReadOnly", ["ssm:Describe*", "ssm:Get*", "ssm:List*"])],
    # v1 (2015-11-11), the whole document.
    "service-role/AmazonRDSEnhancedMonitoringRole": [
        _allow("EnableCreationAndManagementOfRDSCloudwatchLogGroups",
               ["logs:CreateLogGroup", "logs:PutRetentionPolicy"],
               ["arn:aws:logs:*:*:log-group:RDS*"]),
        _allow("EnableCreationAndManagementOfRDSCloudwatchLogStreams",
               ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams",
                "logs:GetLogEvents"],
               ["arn:aws:logs:*:*:log-group:RDS*:log-stream:*"]),
    ],
    "AmazonSSMManagedInstanceCore": [
        _allow("SSM", ["ssm:DescribeAssociation", "ssm:GetDeployablePatchSnapshotForInstance",
                       "ssm:GetDocument", "ssm:DescribeDocument", "ssm:GetManifest",
                       "ssm:GetParameter", "ssm:GetParameters", "ssm:ListAssociations",
                       "ssm:ListInstanceAssociations", "ssm:PutInventory",
                       "ssm:PutComplianceItems", "ssm:PutConfigurePackageResult",
                       "ssm:UpdateAssociationStatus", "ssm:UpdateInstanceAssociationStatus",
                       "ssm:UpdateInstanceInformation"]),
        _allow("SSMMessages", ["ssmmessages:CreateControlChannel",
                               "ssmmessages:CreateDataChannel",
                               "ssmmessages:OpenControlChannel",
                               "ssmmessages:OpenDataChannel"]),
        _allow("EC2Messages", ["ec2messages:AcknowledgeMessage", "ec2messages:DeleteMessage",
                               "ec2messages:FailMessage", "ec2messages:GetEndpoint",
                               "ec2messages:GetMessages", "ec2messages:SendReply"]),
    ],
    "CloudWatchAgentServerPolicy": [
        _allow("CWACloudWatchServerPermissions", [
            "cloudwatch:PutMetricData", "ec2:DescribeVolumes", "ec2:DescribeTags",
            "logs:PutLogEvents", "logs:PutRetentionPolicy", "logs:DescribeLogStreams",
            "logs:DescribeLogGroups", "logs:CreateLogStream", "logs:CreateLogGroup"]),
        _allow("CWASSMServerPermissions", ["ssm:GetParameter"],
               ["arn:aws:ssm:*:*:parameter/AmazonCloudWatch-*"]),
    ],
    "service-role/AmazonEC2ContainerServiceforEC2Role": [_allow("ECSInstanceManagement", [
        "ec2:DescribeTags", "ecs:CreateCluster", "ecs:DeregisterContainerInstance",
        "ecs:DiscoverPollEndpoint", "ecs:Poll", "ecs:RegisterContainerInstance",
        "ecs:StartTelemetrySession", "ecs:UpdateContainerInstancesState", "ecs:Submit*",
        "ecr:GetAuthorizationToken", "ecr:BatchCheckLayerAvailability",
        "ecr:GetDownloadUrlForLayer", "ecr:BatchGetImage", "logs:CreateLogStream",
        "logs:PutLogEvents"])],
    # AWS Backup's service-role policies (backup.archive): only the RDS snapshot
    # actions on DB instances, a subset of the published documents (which also
    # cover EBS, EFS, DynamoDB ... and the KMS grants).
    "service-role/AWSBackupServiceRolePolicyForBackup": [
        _allow("RDSSnapshots", ["rds:CreateDBSnapshot", "rds:DescribeDBInstances"],
               ["arn:aws:rds:*:*:db:*"])],
    "service-role/AWSBackupServiceRolePolicyForRestores": [
        _allow("RDSRestores", ["rds:DescribeDBInstances"], ["arn:aws:rds:*:*:db:*"])],
}


def managed_document(name: str) -> dict[str, Any] | None:
    """The vetted document of managed policy ``name``, or None if the table lacks it."""
    statements = MANAGED_POLICIES.get(name)
    if statements is None:
        return None
    return {"Version": "2012-10-17", "Statement": statements}
