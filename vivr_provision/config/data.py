"""Config of the data tier: KMS key, Secrets Manager, RDS PostgreSQL, PgBouncer, Redis.

Spec sections "Database Requirements" (RDS, PgBouncer) and "Caching & CDN /
ElastiCache Redis". Each model checks the rules that need only its own fields;
references to subnets, security groups, buckets, log groups and other sections
are checked by the root model, which knows every section.

This is the lowest module of the config tiers (data <- app <- edge <- ops <-
model), so the small validators shared by all of them live here too.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from typing import Annotated, ClassVar, Literal

from pydantic import AfterValidator, Field, model_validator

from vivr_provision.config.base import (
    ConfigProblems,
    Name,
    NonNegativeInt,
    PositiveInt,
    Region,
    StrictModel,
)

# --------------------------------------------------------------------------- shared helpers


def matching(regex: str, what: str) -> AfterValidator:
    """A validator that accepts strings fully matching ``regex``.

    Used instead of ``Field(pattern=...)`` so the error says what was
    expected ("a KMS alias") rather than echoing a regular expression.
    """

    def check(value: str) -> str:
        if not re.fullmatch(regex, value):
            raise ValueError(f"{value!r} is not {what}")
        return value

    return AfterValidator(check)


def one_of(allowed: Collection[int], what: str) -> AfterValidator:
    """A validator for integers AWS only accepts from a fixed set.

    ``Literal[0, 1, 5]`` would also accept ``True`` (it equals 1); strict
    ``int`` plus this check does not.
    """
    shown = ", ".join(str(v) for v in sorted(allowed))

    def check(value: int) -> int:
        if value not in allowed:
            raise ValueError(f"{value} is not {what} ({shown})")
        return value

    return AfterValidator(check)


_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_HHMM = r"([01]\d|2[0-3]):[0-5]\d"
_DAY_MINUTES = 24 * 60
_WEEK_MINUTES = 7 * _DAY_MINUTES


def _minutes(hhmm: str) -> int:
    hours, minutes = hhmm.split(":")
    return int(hours) * 60 + int(minutes)


def _daily_span(window: str) -> tuple[int, int]:
    start, end = window.split("-")
    return _minutes(start), _minutes(end)


def _weekly_span(window: str) -> tuple[int, int]:
    start, end = window.split("-")
    day_start, time_start = start.split(":", 1)
    day_end, time_end = end.split(":", 1)
    return (
        _DAYS.index(day_start) * _DAY_MINUTES + _minutes(time_start),
        _DAYS.index(day_end) * _DAY_MINUTES + _minutes(time_end),
    )


def daily_window(minimum_minutes: int) -> AfterValidator:
    """``hh24:mi-hh24:mi`` (UTC), lasting at least ``minimum_minutes`` (AWS minimums)."""

    def check(value: str) -> str:
        if not re.fullmatch(f"{_HHMM}-{_HHMM}", value):
            raise ValueError(f"{value!r} is not a daily window hh24:mi-hh24:mi (UTC)")
        start, end = _daily_span(value)
        length = (end - start) % _DAY_MINUTES
        if length < minimum_minutes:
            raise ValueError(f"{value!r} lasts {length} minutes; AWS needs {minimum_minutes}")
        return value

    return AfterValidator(check)


def weekly_window(minimum_minutes: int) -> AfterValidator:
    """``ddd:hh24:mi-ddd:hh24:mi`` (UTC), lasting at least ``minimum_minutes``."""
    day = "(" + "|".join(_DAYS) + ")"

    def check(value: str) -> str:
        if not re.fullmatch(f"{day}:{_HHMM}-{day}:{_HHMM}", value):
            raise ValueError(f"{value!r} is not a weekly window ddd:hh24:mi-ddd:hh24:mi (UTC)")
        start, end = _weekly_span(value)
        length = (end - start) % _WEEK_MINUTES
        if length < minimum_minutes:
            raise ValueError(f"{value!r} lasts {length} minutes; AWS needs {minimum_minutes}")
        return value

    return AfterValidator(check)


def windows_overlap(daily: str, weekly: str) -> bool:
    """True when a daily window (backup/snapshot) meets a weekly maintenance window.

    RDS and ElastiCache reject overlapping windows at create time; catching it
    here keeps the failure before the first API call.
    """
    start, end = _weekly_span(weekly)
    length = (end - start) % _WEEK_MINUTES
    weekly_minutes = {m % _WEEK_MINUTES for m in range(start, start + length)}
    d_start, d_end = _daily_span(daily)
    length = (d_end - d_start) % _DAY_MINUTES
    for day in range(7):
        first = day * _DAY_MINUTES + d_start
        if any((first + m) % _WEEK_MINUTES in weekly_minutes for m in range(length)):
            return True
    return False


def engine_major(version: str) -> str:
    """The major version a parameter-group family is named after ("16.1" -> "16")."""
    return version.split(".", maxsplit=1)[0]


SsmParameter = Annotated[
    str, matching(r"/[A-Za-z0-9_./-]+", "an SSM parameter path (/aws/service/...)")
]
Ec2InstanceType = Annotated[
    str, matching(r"[a-z][a-z0-9-]*\.[a-z0-9]+", "an EC2 instance type (e.g. t3.small)")
]
ServicePort = Annotated[int, Field(ge=1, le=65535)]
SecretKey = Annotated[
    str, matching(r"[a-z][a-z0-9_]*", "a secret key (lowercase letters, digits, _)")
]


class EbsVolumeConfig(StrictModel):
    """One EBS volume of a launch template (PgBouncer, ECS container instances)."""

    device_name: Annotated[str, matching(r"/dev/[a-z0-9]+", "a device name (/dev/xvda)")]
    size_gb: Annotated[int, Field(ge=1, le=16384)]
    type: Literal["gp3", "gp2", "io1", "io2"]


class SubnetGroupConfig(StrictModel):
    """An RDS or ElastiCache subnet group; the subnets are network subnet names."""

    name: Name
    description: str
    subnets: Annotated[list[Name], Field(min_length=2)]


# --------------------------------------------------------------------------- KMS and secrets


class KmsConfig(StrictModel):
    """The customer-managed key behind every "Encryption at rest: KMS" of the spec.

    RDS storage and Performance Insights, ElastiCache at rest, the backups
    bucket and the secrets all use it. ``multi_region`` must be on when an
    encrypted copy leaves the region (cross-region read replica, replicated
    KMS-encrypted backups): those need a key in the destination region.
    """

    alias: Annotated[
        str, matching(r"alias/(?!aws/)[A-Za-z0-9/_-]{1,250}", "a KMS alias (alias/NAME, not aws/)")
    ]
    description: str
    enable_key_rotation: bool
    rotation_period_days: Annotated[int, Field(ge=90, le=2560)] = 365
    deletion_window_days: Annotated[int, Field(ge=7, le=30)]
    multi_region: bool


SecretName = Annotated[
    str, matching(r"[A-Za-z0-9/_+=.@-]{1,512}", "a Secrets Manager secret name")
]


class GeneratedSecretConfig(StrictModel):
    """A secret whose value is generated at apply time and only ever stored in AWS.

    The config holds the name and the generation rules, never a value, so
    neither the YAML nor the state file ever carries a credential.
    """

    name: SecretName
    description: str
    length: Annotated[int, Field(ge=16, le=128)]
    exclude_punctuation: bool
    exclude_characters: str = ""


class SecretRotationConfig(StrictModel):
    """Automatic rotation of the origin-verify secret by a Lambda rotation function.

    Only origin-verify rotates: both of its consumers, the ALB rules and
    CloudFront's origin header, can hold two values while a new one
    propagates (:mod:`vivr_provision.rotation.origin_verify`).  The other
    generated secrets are read once at task or instance start.
    """

    #: ``RotationRules.AutomaticallyAfterDays`` (botocore's model: 1 to 1000).
    days: Annotated[int, Field(ge=1, le=1000)]
    #: The rotation function's name (Lambda: 1-64 of letters, digits, - and _).
    function: Annotated[str, matching(r"[A-Za-z0-9_-]{1,64}", "a Lambda function name")]
    description: str
    #: Its execution role (IAM role name rules).
    role: Annotated[str, matching(r"[\w+=,.@-]{1,64}", "an IAM role name")]
    #: Runtimes botocore's lambda model lists (``Runtime``) that AWS still supports.
    runtime: Literal["python3.12", "python3.13"]
    #: Lambda's limits: 1-900 s, 128-10240 MB.
    timeout_seconds: Annotated[int, Field(ge=1, le=900)]
    memory_mb: Annotated[int, Field(ge=128, le=10240)]
    #: Key of ``logs.groups``: the function's group, ``/aws/lambda/<function>``
    #: (where Lambda writes without a LoggingConfig), created first with the
    #: platform key and a retention, so Lambda never makes one without either.
    log_group: Annotated[str, matching(r"[a-z][a-z0-9_]*", "a key of logs.groups")]


class OriginVerifySecretConfig(GeneratedSecretConfig):
    """The ``X-Origin-Verify`` value: a generated secret that may rotate."""

    #: None: the value never changes after it is generated.
    rotation: SecretRotationConfig | None = None


class PlaceholderSecretConfig(StrictModel):
    """A third-party credential (Stripe, SendGrid ...): created empty, filled by operators."""

    name: SecretName
    description: str


class KeyPairSecretConfig(StrictModel):
    """An RSA key pair generated at apply time whose private key (PEM) is the secret.

    The public half is derived from the secret whenever it is needed (CloudFront
    field-level encryption's public key), so the two halves cannot disagree.
    CloudFront's field-level encryption takes RSA 2048 keys only (API reference,
    PublicKey: "Field-level encryption is only compatible with RSA 2048").
    """

    name: SecretName
    description: str
    algorithm: Literal["RSA-2048"] = "RSA-2048"


# RDS refuses these in a master password; ElastiCache AUTH tokens allow only !&#$^<>-.
_RDS_FORBIDDEN_PASSWORD_CHARS = '/@" '


class SecretPolicyConfig(StrictModel):
    """A resource policy on every secret (``PutResourcePolicy``), defence in depth
    behind the roles' own grants: nobody outside this account may use the secret,
    and ``deny_other_roles`` keeps the tool's own roles that hold no grant on a
    secret from reading its value even if a broader policy reached them.  The
    operators' identities are not named: they keep what their IAM policies give.
    """

    #: Refuse a policy that would let anyone in (``BlockPublicPolicy``: Secrets
    #: Manager validates the document with Zelkova before attaching it).
    block_public_policy: bool = True
    deny_other_roles: bool = True


class SecretsConfig(StrictModel):
    """Secrets Manager entries, addressed elsewhere in the config by key.

    Keys: ``database_credentials``, ``redis_auth_token``, ``origin_verify``
    and the keys of ``placeholders``. ECS container secrets and CloudFront
    origin headers refer to these keys, never to values.
    """

    recovery_window_days: Annotated[int, Field(ge=7, le=30)]
    database_credentials: GeneratedSecretConfig
    redis_auth_token: GeneratedSecretConfig
    origin_verify: OriginVerifySecretConfig
    placeholders: dict[SecretKey, PlaceholderSecretConfig]
    #: Generated key pairs (issue 12, field-level encryption): the private key is the value.
    key_pairs: dict[SecretKey, KeyPairSecretConfig] = {}
    #: None: no resource policy is managed on the secrets.
    resource_policy: SecretPolicyConfig | None = None

    GENERATED_KEYS: ClassVar[tuple[str, ...]] = (
        "database_credentials",
        "redis_auth_token",
        "origin_verify",
    )

    def names(self) -> dict[str, str]:
        """Every secret key mapped to its Secrets Manager name."""
        generated = {key: getattr(self, key).name for key in self.GENERATED_KEYS}
        generated |= {key: entry.name for key, entry in self.key_pairs.items()}
        return generated | {key: entry.name for key, entry in self.placeholders.items()}

    def name_of(self, key: str) -> str:
        """The Secrets Manager name of secret ``key`` (KeyError if unknown)."""
        return self.names()[key]

    def problems(self) -> list[str]:
        """Checks across the secrets (paths relative to the section)."""
        problems: list[str] = []
        for key in sorted(set(self.placeholders) & set(self.GENERATED_KEYS)):
            problems.append(f"placeholders.{key}: the key is taken by a generated secret")
        taken = set(self.placeholders) | set(self.GENERATED_KEYS)
        for key in sorted(set(self.key_pairs) & taken):
            problems.append(f"key_pairs.{key}: the key is taken by another secret")
        names = [getattr(self, key).name for key in self.GENERATED_KEYS]
        names += [entry.name for entry in self.key_pairs.values()]
        names += [entry.name for entry in self.placeholders.values()]
        for dup in sorted({n for n in names if names.count(n) > 1}):
            problems.append(f"placeholders: secret name {dup!r} is used twice")
        if not self.redis_auth_token.exclude_punctuation:
            problems.append(
                "redis_auth_token.exclude_punctuation must be true: ElastiCache AUTH tokens "
                "accept only !&#$^<>- as punctuation"
            )
        db = self.database_credentials
        if not db.exclude_punctuation and not set(_RDS_FORBIDDEN_PASSWORD_CHARS) <= set(
            db.exclude_characters
        ):
            problems.append(
                "database_credentials.exclude_characters must contain / @ \" and space "
                "(RDS rejects them in a master password) unless exclude_punctuation is true"
            )
        return problems


# --------------------------------------------------------------------------- RDS

DbIdentifier = Annotated[
    str,
    matching(
        r"[a-z](?!.*--)[a-z0-9-]{0,62}(?<!-)",
        "an RDS identifier (lowercase letter first, letters/digits/hyphens, no -- or trailing -)",
    ),
]
DbInstanceClass = Annotated[
    str, matching(r"db\.[a-z0-9]+\.[a-z0-9]+", "an RDS instance class (e.g. db.t3.small)")
]
PERFORMANCE_INSIGHTS_RETENTION = frozenset({7, 731} | {31 * k for k in range(1, 24)})
ENHANCED_MONITORING_INTERVALS = frozenset({0, 1, 5, 10, 15, 30, 60})
GP3_BASELINE_IOPS = 3000
GP3_BASELINE_THROUGHPUT = 125
GP3_PROVISIONED_FROM_GB = 400


class RdsStorageConfig(StrictModel):
    """Storage of the primary. Sizes in GiB, throughput in MiB/s.

    ``max_allocated_gb`` above ``allocated_gb`` turns storage autoscaling on
    (spec: "Max allocated: 200GB (auto-scale enabled)").
    """

    type: Literal["gp3", "gp2", "io1", "io2"]
    allocated_gb: Annotated[int, Field(ge=20, le=65536)]
    max_allocated_gb: Annotated[int, Field(ge=20, le=65536)]
    iops: PositiveInt
    throughput_mbps: PositiveInt

    @property
    def autoscaling(self) -> bool:
        return self.max_allocated_gb > self.allocated_gb

    @property
    def provisioned_performance(self) -> bool:
        """Whether Iops/StorageThroughput may be passed to RDS at all.

        PostgreSQL gp3 volumes below 400 GiB run at the 3000 IOPS / 125 MiB/s
        baseline and RDS rejects explicit values, so steps omit them then.
        """
        return self.type != "gp3" or self.allocated_gb >= GP3_PROVISIONED_FROM_GB

    @model_validator(mode="after")
    def _check(self) -> RdsStorageConfig:
        if self.max_allocated_gb < self.allocated_gb:
            raise ValueError(
                f"max_allocated_gb {self.max_allocated_gb} is below allocated_gb "
                f"{self.allocated_gb} (storage autoscaling can only grow)"
            )
        if not self.provisioned_performance and (
            self.iops != GP3_BASELINE_IOPS or self.throughput_mbps != GP3_BASELINE_THROUGHPUT
        ):
            raise ValueError(
                f"gp3 below {GP3_PROVISIONED_FROM_GB} GiB runs at the baseline "
                f"{GP3_BASELINE_IOPS} IOPS / {GP3_BASELINE_THROUGHPUT} MiB/s; "
                f"iops {self.iops} / throughput_mbps {self.throughput_mbps} cannot be provisioned"
            )
        return self


class RdsBackupConfig(StrictModel):
    """Automated backups: on when ``retention_days`` > 0; window is UTC."""

    retention_days: Annotated[int, Field(ge=0, le=35)]
    window: Annotated[str, daily_window(30)]
    copy_tags_to_snapshot: bool


class PerformanceInsightsConfig(StrictModel):
    enabled: bool
    retention_days: Annotated[
        int, one_of(PERFORMANCE_INSIGHTS_RETENTION, "a Performance Insights retention")
    ]


class DbParameterConfig(StrictModel):
    """One parameter in the unit RDS expects, as the string the API takes.

    Static parameters (shared_buffers, max_connections) need
    ``pending-reboot``; RDS rejects ``immediate`` for them.
    """

    value: str
    apply_method: Literal["immediate", "pending-reboot"]


class DbParameterGroupConfig(StrictModel):
    name: Name
    family: Annotated[str, matching(r"postgres\d+", "a PostgreSQL family (e.g. postgres16)")]
    description: str
    parameters: dict[str, DbParameterConfig]

    def int_value(self, parameter: str) -> int | None:
        """A numeric parameter's value, or None when absent or not a plain integer."""
        entry = self.parameters.get(parameter)
        if entry is None or not entry.value.isdigit():
            return None
        return int(entry.value)


