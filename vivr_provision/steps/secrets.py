"""Secrets Manager entries: generated credentials and operator-filled placeholders.

Values are generated here with :mod:`secrets` (a CSPRNG) in the alphabet the
consuming service accepts, sent once to Secrets Manager encrypted with the
platform key, and never written anywhere else: state keeps the ARN, logs
redact the value (it is registered with :func:`vivr_provision.log.register_secret`
the moment it exists).  ``CreateSecret`` takes an idempotency token, so a
create repeated after a crash returns the first secret instead of failing.

Placeholders (Stripe, SendGrid ...) are created without a value; an
operator fills them, and nothing here ever writes a value to them again.
Whether a secret has a value is read from its metadata, never from the
value: ``DescribeSecret``'s ``VersionIdsToStages`` lists the versions and
their staging labels, and a secret created without ``SecretString`` has no
version until ``PutSecretValue`` makes the first one ``AWSCURRENT``
(botocore model, CreateSecret / PutSecretValue).  Consumers that cannot use
an empty secret (ECS fails a task whose secret has no ``AWSCURRENT``
version) read the ``has_value`` output, and :meth:`SecretStep.notes` tells
the operator the command that sets one.
Destroy schedules deletion with the configured recovery window; a later
apply within that window restores the secret instead of failing on the
name that is still taken.

The secrets the DR standby reads also have a replica in ``dr.region``
encrypted with the DR key (:mod:`vivr_provision.steps.secret_replicas`):
made at create, converged as drift (missing, failed or with another key),
removed before the primary's deletion is scheduled (AWS refuses to delete
a primary that still has replicas), and made again when an apply restores
the secret from its recovery window.
"""

from __future__ import annotations

import json
import secrets as csprng
import string
from collections.abc import Mapping
from dataclasses import replace
from typing import Any, ClassVar

from vivr_provision import aws_errors, log
from vivr_provision.config import PlatformConfig
from vivr_provision.config.data import GeneratedSecretConfig, KeyPairSecretConfig
from vivr_provision.steps.base import Change, Resource, Step, StepContext
from vivr_provision.steps.common import (
    KindStep,
    absent_on,
    aws_tags,
    gone_on,
    require_owned,
    tag_map,
)
from vivr_provision.steps.drift import NAME, Field, drift, tags_row
from vivr_provision.steps.key_pairs import generate_private_key_pem
from vivr_provision.steps.kinds import SECRET
from vivr_provision.steps.secret_reads import rotation_reads, shared_description
from vivr_provision.steps.secret_replicas import (
    DR_KEY_STEP,
    add_replica_regions,
    dr_key_spellings,
    remove_replicas,
    replica_entry,
    replica_key,
    replica_ready,
    replica_region,
    replicated_regions,
)

events = log.get_logger("vivr.secrets")
ALNUM = string.ascii_letters + string.digits
#: Punctuation each consumer accepts: RDS refuses / @ " and space in a master
#: password; ElastiCache AUTH tokens allow only these; header values avoid quoting.
ALLOWED_PUNCTUATION = {
    "database_credentials": "".join(c for c in string.punctuation if c not in '/@"'),
    "redis_auth_token": "!&#$^<>-",
    "origin_verify": "-_.~",
}


def generate_value(rules: GeneratedSecretConfig, punctuation: str) -> str:
    """A random string of ``rules.length`` from letters, digits and allowed punctuation.

    At least one letter and one digit are guaranteed, so services that demand
    mixed characters accept it.
    """
    alphabet = ALNUM if rules.exclude_punctuation else ALNUM + punctuation
    alphabet = "".join(c for c in alphabet if c not in rules.exclude_characters)
    while True:
        value = "".join(csprng.choice(alphabet) for _ in range(rules.length))
        if any(c.isalpha() for c in value) and any(c.isdigit() for c in value):
            return value


#: Members of a JSON secret that describe a connection rather than guard it: the
#: keys of the RDS credentials structure (Secrets Manager user guide, "JSON
#: structure of Amazon RDS PostgreSQL secrets") other than ``password``.
#: Redacting them would blank "postgres" out of every engine note and log path.
DESCRIPTIVE_MEMBERS = frozenset({"username", "engine", "host", "port", "dbname",
                                 "dbInstanceIdentifier", "dbClusterIdentifier"})


