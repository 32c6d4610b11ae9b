"""AWS's catalogs (engine versions, orderable classes, TLS policies) served by the sandbox.

moto 5.2.5 answers ``rds.describe_db_engine_versions`` with a 500
NotImplemented, returns no orderable options for ``postgres`` (only
aurora-postgresql and neptune), has no ``elasticache.describe_cache_engine_versions``
or ``describe_reserved_cache_nodes_offerings``, creates an RDS instance at any
version string (AWS: ``InvalidParameterCombination: Cannot find version 16.1
for postgres``), and silently drops unknown names from
``elbv2.describe_ssl_policies`` (AWS: ``SSLPolicyNotFound``).  The product
resolves and validates its versions, classes and policies against these
catalogs at plan time (``vivr_provision/catalog.py``), so the sandbox must
answer them the way AWS does, from data AWS publishes.

The data lives in ``catalog.json`` next to this module: the lists
cfn-lint (installed with moto) generates from AWS's own APIs
("Automatically updated using aws api" in its schema files).  Refresh it with
``python -m vivr_sandbox.catalog`` after upgrading cfn-lint; the
file records the cfn-lint version and schema date it was taken from.

What the sandbox does not model: per-region differences of RDS versions and
classes (cfn-lint's lists are the union over regions), per-class feature
limits (every listed class is orderable with every storage type and feature),
and AWS's default-version flag (the newest version stands in for it).
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

DATA_FILE = Path(__file__).with_name("catalog.json")
#: RDS engines the catalog carries (the tool provisions PostgreSQL only).
RDS_ENGINES = ("postgres",)
#: Storage types an RDS PostgreSQL instance can be ordered with.
RDS_STORAGE_TYPES = ("gp2", "gp3", "io1", "io2")
#: ElastiCache engines the catalog carries.
CACHE_ENGINES = ("redis", "valkey", "memcached")


# --------------------------------------------------------------------------- the data


@cache
def catalog() -> dict[str, Any]:
    """The catalog file, parsed once per process."""
    data: dict[str, Any] = json.loads(DATA_FILE.read_text())
    return data


def version_key(version: str) -> tuple[tuple[int, ...], str]:
    """``"16.15"`` > ``"16.9"``; ``"11.22-rds.20250508"`` sorts after ``"11.22"``."""
    base, _, suffix = version.partition("-")
    return tuple(int(p) for p in base.split(".") if p.isdigit()), suffix


def rds_versions(engine: str, *, include_deprecated: bool = False) -> list[dict[str, str]]:
    """Versions of an RDS engine, oldest first, each with its Status."""
    entry = catalog()["rds"].get(engine, {})
    rows = [{"EngineVersion": v, "Status": "available"} for v in entry.get("available", [])]
    if include_deprecated:
        rows += [{"EngineVersion": v, "Status": "deprecated"} for v in entry.get("deprecated", [])]
    return sorted(rows, key=lambda row: version_key(row["EngineVersion"]))


def rds_instance_classes(engine: str, version: str) -> list[str]:
    entry = catalog()["rds"].get(engine, {})
    set_name = entry.get("instance_classes", {}).get(version)
    return list(entry.get("class_sets", {}).get(set_name, [])) if set_name else []


def cache_versions(engine: str) -> list[str]:
    return sorted(catalog()["elasticache"].get(engine, []), key=version_key)


def cache_parameter_group_family(engine: str, version: str) -> str:
    """AWS's family names: redis7, redis6.x, redis5.0, valkey8, memcached1.6."""
    parts = version.split(".")
    if engine == "redis" and parts[0] == "6":
        return "redis6.x"
    if engine in ("redis", "memcached") and int(parts[0]) < 7:
        return f"{engine}{parts[0]}.{parts[1]}"
    if engine == "memcached":
        return f"memcached{parts[0]}.{parts[1]}"
    return f"{engine}{parts[0]}"


