"""The timing profile: how long AWS takes per resource kind and operation (``profiles/aws.yaml``),
and, optionally, how fast its APIs answer and how many requests they take.

The figures are data kept in the repository with the source of each one; this
module only says what a valid profile looks like.  A profile that names a kind
the sandbox cannot time, or an operation a kind has no transitional state for
(an ALB has no ``deleting`` state, so no ``load_balancer.delete``), is refused
with one line rather than silently ignored: a figure that has no effect would
make a bench under the profile lie.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

Operation = Literal["create", "modify", "delete"]

#: Kind -> the operations the sandbox can time for it, and the transitional status it
#: reports (botocore's waiter acceptors keep polling on each of these; see README).
KIND_OPERATIONS: dict[str, dict[str, str]] = {
    "rds_instance": {"create": "creating", "modify": "modifying", "delete": "deleting"},
    "rds_instance_multi_az": {"create": "creating", "modify": "modifying",
                              "delete": "deleting"},
    "rds_read_replica": {"create": "creating", "modify": "modifying", "delete": "deleting"},
    "rds_cross_region_replica": {"create": "creating", "modify": "modifying",
                                 "delete": "deleting"},
    "elasticache_replication_group": {"create": "creating", "modify": "modifying",
                                      "delete": "deleting"},
    "elasticache_cache_cluster": {"create": "creating", "delete": "deleting"},
    # delete = the disabling update (InProgress), DeleteDistribution itself is immediate.
    "cloudfront_distribution": {"create": "InProgress", "modify": "InProgress",
                                "delete": "InProgress"},
    "nat_gateway": {"create": "pending", "delete": "deleting"},
    "load_balancer": {"create": "provisioning"},
    "acm_certificate": {"create": "PENDING_VALIDATION"},
    # create/modify: rolloutState IN_PROGRESS; delete: status DRAINING.
    "ecs_service": {"create": "IN_PROGRESS", "modify": "IN_PROGRESS", "delete": "DRAINING"},
}

Kind = Literal["rds_instance", "rds_instance_multi_az", "rds_read_replica",
               "rds_cross_region_replica", "elasticache_replication_group",
               "elasticache_cache_cluster", "cloudfront_distribution", "nat_gateway",
               "load_balancer", "acm_certificate", "ecs_service"]


class ProfileError(ValueError):
    """The profile file is missing or invalid; the message is one line."""


class Figure(BaseModel):
    """How long one operation takes on AWS, and where that figure comes from."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    minutes: Annotated[float, Field(gt=0, le=24 * 60)]
    source: Annotated[str, Field(min_length=5)]
    note: str | None = None

    @property
    def seconds(self) -> float:
        return self.minutes * 60


class KindTiming(BaseModel):
    """The timed operations of one kind (an operation left out stays instant)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    create: Figure | None = None
    modify: Figure | None = None
    delete: Figure | None = None

    def figure(self, operation: Operation) -> Figure | None:
        figure: Figure | None = getattr(self, operation)
        return figure


class Bucket(BaseModel):
    """One of AWS's request token buckets: ``capacity`` tokens, refilled at a rate.

    ``operations`` says which requests draw from it: ``read`` (Describe*,
    List*, Get* ..., what the sandbox journals as not mutating),
    ``mutating``, or a list of operation names (these win over the other two);
    ``all``: every request of the service draws from it as well, one bucket
    for the whole service (ELB's and Route 53's account-level buckets).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    capacity: Annotated[float, Field(ge=1)]
    refill_per_second: Annotated[float, Field(gt=0)]
    operations: (Literal["read", "mutating", "all"]
                 | Annotated[list[str], Field(min_length=1)])