def read_secret_string(ctx: StepContext, secret_arn: str, region: str | None = None) -> str:
    """Fetch a generated secret's value for a service that needs it at create time.

    ``region``: where to read it (a replica's ARN names its own region; by
    default the primary region).  The value, and each member of a JSON value
    except the descriptive ones, is registered for redaction before it is
    returned.
    """
    client = ctx.client("secretsmanager", region)
    # Read once per run: the steps that read a generated value all depend on the
    # secret's own step, and none of them changes it (batch_reads.BatchReads.once).
    value = str(ctx.reads.once(
        ("secretsmanager", client.meta.region_name, "value", secret_arn),
        lambda: client.get_secret_value(SecretId=secret_arn)["SecretString"]))
    log.register_secret(value)
    try:
        document = json.loads(value)
    except ValueError:
        return value
    if isinstance(document, dict):
        for key, item in document.items():
            if isinstance(item, str) and key not in DESCRIPTIVE_MEMBERS:
                log.register_secret(item)
    return value


CURRENT_STAGE = "AWSCURRENT"


def has_current_value(description: dict[str, Any]) -> bool:
    """Whether a ``DescribeSecret`` reply shows a version labelled ``AWSCURRENT``.

    Metadata only: the value itself is never fetched to decide this.
    """
    stages = description.get("VersionIdsToStages") or {}
    return any(CURRENT_STAGE in labels for labels in stages.values())


def set_value_command(name: str, region: str) -> str:
    """The AWS CLI command an operator runs to give a secret its value.

    The value is read from a file so it stays out of shell history and
    process listings (the CLI's ``file://`` parameter form).
    """
    return (f"aws secretsmanager put-secret-value --secret-id {name} "
            f"--secret-string file://<file-with-the-value> --region {region}")


