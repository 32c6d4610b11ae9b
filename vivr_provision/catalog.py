"""Catalog resolution: values the config names, checked against AWS's own catalogs.

A value AWS no longer accepts (an engine minor it stopped creating, a class
not orderable for the chosen version, a TLS policy name with a typo, an SSM
parameter that does not exist) otherwise surfaces only in the middle of an
apply, after half the platform exists.  So ``plan`` and ``apply`` resolve them
first, in one phase before the step walk, from the describe calls AWS offers
for exactly this:

* RDS engine version: ``DescribeDBEngineVersions`` in every region that will
  hold an instance (the cross-region replica is created at the primary's
  version, so the DR region must create it too).  ``"16"`` means the newest
  minor every one of those regions creates; a pinned ``"16.4"`` must be one
  of them.
* RDS instance classes: ``DescribeOrderableDBInstanceOptions`` for the
  resolved version, filtered on what the config turns on (storage type,
  Multi-AZ, encryption, IAM auth, Performance Insights, enhanced monitoring,
  storage autoscaling, the allocated size, read replicas).
* ElastiCache engine version: ``DescribeCacheEngineVersions`` (and the
  parameter group family AWS gives it).  Node types: no ElastiCache API
  says what is orderable; ``DescribeReservedCacheNodesOfferings`` lists what
  is sold in the region, so a node type without offerings is reported, not
  refused.
* AMIs: the public SSM parameters the config names (``GetParameters``), the
  image behind each (``DescribeImages``: available, architecture) and the
  instance type that boots it (``DescribeInstanceTypes``).
* ALB TLS policies: ``DescribeSSLPolicies`` in each balancer's region.

A value AWS does not accept is a :class:`CatalogError` (exit 2, nothing
touched, one line naming the newest valid value).  The resolved values go to
the steps through ``StepContext.catalog``, to the operator as step notes and
to the state file (``State.catalog``) on apply.  ``status`` never calls this.

The describe calls are thin wrappers; the rules are pure functions over
their results so they can be tested without AWS.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from vivr_provision import aws_errors
from vivr_provision.aws import ClientFactory, error_code
from vivr_provision.config import PlatformConfig
from vivr_provision.config.data import RedisConfig
from vivr_provision.config.dr_redis import standby_redis
from vivr_provision.errors import ConfigError
from vivr_provision.state import CatalogRecord, State, utc_now


class CatalogError(ConfigError):
    """A config value AWS's catalog does not accept; nothing was touched (exit 2)."""


def version_key(version: str) -> tuple[tuple[int, ...], str]:
    """Numeric order: ``16.15`` after ``16.9``; ``11.22-rds.20250508`` after ``11.22``."""
    base, _, suffix = version.partition("-")
    return tuple(int(p) for p in base.split(".") if p.isdigit()), suffix


def is_major(version: str) -> bool:
    """``"16"`` names a major version (newest minor wanted), ``"16.4"`` pins a minor."""
    return "." not in version


def major_of(version: str) -> str:
    return version.split(".", 1)[0]


# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class Resolved:
    """One value taken from AWS's catalog."""

    key: str
    """What it is, e.g. ``rds.engine_version``."""
    requested: str
    """What the config says (``"16"``)."""
    value: str
    """What AWS's catalog gave (``"16.15"``)."""
    regions: tuple[str, ...]
    source: str
    """The API that said so."""
    step: str
    """The step whose notes show it."""
    note: str

    def record(self) -> dict[str, Any]:
        return {"requested": self.requested, "value": self.value,
                "regions": list(self.regions), "source": self.source}


