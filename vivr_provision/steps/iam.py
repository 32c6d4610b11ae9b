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
from collections.abc import Mapping
from typing import Any

from vivr_provision.config import PlatformConfig
from vivr_provision.config.app import IamGrantConfig, IamRoleConfig
from vivr_provision.config.dr_secrets import replicated_secret_keys
from vivr_provision.config.standby import standby_ecs_built
from vivr_provision.retry import policy, until_found
from vivr_provision.steps.base import Change, Resource, Step, StepContext
from vivr_provision.steps.common import KindStep, absent_on, aws_tags, gone_on
from vivr_provision.steps.drift import TAGS, UNREPORTED, Field, converge, drift
from vivr_provision.steps.iam_reads import ATTACHED, INLINE, PROFILE_ROLES, our_roles
from vivr_provision.steps.kinds import IAM_ROLE
from vivr_provision.steps.policy_documents import Labelled, parsed
from vivr_provision.steps.secret_replicas import DR_KEY_STEP

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


def platform_regions(config: PlatformConfig) -> list[str]:
    """Where the platform's services act for us: the primary region, and the DR
    region when the DR site is on."""
    regions = [config.aws.region]
    if config.dr.enabled and config.dr.region not in regions:
        regions.append(config.dr.region)
    return regions


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


#: The roles the standby ECS tasks run with (the same roles as the primary's:
#: IAM is global); they also read the secrets' replicas in the DR region.
STANDBY_TASK_ROLES = frozenset({"task_execution_role", "task_role"})