class SecretStep(KindStep):
    """One Secrets Manager secret, read by its name as :data:`~vivr_provision.steps.kinds.SECRET`
    declares (DescribeSecret, tags inline)."""

    family = "secret"
    service = "secretsmanager"
    kind = SECRET
    generated: ClassVar[bool] = False
    #: A destroy of the DR side removes this secret's replica there, not the secret.
    detaches_other_sites = True

    def __init__(self, config: PlatformConfig, key: str, name: str, description: str) -> None:
        super().__init__(config, key)
        self.secret_name = name
        self.description = description

    def resource_name(self) -> str:
        return self.secret_name

    def depends_on(self) -> tuple[str, ...]:
        return ("kms", DR_KEY_STEP) if self.replica_region() else ("kms",)

    def replica_region(self) -> str | None:
        """The DR region this secret is replicated to (the standby reads it), or None."""
        return replica_region(self.config, self.key)

    def sm(self, ctx: StepContext) -> Any:
        return ctx.client("secretsmanager", self.region)

    def is_live(self, item: Mapping[str, Any]) -> bool:
        """A secret scheduled for deletion is gone until restored (:meth:`create`)."""
        return not item.get("DeletedDate")

    def batched_item(self, ctx: StepContext, request: dict[str, Any]) -> Mapping[str, Any] | None:
        """The first ``DescribeSecret`` of a secret whose rotation step reads it too is
        made through :func:`~vivr_provision.steps.secret_reads.shared_description`, so
        the rotation step is handed the same answer instead of asking again.  When
        that describe is not shared (the secret is absent, or the recorded ARN now
        has another name) its reply is still this read's: ``{}`` says "not found"
        rather than asking twice."""
        if not rotation_reads(self.config, self.key):
            return None
        own: list[Mapping[str, Any] | None] = []

        def describe() -> Mapping[str, Any] | None:
            own.append(absent_on(SECRET.not_found, self.sm(ctx).describe_secret, **request))
            return own[0]

        shared = shared_description(ctx, self.region, self.secret_name, self.name, describe)
        if shared is None and own:
            return own[0] or {}
        return shared

    def initial_value(self, ctx: StepContext) -> str | None:
        """The value to create the secret with; None leaves it empty."""
        return None

    def create(self, ctx: StepContext, token: str) -> Resource:
        pending = absent_on(SECRET.not_found, self.sm(ctx).describe_secret,
                            SecretId=self.secret_name)
        if pending is not None and pending.get("DeletedDate"):
            # Destroyed earlier and still in its recovery window: the name is
            # taken until then, so bring the secret (and its value) back.
            require_owned(self, f"{SECRET.noun} {self.secret_name}", tag_map(pending.get("Tags")))
            self.sm(ctx).restore_secret(SecretId=pending["ARN"])
            events.info("secret.restored", step=self.name, secret=self.secret_name)
            restored = self.reread(ctx)
            changes = self.diff(ctx, restored)
            if changes:
                restored = self.update(ctx, restored, changes)
            return replace(restored, recovered=True)
        params: dict[str, Any] = {
            "Name": self.secret_name,
            "Description": self.description,
            "KmsKeyId": ctx.output("kms", "key_arn"),
            "Tags": aws_tags(self.tags()),
            "ClientRequestToken": token,
        }
        region = self.replica_region()
        if region is not None:
            params["AddReplicaRegions"] = add_replica_regions(ctx, region)
        value = self.initial_value(ctx)
        if value is not None:
            log.register_secret(value)
            params["SecretString"] = value
        self.sm(ctx).create_secret(**params)
        return self.reread(ctx)

    #: Metadata only: a secret's value is never rewritten by apply.  Description
    #: and key travel in one UpdateSecret.
    FIELDS = (
        NAME,
        tags_row(lambda d: tag_map(d.get("Tags"))),  # inline in DescribeSecret
        Field("description", lambda d: d.get("Description", ""),
              lambda s, ctx: s.description, apply="update_metadata"),
        Field("kms_key", lambda d: d.get("KmsKeyId"),
              lambda s, ctx: (ctx.output("kms", "key_arn"), ctx.output("kms", "key_id"),
                              ctx.output("kms", "alias")),
              compare="any_of", apply="update_metadata"),
        # The replica in dr.region: the DR key when the standby reads this
        # secret, else none there.  Compared as its key (any spelling of the
        # DR key); missing, failed or another key are one change.
        Field("dr_replica", lambda d: d.get("DrReplicaKey"),
              lambda s, ctx: dr_key_spellings(ctx) if s.replica_region() else (None,),
              compare="any_of", apply="converge_replica"),
    )

    def observed(self, resource: Resource) -> dict[str, Any]:
        """The description plus ``DrReplicaKey``: what :func:`replica_key` reads for
        ``dr.region`` (the config's DR region, replicated to or not)."""
        return {**resource.data,
                "DrReplicaKey": replica_key(resource.data, self.config.dr.region)}

    def diff(self, ctx: StepContext, resource: Resource) -> list[Change]:
        return drift(self, ctx, self.observed(resource), self.FIELDS)

    def converge_replica(self, ctx: StepContext, resource: Resource,
                         changes: list[Change]) -> None:
        """Remove the replica in dr.region that is wrong (failed, another key, not
        wanted), then replicate with the DR key when the standby reads the secret."""
        dr_region = self.config.dr.region
        if replica_entry(resource.data, dr_region) is not None:
            remove_replicas(ctx, self.sm(ctx), resource.id, [dr_region],
                            lambda: self.reread(ctx).data)
        region = self.replica_region()
        if region is None:
            return
        try:
            self.sm(ctx).replicate_secret_to_regions(
                SecretId=resource.id, AddReplicaRegions=add_replica_regions(ctx, region))
        except aws_errors.ClientError:
            # Retried after a lost answer, the call meets the replica its first
            # attempt made: reading settles it; any other refusal stands.
            if replica_key(self.reread(ctx).data, region) not in dr_key_spellings(ctx):
                raise
        events.info("secret.replicated", step=self.name, secret=self.secret_name,
                    region=region)

    def detach_changes(self, ctx: StepContext, resource: Resource,
                       gone: frozenset[str]) -> list[Change]:
        """The replica in dr.region goes with the DR key it is encrypted with."""
        region = self.config.dr.region
        if DR_KEY_STEP not in gone or replica_entry(resource.data, region) is None:
            return []
        return [Change("dr_replica", replica_key(resource.data, region), None)]

    def detach(self, ctx: StepContext, resource: Resource, changes: list[Change]) -> None:
        remove_replicas(ctx, self.sm(ctx), resource.id, [self.config.dr.region],
                        lambda: self.reread(ctx).data)

    def is_ready(self, resource: Resource) -> bool:
        region = self.replica_region()
        return region is None or replica_ready(resource.data, region)

    def wait(self, ctx: StepContext, resource: Resource) -> Resource:
        """Until the DR replica is in sync (the standby's tasks need it); a failed
        replication stops here with AWS's message."""
        region = self.replica_region()
        if region is None or replica_ready(resource.data, region):
            return resource
        latest: list[Resource] = [resource]

        def in_sync() -> bool:
            latest[0] = self.reread(ctx)
            return replica_ready(latest[0].data, region)

        ctx.poll(f"replica of {self.secret_name} in {region}", in_sync,
                 budget_s=self.wait_budget_s, delay_s=2.0)
        return latest[0]

    def update_metadata(self, ctx: StepContext, resource: Resource,
                        changes: list[Change]) -> None:
        self.sm(ctx).update_secret(SecretId=resource.id, Description=self.description,
                                   KmsKeyId=ctx.output("kms", "key_arn"))

    def gone_codes(self) -> frozenset[str]:
        # DeleteSecret retried after a lost answer: the first call scheduled the
        # deletion and the retry answers InvalidRequestException ("currently
        # marked deleted"); the engine then sees the secret gone (DeletedDate).
        return SECRET.not_found | {"InvalidRequestException"}

    def delete(self, ctx: StepContext, resource: Resource) -> list[str]:
        """Replicas first (AWS refuses to delete a primary that has any; a removed
        replica is deleted at once), then the primary with its recovery window."""
        regions = replicated_regions(resource.data)
        remove_replicas(ctx, self.sm(ctx), resource.id, regions,
                        lambda: self._description(ctx, resource.id))
        days = self.config.secrets.recovery_window_days
        if not gone_on(SECRET.not_found, self.sm(ctx).delete_secret, SecretId=resource.id,
                       RecoveryWindowInDays=days):
            return []
        kept = [f"secret {self.secret_name} recoverable for {days} days "
                f"(`aws secretsmanager restore-secret --secret-id {self.secret_name}`); "
                "the next apply restores it"]
        if regions:
            kept.append(f"its replica(s) in {', '.join(regions)} were deleted at once (AWS "
                        "keeps no recovery window for replicas); the next apply replicates "
                        "the restored secret again")
        return kept

    def _description(self, ctx: StepContext, secret_id: str) -> dict[str, Any]:
        """DescribeSecret by ARN, also while scheduled for deletion ({} once gone)."""
        return absent_on(SECRET.not_found, self.sm(ctx).describe_secret,
                         SecretId=secret_id) or {}

    def outputs(self, resource: Resource) -> dict[str, Any]:
        """Also ``dr_arn`` when replicated: the replica's ARN (the primary's, in
        dr.region), what the standby's task definition and grants name."""
        outputs = {"id": resource.id, "arn": resource.id, "name": self.secret_name,
                   "has_value": has_current_value(resource.data)}
        region = self.replica_region()
        if region is not None:
            outputs["dr_arn"] = replica_arn(resource.id, region)
        return outputs

    def notes(self, ctx: StepContext, resource: Resource | None) -> list[str]:
        """A secret without a value: what to run to set one (never the value)."""
        if self.generated or (resource is not None and has_current_value(resource.data)):
            return []
        command = set_value_command(self.secret_name, self.region)
        if resource is None:
            return [f"{self.secret_name} is created without a value; then set it: `{command}`"]
        return [f"{self.secret_name} has no value yet; set it: `{command}`"]


