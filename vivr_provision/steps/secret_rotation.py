"""Automatic rotation of the origin-verify secret: a role, a Lambda function, its
permission, and the secret's rotation (``secrets.origin_verify.rotation``).

Steps, in the order apply builds them:

* ``iam.origin_verify_rotation_role``: the function's execution role.  It
  trusts ``lambda.amazonaws.com`` for this account only (``aws:SourceAccount``)
  and may do exactly what the four rotation steps do (Secrets Manager user
  guide, "Lambda rotation function execution role permissions"): read and
  write the versions of this one secret, use the platform key through
  Secrets Manager, read and modify the origin-check rules it names, read and
  update this one distribution, and write into its own log group;
* the log group ``/aws/lambda/<function>`` is a ``logs.<key>`` step of
  ``logs.groups`` (platform key, retention), built before the function so
  Lambda never creates one without either;
* ``rotation-function.origin_verify``: the function.  Its code is the module
  :mod:`vivr_provision.rotation.origin_verify`, zipped at apply time into a
  byte-for-byte reproducible archive (fixed date, mode and order, stored
  uncompressed), so ``CodeSha256`` says whether the deployed code is this
  one.  No VPC: it calls only public AWS APIs, and a VPC would need NAT or
  four interface endpoints for them.  What it acts on (rule ARNs and
  regions, distribution id, header names, the new value's rules) is in its
  environment, read from the steps that built them;
* ``rotation-permission.origin_verify``: the function's resource policy
  statement that lets ``secretsmanager.amazonaws.com`` invoke it for this
  secret only (``SourceAccount`` and ``SourceArn``: Secrets Manager user
  guide, "Permissions for rotation");
* ``secret-rotation.origin_verify``: ``RotateSecret`` with the function and
  ``AutomaticallyAfterDays``, ``RotateImmediately: false`` (Secrets Manager
  then runs only ``testSecret`` to check the setup; the first new value
  comes on schedule).  Destroy turns rotation off (``CancelRotateSecret``)
  before the function goes.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import string
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from vivr_provision import rotation as rotation_package
from vivr_provision.config import PlatformConfig
from vivr_provision.config.app import IamRoleConfig
from vivr_provision.config.data import SecretRotationConfig
from vivr_provision.config.edge import S3OriginConfig
from vivr_provision.rotation.origin_verify import ENV_DISTRIBUTION, ENV_RULES, ENV_VALUE
from vivr_provision.steps.alb.common import LISTENER_FAMILY
from vivr_provision.steps.alb.rules import VERIFY_RULE
from vivr_provision.steps.base import Change, NamedStep, Resource, Step, StepContext
from vivr_provision.steps.common import KindStep, absent_on, gone_on
from vivr_provision.steps.dr import dr_site, standby_alb_built
from vivr_provision.steps.drift import TAGS, Field, converge, drift
from vivr_provision.steps.iam import ROLE_PROPAGATION, IamRoleStep
from vivr_provision.steps.kinds import LAMBDA_FUNCTION, SECRET
from vivr_provision.steps.secret_reads import ROTATED_SECRET_KEY, shared_description
from vivr_provision.steps.secret_replicas import DR_KEY_STEP, replica_region
from vivr_provision.steps.secrets import ALLOWED_PUNCTUATION

SECRET_KEY = ROTATED_SECRET_KEY
SECRET_STEP = f"secret.{SECRET_KEY}"
ROLE_FIELD = "origin_verify_rotation_role"
ROLE_STEP = f"iam.{ROLE_FIELD}"
FUNCTION_STEP = f"rotation-function.{SECRET_KEY}"
PERMISSION_STEP = f"rotation-permission.{SECRET_KEY}"
ROTATION_STEP = f"secret-rotation.{SECRET_KEY}"
DISTRIBUTION_STEP = "cloudfront"
#: The module zipped as the deployment package, and its entry point.
HANDLER_FILE = "origin_verify.py"
HANDLER = "origin_verify.handler"
#: The statement id of the invoke permission (one per function).
STATEMENT_ID = "SecretsManagerRotation"
#: The date every entry of the archive carries (the earliest a zip can hold).
ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)


def rotation_config(config: PlatformConfig) -> SecretRotationConfig:
    rotation = config.secrets.origin_verify.rotation
    assert rotation is not None, "rotation steps exist only with secrets.origin_verify.rotation"
    return rotation


# --------------------------------------------------------------------------- package


def package() -> bytes:
    """The deployment package: the handler module alone, reproducible byte for byte.

    A zip entry records a date and permissions; fixed ones (and no
    compression, whose output may change with the zlib build) make the same
    source give the same archive on every machine, so its SHA-256 compares
    with what Lambda reports.
    """
    source = Path(rotation_package.__file__).with_name(HANDLER_FILE).read_bytes()
    entry = zipfile.ZipInfo(HANDLER_FILE, date_time=ZIP_EPOCH)
    entry.external_attr = 0o644 << 16
    entry.create_system = 3  # Unix, so the mode above is what Lambda reads
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr(entry, source)
    return buffer.getvalue()


def code_sha256(archive: bytes) -> str:
    """``CodeSha256`` as Lambda reports it: the base64 of the archive's SHA-256."""
    return base64.b64encode(hashlib.sha256(archive).digest()).decode()