class ReadReplicaConfig(StrictModel):
    """A read replica; a ``region`` other than aws.region makes it the DR replica.

    ``instance_class`` None means the primary's class.
    """

    identifier: DbIdentifier
    region: Region
    availability_zone: str
    instance_class: DbInstanceClass | None = None
    #: Issue 12: AWS creates replicas unprotected; a protected one is deleted
    #: only by ``destroy --disable-deletion-protection`` (as the primary).
    deletion_protection: bool = False


class RdsConfig(StrictModel):
    """The primary PostgreSQL instance, its replicas and its parameter group.

    ``standby_availability_zone`` documents where the Multi-AZ standby is
    expected; RDS picks it itself (CreateDBInstance takes no AZ with
    MultiAZ), so steps only verify it. ``character_set``/``collation`` are
    checked after create: RDS PostgreSQL creates ``db_name`` as UTF8 /
    en_US.UTF-8 and has no API parameter for them.
    """

    identifier: DbIdentifier
    engine: Literal["postgres"]
    engine_version: Annotated[
        str, matching(r"\d+(\.\d+)?", "a major (\"16\": its newest minor) or a minor (\"16.9\")")
    ]
    """Checked against AWS's catalog at plan time (``vivr_provision.catalog``)."""
    auto_minor_version_upgrade: bool
    instance_class: DbInstanceClass
    db_name: Annotated[str, matching(r"[A-Za-z][A-Za-z0-9_]{0,62}", "a database name")]
    port: Annotated[int, Field(ge=1150, le=65535)]
    master_username: Annotated[
        str, matching(r"[A-Za-z][A-Za-z0-9_]{0,62}", "a master user name")
    ]
    storage: RdsStorageConfig
    storage_encrypted: bool
    multi_az: bool
    standby_availability_zone: str | None = None
    backup: RdsBackupConfig
    maintenance_window: Annotated[str, weekly_window(30)]
    publicly_accessible: bool
    iam_auth: bool
    performance_insights: PerformanceInsightsConfig
    enhanced_monitoring_interval: Annotated[
        int, one_of(ENHANCED_MONITORING_INTERVALS, "an enhanced monitoring interval")
    ]
    log_exports: list[Literal["postgresql", "upgrade", "iam-db-auth-error"]]
    deletion_protection: bool
    final_snapshot: bool
    subnet_group: SubnetGroupConfig
    security_groups: Annotated[list[Name], Field(min_length=1)]
    parameter_group: DbParameterGroupConfig
    option_group: str
    character_set: str
    collation: str
    read_replicas: list[ReadReplicaConfig]

    @model_validator(mode="after")
    def _check(self) -> RdsConfig:
        if self.standby_availability_zone is not None and not self.multi_az:
            raise ValueError("standby_availability_zone is set but multi_az is false")
        return self

    def problems(self) -> list[str]:
        """Checks across sub-sections (paths relative to rds)."""
        problems: list[str] = []
        family = f"postgres{engine_major(self.engine_version)}"
        if self.parameter_group.family != family:
            problems.append(
                f"parameter_group.family {self.parameter_group.family} does not match "
                f"engine_version {self.engine_version} (expected {family})"
            )
        if windows_overlap(self.backup.window, self.maintenance_window):
            problems.append(
                f"backup.window {self.backup.window} overlaps maintenance_window "
                f"{self.maintenance_window}"
            )
        ids = [self.identifier] + [r.identifier for r in self.read_replicas]
        for dup in sorted({i for i in ids if ids.count(i) > 1}):
            problems.append(f"read_replicas: identifier {dup!r} is used twice")
        return problems