def replica_arn(primary_arn: str, region: str) -> str:
    """A replica's ARN: the primary's with the region changed (Secrets Manager
    user guide, "Replicate a secret")."""
    parts = primary_arn.split(":")
    parts[3] = region
    return ":".join(parts)


class GeneratedSecretStep(SecretStep):
    """A credential this tool generates (database master, Redis AUTH, origin header)."""

    generated = True

    def __init__(self, config: PlatformConfig, key: str, rules: GeneratedSecretConfig) -> None:
        super().__init__(config, key, rules.name, rules.description)
        self.rules = rules

    def initial_value(self, ctx: StepContext) -> str:
        value = generate_value(self.rules, ALLOWED_PUNCTUATION.get(self.key or "", ""))
        log.register_secret(value)
        if self.key == "database_credentials":
            # The shape RDS-style rotation and the ECS json_key references expect.
            return json.dumps({"username": self.config.rds.master_username, "password": value,
                               "engine": self.config.rds.engine, "port": self.config.rds.port,
                               "dbname": self.config.rds.db_name})
        return value


class KeyPairSecretStep(SecretStep):
    """An RSA key pair whose private key (PEM) is the value (field-level encryption).

    Generated once, at create; apply never rewrites it.  The public half is
    derived from this value by whoever needs it
    (:class:`~vivr_provision.steps.cloudfront.fle.PublicKeyStep`), so a value
    replaced by an operator, or a secret deleted by hand and generated again,
    moves the public key with it on the next apply.
    """

    generated = True

    def __init__(self, config: PlatformConfig, key: str, rules: KeyPairSecretConfig) -> None:
        super().__init__(config, key, rules.name, rules.description)
        self.rules = rules

    def initial_value(self, ctx: StepContext) -> str:
        return generate_private_key_pem()  # registered for redaction on the way out


def secret_steps(config: PlatformConfig) -> list[Step]:
    """Generated secrets first, then key pairs, then the placeholders for
    third-party credentials."""
    cfg = config.secrets
    steps: list[Step] = [GeneratedSecretStep(config, key, getattr(cfg, key))
                         for key in cfg.GENERATED_KEYS]
    steps += [KeyPairSecretStep(config, key, rules) for key, rules in cfg.key_pairs.items()]
    steps += [SecretStep(config, key, entry.name, entry.description)
              for key, entry in cfg.placeholders.items()]
    return steps