# --------------------------------------------------------------------------- what it acts on


def rule_steps(config: PlatformConfig) -> list[tuple[str, str, str]]:
    """(listener step, region, header) of every listener whose origin check reads the secret."""
    found: list[tuple[str, str, str]] = []
    sites = [(config.alb, "", config.aws.region)]
    if standby_alb_built(config) and config.dr.alb is not None:
        sites.append((config.dr.alb, dr_site(config).prefix, config.dr.region))
    for alb, prefix, region in sites:
        verify = alb.origin_verify
        if verify is None or verify.secret != SECRET_KEY:
            continue
        for listener in alb.listeners:
            if listener.action == "forward":
                found.append((f"{prefix}{LISTENER_FAMILY}.{listener.port}", region,
                              verify.header))
    return found


def cloudfront_headers(config: PlatformConfig) -> list[dict[str, str]]:
    """The (origin, header) pairs of the distribution that send the secret."""
    return [{"origin": origin.id, "header": header.name}
            for origin in config.cloudfront.origins if not isinstance(origin, S3OriginConfig)
            for header in origin.custom_headers if header.secret == SECRET_KEY]


def value_rules(config: PlatformConfig) -> dict[str, Any]:
    """The new value's length and alphabet, as the function's environment carries them.

    The alphabet is the one the tool generates the first value from
    (:data:`~vivr_provision.steps.secrets.ALLOWED_PUNCTUATION`): with
    punctuation allowed, every other punctuation mark is excluded, since an
    ALB http-header condition treats ``*`` and ``?`` as wildcards.
    """
    rules = config.secrets.origin_verify
    excluded = rules.exclude_characters
    if not rules.exclude_punctuation:
        allowed = ALLOWED_PUNCTUATION[SECRET_KEY]
        excluded += "".join(c for c in string.punctuation if c not in allowed)
    value: dict[str, Any] = {"length": rules.length,
                             "exclude_punctuation": rules.exclude_punctuation}
    if excluded:
        value["exclude_characters"] = "".join(sorted(set(excluded)))
    return value


def rule_targets(ctx: StepContext, config: PlatformConfig) -> list[dict[str, str]]:
    """The origin-verify rules as the function's environment names them."""
    return [{"arn": str(ctx.output(step, "rule_arns")[VERIFY_RULE]), "region": region,
             "header": header} for step, region, header in rule_steps(config)]


def environment(ctx: StepContext, config: PlatformConfig) -> dict[str, str]:
    """The function's environment: ARNs, ids, names and rules, never a value."""
    distribution = {"id": str(ctx.output(DISTRIBUTION_STEP, "distribution_id")),
                    "headers": cloudfront_headers(config)}
    return {ENV_RULES: json.dumps(rule_targets(ctx, config), sort_keys=True),
            ENV_DISTRIBUTION: json.dumps(distribution, sort_keys=True),
            ENV_VALUE: json.dumps(value_rules(config), sort_keys=True)}