def cache_node_types(region: str) -> list[str]:
    return list(catalog()["elasticache_node_types"].get(region, []))


# --------------------------------------------------------------------------- refresh from cfn-lint


def _cfnlint_extensions() -> Path:
    from cfnlint.data.schemas import extensions  # type: ignore[import-untyped]

    return Path(extensions.__file__).parent


def _if_engine(block: dict[str, Any]) -> str | None:
    engine = block.get("if", {}).get("properties", {}).get("Engine", {})
    return engine.get("const") if isinstance(engine, dict) else None


def build_from_cfnlint() -> dict[str, Any]:
    """The catalog, from the JSON schemas cfn-lint generates from AWS's APIs."""
    from importlib.metadata import version as package_version

    ext = _cfnlint_extensions()
    schema_date = json.loads((ext.parent / "version.json").read_text()).get("schema_date")
    rds_dir = ext / "aws_rds_dbinstance"
    known = json.loads((rds_dir / "engine_version.json").read_text())
    deprecated = json.loads((rds_dir / "engine_version_deprecated.json").read_text())
    classes = json.loads((rds_dir / "db_instance_class.json").read_text())
    rds: dict[str, Any] = {}
    for engine in RDS_ENGINES:
        all_versions = next(b["then"]["properties"]["EngineVersion"]["enum"]
                            for b in known["allOf"] if _if_engine(b) == engine)
        old = set(next(b["if"]["properties"]["EngineVersion"]["enum"]
                       for b in deprecated["allOf"] if _if_engine(b) == engine))
        # "16" alone is how a template names a major; the API lists minors only.
        minors = [v for v in all_versions if "." in v]
        available = sorted((v for v in minors if v not in old), key=version_key)
        class_sets: dict[str, list[str]] = {}
        by_version: dict[str, str] = {}
        for block in classes["allOf"]:
            if _if_engine(block) != engine:
                continue
            pattern = block["if"]["properties"].get("EngineVersion", {}).get("pattern", "")
            wanted = sorted(block["then"]["properties"]["DBInstanceClass"]["enum"])
            for v in available:
                if pattern and re.fullmatch(pattern, v):
                    key = next((k for k, s in class_sets.items() if s == wanted), None)
                    if key is None:
                        key = f"set{len(class_sets) + 1}"
                        class_sets[key] = wanted
                    by_version[v] = key
        rds[engine] = {"available": available,
                       "deprecated": sorted((v for v in minors if v in old), key=version_key),
                       "instance_classes": by_version, "class_sets": class_sets}
    cache_dir = ext / "aws_elasticache_cachecluster"
    cache_known = json.loads((cache_dir / "engine_version.json").read_text())
    elasticache = {engine: next(b["then"]["properties"]["EngineVersion"]["enum"]
                                for b in cache_known["allOf"] if _if_engine(b) == engine)
                   for engine in CACHE_ENGINES}
    node_types = json.loads((cache_dir / "cachenodetype_enum.json").read_text())
    return {
        "_about": (
            "AWS catalogs served by the vivr sandbox (vivr_sandbox/catalog.py). "
            "Values come from cfn-lint's schema extensions, which cfn-lint generates from "
            "AWS's APIs: aws_rds_dbinstance/engine_version.json minus "
            "engine_version_deprecated.json (RDS versions AWS still creates), "
            "aws_rds_dbinstance/db_instance_class.json (classes per version), "
            "aws_elasticache_cachecluster/engine_version.json, and cachenodetype_enum.json "
            "(node types per region, from AWS's Pricing API). "
            "Regenerate: python -m vivr_sandbox.catalog"),
        "source": {"package": "cfn-lint", "version": package_version("cfn-lint"),
                   "schema_date": schema_date},
        "taken_at": datetime.now(UTC).strftime("%Y-%m-%d"),
        "rds": rds,
        "elasticache": elasticache,
        "elasticache_node_types": {region: sorted(entry["enum"])
                                   for region, entry in sorted(node_types.items())
                                   if isinstance(entry, dict)},
    }