class IamRoleStep(KindStep):
    """One role (and its instance profile when EC2 assumes it), read by name (``GetRole``)."""

    #: A policy may name a DR key or bucket that no longer exists (IAM accepts
    #: ARNs of deleted resources), so a destroy of the DR side leaves roles alone.
    detaches_other_sites = True

    family = "iam"
    service = "iam"
    kind = IAM_ROLE

    def __init__(self, config: PlatformConfig, field: str, role: IamRoleConfig) -> None:
        super().__init__(config, field)
        self.role = role

    def resource_name(self) -> str:
        return self.role.name

    def exists_codes(self) -> frozenset[str]:
        # AddRoleToInstanceProfile retried after a lost answer: the profile already
        # holds the role, and IAM answers "LimitExceeded: Cannot exceed quota for
        # InstanceSessionsPerInstanceProfile: 1".  The engine then re-reads the role
        # and its profile; a real quota problem still shows as drift and fails.
        return IAM_ROLE.already_exists | {"LimitExceeded"}

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
                if grant.capability == "KMSDecrypt" and self.reads_replicas:
                    deps.add(DR_KEY_STEP)
            elif grant.capability == "S3Replication" and self._replicates_kms(grant):
                deps.add("dr.kms")
            if grant.capability == "KMSBackupCopy":
                deps.update({"kms", "dr.kms"})
        return tuple(sorted(deps))

    @property
    def replicated_secrets(self) -> list[str]:
        """Keys of the secrets this role reads whose DR replica the standby's tasks read:
        only the ECS task roles (the standby tier runs with them), only when the
        standby ECS tier is built."""
        if self.key not in STANDBY_TASK_ROLES or not standby_ecs_built(self.config):
            return []
        replicated = replicated_secret_keys(self.config)
        return sorted({key for grant in self.role.grants
                       if grant.capability == "SecretsManagerReadSecret"
                       for key in grant.resources if key in replicated})

    @property
    def reads_replicas(self) -> bool:
        """Whether the role reads a replicated secret: the standby's tasks read the
        replica in the DR region, encrypted with the DR key, so the role needs
        both the replica's ARN and kms:Decrypt on the DR key."""
        return bool(self.replicated_secrets)

    def _replicates_kms(self, grant: IamGrantConfig) -> bool:
        """Whether replicas of these buckets are encrypted with the DR key."""
        buckets = self.config.s3.buckets
        return any(buckets[key].encryption == "aws:kms" for key in grant.resources)

    def iam(self, ctx: StepContext) -> Any:
        return ctx.client("iam", self.region)

    # -- documents -----------------------------------------------------------
    def trust_source_arns(self, account_id: str) -> list[str]:
        """The configured ``aws:SourceArn`` patterns, placeholders filled: one per
        platform region for a pattern that names ``{region}``."""
        regions = platform_regions(self.config)
        arns = {pattern.format(account=account_id, region=region,
                               s3_suffix=self.config.s3.name_suffix)
                for pattern in self.role.trust_source_arns for region in regions}
        return sorted(arns)

    def trust_policy(self, account_id: str) -> dict[str, Any]:
        """The service may assume the role; with ``trust_source_account`` only on
        behalf of this account, with ``trust_source_arns`` only for those resources
        (IAM user guide, "Cross-service confused deputy prevention": both keys
        together, the account in the ARN the same as ``aws:SourceAccount``)."""
        statement: dict[str, Any] = {
            "Effect": "Allow", "Principal": {"Service": self.role.trust_service},
            "Action": "sts:AssumeRole"}
        condition: dict[str, Any] = {}
        if self.role.trust_source_account:
            condition["StringEquals"] = {"aws:SourceAccount": account_id}
        if arns := self.trust_source_arns(account_id):
            # ArnLike: the patterns carry wildcards (a resource type's every ARN).
            condition["ArnLike"] = {"aws:SourceArn": arns[0] if len(arns) == 1 else arns}
        if condition:
            statement["Condition"] = condition
        return {"Version": "2012-10-17", "Statement": [statement]}

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
        ``DescribeLogGroups`` takes no resource (Service Authorization Reference: "*").
        The DR VPC's flow log publishes with the same role into its own group in
        the DR region (``dr.network.flow_logs.dr_group_name``), named here too."""
        base = f"arn:aws:logs:{self.config.aws.region}:{ctx.account_id}:log-group:"
        groups = [f"{base}{self.config.logs.group(key).name}:*" for key in grant.resources]
        network = self.config.dr.network if self.config.dr.enabled else None
        dr_flow = network.flow_logs if network is not None else None
        if dr_flow is not None and dr_flow.dr_group_name and dr_flow.role == self.key and \
                dr_flow.log_group in grant.resources:
            groups.append(f"arn:aws:logs:{self.config.dr.region}:{ctx.account_id}:log-group:"
                          f"{dr_flow.dr_group_name}:*")
        groups.sort()
        return [
            {"Sid": "CloudWatchLogsDeliverStreams", "Effect": "Allow",
             "Action": ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"],
             "Resource": groups},
            {"Sid": "CloudWatchLogsDeliverFindGroup", "Effect": "Allow",
             "Action": ["logs:DescribeLogGroups"], "Resource": ["*"]},
        ]

    def _log_write_statements(self, ctx: StepContext,
                              grant: IamGrantConfig) -> list[dict[str, Any]]:
        """What the awslogs driver needs of the execution role ("write logs"): streams
        and events in these groups, nothing else (ECS Developer Guide, "Amazon ECS
        task execution IAM role": ``logs:CreateLogStream``, ``logs:PutLogEvents``;
        no ``CreateLogGroup``: the tool creates the groups, the task definition does
        not set ``awslogs-create-group``).  The standby's tasks run with the same
        role and write the app container's group of the DR region."""
        account = ctx.account_id
        groups = [(self.config.aws.region, self.config.logs.group(key).name)
                  for key in grant.resources]
        app = self.config.dr.standby.app
        if (self.key in STANDBY_TASK_ROLES and standby_ecs_built(self.config)
                and app is not None
                and self.config.ecs.task_definition.container.log_group in grant.resources):
            groups.append((self.config.dr.region, app.log_group.name))
        # "log-group:<name>:*", the form of the CloudWatch Logs user guide's own
        # examples: it covers the group's streams whichever ARN an action checks.
        streams = sorted(f"arn:aws:logs:{region}:{account}:log-group:{name}:*"
                         for region, name in groups)
        return [{"Sid": "CloudWatchLogsWrite", "Effect": "Allow",
                 "Action": ["logs:CreateLogStream", "logs:PutLogEvents"], "Resource": streams}]

    def _backup_copy_statements(self, ctx: StepContext) -> list[dict[str, Any]]:
        """What AWS Backup needs of its role for recovery points of a database encrypted
        with the platform key, copied to a vault encrypted with its DR replica (AWS
        Backup developer guide, "Encryption for backups in AWS Backup": the role must
        be allowed to use both keys; RDS copies through grants it creates)."""
        keys = sorted([str(ctx.output("kms", "key_arn")), str(ctx.output("dr.kms", "key_arn"))])
        return [
            {"Sid": "KMSBackupCopyUseKeys", "Effect": "Allow",
             "Action": ["kms:Decrypt", "kms:DescribeKey", "kms:Encrypt", "kms:GenerateDataKey*",
                        "kms:ReEncrypt*"], "Resource": keys},
            {"Sid": "KMSBackupCopyGrants", "Effect": "Allow", "Action": ["kms:CreateGrant"],
             "Resource": keys, "Condition": {"Bool": {"kms:GrantIsForAWSResource": "true"}}},
        ]

    def _grant_statement(self, ctx: StepContext, grant: IamGrantConfig) -> dict[str, Any]:
        region, account = self.config.aws.region, ctx.account_id
        capability = grant.capability
        resources: list[str]
        if capability == "SecretsManagerReadSecret":
            actions = ["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"]
            resources = [str(ctx.output(f"secret.{key}", "arn")) for key in grant.resources]
            # A replica has its own ARN (the primary's with the DR region):
            # a policy naming only the primary's does not cover it.
            resources += [str(ctx.output(f"secret.{key}", "dr_arn"))
                          for key in grant.resources if key in self.replicated_secrets]
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
            if capability == "KMSDecrypt" and self.reads_replicas:
                # The replicas are encrypted with the DR key (a replica of the
                # multi-Region key: same id, its own ARN in the DR region).
                resources.append(str(ctx.output(DR_KEY_STEP, "key_arn")))
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
            elif grant.capability == "CloudWatchLogsWrite":
                statements += self._log_write_statements(ctx, grant)
            elif grant.capability == "KMSBackupCopy":
                statements += self._backup_copy_statements(ctx)
            else:
                statements.append(self._grant_statement(ctx, grant))
        return {"Version": "2012-10-17", "Statement": statements}

    # -- lifecycle -----------------------------------------------------------
    def create(self, ctx: StepContext, token: str) -> Resource:
        iam = self.iam(ctx)
        iam.create_role(
            RoleName=self.role.name,
            Description=self.role.description,
            AssumeRolePolicyDocument=json.dumps(self.trust_policy(ctx.account_id)),
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
        return until_found(f"role {self.role.name}", lambda: self.lookup(ctx))

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

    def _inline(self, ctx: StepContext) -> Any:
        reply = absent_on(IAM_ROLE.not_found, self.iam(ctx).get_role_policy,
                          RoleName=self.role.name, PolicyName=INLINE_POLICY)
        return None if reply is None else parsed(reply["PolicyDocument"])

    # -- drift -----------------------------------------------------------------
    #: The managed settings (see :mod:`vivr_provision.steps.drift`).  ``GetRole``
    #: carries the trust policy, description and tags; :meth:`observed` adds what
    #: other calls read (attached policies, the inline policy, the instance
    #: profile).  ``MaxSessionDuration`` is not managed (the config does not set
    #: it), so it is no row.
    FIELDS = (
        TAGS,
        Field("trust_policy", lambda d: parsed(d.get("AssumeRolePolicyDocument")),
              lambda s, ctx: s.trust_policy(ctx.account_id), apply="update_trust_policy"),
        # AWS omits an empty description.
        Field("description", lambda d: d.get("Description"), lambda s, ctx: s.role.description,
              compare="defaulted", default="", apply="update_description"),
        Field("managed_policies", lambda d: sorted(d[ATTACHED]),
              lambda s, ctx: sorted({managed_policy_arn(n) for n in s.role.managed_policies}),
              compare="unordered", apply="attach_policies"),
        Field("inline_policy", lambda d: Labelled(d[INLINE], "differs"),
              lambda s, ctx: Labelled(s.inline_policy(ctx), "the configured grants"),
              apply="put_inline_policy"),
        Field("instance_profile", lambda d: d.get(PROFILE_ROLES, UNREPORTED),
              lambda s, ctx: [s.role.name], apply="ensure_instance_profile"),
    )

    def batched_item(self, ctx: StepContext, request: dict[str, Any]) -> Mapping[str, Any] | None:
        """The role from the account-wide listings (:mod:`~vivr_provision.steps.iam_reads`),
        carrying what :meth:`observed` would read, for the first lookup of the run."""
        return ctx.reads.take(("iam", "roles"), str(request["RoleName"]),
                              lambda: our_roles(self.iam(ctx), self.tags(), INLINE_POLICY),
                              self.name)

    def observed(self, ctx: StepContext, resource: Resource) -> dict[str, Any]:
        """The role's description plus the settings only other IAM calls read (a role
        found in the batch already carries them: :func:`~.iam_reads.role_item`)."""
        data = dict(resource.data)
        if ATTACHED not in data:
            data[ATTACHED] = self._attached(ctx)
        if INLINE not in data:
            data[INLINE] = self._inline(ctx)
        if not self.needs_instance_profile:
            data.pop(PROFILE_ROLES, None)
        elif PROFILE_ROLES not in data:
            profile = self._instance_profile(ctx)
            data[PROFILE_ROLES] = [r["RoleName"] for r in (profile or {}).get("Roles", [])]
        return data

    def diff(self, ctx: StepContext, resource: Resource) -> list[Change]:
        return drift(self, ctx, self.observed(ctx, resource), self.FIELDS)

    def update(self, ctx: StepContext, resource: Resource, changes: list[Change]) -> Resource:
        converge(self, ctx, resource, changes, self.FIELDS)
        return self.reread(ctx)

    def update_trust_policy(self, ctx: StepContext, resource: Resource,
                            changes: list[Change]) -> None:
        document = json.dumps(self.trust_policy(ctx.account_id))
        self.iam(ctx).update_assume_role_policy(RoleName=self.role.name, PolicyDocument=document)

    def update_description(self, ctx: StepContext, resource: Resource,
                           changes: list[Change]) -> None:
        self.iam(ctx).update_role(RoleName=self.role.name, Description=self.role.description)

    def attach_policies(self, ctx: StepContext, resource: Resource,
                        changes: list[Change]) -> None:
        """Attach the configured policies that are missing, detach the attached extra ones."""
        iam, [change] = self.iam(ctx), changes
        for arn in sorted(set(change.desired) - set(change.current)):
            iam.attach_role_policy(RoleName=self.role.name, PolicyArn=arn)
        for arn in sorted(set(change.current) - set(change.desired)):
            iam.detach_role_policy(RoleName=self.role.name, PolicyArn=arn)

    def put_inline_policy(self, ctx: StepContext, resource: Resource,
                          changes: list[Change]) -> None:
        """Write the grants' policy, or delete ours when the config grants nothing."""
        iam, document = self.iam(ctx), self.inline_policy(ctx)
        if document is None:
            gone_on(IAM_ROLE.not_found, iam.delete_role_policy, RoleName=self.role.name,
                    PolicyName=INLINE_POLICY)
        else:
            iam.put_role_policy(RoleName=self.role.name, PolicyName=INLINE_POLICY,
                                PolicyDocument=json.dumps(document))

    def ensure_instance_profile(self, ctx: StepContext, resource: Resource,
                                changes: list[Change]) -> None:
        self._ensure_instance_profile(ctx)

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
