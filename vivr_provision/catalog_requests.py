"""The catalog questions a config asks, as :class:`~vivr_provision.catalog.Request`\\ s.

One request per thing a create sends that AWS's catalog must accept (the
RDS engine version, each instance's class, each cache's engine version,
each AMI parameter, each site's TLS policies), named after the step(s) it
validates so it is asked only when one of them is about to be created or
changed (:meth:`Catalog.demand`).  The describe calls are thin wrappers;
the rules they feed are in :mod:`vivr_provision.catalog`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from vivr_provision import aws_errors
from vivr_provision.aws import ClientFactory, error_code
from vivr_provision.catalog import (
    Catalog,
    CatalogError,
    DbNeeds,
    Request,
    Resolved,
    check_orderable,
    choose_version,
    is_major,
    major_of,
    version_key,
)
from vivr_provision.config import PlatformConfig
from vivr_provision.config.data import RedisConfig
from vivr_provision.config.dr_redis import standby_redis
from vivr_provision.state import CatalogRecord


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



# --------------------------------------------------------------------------- RDS

RDS_VERSION = "rds.engine_version"


def _regions_of_rds(config: PlatformConfig) -> tuple[str, ...]:
    primary = config.aws.region
    others = sorted({r.region for r in config.rds.read_replicas} - {primary})
    return (primary, *others)


def _db_instances(config: PlatformConfig) -> list[tuple[str, str, str, str, DbNeeds]]:
    """(step, what, instance class, region, needs) of every RDS instance of ``config``."""
    rds = config.rds

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
    return instances


def _rds_version(config: PlatformConfig, clients: ClientFactory) -> Callable[[Catalog], None]:
    """The engine version every region that will hold an instance creates (the
    cross-region replica is created at the primary's version)."""
    def ask(found: Catalog) -> None:
        rds = config.rds
        regions = _regions_of_rds(config)
        major = major_of(rds.engine_version)
        per_region = {r: rds_creatable_versions(clients.client("rds", r), rds.engine, major)
                      for r in regions}
        both = [v for v in per_region[regions[0]] if all(v in per_region[r] for r in regions)]
        where = " and ".join(regions)
        version = choose_version(RDS_VERSION, rds.engine_version, both, where)
        if is_major(rds.engine_version):
            why = f"the newest {major}.x RDS creates in {where}"
        else:
            why = f"pinned; newest creatable {major}.x in {where} is {both[-1]}"
        found.add(Resolved(RDS_VERSION, rds.engine_version, version, regions,
                           "rds:DescribeDBEngineVersions", f"rds.{rds.identifier}",
                           f"engine {rds.engine} {version} ({why}; config "
                           f"{rds.engine_version!r})"))
    return ask


def _rds_orderable(config: PlatformConfig, clients: ClientFactory, *, step: str, what: str,
                   instance_class: str, region: str, need: DbNeeds
                   ) -> Callable[[Catalog], None]:
    def ask(found: Catalog) -> None:
        engine = config.rds.engine
        version = found.values[RDS_VERSION].value
        options = rds_orderable_options(clients.client("rds", region), engine, version,
                                        instance_class)
        check_orderable(what, instance_class, engine=engine, version=version, where=region,
                        needs=need, options=options)
        features = [need.storage_type] + (["Multi-AZ"] if need.multi_az else [])
        found.add(Resolved(f"{what}@{region}", instance_class, instance_class, (region,),
                           "rds:DescribeOrderableDBInstanceOptions", step,
                           f"{instance_class} is orderable with {engine} {version}, "
                           f"{', '.join(features)} in {region}"))
    return ask


def _rds_requests(config: PlatformConfig, clients: ClientFactory) -> list[Request]:
    instances = _db_instances(config)
    requests = [Request(RDS_VERSION, tuple(step for step, *_ in instances),
                        {RDS_VERSION: config.rds.engine_version}, _rds_version(config, clients))]
    for step, what, instance_class, region, need in instances:
        key = f"{what}@{region}"
        requests.append(Request(key, (step,), {key: instance_class}, _rds_orderable(
            config, clients, step=step, what=what, instance_class=instance_class,
            region=region, need=need), after=(RDS_VERSION,)))
    return requests


# --------------------------------------------------------------------------- ElastiCache


def _redis_sites(config: PlatformConfig) -> Iterable[tuple[str, str, RedisConfig]]:
    """(step prefix, region, config) of each cache: the primary and the DR standby."""
    yield "", config.aws.region, config.redis
    standby = standby_redis(config)
    if standby is not None:
        yield "dr.", config.dr.region, standby


def _site_redis(prefix: str, region: str, redis: RedisConfig, clients: ClientFactory
                ) -> Callable[[Catalog], None]:
    """One cache's engine version (key ``<prefix>redis.engine_version``) in its own region."""
    def ask(found: Catalog) -> None:
        client = clients.client("elasticache", region)
        families = cache_engine_versions(client, redis.engine)
        major = major_of(redis.engine_version)
        creatable = sorted((v for v in families if major_of(v) == major), key=version_key)
        version = choose_version("redis.engine_version", redis.engine_version, creatable,
                                 region)
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
    return ask


def _redis_requests(config: PlatformConfig, clients: ClientFactory) -> list[Request]:
    return [Request(f"{prefix}redis.engine_version", (f"{prefix}cache",),
                    {f"{prefix}redis.engine_version": redis.engine_version},
                    _site_redis(prefix, region, redis, clients))
            for prefix, region, redis in _redis_sites(config)]


# --------------------------------------------------------------------------- AMIs


def _image(config: PlatformConfig, clients: ClientFactory, *, step: str, what: str,
           name: str, instance_type: str) -> Callable[[Catalog], None]:
    """The image behind a public SSM parameter, available and bootable by the type."""
    def ask(found: Catalog) -> None:
        region = config.aws.region
        ec2 = clients.client("ec2", region)
        values, invalid = ssm_values(clients.client("ssm", region), [name])
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
    return ask


def _image_requests(config: PlatformConfig, clients: ClientFactory) -> list[Request]:
    wanted: list[tuple[str, str, str, str]] = [
        ("pgbouncer", "pgbouncer.ami_parameter", config.pgbouncer.ami_parameter,
         config.pgbouncer.instance_type)]
    if config.ecs.launch_type == "ec2":
        wanted.append(("ecs-launch-template", "ecs.ec2.ami_parameter",
                       config.ecs.ec2.ami_parameter, config.ecs.ec2.instance_type))
    return [Request(what, (step,), {what: name}, _image(config, clients, step=step, what=what,
                                                        name=name, instance_type=kind))
            for step, what, name, kind in wanted]


# --------------------------------------------------------------------------- TLS policies


def _alb_sites(config: PlatformConfig) -> Iterable[tuple[str, str, Any]]:
    yield "", config.aws.region, config.alb
    if config.dr.enabled and config.dr.standby.alb and config.dr.alb is not None:
        yield "dr.", config.dr.region, config.dr.alb


def _site_tls(prefix: str, region: str, listeners: list[tuple[int, Any]],
              clients: ClientFactory) -> Callable[[Catalog], None]:
    """Every TLS policy of one site's listeners, in one DescribeSSLPolicies."""
    def ask(found: Catalog) -> None:
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
    return ask


def _tls_requests(config: PlatformConfig, clients: ClientFactory) -> list[Request]:
    requests = []
    for prefix, region, alb in _alb_sites(config):
        listeners = [(i, listener) for i, listener in enumerate(alb.listeners)
                     if listener.ssl_policy]
        if listeners:
            requests.append(Request(
                f"{prefix}alb.ssl_policies",
                tuple(f"{prefix}alb-listener.{listener.port}" for _, listener in listeners),
                {f"{prefix}alb.listeners[{i}].ssl_policy": str(listener.ssl_policy)
                 for i, listener in listeners},
                _site_tls(prefix, region, listeners, clients)))
    return requests


# --------------------------------------------------------------------------- the catalog


def lazy(config: PlatformConfig, clients: ClientFactory,
         recorded: Mapping[str, CatalogRecord] | None = None) -> Catalog:
    """A catalog that asks AWS only what a step about to change needs (nothing yet)."""
    requests = [*_rds_requests(config, clients), *_redis_requests(config, clients),
                *_image_requests(config, clients), *_tls_requests(config, clients)]
    return Catalog(requests={r.name: r for r in requests}, recorded=dict(recorded or {}))


def resolve(config: PlatformConfig, clients: ClientFactory) -> Catalog:
    """Resolve and validate every catalog value of ``config``; CatalogError if one is wrong."""
    found = lazy(config, clients)
    found.demand_all()
    return found


__all__ = ["lazy", "resolve"]