@dataclass
class Catalog:
    """What resolution found; empty when nothing was resolved (unit tests, ``status``)."""

    values: dict[str, Resolved] = field(default_factory=dict)
    #: Extra lines per step that are not one value (a node type AWS does not list).
    remarks: dict[str, list[str]] = field(default_factory=dict)

    def add(self, resolved: Resolved) -> None:
        self.values[resolved.key] = resolved

    def remark(self, step: str, line: str) -> None:
        self.remarks.setdefault(step, []).append(line)

    def value(self, key: str, default: str) -> str:
        """The resolved value, or ``default`` (the config's) when none was resolved."""
        found = self.values.get(key)
        return found.value if found is not None else default

    def notes_for(self, step: str) -> list[str]:
        lines = [r.note for r in self.values.values() if r.step == step]
        return lines + self.remarks.get(step, [])

    def records(self) -> dict[str, CatalogRecord]:
        """What the state file keeps: every resolved value with its source and time."""
        now = utc_now()
        return {key: CatalogRecord(**r.record(), resolved_at=now)
                for key, r in sorted(self.values.items())}

    def merge_into(self, state: State) -> bool:
        """Record these values in ``state``; True when anything changed.

        A value resolved as before keeps its first ``resolved_at``, so a
        re-apply that changes nothing leaves the file as it was.
        """
        merged = {}
        for key, fresh in self.records().items():
            old = state.catalog.get(key)
            same = old is not None and old.model_dump(exclude={"resolved_at"}) == \
                fresh.model_dump(exclude={"resolved_at"})
            merged[key] = old if same and old is not None else fresh
        if merged == state.catalog:
            return False
        state.catalog = merged
        return True


# --------------------------------------------------------------------------- thin describe calls


def rds_creatable_versions(rds: Any, engine: str, major: str) -> list[str]:
    """Minors of ``major`` RDS creates in the client's region, oldest first.

    Without ``IncludeAll`` AWS lists only versions whose Status is
    ``available``: the ones CreateDBInstance accepts.
    """
    pages = rds.get_paginator("describe_db_engine_versions").paginate(
        Engine=engine, EngineVersion=major)
    versions = {v["EngineVersion"] for page in pages for v in page.get("DBEngineVersions", [])
                if v.get("Status", "available") == "available"
                and major_of(v["EngineVersion"]) == major}
    return sorted(versions, key=version_key)


def rds_orderable_options(rds: Any, engine: str, version: str,
                          instance_class: str) -> list[dict[str, Any]]:
    pages = rds.get_paginator("describe_orderable_db_instance_options").paginate(
        Engine=engine, EngineVersion=version, DBInstanceClass=instance_class, Vpc=True)
    return [o for page in pages for o in page.get("OrderableDBInstanceOptions", [])]


def cache_engine_versions(elasticache: Any, engine: str) -> dict[str, str]:
    """Version -> parameter group family, as ElastiCache lists them."""
    pages = elasticache.get_paginator("describe_cache_engine_versions").paginate(Engine=engine)
    return {v["EngineVersion"]: v.get("CacheParameterGroupFamily", "")
            for page in pages for v in page.get("CacheEngineVersions", [])}


def cache_node_type_offered(elasticache: Any, node_type: str, engine: str) -> bool:
    pages = elasticache.get_paginator("describe_reserved_cache_nodes_offerings").paginate(
        CacheNodeType=node_type, ProductDescription=engine)
    return any(page.get("ReservedCacheNodesOfferings") for page in pages)


def ssm_values(ssm: Any, names: list[str]) -> tuple[dict[str, str], list[str]]:
    reply = ssm.get_parameters(Names=names)
    return ({p["Name"]: p["Value"] for p in reply.get("Parameters", [])},
            list(reply.get("InvalidParameters", [])))


def ec2_image(ec2: Any, image_id: str) -> dict[str, Any] | None:
    try:
        images = ec2.describe_images(ImageIds=[image_id]).get("Images", [])
    except aws_errors.ClientError as exc:
        if error_code(exc) in ("InvalidAMIID.NotFound", "InvalidAMIID.Malformed"):
            return None
        raise
    return dict(images[0]) if images else None


def ec2_architectures(ec2: Any, instance_type: str) -> list[str] | None:
    try:
        types = ec2.describe_instance_types(InstanceTypes=[instance_type]).get(
            "InstanceTypes", [])
    except aws_errors.ClientError as exc:
        if error_code(exc) == "InvalidInstanceType":
            return None
        raise
    return list(types[0]["ProcessorInfo"]["SupportedArchitectures"]) if types else None


def elb_ssl_policies(elbv2: Any, names: list[str]) -> dict[str, dict[str, Any]] | None:
    """The named policies, or None when AWS does not know one of them."""
    try:
        reply = elbv2.describe_ssl_policies(Names=names)
    except aws_errors.ClientError as exc:
        if error_code(exc) == "SSLPolicyNotFound":
            return None
        raise
    found = {p["Name"]: p for p in reply.get("SslPolicies", [])}
    return found if set(names) <= set(found) else None


