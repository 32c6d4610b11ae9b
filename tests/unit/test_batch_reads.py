"""One list call per kind answers many steps' first lookups, each item once."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from vivr_provision.batch_reads import BatchReads


def loader(items: dict[str, Any], calls: list[int]) -> Any:
    def load() -> dict[str, Any]:
        calls.append(1)
        return dict(items)
    return load


def test_one_load_serves_every_id_once_to_each_reader() -> None:
    reads, calls = BatchReads(), []
    load = loader({"subnet-1": {"SubnetId": "subnet-1"}, "subnet-2": {"SubnetId": "subnet-2"}},
                  calls)
    key = ("ec2", "us-east-1", "subnets")
    assert reads.take(key, "subnet-1", load, "subnet.a") == {"SubnetId": "subnet-1"}
    assert reads.take(key, "subnet-2", load, "subnet.b") == {"SubnetId": "subnet-2"}
    # A second read of the same id by the same step (after an update, a retry)
    # goes to AWS, never the batch; another step's first read of it is served.
    assert reads.take(key, "subnet-1", load, "subnet.a") is None
    assert reads.take(key, "subnet-1", load, "rtb.private") == {"SubnetId": "subnet-1"}
    assert len(calls) == 1 and (reads.loads, reads.served) == (1, 3)


def test_an_id_the_batch_lacks_is_read_by_the_step_itself() -> None:
    reads, calls = BatchReads(), []
    load = loader({"sg-1": {}}, calls)
    assert reads.take(("ec2", "us-east-1", "groups"), "sg-untagged", load) is None
    assert reads.take(("ec2", "us-west-2", "groups"), "sg-1", load) == {}
    assert len(calls) == 2  # one batch per region


def test_a_refused_batch_leaves_every_step_to_its_own_read() -> None:
    reads = BatchReads()

    def denied() -> dict[str, Any]:
        raise ClientError({"Error": {"Code": "UnauthorizedOperation", "Message": "no"}},
                          "DescribeSubnets")

    assert reads.take(("ec2", "us-east-1", "subnets"), "subnet-1", denied) is None
    assert reads.take(("ec2", "us-east-1", "subnets"), "subnet-2", denied) is None
    assert reads.loads == 1


def test_a_value_read_once_per_run_is_loaded_once_for_every_caller() -> None:
    reads, calls = BatchReads(), []

    def load() -> str:
        calls.append("read")
        return "value"

    assert [reads.once(("secret", "arn"), load) for _ in range(3)] == ["value"] * 3
    assert reads.once(("secret", "other"), load) == "value"
    assert calls == ["read", "read"]


def test_a_failed_once_read_is_not_kept() -> None:
    reads = BatchReads()

    def refused() -> str:
        raise RuntimeError("AccessDenied")

    with pytest.raises(RuntimeError):
        reads.once("key", refused)
    assert reads.once("key", lambda: "later") == "later"