# --------------------------------------------------------------------------- role


class RotationRoleStep(IamRoleStep):
    """The function's execution role; its inline policy is built here, from outputs."""

    def depends_on(self) -> tuple[str, ...]:
        rotation = rotation_config(self.config)
        deps = {SECRET_STEP, "kms", DISTRIBUTION_STEP, f"logs.{rotation.log_group}"}
        deps.update(step for step, _, _ in rule_steps(self.config))
        if replica_region(self.config, SECRET_KEY) is not None:
            deps.add(DR_KEY_STEP)
        return tuple(sorted(deps))

    def inline_policy(self, ctx: StepContext) -> dict[str, Any] | None:
        return {"Version": "2012-10-17", "Statement": role_statements(self.config, ctx)}


def role_statements(config: PlatformConfig, ctx: StepContext) -> list[dict[str, Any]]:
    """Least privilege for the four rotation steps.

    Service Authorization Reference: ``GetRandomPassword`` and
    ``elasticloadbalancing:DescribeRules`` take no resource (``*``);
    ``ModifyRule`` takes the listener-rule ARN, CloudFront's calls the
    distribution's.  The key is usable only through Secrets Manager
    (``kms:ViaService``), as the user guide's rotation policy for a
    customer managed key has it.
    """
    region = config.aws.region
    secret_arn = str(ctx.output(SECRET_STEP, "arn"))
    group_arn = str(ctx.output(f"logs.{rotation_config(config).log_group}", "arn"))
    statements: list[dict[str, Any]] = [
        {"Sid": "RotateThisSecret", "Effect": "Allow",
         "Action": ["secretsmanager:DescribeSecret", "secretsmanager:GetSecretValue",
                    "secretsmanager:PutSecretValue", "secretsmanager:UpdateSecretVersionStage"],
         "Resource": [secret_arn]},
        {"Sid": "GenerateTheValue", "Effect": "Allow",
         "Action": ["secretsmanager:GetRandomPassword"], "Resource": ["*"]},
        {"Sid": "UseThePlatformKeyThroughSecretsManager", "Effect": "Allow",
         "Action": ["kms:Decrypt", "kms:DescribeKey", "kms:GenerateDataKey"],
         "Resource": [str(ctx.output("kms", "key_arn"))],
         "Condition": {"StringEquals": {
             "kms:ViaService": f"secretsmanager.{region}.amazonaws.com"}}},
    ]
    # Lambda decrypts the function's environment with the execution role's
    # permissions (Lambda developer guide, "Securing environment variables").
    statements.append({
        "Sid": "DecryptItsEnvironment", "Effect": "Allow", "Action": ["kms:Decrypt"],
        "Resource": [str(ctx.output("kms", "key_arn"))],
        "Condition": {"StringEquals": {"kms:ViaService": f"lambda.{region}.amazonaws.com"}}})
    dr_region = replica_region(config, SECRET_KEY)
    if dr_region is not None:
        # The new version is copied to the replica under the caller's identity, as
        # ReplicateSecretToRegions is: GenerateDataKey and Encrypt on the replica's key.
        statements.append({
            "Sid": "EncryptTheReplica", "Effect": "Allow",
            "Action": ["kms:Encrypt", "kms:GenerateDataKey"],
            "Resource": [str(ctx.output(DR_KEY_STEP, "key_arn"))],
            "Condition": {"StringEquals": {
                "kms:ViaService": f"secretsmanager.{dr_region}.amazonaws.com"}}})
    statements += [
        {"Sid": "ReadTheRules", "Effect": "Allow",
         "Action": ["elasticloadbalancing:DescribeRules"], "Resource": ["*"]},
        {"Sid": "AcceptBothValues", "Effect": "Allow",
         "Action": ["elasticloadbalancing:ModifyRule"],
         "Resource": sorted(t["arn"] for t in rule_targets(ctx, config))},
        {"Sid": "SendTheNewValue", "Effect": "Allow",
         "Action": ["cloudfront:GetDistribution", "cloudfront:GetDistributionConfig",
                    "cloudfront:UpdateDistribution"],
         "Resource": [str(ctx.output(DISTRIBUTION_STEP, "arn"))]},
        {"Sid": "WriteItsLogs", "Effect": "Allow",
         "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
         "Resource": [f"{group_arn}:*"]},
    ]
    return statements