# --------------------------------------------------------------------------- moto handlers


def _patch(owner: type, **methods: Any) -> None:
    """Set moto methods: added where moto lacks them, wrapped (the original is called)."""
    for name, method in methods.items():
        setattr(owner, name, method)


def _rds_error(code: str, message: str) -> Exception:
    from moto.rds.exceptions import RDSClientError

    return RDSClientError(code, message)


def _creatable(engine: str, version: str | None) -> str | None:
    """The version AWS would create for ``version`` (a minor, or a major: its newest)."""
    versions = [r["EngineVersion"] for r in rds_versions(engine)]
    if not version:
        return versions[-1] if versions else None
    if version in versions:
        return version
    same_major = [v for v in versions if "." not in version and v.split(".")[0] == version]
    return same_major[-1] if same_major else None


def install_rds() -> None:
    """RDS: DescribeDBEngineVersions and DescribeOrderableDBInstanceOptions (postgres)
    served from the catalog; CreateDBInstance refuses a version or class AWS does not create.
    """
    from moto.core.responses import PaginatedResult
    from moto.rds.models import RDSBackend
    from moto.rds.responses import RDSResponse

    def describe_db_engine_versions(self: Any) -> Any:
        engine = self._get_param("Engine")
        wanted = self._get_param("EngineVersion")
        family = self._get_param("DBParameterGroupFamily")
        include_all = str(self._get_param("IncludeAll", "false")).lower() == "true"
        default_only = str(self._get_param("DefaultOnly", "false")).lower() == "true"
        rows: list[dict[str, Any]] = []
        for name in RDS_ENGINES if not engine else [engine]:
            for row in rds_versions(name, include_deprecated=include_all):
                version = row["EngineVersion"]
                major = version.split(".")[0]
                if wanted and wanted not in (version, major):
                    continue
                if family and f"{name}{major}" != family:
                    continue
                rows.append({"Engine": name, "EngineVersion": version,
                             "DBParameterGroupFamily": f"{name}{major}",
                             "DBEngineDescription": "PostgreSQL",
                             "DBEngineVersionDescription": f"PostgreSQL {version}-R1",
                             "Status": row["Status"], "SupportsReadReplica": True,
                             "SupportsLogExportsToCloudwatchLogs": True,
                             "ExportableLogTypes": ["postgresql", "upgrade",
                                                    "iam-db-auth-error"]})
        if default_only and rows:
            rows = [rows[-1]]
        return PaginatedResult({"DBEngineVersions": rows})

    def orderable(self: Any, engine: str, version: str, db_class: str | None,
                  storage: str | None) -> list[dict[str, Any]]:
        zones = [{"Name": f"{self.region_name}{z}"} for z in "abc"]
        versions = [version] if version else [r["EngineVersion"] for r in rds_versions(engine)]
        options = []
        for v in versions:
            for cls in rds_instance_classes(engine, v):
                if db_class and cls != db_class:
                    continue
                for kind in RDS_STORAGE_TYPES:
                    if storage and kind != storage:
                        continue
                    options.append({
                        "Engine": engine, "EngineVersion": v, "DBInstanceClass": cls,
                        "LicenseModel": "postgresql-license", "AvailabilityZones": zones,
                        "MultiAZCapable": True, "ReadReplicaCapable": True, "Vpc": True,
                        "SupportsStorageEncryption": True, "StorageType": kind,
                        "SupportsIops": kind != "gp2", "SupportsStorageThroughput": kind == "gp3",
                        "SupportsIAMDatabaseAuthentication": True,
                        "SupportsEnhancedMonitoring": True, "SupportsPerformanceInsights": True,
                        "MinStorageSize": 20, "MaxStorageSize": 65536,
                        "SupportsStorageAutoscaling": True})
        return options

    original_orderable = RDSResponse.describe_orderable_db_instance_options

    def describe_orderable_db_instance_options(self: Any) -> Any:
        engine = self._get_param("Engine")
        if engine not in RDS_ENGINES:
            return original_orderable(self)
        options = orderable(self.backend, engine, self._get_param("EngineVersion"),
                            self._get_param("DBInstanceClass"), None)
        return PaginatedResult({"OrderableDBInstanceOptions": options})

    _patch(RDSResponse, describe_db_engine_versions=describe_db_engine_versions,
           describe_orderable_db_instance_options=describe_orderable_db_instance_options)

    original_create = RDSBackend.create_db_instance

    def create_db_instance(self: Any, db_kwargs: dict[str, Any]) -> Any:
        engine = db_kwargs.get("engine")
        if engine in RDS_ENGINES and not db_kwargs.get("db_cluster_identifier"):
            asked = db_kwargs.get("engine_version")
            version = _creatable(engine, asked)
            if version is None:
                raise _rds_error("InvalidParameterCombination",
                                 f"Cannot find version {asked} for {engine}")
            db_class = db_kwargs.get("db_instance_class")
            storage = db_kwargs.get("storage_type") or "gp2"
            if not orderable(self, engine, version, db_class, storage):
                raise _rds_error(
                    "InvalidParameterCombination",
                    "RDS does not support creating a DB instance with the following "
                    f"combination: DBInstanceClass={db_class}, Engine={engine}, "
                    f"EngineVersion={version}, LicenseModel=postgresql-license.")
            db_kwargs = {**db_kwargs, "engine_version": version}
        return original_create(self, db_kwargs)

    _patch(RDSBackend, create_db_instance=create_db_instance)