class ServiceThrottling(BaseModel):
    """A service's request rate limits, as its documentation publishes them."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    source: Annotated[str, Field(min_length=5)]
    #: ``operation``: every API has its own bucket of its category's size (EC2);
    #: ``category``: the operations of a category share one bucket.
    per: Literal["operation", "category"]
    buckets: dict[str, Bucket]

    def bucket_for(self, operation: str, mutating: bool) -> tuple[str, Bucket] | None:
        """(bucket name, bucket) of ``operation``'s own category, or None (none applies)."""
        for name, bucket in self.buckets.items():
            if isinstance(bucket.operations, list) and operation in bucket.operations:
                return name, bucket
        wanted = "mutating" if mutating else "read"
        for name, bucket in self.buckets.items():
            if bucket.operations == wanted:
                return name, bucket
        return None

    def shared(self) -> list[tuple[str, Bucket]]:
        """The buckets every request of the service draws from as well."""
        return [(name, bucket) for name, bucket in self.buckets.items()
                if bucket.operations == "all"]


class Latency(BaseModel):
    """Time added to every request before the sandbox answers it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    milliseconds: Annotated[float, Field(ge=0, le=10_000)]
    source: Annotated[str, Field(min_length=5)]


class Api(BaseModel):
    """How AWS's APIs answer: latency and throttling (both optional, both real-time:
    ``--time-scale`` compresses resource transitions, not the client's request pace)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    latency: Latency | None = None
    #: Signing name (``ec2``, ``ecs`` ...) -> its documented rate limits.
    throttling: dict[Annotated[str, Field(pattern=r"^[a-z0-9-]+$")], ServiceThrottling] = {}


class Profile(BaseModel):
    """A whole profile: a description, the timed kinds and, optionally, the API's pace."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    description: Annotated[str, Field(min_length=1)]
    kinds: dict[Kind, KindTiming]
    api: Api | None = None

    @model_validator(mode="after")
    def _operations_the_sandbox_can_time(self) -> Profile:
        for kind, timing in self.kinds.items():
            allowed = KIND_OPERATIONS[kind]
            for operation in ("create", "modify", "delete"):
                if timing.figure(operation) is not None and operation not in allowed:
                    raise ValueError(
                        f"kinds.{kind}.{operation}: {kind} has no transitional state for "
                        f"{operation} on AWS; timed operations: {', '.join(allowed)}")
        return self

    def seconds(self, kind: str, operation: Operation) -> float | None:
        """AWS's duration of ``operation`` on ``kind`` in seconds, None when not profiled."""
        timing = self.kinds.get(kind)  # type: ignore[call-overload]
        figure = timing.figure(operation) if timing is not None else None
        return figure.seconds if figure is not None else None


def _one_line(error: ValidationError) -> str:
    """The first problem pydantic found, as ``where: what``."""
    first = error.errors()[0]
    # pydantic names the arm of a union it tried ("literal['read','mutating']", "list[str]")
    # and dict keys as "[key]": not part of where the problem is in the file.
    where = ".".join(str(part) for part in first["loc"] if "[" not in str(part))
    message = str(first["msg"]).removeprefix("Value error, ")
    more = len(error.errors()) - 1
    return (f"{where}: {message}" if where else message) + (
        f" (and {more} more)" if more else "")


def parse_profile(text: str, origin: str = "profile") -> Profile:
    """A validated profile from YAML text; :class:`ProfileError` names the first problem."""
    import yaml

    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        raise ProfileError(f"{origin}:{where} is not valid YAML") from None
    try:
        return Profile.model_validate(data)
    except ValidationError as exc:
        raise ProfileError(f"{origin}: {_one_line(exc)}") from None


def load_profile(path: Path) -> Profile:
    """The profile in ``path`` (see :func:`parse_profile`)."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise ProfileError(f"cannot read timing profile {path}: {exc.strerror}") from None
    return parse_profile(text, str(path))


__all__ = ["KIND_OPERATIONS", "Api", "Bucket", "Figure", "Kind", "KindTiming", "Latency",
           "Operation", "Profile", "ProfileError", "ServiceThrottling", "load_profile",
           "parse_profile"]