def role_steps(config: PlatformConfig) -> list[IamRoleStep]:
    """The execution role (what :mod:`~vivr_provision.steps.secret_policies` also reads)."""
    rotation = config.secrets.origin_verify.rotation
    if rotation is None:
        return []
    # Confused deputy (IAM user guide, "Cross-service confused deputy prevention"):
    # only this account's functions, as AWS's own Lambda trust policy examples do.
    role = IamRoleConfig(name=rotation.role, description=f"Lambda runs {rotation.function}",
                         trust_service="lambda.amazonaws.com", managed_policies=[], grants=[],
                         trust_source_account=True)
    return [RotationRoleStep(config, ROLE_FIELD, role)]


# --------------------------------------------------------------------------- function


class RotationFunctionStep(KindStep):
    """The rotation function, found by name (``GetFunction``), tags by ``ListTags``."""

    family = "rotation-function"
    service = "lambda"
    kind = LAMBDA_FUNCTION
    #: A destroy of the DR side leaves the function: it stops naming the standby's rule.
    detaches_other_sites = True

    def __init__(self, config: PlatformConfig) -> None:
        super().__init__(config, SECRET_KEY)
        self.rotation = rotation_config(config)

    def resource_name(self) -> str:
        return self.rotation.function

    def depends_on(self) -> tuple[str, ...]:
        deps = {ROLE_STEP, DISTRIBUTION_STEP, "kms", f"logs.{self.rotation.log_group}"}
        deps.update(step for step, _, _ in rule_steps(self.config))
        return tuple(sorted(deps))

    def lam(self, ctx: StepContext) -> Any:
        return ctx.client("lambda", self.region)

    def settings(self, ctx: StepContext) -> dict[str, Any]:
        """What ``UpdateFunctionConfiguration`` sets (``CreateFunction`` too)."""
        rotation = self.rotation
        return {"FunctionName": rotation.function, "Runtime": rotation.runtime,
                "Role": str(ctx.output(ROLE_STEP, "role_arn")), "Handler": HANDLER,
                "Description": rotation.description, "Timeout": rotation.timeout_seconds,
                "MemorySize": rotation.memory_mb,
                "Environment": {"Variables": environment(ctx, self.config)},
                # The environment names ARNs, not values; still, the platform key
                # encrypts it rather than Lambda's AWS managed key.
                "KMSKeyArn": str(ctx.output("kms", "key_arn"))}

    FIELDS = (
        TAGS,
        *(Field(name, lambda d, key=key: d.get(key),  # type: ignore[misc]
                lambda s, ctx, key=key: s.settings(ctx)[key],  # type: ignore[misc]
                apply="update_configuration")
          for name, key in (("runtime", "Runtime"), ("role", "Role"), ("handler", "Handler"),
                            ("description", "Description"), ("timeout", "Timeout"),
                            ("memory", "MemorySize"), ("environment_key", "KMSKeyArn"))),
        Field("environment", lambda d: (d.get("Environment") or {}).get("Variables") or {},
              lambda s, ctx: s.settings(ctx)["Environment"]["Variables"],
              compare="document", apply="update_configuration"),
        Field("code", lambda d: d.get("CodeSha256"), lambda s, ctx: code_sha256(package()),
              apply="update_code"),
    )

    def _settled(self, ctx: StepContext) -> None:
        """Lambda refuses another change while one is in progress (ResourceConflict)."""
        ctx.wait("lambda", "function_updated_v2", budget_s=self.wait_budget_s, delay_s=2.0,
                 region=self.region, FunctionName=self.rotation.function)

    def update_configuration(self, ctx: StepContext, resource: Resource,
                             changes: list[Change]) -> None:
        self.lam(ctx).update_function_configuration(**self.settings(ctx))
        self._settled(ctx)

    def update_code(self, ctx: StepContext, resource: Resource, changes: list[Change]) -> None:
        self.lam(ctx).update_function_code(FunctionName=self.rotation.function,
                                           ZipFile=package())
        self._settled(ctx)

    def create(self, ctx: StepContext, token: str) -> Resource:
        # Lambda refuses a role it cannot assume yet ("The role defined for the
        # function cannot be assumed by Lambda").
        ROLE_PROPAGATION.call(f"create function {self.rotation.function}",
                              self.lam(ctx).create_function, **self.settings(ctx),
                              Code={"ZipFile": package()}, PackageType="Zip",
                              Tags=self.tags())
        ctx.wait("lambda", "function_active_v2", budget_s=self.wait_budget_s, delay_s=2.0,
                 region=self.region, FunctionName=self.rotation.function)
        return self.reread(ctx)

    def delete(self, ctx: StepContext, resource: Resource) -> None:
        gone_on(LAMBDA_FUNCTION.not_found, self.lam(ctx).delete_function,
                FunctionName=self.rotation.function)

    @staticmethod
    def _rules(resource: Resource) -> list[dict[str, str]]:
        variables = (resource.data.get("Environment") or {}).get("Variables") or {}
        return list(json.loads(variables.get(ENV_RULES, "[]")))

    def detach_changes(self, ctx: StepContext, resource: Resource,
                       gone: frozenset[str]) -> list[Change]:
        """The rules of the listeners being destroyed (the standby's) leave the list the
        function modifies, or every rotation would fail on a rule that no longer exists."""
        regions = {region for step, region, _ in rule_steps(self.config) if step in gone}
        rules = self._rules(resource)
        kept = [rule for rule in rules if rule["region"] not in regions]
        return [Change("environment.rules", rules, kept)] if kept != rules else []

    def detach(self, ctx: StepContext, resource: Resource, changes: list[Change]) -> None:
        variables = dict((resource.data.get("Environment") or {}).get("Variables") or {})
        variables[ENV_RULES] = json.dumps(changes[-1].desired, sort_keys=True)
        self.lam(ctx).update_function_configuration(FunctionName=self.rotation.function,
                                                    Environment={"Variables": variables})
        self._settled(ctx)

    def outputs(self, resource: Resource) -> dict[str, Any]:
        return {"id": resource.id, "arn": resource.id, "name": self.rotation.function,
                "code_sha256": resource.data.get("CodeSha256")}