def install_elasticache() -> None:
    """ElastiCache: DescribeCacheEngineVersions and DescribeReservedCacheNodesOfferings
    served from the catalog; CreateReplicationGroup refuses a version AWS does not create.
    """
    from moto.core.responses import PaginatedResult
    from moto.elasticache.exceptions import ElastiCacheException
    from moto.elasticache.models import ElastiCacheBackend
    from moto.elasticache.responses import ElastiCacheResponse

    def describe_cache_engine_versions(self: Any) -> Any:
        engine = self._get_param("Engine")
        wanted = self._get_param("EngineVersion")
        family = self._get_param("CacheParameterGroupFamily")
        rows = []
        for name in CACHE_ENGINES if not engine else [engine]:
            for version in cache_versions(name):
                this_family = cache_parameter_group_family(name, version)
                if (wanted and version != wanted) or (family and this_family != family):
                    continue
                rows.append({"Engine": name, "EngineVersion": version,
                             "CacheParameterGroupFamily": this_family,
                             "CacheEngineDescription": name.capitalize(),
                             "CacheEngineVersionDescription": f"{name} {version}"})
        return PaginatedResult({"CacheEngineVersions": rows})

    def describe_reserved_cache_nodes_offerings(self: Any) -> Any:
        node_type = self._get_param("CacheNodeType")
        product = self._get_param("ProductDescription")
        offered = cache_node_types(self.region)
        rows = []
        for kind in offered if not node_type else [t for t in offered if t == node_type]:
            for description in (("redis", "valkey", "memcached") if not product
                                else (product,)):
                rows.append({"ReservedCacheNodesOfferingId": f"{self.region}-{kind}-{description}",
                             "CacheNodeType": kind, "Duration": 31536000,
                             "ProductDescription": description,
                             "OfferingType": "No Upfront"})
        return PaginatedResult({"ReservedCacheNodesOfferings": rows})

    _patch(ElastiCacheResponse, describe_cache_engine_versions=describe_cache_engine_versions,
           describe_reserved_cache_nodes_offerings=describe_reserved_cache_nodes_offerings)

    original_create = ElastiCacheBackend.create_replication_group

    def create_replication_group(self: Any, *args: Any, **kwargs: Any) -> Any:
        engine = kwargs.get("engine") or "redis"
        version = kwargs.get("engine_version")
        if version and engine in CACHE_ENGINES and version not in cache_versions(engine):
            raise ElastiCacheException(
                "InvalidParameterCombination",
                f"Cannot find version {version} for {engine}")
        return original_create(self, *args, **kwargs)

    _patch(ElastiCacheBackend, create_replication_group=create_replication_group)


