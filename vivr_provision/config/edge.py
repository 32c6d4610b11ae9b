"""Config of the edge: CloudFront, WAF, S3 buckets, Route53.

Spec sections "CloudFront CDN", "Architecture Overview" (WAF in front of the
ALB), "Storage / S3 Buckets" and "Failover Architecture / Route53 Health
Check". Sections with nested parts expose ``problems()``: checks across their
own sub-models, returned as ``path: reason`` relative to the section, which
the root model prefixes with the section name so every message carries the
full field path.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import Field, model_validator

from vivr_provision.config.app import DomainName
from vivr_provision.config.base import Name, NonNegativeInt, PositiveInt, Region, StrictModel
from vivr_provision.config.data import SecretKey, ServicePort, matching, one_of

# --------------------------------------------------------------------------- CloudFront

#: AWS-managed policies steps resolve by name (List*Policies Type=managed).
MANAGED_CACHE_POLICIES = frozenset({
    "Managed-CachingDisabled", "Managed-CachingOptimized",
    "Managed-CachingOptimizedForUncompressedObjects", "Managed-Amplify",
    "Managed-Elemental-MediaPackage", "Managed-UseOriginCacheControlHeaders",
    "Managed-UseOriginCacheControlHeaders-QueryStrings",
})  # fmt: skip
MANAGED_ORIGIN_REQUEST_POLICIES = frozenset({
    "Managed-AllViewer", "Managed-AllViewerAndCloudFrontHeaders-2022-06",
    "Managed-AllViewerExceptHostHeader", "Managed-CORS-CustomOrigin", "Managed-CORS-S3Origin",
    "Managed-Elemental-MediaTailor-PersonalizedManifests", "Managed-UserAgentRefererHeaders",
})  # fmt: skip
MANAGED_RESPONSE_HEADERS_POLICIES = frozenset({
    "Managed-CORS-and-SecurityHeadersPolicy", "Managed-CORS-With-Preflight",
    "Managed-CORS-with-preflight-and-SecurityHeadersPolicy", "Managed-SecurityHeadersPolicy",
    "Managed-SimpleCORS",
})  # fmt: skip
#: The only method sets CloudFront accepts for a cache behaviour.
ALLOWED_METHOD_SETS = (
    frozenset({"GET", "HEAD"}),
    frozenset({"GET", "HEAD", "OPTIONS"}),
    frozenset({"GET", "HEAD", "OPTIONS", "PUT", "POST", "PATCH", "DELETE"}),
)
HttpMethod = Literal["GET", "HEAD", "OPTIONS", "PUT", "POST", "PATCH", "DELETE"]
OriginSslProtocol = Literal["TLSv1.2", "TLSv1.1", "TLSv1", "SSLv3"]
OriginProtocolPolicy = Literal["https-only", "http-only", "match-viewer"]
Ttl = Annotated[int, Field(ge=0, le=3153600000)]


class OriginHeaderConfig(StrictModel):
    """A header CloudFront adds to origin requests; its value is the secret ``secret``.

    The value (e.g. X-Origin-Verify) is generated at apply time into Secrets
    Manager; config and state only ever hold the secret's key/name.
    """

    name: Annotated[str, matching(r"[A-Za-z0-9-]+", "an HTTP header name")]
    secret: SecretKey


class AlbOriginConfig(StrictModel):
    """The application origin: the ALB's DNS name, known only once it exists.

    ``failover_record`` (a name of ``route53.failover_records``) makes the
    origin's domain that name instead, so CloudFront reaches the application
    through Route 53's PRIMARY/SECONDARY pair: the primary ALB while its
    health check passes, the standby ALB in the DR region when it fails.
    Without it the origin is the primary ALB's own DNS name and a failover
    record is on no path traffic takes (staging, which has no DR).
    """

    kind: Literal["alb"]
    id: Name
    failover_record: DomainName | None = None
    protocol_policy: OriginProtocolPolicy
    http_port: ServicePort
    https_port: ServicePort
    ssl_protocols: Annotated[list[OriginSslProtocol], Field(min_length=1)]
    origin_shield_region: Region | None = None
    custom_headers: list[OriginHeaderConfig]
    read_timeout_seconds: Annotated[int, Field(ge=1, le=180)] = 30
    keepalive_timeout_seconds: Annotated[int, Field(ge=1, le=180)] = 5


class S3OriginConfig(StrictModel):
    """A bucket origin; ``bucket`` is a key of s3.buckets, read through an OAI."""

    kind: Literal["s3"]
    id: Name
    bucket: str
    access: Literal["oai"]
    origin_shield_region: Region | None = None


class CustomOriginConfig(StrictModel):
    """A third-party origin by domain name (Cloudinary)."""

    kind: Literal["custom"]
    id: Name
    domain_name: DomainName
    origin_path: Annotated[str, matching(r"(/[A-Za-z0-9._~-]+)*", "an origin path (/a/b)")] = ""
    protocol_policy: OriginProtocolPolicy
    http_port: ServicePort
    https_port: ServicePort
    ssl_protocols: Annotated[list[OriginSslProtocol], Field(min_length=1)]
    origin_shield_region: Region | None = None
    custom_headers: list[OriginHeaderConfig] = []


OriginConfig = Annotated[
    AlbOriginConfig | S3OriginConfig | CustomOriginConfig, Field(discriminator="kind")
]


class CachePolicyConfig(StrictModel):
    """A custom cache policy, for behaviours whose TTLs no managed policy has."""

    name: Name
    comment: str
    min_ttl: Ttl
    default_ttl: Ttl
    max_ttl: Ttl
    gzip: bool
    brotli: bool
    headers: list[str]
    cookies: Literal["none", "all"]
    query_strings: Literal["none", "all"]

    @model_validator(mode="after")
    def _check(self) -> CachePolicyConfig:
        if not self.min_ttl <= self.default_ttl <= self.max_ttl:
            raise ValueError(
                f"TTLs must satisfy min_ttl <= default_ttl <= max_ttl "
                f"({self.min_ttl}, {self.default_ttl}, {self.max_ttl})"
            )
        return self


class OriginRequestPolicyConfig(StrictModel):
    """A custom origin request policy (the spec's "S3-simple": forward nothing)."""

    name: Name
    comment: str
    headers: Literal["none", "allViewer"]
    cookies: Literal["none", "all"]
    query_strings: Literal["none", "all"]


class BehaviourConfig(StrictModel):
    """A cache behaviour; ``path_pattern: "*"`` marks the default behaviour.

    Policies are named: ``Managed-*`` names are AWS-managed policies,
    other names must be defined in this section.
    """

    path_pattern: Annotated[str, matching(r"\*|/?[A-Za-z0-9_.*/-]+", "a path pattern")]
    target_origin: Name
    viewer_protocol_policy: Literal["https-only", "redirect-to-https", "allow-all"]
    allowed_methods: list[HttpMethod]
    cached_methods: list[HttpMethod]
    cache_policy: str
    origin_request_policy: str | None = None
    response_headers_policy: str | None = None
    compress: bool

    @model_validator(mode="after")
    def _check(self) -> BehaviourConfig:
        allowed = frozenset(self.allowed_methods)
        if allowed not in ALLOWED_METHOD_SETS or len(allowed) != len(self.allowed_methods):
            raise ValueError(
                "allowed_methods must be GET,HEAD or GET,HEAD,OPTIONS or all seven methods"
            )
        cached = frozenset(self.cached_methods)
        if cached not in ALLOWED_METHOD_SETS[:2] or not cached <= allowed:
            raise ValueError("cached_methods must be GET,HEAD or GET,HEAD,OPTIONS (and allowed)")
        return self


class ViewerSettingsConfig(StrictModel):
    """Distribution-wide viewer settings; custom cache policies stay within the TTL bounds."""

    compress: bool
    compression_formats: list[Literal["gzip", "br"]]
    min_ttl: Ttl
    default_ttl: Ttl
    max_ttl: Ttl


class FieldLevelEncryptionConfig(StrictModel):
    """Field-level encryption of form fields (issue 12).

    The RSA key pair is generated at apply time; its private key is the secret
    ``private_key_secret`` (a key of ``secrets.key_pairs``), its public half goes
    to CloudFront.  The profile encrypts ``field_patterns`` for ``provider_id``
    (the application passes the same id to its decryption library), the config
    applies the profile to ``content_type`` bodies, and every cache behaviour
    that forwards POST to a custom origin carries the config.
    """

    enabled: bool
    content_type: Literal["application/x-www-form-urlencoded"]
    # CloudFront API reference, FieldPatterns: full names or a prefix followed by *.
    field_patterns: Annotated[
        list[Annotated[str, matching(r"[A-Za-z0-9_.-]{1,127}\*?", "a field pattern")]],
        Field(min_length=1, max_length=10)]
    provider_id: Annotated[str, matching(r"[A-Za-z0-9_-]{1,128}", "a provider id")]
    private_key_secret: SecretKey

    @model_validator(mode="after")
    def _check(self) -> FieldLevelEncryptionConfig:
        # AWS: "You can't overlap field patterns. For example, you can't have both
        # ABC* and AB*" (FieldPatterns); a pattern is case-sensitive.
        for one in self.field_patterns:
            for other in self.field_patterns:
                if one != other and one.endswith("*") and other.startswith(one[:-1]):
                    raise ValueError(f"field patterns {one!r} and {other!r} overlap")
        if len(set(self.field_patterns)) != len(self.field_patterns):
            raise ValueError("field_patterns has duplicates")
        return self


class CloudFrontSecurityConfig(StrictModel):
    minimum_protocol_version: Literal[
        "TLSv1.2_2018", "TLSv1.2_2019", "TLSv1.2_2021", "TLSv1.2_2025", "TLSv1.3_2025"
    ]
    ssl_support_method: Literal["sni-only", "vip"]
    http_version: Literal["http1.1", "http2", "http3", "http2and3"]
    field_level_encryption: FieldLevelEncryptionConfig


class GeoRestrictionConfig(StrictModel):
    type: Literal["none", "whitelist", "blacklist"]
    locations: list[Annotated[str, matching(r"[A-Z]{2}", "an ISO 3166 country code")]]

    @model_validator(mode="after")
    def _check(self) -> GeoRestrictionConfig:
        if (self.type == "none") != (not self.locations):
            raise ValueError("locations must be empty for type none and set otherwise")
        return self


class CloudFrontLoggingConfig(StrictModel):
    """Standard logging into the bucket with key ``bucket`` (needs ACLs enabled on it)."""

    enabled: bool
    bucket: str
    prefix: Annotated[str, matching(r"([A-Za-z0-9!_.*'()-]+/)*", "a prefix ending in /")]
    include_cookies: bool


class CloudFrontConfig(StrictModel):
    """The distribution. ``name`` becomes its Comment and Name tag; the
    d123456.cloudfront.net domain and the OAI id are assigned by AWS."""

    name: Name
    enabled: bool
    aliases: list[DomainName]
    price_class: Literal["PriceClass_All", "PriceClass_200", "PriceClass_100"]
    ipv6: bool
    default_root_object: str = ""
    web_acl: Name
    origin_access_identity_comment: str
    origins: Annotated[list[OriginConfig], Field(min_length=1)]
    cache_policies: list[CachePolicyConfig]
    origin_request_policies: list[OriginRequestPolicyConfig]
    behaviours: Annotated[list[BehaviourConfig], Field(min_length=1)]
    viewer_settings: ViewerSettingsConfig
    security: CloudFrontSecurityConfig
    geo_restriction: GeoRestrictionConfig
    logging: CloudFrontLoggingConfig

    def origin(self, origin_id: str) -> AlbOriginConfig | S3OriginConfig | CustomOriginConfig:
        for origin in self.origins:
            if origin.id == origin_id:
                return origin
        raise KeyError(origin_id)

    @property
    def default_behaviour(self) -> BehaviourConfig:
        return next(b for b in self.behaviours if b.path_pattern == "*")

    @property
    def ordered_behaviours(self) -> list[BehaviourConfig]:
        """The non-default behaviours, in config order (CloudFront's precedence)."""
        return [b for b in self.behaviours if b.path_pattern != "*"]

    def fle_behaviours(self) -> list[BehaviourConfig]:
        """The behaviours that carry field-level encryption when it is enabled: those
        that forward POST to a custom origin (the application).  Static behaviours
        (S3, GET/HEAD only) never see a form body, so they carry none."""
        if not self.security.field_level_encryption.enabled:
            return []
        kinds = {o.id: o.kind for o in self.origins}
        return [b for b in self.behaviours
                if "POST" in b.allowed_methods and kinds.get(b.target_origin) != "s3"]

    def problems(self) -> list[str]:
        """Checks across origins, policies and behaviours (paths relative to cloudfront)."""
        problems: list[str] = []
        origin_ids = [o.id for o in self.origins]
        for dup in sorted({i for i in origin_ids if origin_ids.count(i) > 1}):
            problems.append(f"origins: id {dup!r} is used twice")
        patterns = [b.path_pattern for b in self.behaviours]
        if patterns.count("*") != 1:
            problems.append('behaviours: exactly one behaviour must have path_pattern "*"')
        for dup in sorted({p for p in patterns if patterns.count(p) > 1 and p != "*"}):
            problems.append(f"behaviours: path_pattern {dup!r} is used twice")
        custom = {
            "cache_policy": ({p.name for p in self.cache_policies}, MANAGED_CACHE_POLICIES),
            "origin_request_policy": (
                {p.name for p in self.origin_request_policies},
                MANAGED_ORIGIN_REQUEST_POLICIES,
            ),
            "response_headers_policy": (set(), MANAGED_RESPONSE_HEADERS_POLICIES),
        }
        for index, behaviour in enumerate(self.behaviours):
            where = f"behaviours[{index}]"
            if behaviour.target_origin not in origin_ids:
                problems.append(
                    f"{where}.target_origin {behaviour.target_origin!r} is not an origin id"
                )
            for field, (defined, managed) in custom.items():
                name = getattr(behaviour, field)
                if name is not None and name not in defined and name not in managed:
                    problems.append(
                        f"{where}.{field} {name!r} is neither an AWS-managed policy "
                        "nor defined in this section"
                    )
        viewer = self.viewer_settings
        for index, policy in enumerate(self.cache_policies):
            if policy.min_ttl < viewer.min_ttl or policy.max_ttl > viewer.max_ttl:
                problems.append(
                    f"cache_policies[{index}]: TTLs {policy.min_ttl}..{policy.max_ttl} leave "
                    f"viewer_settings bounds {viewer.min_ttl}..{viewer.max_ttl}"
                )
        return problems


# --------------------------------------------------------------------------- WAF


class ManagedRuleGroupConfig(StrictModel):
    name: Annotated[str, matching(r"[A-Za-z0-9_-]{1,128}", "a rule group name")]
    vendor: Literal["AWS"]
    priority: NonNegativeInt
    override_action: Literal["none", "count"]
    excluded_rules: list[str] = []


class RateLimitRuleConfig(StrictModel):
    """Per-client request ceiling over ``window_seconds`` (WAF evaluates 1-10 min windows)."""

    name: Annotated[str, matching(r"[A-Za-z0-9_-]{1,128}", "a rule name")]
    priority: NonNegativeInt
    limit: Annotated[int, Field(ge=10, le=2_000_000_000)]
    window_seconds: Annotated[int, one_of({60, 120, 300, 600}, "a WAF rate window")]
    aggregate_key: Literal["IP", "FORWARDED_IP"]
    action: Literal["block", "count"]


class WafConfig(StrictModel):
    """The web ACL on the distribution. CLOUDFRONT scope ACLs live in us-east-1;
    steps create them there whatever aws.region is."""

    web_acl_name: Annotated[str, matching(r"[A-Za-z0-9_-]{1,128}", "a web ACL name")]
    description: str
    scope: Literal["CLOUDFRONT", "REGIONAL"]
    default_action: Literal["allow", "block"]
    managed_rule_groups: list[ManagedRuleGroupConfig]
    rate_limit: RateLimitRuleConfig
    metric_name: Annotated[str, matching(r"[A-Za-z0-9_-]{1,128}", "a metric name")]
    cloudwatch_metrics: bool
    sampled_requests: bool
    #: Key of ``logs.groups`` the ACL logs every request into (issue 12; step
    #: ``waf-logging``); its name must start with ``aws-waf-logs-``.
    log_group: str | None = None

    def problems(self) -> list[str]:
        priorities = [g.priority for g in self.managed_rule_groups] + [self.rate_limit.priority]
        dups = sorted({p for p in priorities if priorities.count(p) > 1})
        return [f"managed_rule_groups: priority {p} is used twice" for p in dups]


# --------------------------------------------------------------------------- S3

StorageClass = Literal[
    "STANDARD_IA", "ONEZONE_IA", "INTELLIGENT_TIERING", "GLACIER_IR", "GLACIER", "DEEP_ARCHIVE"
]
BucketPolicy = Literal["cloudfront-oai", "backup-role-only", "alb-log-delivery", "none"]
_BUCKET_NAME = r"(?!xn--)(?!.*\.\.)[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]"
BucketName = Annotated[str, matching(_BUCKET_NAME, "a bucket name")]
#: A key of ``s3.buckets`` (``assets``, ``logs`` ...), the name steps and references use.
BucketKey = Annotated[str, matching(r"[a-z][a-z0-9_]*", "a bucket key")]


class LifecycleTransitionConfig(StrictModel):
    days: NonNegativeInt
    storage_class: StorageClass


class LifecycleRuleConfig(StrictModel):
    """One lifecycle rule; each action is optional but a rule needs at least one."""

    id: Name
    prefix: str = ""
    noncurrent_expiration_days: PositiveInt | None = None
    transitions: list[LifecycleTransitionConfig] = []
    expiration_days: PositiveInt | None = None
    abort_incomplete_multipart_days: PositiveInt | None = None

    @model_validator(mode="after")
    def _check(self) -> LifecycleRuleConfig:
        if (
            self.noncurrent_expiration_days is None
            and not self.transitions
            and self.expiration_days is None
            and self.abort_incomplete_multipart_days is None
        ):
            raise ValueError("a lifecycle rule needs at least one action")
        if self.expiration_days is not None:
            for transition in self.transitions:
                if transition.days >= self.expiration_days:
                    raise ValueError(
                        f"transition to {transition.storage_class} after {transition.days} days "
                        f"is not before expiration_days {self.expiration_days}"
                    )
        return self


class ReplicationConfig(StrictModel):
    """Cross-region replication; the destination name gets s3.name_suffix too."""

    destination_region: Region
    destination_bucket: Annotated[str, matching(_BUCKET_NAME, "a bucket name")]
    storage_class: Literal["STANDARD", "STANDARD_IA", "GLACIER_IR", "GLACIER", "DEEP_ARCHIVE"]
    replicate_kms_encrypted: bool


class BucketConfig(StrictModel):
    """A bucket. ``policy`` names the intent the bucket-policy step renders."""

    name: Annotated[str, matching(_BUCKET_NAME, "a bucket name")]
    purpose: str
    versioning: bool
    encryption: Literal["AES256", "aws:kms"]
    block_public_access: bool
    object_ownership: Literal["BucketOwnerEnforced", "BucketOwnerPreferred", "ObjectWriter"]
    deny_insecure_transport: bool
    policy: BucketPolicy
    lifecycle_rules: list[LifecycleRuleConfig]
    replication: ReplicationConfig | None = None

    @model_validator(mode="after")
    def _check(self) -> BucketConfig:
        if self.replication is not None and not self.versioning:
            raise ValueError("replication needs versioning (S3 rule)")
        if self.versioning:
            # On a versioned bucket an expiry only hides the current version
            # (it becomes non-current), so the data would be kept forever.
            for rule in self.lifecycle_rules:
                if rule.expiration_days is not None and rule.noncurrent_expiration_days is None:
                    raise ValueError(
                        f"lifecycle rule {rule.id!r} expires objects of a versioned bucket but "
                        "not their non-current versions, which S3 then keeps forever: set "
                        "noncurrent_expiration_days")
        return self


class ServerAccessLogsConfig(StrictModel):
    """S3 server access logging of every bucket into one of them (issue 12; CIS S3.9).

    Each other bucket of ``buckets`` in the primary region logs into
    ``bucket`` under ``<prefix><its name>/``; the target does not log into
    itself (each delivery would be logged again).  The target's policy
    admits ``logging.s3.amazonaws.com`` per source (S3 User Guide, "Enabling
    Amazon S3 server access logging": bucket-policy delivery with
    ``aws:SourceArn`` and ``aws:SourceAccount``).
    """

    bucket: Annotated[str, matching(r"[a-z][a-z0-9_]*", "a bucket key")]
    prefix: Annotated[str, matching(r"([A-Za-z0-9_.-]+/)*", "a key prefix ending in /")] = "s3/"


class S3Config(StrictModel):
    """Buckets by key (assets, backups, logs, temp); others refer to the key.

    ``name_suffix`` is appended to every bucket name, replication
    destinations included, because bucket names are global across accounts.
    """

    name_suffix: Annotated[str, matching(r"(-[a-z0-9]+)*", "a suffix like -staging")] = ""
    buckets: dict[Annotated[str, matching(r"[a-z][a-z0-9_]*", "a bucket key")], BucketConfig]
    server_access_logs: ServerAccessLogsConfig | None = None

    @model_validator(mode="after")
    def _check_access_logs(self) -> S3Config:
        logs = self.server_access_logs
        if logs is None:
            return self
        target = self.buckets.get(logs.bucket)
        if target is None:
            raise ValueError(f"server_access_logs.bucket {logs.bucket!r} is not a key of "
                             "s3.buckets")
        if target.encryption != "AES256":
            # S3 User Guide, "Enabling Amazon S3 server access logging": the target
            # bucket's default encryption must be SSE-S3.
            raise ValueError(f"server_access_logs.bucket {logs.bucket}: S3 delivers access "
                             "logs only into a bucket encrypted with SSE-S3 (AES256)")
        return self

    def access_log_target(self, key: str) -> str | None:
        """The key of the bucket ``key`` logs into, or None (no logging, or the target)."""
        logs = self.server_access_logs
        return None if logs is None or key == logs.bucket else logs.bucket

    def access_log_prefix(self, key: str) -> str:
        """Where bucket ``key``'s access logs land in the target: ``s3/<bucket name>/``."""
        return self.log_prefix_for(self.bucket_name(key))

    def log_prefix_for(self, name: str) -> str:
        """Where the access logs of the bucket named ``name`` land in its target."""
        assert self.server_access_logs is not None
        return f"{self.server_access_logs.prefix}{name}/"

    def bucket_name(self, key: str) -> str:
        """The real (global) name of bucket ``key``."""
        return self.buckets[key].name + self.name_suffix

    def replica_bucket_name(self, key: str) -> str | None:
        replication = self.buckets[key].replication
        return None if replication is None else replication.destination_bucket + self.name_suffix

    def problems(self) -> list[str]:
        problems: list[str] = []
        seen: list[str] = []
        for key in self.buckets:
            for name in (self.bucket_name(key), self.replica_bucket_name(key)):
                if name is None:
                    continue
                if not re.fullmatch(_BUCKET_NAME, name):
                    problems.append(f"buckets.{key}: {name!r} is not a valid bucket name")
                if name in seen:
                    problems.append(f"buckets.{key}: bucket name {name!r} is used twice")
                seen.append(name)
        return problems


# --------------------------------------------------------------------------- Route53


class HostedZoneConfig(StrictModel):
    name: DomainName
    comment: str


class AliasRecordConfig(StrictModel):
    """An alias record (A/AAAA) to the distribution or the ALB."""

    name: DomainName
    types: Annotated[list[Literal["A", "AAAA"]], Field(min_length=1)]
    target: Literal["cloudfront", "alb"]


class Route53HealthCheckConfig(StrictModel):
    """The health check of the primary ALB that drives the failover record."""

    type: Literal["HTTPS", "HTTP"]
    resource_path: Annotated[str, matching(r"/\S*", "an HTTP path")]
    port: ServicePort
    request_interval_seconds: Annotated[int, one_of({10, 30}, "a Route53 request interval")]
    failure_threshold: Annotated[int, Field(ge=1, le=10)]


class FailoverRecordConfig(StrictModel):
    """A PRIMARY/SECONDARY record pair: the primary ALB, then the DR-region ALB."""

    name: DomainName
    type: Literal["CNAME"]
    ttl_seconds: NonNegativeInt
    primary: Literal["alb"]
    secondary: Literal["dr_alb"]
    health_check: Route53HealthCheckConfig
    #: The standby ALB's own check on the SECONDARY (``health-check.standby-alb``);
    #: None: the SECONDARY has none and Route 53 treats it as always healthy.
    secondary_health_check: Route53HealthCheckConfig | None = None


class Route53Config(StrictModel):
    hosted_zone: HostedZoneConfig
    records: list[AliasRecordConfig]
    failover_records: list[FailoverRecordConfig]
    #: Key of ``logs.groups`` the public zone's DNS query logs go to (issue 12;
    #: step ``dns-query-logging``); Route 53 logs only into us-east-1.
    query_log_group: str | None = None

    def in_zone(self, name: str) -> bool:
        zone = self.hosted_zone.name
        return name == zone or name.endswith("." + zone)

    def problems(self) -> list[str]:
        problems: list[str] = []
        zone = self.hosted_zone.name
        names: list[str] = []
        refs = [(f"records[{i}]", r.name) for i, r in enumerate(self.records)]
        refs += [(f"failover_records[{i}]", r.name) for i, r in enumerate(self.failover_records)]
        for where, name in refs:
            if not self.in_zone(name):
                problems.append(f"{where}.name {name} is not in zone {zone}")
            if name in names:
                problems.append(f"{where}.name {name} is used twice")
            names.append(name)
        return problems