# --------------------------------------------------------------------------- permission


def _lower_keys(condition: dict[str, Any]) -> dict[str, Any]:
    """A condition block with its key names compared case-blind (Lambda writes AWS:...)."""
    return {op: {str(k).lower(): v for k, v in (block or {}).items()}
            for op, block in (condition or {}).items()}


class InvokePermissionStep(NamedStep):
    """Secrets Manager may invoke the function, for this secret of this account only."""

    family = "rotation-permission"
    service = "lambda"
    kinds = (LAMBDA_FUNCTION,)

    def __init__(self, config: PlatformConfig) -> None:
        super().__init__(config, SECRET_KEY)
        self.rotation = rotation_config(config)

    def resource_name(self) -> str:
        return f"{self.rotation.function}/{STATEMENT_ID}"

    def depends_on(self) -> tuple[str, ...]:
        return (FUNCTION_STEP, SECRET_STEP)

    def lam(self, ctx: StepContext) -> Any:
        return ctx.client("lambda", self.region)

    def desired(self, ctx: StepContext) -> dict[str, Any]:
        """The statement as ``GetPolicy`` shows it (AddPermission's request, read back)."""
        return {"Action": "lambda:InvokeFunction",
                "Principal": {"Service": "secretsmanager.amazonaws.com"},
                "Condition": _lower_keys({
                    "StringEquals": {"AWS:SourceAccount": ctx.account_id},
                    "ArnLike": {"AWS:SourceArn": str(ctx.output(SECRET_STEP, "arn"))}})}

    def lookup(self, ctx: StepContext) -> Resource | None:
        reply = absent_on(LAMBDA_FUNCTION.not_found, self.lam(ctx).get_policy,
                          FunctionName=self.rotation.function)
        if reply is None:
            return None
        for statement in json.loads(reply["Policy"]).get("Statement", []):
            if statement.get("Sid") == STATEMENT_ID:
                return Resource(self.resource_name(), {
                    "Action": statement.get("Action"), "Principal": statement.get("Principal"),
                    "Condition": _lower_keys(statement.get("Condition") or {})})
        return None

    FIELDS = (Field("statement", lambda d: d, lambda s, ctx: s.desired(ctx),
                    compare="document", apply="replace"),)

    def diff(self, ctx: StepContext, resource: Resource) -> list[Change]:
        return drift(self, ctx, resource.data, self.FIELDS)

    def _add(self, ctx: StepContext) -> Resource:
        self.lam(ctx).add_permission(
            FunctionName=self.rotation.function, StatementId=STATEMENT_ID,
            Action="lambda:InvokeFunction", Principal="secretsmanager.amazonaws.com",
            SourceAccount=ctx.account_id, SourceArn=str(ctx.output(SECRET_STEP, "arn")))
        found = self.lookup(ctx)
        assert found is not None, f"statement {STATEMENT_ID} is in the function's policy"
        return found

    def replace(self, ctx: StepContext, resource: Resource, changes: list[Change]) -> None:
        """A statement cannot be edited: remove it, add the wanted one."""
        self.delete(ctx, resource)
        self._add(ctx)

    def update(self, ctx: StepContext, resource: Resource, changes: list[Change]) -> Resource:
        converge(self, ctx, resource, changes, self.FIELDS)
        found = self.lookup(ctx)
        assert found is not None, f"statement {STATEMENT_ID} is in the function's policy"
        return found

    def create(self, ctx: StepContext, token: str) -> Resource:
        return self._add(ctx)

    def gone_codes(self) -> frozenset[str]:
        return LAMBDA_FUNCTION.not_found

    def exists_codes(self) -> frozenset[str]:
        return LAMBDA_FUNCTION.already_exists

    def delete(self, ctx: StepContext, resource: Resource) -> None:
        gone_on(LAMBDA_FUNCTION.not_found, self.lam(ctx).remove_permission,
                FunctionName=self.rotation.function, StatementId=STATEMENT_ID)

    def outputs(self, resource: Resource) -> dict[str, Any]:
        return {"id": resource.id, "statement_id": STATEMENT_ID}