#: ELB's FIPS post-quantum security policies (September 2025), which moto 5.2.5's
#: list lacks; each is its non-FIPS ``-PQ-`` sibling (which moto has) without
#: ChaCha20-Poly1305, the one cipher of those lists that is not FIPS-approved (ELB
#: User Guide, "Security policies for your Application Load Balancer": the FIPS
#: policies offer AES-GCM only).  Name -> sibling.
FIPS_PQ_POLICIES = {
    "ELBSecurityPolicy-TLS13-1-2-FIPS-PQ-2025-09": "ELBSecurityPolicy-TLS13-1-2-PQ-2025-09",
    "ELBSecurityPolicy-TLS13-1-2-Res-FIPS-PQ-2025-09":
        "ELBSecurityPolicy-TLS13-1-2-Res-PQ-2025-09",
    "ELBSecurityPolicy-TLS13-1-2-Ext1-FIPS-PQ-2025-09":
        "ELBSecurityPolicy-TLS13-1-2-Ext1-PQ-2025-09",
    "ELBSecurityPolicy-TLS13-1-2-Ext2-FIPS-PQ-2025-09":
        "ELBSecurityPolicy-TLS13-1-2-Ext2-PQ-2025-09",
    "ELBSecurityPolicy-TLS13-1-3-FIPS-PQ-2025-09": "ELBSecurityPolicy-TLS13-1-3-PQ-2025-09",
}


def install_elbv2() -> None:
    """ELBv2: DescribeSslPolicies with an unknown name answers SSLPolicyNotFound, and
    the FIPS post-quantum policies exist.

    moto 5.2.5 drops unknown names and answers with the known ones (or none),
    and knows no ``-FIPS-PQ-`` policy (:data:`FIPS_PQ_POLICIES`), so a listener
    could not be validated with the policy AWS recommends for FIPS endpoints.
    """
    from moto.elbv2.exceptions import ELBClientError
    from moto.elbv2.responses import ELBV2Response
    from moto.elbv2.ssl_policies import SSL_POLICIES

    for name, sibling in FIPS_PQ_POLICIES.items():
        if name not in SSL_POLICIES and sibling in SSL_POLICIES:
            base = SSL_POLICIES[sibling]
            SSL_POLICIES[name] = {
                **base, "name": name,
                "ciphers": [c for c in base["ciphers"] if "CHACHA20" not in c]}

    original = ELBV2Response.describe_ssl_policies

    def describe_ssl_policies(self: Any) -> Any:
        unknown = [n for n in self._get_param("Names", []) or [] if n not in SSL_POLICIES]
        if unknown:
            raise ELBClientError("SSLPolicyNotFound",
                                 f"One or more specified SSL policies not found: {unknown[0]}")
        return original(self)

    _patch(ELBV2Response, describe_ssl_policies=describe_ssl_policies)


#: What ``apply_moto_fixes`` installs: the catalogs moto does not serve.
FIXES: list[Callable[[], None]] = [install_rds, install_elasticache, install_elbv2]


def main(argv: list[str] | None = None) -> None:
    """Rewrite the data file from the installed cfn-lint."""
    del argv
    data = build_from_cfnlint()
    DATA_FILE.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
    print(f"{DATA_FILE}: cfn-lint {data['source']['version']} "
          f"(schema {data['source']['schema_date']})", file=sys.stderr)


if __name__ == "__main__":
    main()