# --------------------------------------------------------------------------- rules


def choose_version(what: str, requested: str, creatable: list[str], where: str) -> str:
    """``requested`` (a major or a pinned minor) against the versions AWS creates.

    A major gives its newest creatable minor; a pinned minor must be one of
    them.  Either way the error names the newest valid version.
    """
    major = major_of(requested)
    newest = creatable[-1] if creatable else None
    if is_major(requested):
        if newest is None:
            raise CatalogError(f"{what} {requested!r}: AWS creates no {major}.x version in "
                               f"{where}; choose another major version")
        return newest
    if requested in creatable:
        return requested
    if newest is None:
        raise CatalogError(f"{what} {requested!r}: AWS creates no {major}.x version in {where}; "
                           "choose another major version")
    raise CatalogError(
        f"{what} {requested!r}: AWS no longer creates (or does not offer) {requested} in "
        f"{where}; the newest valid {major}.x is {newest} (set {major!r} to follow the "
        f"newest minor, or pin {newest!r})")


@dataclass(frozen=True)
class DbNeeds:
    """What an RDS instance of ours asks of its orderable option."""

    storage_type: str
    allocated_gb: int
    multi_az: bool
    encrypted: bool
    iam_auth: bool
    performance_insights: bool
    enhanced_monitoring: bool
    storage_autoscaling: bool
    read_replica_source: bool

    def missing(self, option: dict[str, Any]) -> list[str]:
        """What ``option`` lacks of these needs (empty: it fits)."""
        wanted = [
            ("Multi-AZ", self.multi_az, "MultiAZCapable"),
            ("storage encryption", self.encrypted, "SupportsStorageEncryption"),
            ("IAM database authentication", self.iam_auth,
             "SupportsIAMDatabaseAuthentication"),
            ("Performance Insights", self.performance_insights, "SupportsPerformanceInsights"),
            ("enhanced monitoring", self.enhanced_monitoring, "SupportsEnhancedMonitoring"),
            ("storage autoscaling", self.storage_autoscaling, "SupportsStorageAutoscaling"),
            ("read replicas", self.read_replica_source, "ReadReplicaCapable"),
        ]
        gaps = [label for label, needed, key in wanted if needed and not option.get(key)]
        low, high = option.get("MinStorageSize"), option.get("MaxStorageSize")
        if (low is not None and self.allocated_gb < low) or \
                (high is not None and self.allocated_gb > high):
            gaps.append(f"{self.allocated_gb} GiB (allowed {low}-{high})")
        return gaps


def check_orderable(what: str, instance_class: str, *, engine: str, version: str, where: str,
                    needs: DbNeeds, options: list[dict[str, Any]]) -> None:
    """Refuse a class RDS does not sell with this version, storage type and features."""
    if not options:
        raise CatalogError(
            f"{what} {instance_class}: not orderable for {engine} {version} in {where} "
            f"(aws rds describe-orderable-db-instance-options --engine {engine} "
            f"--engine-version {version} lists the classes that are)")
    typed = [o for o in options if o.get("StorageType") == needs.storage_type]
    if not typed:
        kinds = sorted({str(o.get("StorageType")) for o in options})
        raise CatalogError(f"{what} {instance_class}: {engine} {version} in {where} offers "
                           f"storage {', '.join(kinds)}, not {needs.storage_type}")
    gaps = [needs.missing(option) for option in typed]
    if all(gaps):
        fewest = min(gaps, key=len)
        raise CatalogError(f"{what} {instance_class} with {engine} {version} and "
                           f"{needs.storage_type} in {where} does not support "
                           f"{', '.join(fewest)}")


# --------------------------------------------------------------------------- resolution


def _regions_of_rds(config: PlatformConfig) -> tuple[str, ...]:
    primary = config.aws.region
    others = sorted({r.region for r in config.rds.read_replicas} - {primary})
    return (primary, *others)