# --------------------------------------------------------------------------- rotation


class SecretRotationStep(NamedStep):
    """The secret's rotation configuration, read from ``DescribeSecret``."""

    family = "secret-rotation"
    service = "secretsmanager"
    kinds = (SECRET,)

    def __init__(self, config: PlatformConfig) -> None:
        super().__init__(config, SECRET_KEY)
        self.rotation = rotation_config(config)

    def resource_name(self) -> str:
        return self.config.secrets.origin_verify.name

    def depends_on(self) -> tuple[str, ...]:
        deps = [SECRET_STEP, FUNCTION_STEP, PERMISSION_STEP]
        if self.config.secrets.resource_policy is not None:
            # The policy must admit the function's role before it first runs.
            deps.append(f"secret-policy.{SECRET_KEY}")
        return tuple(deps)

    def sm(self, ctx: StepContext) -> Any:
        return ctx.client("secretsmanager", self.region)

    def lookup(self, ctx: StepContext) -> Resource | None:
        """The secret while rotation is on; None when it is off (or the secret gone).

        The first lookup of a run takes the ``DescribeSecret`` answer the secret's
        own step read (:mod:`~vivr_provision.steps.secret_reads`, where its
        stale-safety is argued); one that shows rotation off or the secret
        deleted is read again directly, so the shared answer never hides it."""
        shared = shared_description(ctx, self.region, self.resource_name(), self.name)
        if shared is not None and self._rotating(shared):
            return self._resource(shared)
        reply = absent_on(SECRET.not_found, self.sm(ctx).describe_secret,
                          SecretId=self.resource_name())
        return self._resource(reply) if reply is not None and self._rotating(reply) else None

    @staticmethod
    def _rotating(reply: Mapping[str, Any]) -> bool:
        return not reply.get("DeletedDate") and bool(reply.get("RotationEnabled"))

    @staticmethod
    def _resource(reply: Mapping[str, Any]) -> Resource:
        return Resource(str(reply["ARN"]), {
            "RotationLambdaARN": reply.get("RotationLambdaARN"),
            "Days": (reply.get("RotationRules") or {}).get("AutomaticallyAfterDays")})

    FIELDS = (
        Field("function", lambda d: d.get("RotationLambdaARN"),
              lambda s, ctx: str(ctx.output(FUNCTION_STEP, "arn")), apply="configure"),
        Field("days", lambda d: d.get("Days"), lambda s, ctx: s.rotation.days,
              apply="configure"),
    )

    def diff(self, ctx: StepContext, resource: Resource) -> list[Change]:
        return drift(self, ctx, resource.data, self.FIELDS)

    def _configure(self, ctx: StepContext) -> Resource:
        # RotateImmediately false: the schedule starts now, and Secrets Manager
        # checks the setup by running testSecret only (API reference, RotateSecret).
        self.sm(ctx).rotate_secret(
            SecretId=self.resource_name(),
            RotationLambdaARN=str(ctx.output(FUNCTION_STEP, "arn")),
            RotationRules={"AutomaticallyAfterDays": self.rotation.days},
            RotateImmediately=False)
        found = self.lookup(ctx)
        assert found is not None, f"rotation of {self.resource_name()} is on"
        return found

    def configure(self, ctx: StepContext, resource: Resource, changes: list[Change]) -> None:
        self._configure(ctx)

    def update(self, ctx: StepContext, resource: Resource, changes: list[Change]) -> Resource:
        converge(self, ctx, resource, changes, self.FIELDS)
        found = self.lookup(ctx)
        assert found is not None, f"rotation of {self.resource_name()} is on"
        return found

    def create(self, ctx: StepContext, token: str) -> Resource:
        return self._configure(ctx)

    def gone_codes(self) -> frozenset[str]:
        return SECRET.not_found

    def delete(self, ctx: StepContext, resource: Resource) -> None:
        """Rotation off; a rotation cut short leaves ``AWSPENDING`` on a version of its
        own, which is taken off so a later rotation can start (API reference,
        CancelRotateSecret)."""
        sm = self.sm(ctx)
        if absent_on(SECRET.not_found, sm.cancel_rotate_secret,
                     SecretId=self.resource_name()) is None:
            return
        stages = sm.describe_secret(SecretId=self.resource_name()).get("VersionIdsToStages") or {}
        for version, labels in stages.items():
            if "AWSPENDING" in labels and "AWSCURRENT" not in labels:
                sm.update_secret_version_stage(SecretId=self.resource_name(),
                                               VersionStage="AWSPENDING",
                                               RemoveFromVersionId=version)

    def outputs(self, resource: Resource) -> dict[str, Any]:
        return {"id": resource.id, "secret_arn": resource.id, "days": resource.data.get("Days"),
                "function_arn": resource.data.get("RotationLambdaARN")}


def rotation_steps(config: PlatformConfig) -> list[Step]:
    """The steps of ``secrets.origin_verify.rotation`` (none without it)."""
    if config.secrets.origin_verify.rotation is None:
        return []
    return [*role_steps(config), RotationFunctionStep(config), InvokePermissionStep(config),
            SecretRotationStep(config)]