# --------------------------------------------------------------------------- PgBouncer

SslMode = Literal["disable", "allow", "prefer", "require", "verify-ca", "verify-full"]


class PgBouncerConfig(StrictModel):
    """The PgBouncer EC2 instance; pool settings keep pgbouncer.ini's own names.

    Timeouts are in seconds, as pgbouncer.ini takes them. "Connection aging"
    of the spec is ``client_idle_timeout``, its "Idle timeout" is
    ``server_idle_timeout``; "Query logging: Disabled" is the three
    ``log_*`` switches off except pooler errors.
    """

    service_name: Name
    instance_type: Ec2InstanceType
    ami_parameter: SsmParameter
    root_volume: EbsVolumeConfig
    subnet: Name
    security_group: Name
    boot_security_groups: list[Name] = Field(default_factory=list)
    """Extra, egress-only groups for what the instance itself must reach at boot
    (package repos, Secrets Manager, CloudWatch over HTTPS).  The spec's
    ``vivr-pgbouncer-sg`` allows only 5432 out, which would leave the instance
    unable to install PgBouncer or fetch its password; keeping that group
    exactly as specified and adding a separate one makes the deviation visible."""
    listen_port: ServicePort
    #: Issue 12: EC2 detailed monitoring (1-minute instance metrics,
    #: RunInstances ``Monitoring.Enabled``); priced per metric by CloudWatch.
    detailed_monitoring: bool = False
    auth_type: Literal["scram-sha-256", "md5"]
    pool_mode: Literal["session", "transaction", "statement"]
    max_client_conn: PositiveInt
    default_pool_size: PositiveInt
    min_pool_size: NonNegativeInt
    reserve_pool_size: NonNegativeInt
    reserve_pool_timeout: NonNegativeInt
    max_db_connections: PositiveInt
    server_idle_timeout: NonNegativeInt
    client_idle_timeout: NonNegativeInt
    server_lifetime: NonNegativeInt
    server_idle_session_timeout: NonNegativeInt | None = None
    """Seconds: the PostgreSQL ``idle_session_timeout`` PgBouncer's own server
    connections set for themselves at connect (``connect_query`` of the
    ``[databases]`` entry); 0 switches it off for them.  None leaves them
    under ``rds.parameter_group``'s value.  Why it exists: ``min_pool_size``
    connections are exempt from ``server_idle_timeout`` (PgBouncer's
    janitor.c), so under RDS's 300 s they would be killed and re-opened
    every five quiet minutes; see ``pgbouncer_timeout_problems``."""
    install_from: Literal["spal"]
    """Where the boot script installs PgBouncer from.  Amazon Linux 2023's core
    repositories have no ``pgbouncer``; Amazon's SPAL repository (EPEL 9
    rebuilds, enabled by the AL2023 package ``spal-release``) has it."""
    server_tls_sslmode: SslMode
    client_tls_sslmode: SslMode
    log_connections: bool
    log_disconnections: bool
    log_pooler_errors: bool
    ignore_startup_parameters: list[str]
    cloudwatch_metrics: bool
    datadog_metrics: bool
    datadog_api_key_secret: SecretKey | None = None

    INI_KEYS: ClassVar[tuple[str, ...]] = (
        "listen_port", "auth_type", "pool_mode", "max_client_conn", "default_pool_size",
        "min_pool_size", "reserve_pool_size", "reserve_pool_timeout", "max_db_connections",
        "server_idle_timeout", "client_idle_timeout", "server_lifetime",
        "server_tls_sslmode", "client_tls_sslmode",
        "log_connections", "log_disconnections", "log_pooler_errors",
    )  # fmt: skip

    def ini_settings(self) -> dict[str, str]:
        """The ``[pgbouncer]`` section as pgbouncer.ini spells it (booleans as 0/1)."""
        settings: dict[str, str] = {}
        for key in self.INI_KEYS:
            value = getattr(self, key)
            settings[key] = str(int(value)) if isinstance(value, bool) else str(value)
        settings["ignore_startup_parameters"] = ",".join(self.ignore_startup_parameters)
        return settings

    @model_validator(mode="after")
    def _check(self) -> PgBouncerConfig:
        problems: list[str] = []
        if self.min_pool_size > self.default_pool_size:
            problems.append(
                f"min_pool_size {self.min_pool_size} is above default_pool_size "
                f"{self.default_pool_size}"
            )
        if self.default_pool_size > self.max_db_connections:
            problems.append(
                f"default_pool_size {self.default_pool_size} is above max_db_connections "
                f"{self.max_db_connections}"
            )
        if self.max_db_connections > self.max_client_conn:
            problems.append(
                f"max_db_connections {self.max_db_connections} is above max_client_conn "
                f"{self.max_client_conn}"
            )
        if self.datadog_metrics and self.datadog_api_key_secret is None:
            problems.append("datadog_metrics needs datadog_api_key_secret (a secret key)")
        if problems:
            raise ConfigProblems(problems)
        return self