def _resolve_rds(config: PlatformConfig, clients: ClientFactory, found: Catalog) -> None:
    rds = config.rds
    regions = _regions_of_rds(config)
    major = major_of(rds.engine_version)
    per_region = {r: rds_creatable_versions(clients.client("rds", r), rds.engine, major)
                  for r in regions}
    both = [v for v in per_region[regions[0]] if all(v in per_region[r] for r in regions)]
    where = " and ".join(regions)
    version = choose_version("rds.engine_version", rds.engine_version, both, where)
    if is_major(rds.engine_version):
        why = f"the newest {major}.x RDS creates in {where}"
    else:
        why = f"pinned; newest creatable {major}.x in {where} is {both[-1]}"
    found.add(Resolved("rds.engine_version", rds.engine_version, version, regions,
                       "rds:DescribeDBEngineVersions", f"rds.{rds.identifier}",
                       f"engine {rds.engine} {version} ({why}; config {rds.engine_version!r})"))

    def needs(*, multi_az: bool, source: bool) -> DbNeeds:
        return DbNeeds(storage_type=rds.storage.type, allocated_gb=rds.storage.allocated_gb,
                       multi_az=multi_az, encrypted=rds.storage_encrypted, iam_auth=rds.iam_auth,
                       performance_insights=rds.performance_insights.enabled,
                       enhanced_monitoring=rds.enhanced_monitoring_interval > 0,
                       storage_autoscaling=rds.storage.autoscaling, read_replica_source=source)

    instances = [(f"rds.{rds.identifier}", "rds.instance_class", rds.instance_class,
                  config.aws.region, needs(multi_az=rds.multi_az,
                                           source=bool(rds.read_replicas)))]
    for index, replica in enumerate(rds.read_replicas):
        step = f"rds.{replica.identifier}"
        if replica.region != config.aws.region:
            step = "dr." + step
        instances.append((step, f"rds.read_replicas[{index}].instance_class",
                          replica.instance_class or rds.instance_class, replica.region,
                          needs(multi_az=False, source=False)))
    for step, what, instance_class, region, need in instances:
        options = rds_orderable_options(clients.client("rds", region), rds.engine, version,
                                        instance_class)
        check_orderable(what, instance_class, engine=rds.engine, version=version, where=region,
                        needs=need, options=options)
        features = [need.storage_type] + (["Multi-AZ"] if need.multi_az else [])
        found.add(Resolved(f"{what}@{region}", instance_class, instance_class, (region,),
                           "rds:DescribeOrderableDBInstanceOptions", step,
                           f"{instance_class} is orderable with {rds.engine} {version}, "
                           f"{', '.join(features)} in {region}"))


def _redis_sites(config: PlatformConfig) -> Iterable[tuple[str, str, RedisConfig]]:
    """(step prefix, region, config) of each cache: the primary and the DR standby."""
    yield "", config.aws.region, config.redis
    standby = standby_redis(config)
    if standby is not None:
        yield "dr.", config.dr.region, standby


def _resolve_redis(config: PlatformConfig, clients: ClientFactory, found: Catalog) -> None:
    for prefix, region, redis in _redis_sites(config):
        _resolve_site_redis(prefix, region, redis, clients, found)


def _resolve_site_redis(prefix: str, region: str, redis: RedisConfig, clients: ClientFactory,
                        found: Catalog) -> None:
    """One cache's engine version (key ``<prefix>redis.engine_version``) in its own region."""
    client = clients.client("elasticache", region)
    families = cache_engine_versions(client, redis.engine)
    major = major_of(redis.engine_version)
    creatable = sorted((v for v in families if major_of(v) == major), key=version_key)
    version = choose_version("redis.engine_version", redis.engine_version, creatable, region)
    family = families[version]
    if family and family != redis.parameter_group.family:
        raise CatalogError(f"redis.parameter_group.family {redis.parameter_group.family}: "
                           f"ElastiCache puts {redis.engine} {version} in family {family}")
    newer = [v for v in creatable if version_key(v) > version_key(version)]
    why = f"newest {major}.x" if is_major(redis.engine_version) else \
        "pinned" + (f"; {', '.join(newer)} also offered" if newer else "; the newest")
    step = f"{prefix}cache"
    found.add(Resolved(f"{prefix}redis.engine_version", redis.engine_version, version,
                       (region,), "elasticache:DescribeCacheEngineVersions", step,
                       f"engine {redis.engine} {version} (family {family or '?'}; {why})"))
    if cache_node_type_offered(client, redis.node_type, redis.engine):
        found.remark(step, f"{redis.node_type} is offered in {region} "
                     "(elasticache:DescribeReservedCacheNodesOfferings)")
    else:
        found.remark(step, f"{redis.node_type}: no reserved-node offering lists it in "
                     f"{region}; ElastiCache has no orderable-node API, check the node type")


