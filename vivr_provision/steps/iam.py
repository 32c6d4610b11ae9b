"""IAM roles: trust policy, AWS managed policies, and least-privilege inline grants.

Each role of ``config.iam`` is one step.  The spec names capabilities
("SecretsManagerReadSecret", "S3GetObject" ...); they become one inline
policy whose statements name the exact ARNs of this environment's secrets,
buckets, queues, topics and key, never ``*`` where an ARN is known.  Roles
that EC2 instances assume also get an instance profile of the same name.

IAM is eventually consistent: a role just created can be refused by ECS,
EC2 or RDS for a while.  Consumers retry on that (see ``ROLE_PROPAGATION``).
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import unquote

from vivr_provision.config import PlatformConfig
from vivr_provision.config.app import IamGrantConfig, IamRoleConfig
from vivr_provision.retry import policy, until_found
from vivr_provision.steps.base import Change, Resource, Step, StepContext
from vivr_provision.steps.common import (
    absent_on,
    aws_tags,
    gone_on,
    require_owned,
    tag_drift,
    tag_map,
    write_tags,
)
from vivr_provision.steps.kinds import IAM_ROLE

INLINE_POLICY = "vivr-grants"
#: What a consumer sees while a new role or instance profile propagates.
ROLE_PROPAGATION = policy(
    {"InvalidParameterValue", "InvalidParameterException", "InvalidParameterCombination",
     "AccessDeniedException"},
    "IAM is eventually consistent: a role just created is not assumable everywhere yet",
    deadline_s=240, max_attempts=25, initial_s=2.0, max_wait_s=20.0,
    message=r"role|assume|instance profile|iam:PassRole|not authorized",
)
#: Which roles exist depends on the features the config turns on.
EC2_TRUST = "ec2.amazonaws.com"


def managed_policy_arn(name: str) -> str:
    return f"arn:aws:iam::aws:policy/{name}"


def role_wanted(config: PlatformConfig, field: str) -> bool:
    """Roles only exist when a feature of the config uses them."""
    if field == "ecs_instance_role":
        return config.ecs.launch_type == "ec2"
    if field == "s3_replication_role":
        return any(b.replication is not None for b in config.s3.buckets.values())
    if field == "rds_monitoring_role":
        return config.rds.enhanced_monitoring_interval > 0
    if field == "vpc_flow_logs_role":
        return config.network.flow_logs is not None
    return True


class IamRoleStep(Step):
    """One role (and its instance profile when EC2 assumes it)."""

    family = "iam"
    service = "iam"

    def __init__(self, config: PlatformConfig, field: str, role: IamRoleConfig) -> None:
        super().__init__(config, field)
        self.role = role

    def resource_name(self) -> str:
        return self.role.name

    @property
    def needs_instance_profile(self) -> bool:
        return self.role.trust_service == EC2_TRUST

    def depends_on(self) -> tuple[str, ...]:
        deps: set[str] = set()
        for grant in self.role.grants:
            if grant.capability == "SecretsManagerReadSecret":
                deps.update(f"secret.{key}" for key in grant.resources)
            elif grant.capability.startswith("KMS"):
                deps.add("kms")
            elif grant.capability == "S3Replication" and self._replicates_kms(grant):
                deps.add("dr.kms")
        return tuple(sorted(deps))

    def _replicates_kms(self, grant: IamGrantConfig) -> bool:
        """Whether replicas of these buckets are encrypted with the DR key."""
        buckets = self.config.s3.buckets
        return any(buckets[key].encryption == "aws:kms" for key in grant.resources)

    def iam(self, ctx: StepContext) -> Any:
        return ctx.client("iam", self.region)

    # -- documents -----------------------------------------------------------
    def trust_policy(self) -> dict[str, Any]:
        return {"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"Service": self.role.trust_service},
            "Action": "sts:AssumeRole"}]}

    def _replication_statements(self, ctx: StepContext,
                                grant: IamGrantConfig) -> list[dict[str, Any]]:
        """What S3 replication needs of its role (AWS "Setting up permissions" for CRR)."""
        s3 = self.config.s3
        sources = [s3.bucket_name(key) for key in grant.resources]
        replicas = [name for key in grant.resources
                    if (name := s3.replica_bucket_name(key)) is not None]
        statements: list[dict[str, Any]] = [
            {"Sid": "S3ReplicationSourceBuckets", "Effect": "Allow",
             "Action": ["s3:GetReplicationConfiguration", "s3:ListBucket"],
             "Resource": sorted(f"arn:aws:s3:::{b}" for b in sources)},
            {"Sid": "S3ReplicationSourceObjects", "Effect": "Allow",
             "Action": ["s3:GetObjectVersionForReplication", "s3:GetObjectVersionAcl",
                        "s3:GetObjectVersionTagging"],
             "Resource": sorted(f"arn:aws:s3:::{b}/*" for b in sources)},
            {"Sid": "S3ReplicationDestinationObjects", "Effect": "Allow",
             "Action": ["s3:ReplicateObject", "s3:ReplicateDelete", "s3:ReplicateTags"],
             "Resource": sorted(f"arn:aws:s3:::{b}/*" for b in replicas)},
        ]
        if self._replicates_kms(grant):
            statements.append({"Sid": "S3ReplicationEncryptReplicas", "Effect": "Allow",
                               "Action": ["kms:Encrypt"],
                               "Resource": [str(ctx.output("dr.kms", "key_arn"))]})
        return statements

    def _log_delivery_statements(self, ctx: StepContext,
                                 grant: IamGrantConfig) -> list[dict[str, Any]]:
        """What a service that publishes into log groups needs (VPC User Guide, "IAM role
        for publishing flow logs to CloudWatch Logs"), scoped to those groups;
        ``DescribeLogGroups`` takes no resource (Service Authorization Reference: "*")."""
        base = f"arn:aws:logs:{self.config.aws.region}:{ctx.account_id}:log-group:"
        groups = sorted(f"{base}{self.config.logs.group(key).name}:*" for key in grant.resources)
        return [
            {"Sid": "CloudWatchLogsDeliverStreams", "Effect": "Allow",
             "Action": ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"],
             "Resource": groups},
            {"Sid": "CloudWatchLogsDeliverFindGroup", "Effect": "Allow",
             "Action": ["logs:DescribeLogGroups"], "Resource": ["*"]},
        ]

    def _grant_statement(self, ctx: StepContext, grant: IamGrantConfig) -> dict[str, Any]:
        region, account = self.config.aws.region, ctx.account_id
        capability = grant.capability
        resources: list[str]
        if capability == "SecretsManagerReadSecret":
            actions = ["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"]
            resources = [str(ctx.output(f"secret.{key}", "arn")) for key in grant.resources]
        elif capability in ("S3GetObject", "S3PutObject"):
            actions = ["s3:GetObject"] if capability == "S3GetObject" else ["s3:PutObject"]
            resources = [f"arn:aws:s3:::{self.config.s3.bucket_name(key)}/*"
                         for key in grant.resources]
        elif capability == "SQSSendMessage":
            actions = ["sqs:SendMessage"]
            resources = [f"arn:aws:sqs:{region}:{account}:{name}" for name in grant.resources]
        elif capability == "SNSPublish":
            actions = ["sns:Publish"]
            resources = [f"arn:aws:sns:{region}:{account}:{name}" for name in grant.resources]
        else:  # KMSGenerateDataKey / KMSDecrypt: the platform key
            actions = ["kms:GenerateDataKey"] if capability == "KMSGenerateDataKey" \
                else ["kms:Decrypt"]
            resources = [str(ctx.output("kms", "key_arn"))]
        return {"Sid": capability, "Effect": "Allow", "Action": actions,
                "Resource": sorted(resources)}

    def inline_policy(self, ctx: StepContext) -> dict[str, Any] | None:
        if not self.role.grants:
            return None
        statements: list[dict[str, Any]] = []
        for grant in self.role.grants:
            if grant.capability == "S3Replication":
                statements += self._replication_statements(ctx, grant)
            elif grant.capability == "CloudWatchLogsDeliver":
                statements += self._log_delivery_statements(ctx, grant)
            else:
                statements.append(self._grant_statement(ctx, grant))
        return {"Version": "2012-10-17", "Statement": statements}

    # -- lifecycle -----------------------------------------------------------
    def _get(self, ctx: StepContext, name: str) -> Resource | None:
        reply = absent_on(IAM_ROLE.not_found, self.iam(ctx).get_role, RoleName=name)
        if reply is None:
            return None
        role = reply["Role"]
        tags = tag_map(role.get("Tags"))
        require_owned(self, f"IAM role {name}", tags)
        return Resource(role["Arn"], {**role, "TagMap": tags})

    def describe_by_id(self, ctx: StepContext, resource_id: str) -> Resource | None:
        return self._get(ctx, self.role.name)

    def find_by_tags(self, ctx: StepContext) -> Resource | None:
        return self._get(ctx, self.role.name)

    def create(self, ctx: StepContext, token: str) -> Resource:
        iam = self.iam(ctx)
        iam.create_role(
            RoleName=self.role.name,
            Description=self.role.description,
            AssumeRolePolicyDocument=json.dumps(self.trust_policy()),
            Tags=aws_tags(self.tags()),
        )
        for name in self.role.managed_policies:
            iam.attach_role_policy(RoleName=self.role.name, PolicyArn=managed_policy_arn(name))
        document = self.inline_policy(ctx)
        if document is not None:
            iam.put_role_policy(RoleName=self.role.name, PolicyName=INLINE_POLICY,
                                PolicyDocument=json.dumps(document))
        if self.needs_instance_profile:
            self._ensure_instance_profile(ctx)
        return until_found(f"role {self.role.name}", lambda: self._get(ctx, self.role.name))

    def _instance_profile(self, ctx: StepContext) -> dict[str, Any] | None:
        reply = absent_on(IAM_ROLE.not_found, self.iam(ctx).get_instance_profile,
                          InstanceProfileName=self.role.name)
        return dict(reply["InstanceProfile"]) if reply else None

    def _ensure_instance_profile(self, ctx: StepContext) -> None:
        iam = self.iam(ctx)
        profile = self._instance_profile(ctx)
        if profile is None:
            iam.create_instance_profile(InstanceProfileName=self.role.name,
                                        Tags=aws_tags(self.tags()))
            profile = {"Roles": []}
        if not any(r["RoleName"] == self.role.name for r in profile.get("Roles", [])):
            iam.add_role_to_instance_profile(InstanceProfileName=self.role.name,
                                             RoleName=self.role.name)

    def _attached(self, ctx: StepContext) -> set[str]:
        pages = self.iam(ctx).get_paginator("list_attached_role_policies").paginate(
            RoleName=self.role.name)
        return {p["PolicyArn"] for page in pages for p in page["AttachedPolicies"]}

    def _inline(self, ctx: StepContext) -> dict[str, Any] | None:
        reply = absent_on(IAM_ROLE.not_found, self.iam(ctx).get_role_policy,
                          RoleName=self.role.name, PolicyName=INLINE_POLICY)
        if reply is None:
            return None
        document = reply["PolicyDocument"]
        return dict(json.loads(unquote(document)) if isinstance(document, str) else document)

    def diff(self, ctx: StepContext, resource: Resource) -> list[Change]:
        data = resource.data
        changes = tag_drift(self, data.get("TagMap", {}))
        trust = data.get("AssumeRolePolicyDocument")
        if isinstance(trust, str):
            trust = json.loads(unquote(trust))
        if trust != self.trust_policy():
            changes.append(Change("trust_policy", trust, self.trust_policy()))
        if data.get("Description", "") != self.role.description:
            changes.append(Change("description", data.get("Description"), self.role.description))
        wanted = {managed_policy_arn(n) for n in self.role.managed_policies}
        attached = self._attached(ctx)
        if attached != wanted:
            changes.append(Change("managed_policies", sorted(attached), sorted(wanted)))
        document = self.inline_policy(ctx)
        if self._inline(ctx) != document:
            changes.append(Change("inline_policy", "differs", "the configured grants"))
        if self.needs_instance_profile:
            profile = self._instance_profile(ctx)
            roles = [r["RoleName"] for r in (profile or {}).get("Roles", [])]
            if roles != [self.role.name]:
                changes.append(Change("instance_profile", roles, [self.role.name]))
        return changes

    def update(self, ctx: StepContext, resource: Resource, changes: list[Change]) -> Resource:
        iam = self.iam(ctx)
        for change in changes:
            if change.field == "tags":
                write_tags(iam, IAM_ROLE, self.role.name, change.desired)
            elif change.field == "trust_policy":
                iam.update_assume_role_policy(RoleName=self.role.name,
                                              PolicyDocument=json.dumps(self.trust_policy()))
            elif change.field == "description":
                iam.update_role(RoleName=self.role.name, Description=self.role.description)
            elif change.field == "managed_policies":
                for arn in sorted(set(change.desired) - set(change.current)):
                    iam.attach_role_policy(RoleName=self.role.name, PolicyArn=arn)
                for arn in sorted(set(change.current) - set(change.desired)):
                    iam.detach_role_policy(RoleName=self.role.name, PolicyArn=arn)
            elif change.field == "inline_policy":
                document = self.inline_policy(ctx)
                if document is None:
                    gone_on(IAM_ROLE.not_found, iam.delete_role_policy, RoleName=self.role.name,
                            PolicyName=INLINE_POLICY)
                else:
                    iam.put_role_policy(RoleName=self.role.name, PolicyName=INLINE_POLICY,
                                        PolicyDocument=json.dumps(document))
            elif change.field == "instance_profile":
                self._ensure_instance_profile(ctx)
        found = self._get(ctx, self.role.name)
        assert found is not None
        return found

    def delete(self, ctx: StepContext, resource: Resource) -> None:
        """Detach everything first: IAM refuses to delete a role with policies (DeleteConflict)."""
        iam = self.iam(ctx)
        if self.needs_instance_profile:
            profile = self._instance_profile(ctx)
            if profile is not None:
                for role in profile.get("Roles", []):
                    iam.remove_role_from_instance_profile(
                        InstanceProfileName=self.role.name, RoleName=role["RoleName"])
                gone_on(IAM_ROLE.not_found, iam.delete_instance_profile,
                        InstanceProfileName=self.role.name)
        for arn in sorted(self._attached(ctx)):
            iam.detach_role_policy(RoleName=self.role.name, PolicyArn=arn)
        pages = iam.get_paginator("list_role_policies").paginate(RoleName=self.role.name)
        for name in [n for page in pages for n in page["PolicyNames"]]:
            gone_on(IAM_ROLE.not_found, iam.delete_role_policy, RoleName=self.role.name,
                    PolicyName=name)
        gone_on(IAM_ROLE.not_found, iam.delete_role, RoleName=self.role.name)

    def outputs(self, resource: Resource) -> dict[str, Any]:
        outputs: dict[str, Any] = {"id": resource.id, "role_arn": resource.id,
                                   "role_name": self.role.name}
        if self.needs_instance_profile:
            outputs["instance_profile_name"] = self.role.name
        return outputs


def iam_steps(config: PlatformConfig) -> list[Step]:
    """One step per role the config's features need."""
    return [IamRoleStep(config, field, role) for field, role in config.iam.roles().items()
            if role_wanted(config, field)]