# --------------------------------------------------------------------------- ElastiCache Redis

CacheNodeType = Annotated[
    str, matching(r"cache\.[a-z0-9]+\.[a-z0-9]+", "a cache node type (e.g. cache.t3.small)")
]


class RedisParameterGroupConfig(StrictModel):
    name: Name
    family: Annotated[str, matching(r"redis\d+(\.x)?", "a Redis family (e.g. redis7)")]
    description: str
    parameters: dict[str, str]


class RedisConfig(StrictModel):
    """The ElastiCache replication group (cluster mode disabled, one shard).

    ``rdb_snapshot_interval_minutes`` and ``multi_threaded_io`` record the
    spec's intent; ElastiCache manages both itself (its automatic snapshot is
    daily, enhanced I/O is on by default for Redis 7), so steps verify what
    they can and report the rest. The AUTH token value lives only in the
    ``secrets.redis_auth_token`` secret.
    """

    replication_group_id: Annotated[
        str,
        matching(r"[a-z](?!.*--)[a-z0-9-]{0,39}(?<!-)", "an ElastiCache id (max 40 characters)"),
    ]
    description: str
    engine: Literal["redis"]
    engine_version: Annotated[
        str, matching(r"\d+(\.\d+)?", "a major (\"7\": its newest minor) or a minor (\"7.0\")")
    ]
    """Checked against ElastiCache's catalog at plan time (``vivr_provision.catalog``)."""
    node_type: CacheNodeType
    min_memory_mb: PositiveInt
    port: ServicePort
    primary_nodes: Annotated[int, one_of({1}, "a primary count")]
    replicas: Annotated[int, Field(ge=0, le=5)]
    shards: Annotated[int, Field(ge=1, le=500)]
    cluster_mode: Literal["disabled", "enabled", "compatible"]
    multi_az: bool
    automatic_failover: bool
    at_rest_encryption: bool
    transit_encryption: bool
    auth_token: bool
    multi_threaded_io: bool
    subnet_group: SubnetGroupConfig
    security_groups: Annotated[list[Name], Field(min_length=1)]
    parameter_group: RedisParameterGroupConfig
    snapshot_retention_days: Annotated[int, Field(ge=0, le=35)]
    snapshot_window: Annotated[str, daily_window(60)]
    maintenance_window: Annotated[str, weekly_window(60)]
    rdb_snapshot_interval_minutes: PositiveInt
    aof: bool
    export_to_s3_daily: bool
    export_bucket: str | None = None
    #: Keys of logs.groups that receive the Redis slow log / engine log
    #: (LogDeliveryConfigurations; engine log needs Redis >= 6.2), in ``log_format``.
    slow_log_group: str | None = None
    engine_log_group: str | None = None
    log_format: Literal["json", "text"] = "json"

    @property
    def num_cache_clusters(self) -> int:
        """Nodes of the single shard (primary + replicas), as CreateReplicationGroup wants."""
        return self.primary_nodes + self.replicas

    @model_validator(mode="after")
    def _check(self) -> RedisConfig:
        problems: list[str] = []
        if self.cluster_mode == "disabled" and self.shards != 1:
            problems.append(f"shards {self.shards} needs cluster_mode enabled (disabled has 1)")
        if self.automatic_failover and self.replicas < 1:
            problems.append("automatic_failover needs at least one replica")
        if self.multi_az and not self.automatic_failover:
            problems.append("multi_az needs automatic_failover")
        if self.auth_token and not self.transit_encryption:
            problems.append("auth_token needs transit_encryption (ElastiCache rule)")
        if self.aof and self.multi_az:
            problems.append("aof cannot be combined with multi_az on ElastiCache")
        if self.export_to_s3_daily and (
            self.export_bucket is None or not self.snapshot_retention_days
        ):
            problems.append(
                "export_to_s3_daily needs export_bucket and snapshot_retention_days > 0"
            )
        if windows_overlap(self.snapshot_window, self.maintenance_window):
            problems.append(
                f"snapshot_window {self.snapshot_window} overlaps maintenance_window "
                f"{self.maintenance_window}"
            )
        if problems:
            raise ConfigProblems(problems)
        return self

    def problems(self) -> list[str]:
        """Checks across sub-sections (paths relative to redis)."""
        family = f"redis{engine_major(self.engine_version)}"
        if self.parameter_group.family.removesuffix(".x") != family:
            return [
                f"parameter_group.family {self.parameter_group.family} does not match "
                f"engine_version {self.engine_version} (expected {family})"
            ]
        return []