def _resolve_images(config: PlatformConfig, clients: ClientFactory, found: Catalog) -> None:
    region = config.aws.region
    wanted: list[tuple[str, str, str, str]] = [
        ("pgbouncer", "pgbouncer.ami_parameter", config.pgbouncer.ami_parameter,
         config.pgbouncer.instance_type)]
    if config.ecs.launch_type == "ec2":
        wanted.append(("ecs-launch-template", "ecs.ec2.ami_parameter",
                       config.ecs.ec2.ami_parameter, config.ecs.ec2.instance_type))
    ec2 = clients.client("ec2", region)
    values, invalid = ssm_values(clients.client("ssm", region),
                                 sorted({name for _, _, name, _ in wanted}))
    for step, what, name, instance_type in wanted:
        if name in invalid or name not in values:
            raise CatalogError(f"{what} {name}: no such SSM parameter in {region} (AWS's public "
                               "AMI parameters are under /aws/service/)")
        image_id = values[name]
        image = ec2_image(ec2, image_id)
        if image is None or image.get("State", "available") != "available":
            raise CatalogError(f"{what} {name} points at {image_id}, which is not an "
                               f"available image in {region}")
        architectures = ec2_architectures(ec2, instance_type)
        if architectures is None:
            raise CatalogError(f"{what.rsplit('.', 1)[0]}.instance_type {instance_type}: not an "
                               f"EC2 instance type in {region}")
        arch = str(image.get("Architecture", ""))
        if arch and arch not in architectures:
            raise CatalogError(f"{what} {name} is a {arch} image ({image_id}); "
                               f"{instance_type} runs {', '.join(architectures)}")
        found.add(Resolved(what, name, image_id, (region,),
                           "ssm:GetParameters, ec2:DescribeImages", step,
                           f"image {image_id} ({image.get('Name', '?')}, {arch or '?'}) from "
                           f"{name}"))


def _alb_sites(config: PlatformConfig) -> Iterable[tuple[str, str, Any]]:
    yield "", config.aws.region, config.alb
    if config.dr.enabled and config.dr.standby.alb and config.dr.alb is not None:
        yield "dr.", config.dr.region, config.dr.alb


def _resolve_tls_policies(config: PlatformConfig, clients: ClientFactory,
                          found: Catalog) -> None:
    for prefix, region, alb in _alb_sites(config):
        listeners = [(i, listener) for i, listener in enumerate(alb.listeners)
                     if listener.ssl_policy]
        if not listeners:
            continue
        names = sorted({str(listener.ssl_policy) for _, listener in listeners})
        policies = elb_ssl_policies(clients.client("elbv2", region), names)
        for index, listener in listeners:
            what = f"{prefix}alb.listeners[{index}].ssl_policy"
            policy = (policies or {}).get(str(listener.ssl_policy))
            if policies is None and len(names) > 1:
                # One unknown name fails the whole call: ask for each to name the culprit.
                single = elb_ssl_policies(clients.client("elbv2", region),
                                          [str(listener.ssl_policy)])
                policy = (single or {}).get(str(listener.ssl_policy))
            if policy is None:
                raise CatalogError(f"{what} {listener.ssl_policy}: not an ELB security policy "
                                   f"in {region} (aws elbv2 describe-ssl-policies lists them)")
            protocols = ", ".join(sorted(policy.get("SslProtocols", []), reverse=True))
            found.add(Resolved(what, str(listener.ssl_policy), str(listener.ssl_policy),
                               (region,), "elasticloadbalancing:DescribeSSLPolicies",
                               f"{prefix}alb-listener.{listener.port}",
                               f"TLS policy {listener.ssl_policy} ({protocols or '?'})"))


def resolve(config: PlatformConfig, clients: ClientFactory) -> Catalog:
    """Resolve and validate every catalog value of ``config``; CatalogError if one is wrong."""
    found = Catalog()
    _resolve_rds(config, clients, found)
    _resolve_redis(config, clients, found)
    _resolve_images(config, clients, found)
    _resolve_tls_policies(config, clients, found)
    return found


__all__ = ["Catalog", "CatalogError", "DbNeeds", "Resolved", "check_orderable",
           "choose_version", "is_major", "major_of", "resolve", "version_key"]
