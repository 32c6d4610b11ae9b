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
touched, one line naming the newest valid value).

Each of these is one :class:`Request`, asked only for the steps that are
about to create or change their resource (and then once per run): before
the walk for every step state does not record as built (so a create fails
before anything is touched, as a fresh ``plan`` shows), after ``plan``'s
walk for every step it shows changing, and by the step itself right before
it creates or updates (``Catalog.demand``).  A no-op apply asks nothing:
what was validated when the resource was made is recorded in state.  The resolved values go to
the steps through ``StepContext.catalog``, to the operator as step notes and
to the state file (``State.catalog``) on apply.  ``status`` never calls this.

The rules here are pure functions over the describe calls' results, so
they can be tested without AWS; the calls and the requests built from the
config are in :mod:`vivr_provision.catalog_requests`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

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


@dataclass(frozen=True)
class Request:
    """One question to AWS's catalogs: the values it gives and the steps whose create or
    change it validates (each asked at most once per run)."""

    name: str
    #: The steps it validates: asked when one of them is about to create or change.
    steps: tuple[str, ...]
    #: The :class:`Resolved` keys it adds (a step's ``value(key)`` asks it), each with
    #: what the config requests there (its record's ``requested``).
    keys: Mapping[str, str]
    #: Reads AWS and adds to the catalog, or raises CatalogError.
    ask: Callable[[Catalog], None]
    #: Requests whose values it uses, asked first.
    after: tuple[str, ...] = ()


@dataclass
class Catalog:
    """What resolution found; empty when nothing was resolved (unit tests, ``status``).

    With :attr:`requests` it resolves lazily: :meth:`demand` (a step about to
    change) and :meth:`value` (a value a create sends) ask what is not asked
    yet; thread-safe, each request at most once per run (a refusal included).
    """

    values: dict[str, Resolved] = field(default_factory=dict)
    #: Extra lines per step that are not one value (a node type AWS does not list).
    remarks: dict[str, list[str]] = field(default_factory=dict)
    #: The questions this config asks, by name (none: nothing to resolve).
    requests: dict[str, Request] = field(default_factory=dict)
    #: What the state recorded at the last resolution (notes when not asked this run).
    recorded: Mapping[str, CatalogRecord] = field(default_factory=dict)
    _answers: dict[str, CatalogError | None] = field(default_factory=dict, repr=False)
    _lock: threading.RLock = field(default_factory=threading.RLock, repr=False,
                                   compare=False)

    def add(self, resolved: Resolved) -> None:
        self.values[resolved.key] = resolved

    def remark(self, step: str, line: str) -> None:
        self.remarks.setdefault(step, []).append(line)

    # -- asking ---------------------------------------------------------------
    def ask(self, name: str) -> None:
        """Resolve request ``name`` (and what it needs) unless done; CatalogError if refused."""
        with self._lock:
            if name in self._answers:
                refused = self._answers[name]
                if refused is not None:
                    raise refused
                return
            request = self.requests[name]
            for first in request.after:
                self.ask(first)
            try:
                request.ask(self)
            except CatalogError as exc:
                self._answers[name] = exc
                raise
            self._answers[name] = None

    def demand(self, steps: Iterable[str]) -> None:
        """Validate what ``steps`` (about to be created or changed) send."""
        wanted = set(steps)
        for request in list(self.requests.values()):
            if wanted.intersection(request.steps):
                self.ask(request.name)

    def changed(self) -> list[str]:
        """Requests whose config value is not what state recorded as validated (the
        config changed since, or nothing was recorded): asked before the walk, so a
        value AWS refuses stops the run before anything is touched."""
        return [r.name for r in self.requests.values()
                if any((record := self.recorded.get(key)) is None or record.requested != wanted
                       for key, wanted in r.keys.items())]

    def demand_all(self) -> None:
        for name in list(self.requests):
            self.ask(name)

    def asked(self) -> list[str]:
        """The requests asked so far (for tests and the run's counts)."""
        with self._lock:
            return sorted(self._answers)

    def value(self, key: str, default: str) -> str:
        """The resolved value (asking for it if a request gives it), or ``default`` (the
        config's) when nothing resolves it."""
        if key not in self.values:
            for request in list(self.requests.values()):
                if key in request.keys:
                    self.ask(request.name)
        found = self.values.get(key)
        return found.value if found is not None else default

    def known(self, key: str) -> tuple[str, str] | None:
        """``(value, when)``: resolved this run (``"now"``) or as state recorded it at the
        last resolution (``"when last asked, <date>"``); None when neither."""
        if key in self.values:
            return self.values[key].value, "now"
        record = self.recorded.get(key)
        if record is None:
            return None
        return record.value, f"when last asked ({record.resolved_at[:10]})"

    def notes_for(self, step: str) -> list[str]:
        lines = [r.note for r in self.values.values() if r.step == step]
        return lines + self.remarks.get(step, [])

    # -- recording ------------------------------------------------------------
    def records(self) -> dict[str, CatalogRecord]:
        """What the state file keeps: every resolved value with its source and time."""
        now = utc_now()
        return {key: CatalogRecord(**r.record(), resolved_at=now)
                for key, r in sorted(self.values.items())}

    def merge_into(self, state: State) -> bool:
        """Record these values in ``state``; True when anything changed.

        A value resolved as before keeps its first ``resolved_at``, so a
        re-apply that changes nothing leaves the file as it was.  A value this
        run did not ask for keeps its record while the config still asks it.
        """
        known = {key for request in self.requests.values() for key in request.keys}
        merged = {key: old for key, old in state.catalog.items() if key in known}
        for key, fresh in self.records().items():
            old = state.catalog.get(key)
            same = old is not None and old.model_dump(exclude={"resolved_at"}) == \
                fresh.model_dump(exclude={"resolved_at"})
            merged[key] = old if same and old is not None else fresh
        merged = dict(sorted(merged.items()))
        if merged == state.catalog:
            return False
        state.catalog = merged
        return True


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


__all__ = ["Catalog", "CatalogError", "DbNeeds", "Request", "Resolved", "check_orderable",
           "choose_version", "is_major", "major_of", "version_key"]
