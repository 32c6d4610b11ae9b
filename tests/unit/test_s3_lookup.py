"""Finding buckets: one ListBuckets per run answers every bucket step, with its region.

ListBuckets lists only the caller's buckets (the ownership test) and, when
the request carries a parameter, each bucket's ``BucketRegion``: so a no-op
needs neither a ListBuckets nor a GetBucketLocation per bucket.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.unit.stubbed import StubbedAws, production_config
from vivr_provision.config import PlatformConfig
from vivr_provision.steps.base import Resource, StepContext
from vivr_provision.steps.s3 import LIST_PAGE, BucketStep, s3_steps


@pytest.fixture(scope="module")
def config() -> PlatformConfig:
    return production_config()


def _buckets(config: PlatformConfig) -> list[BucketStep]:
    return [s for s in s3_steps(config) if isinstance(s, BucketStep)]


def _entry(step: BucketStep, region: bool = True) -> dict[str, Any]:
    entry: dict[str, Any] = {"Name": step.bucket_name}
    if region:
        entry["BucketRegion"] = step.region
    return entry


def _expect_tags(aws: StubbedAws, step: BucketStep) -> None:
    aws.expect("s3", "get_bucket_tagging", {"TagSet": [
        {"Key": k, "Value": v} for k, v in step.tags().items()]},
        {"Bucket": step.bucket_name}, region=step.region)


def _expect_tag_batches(aws: StubbedAws, steps: list[BucketStep]) -> None:
    """The tag batch of each region the buckets live in, listing none of them (each
    bucket's tags are then read with GetBucketTagging, as these tests announce)."""
    for region in sorted({s.region for s in steps}):
        aws.expect_tag_batch(steps[0].tags(), region=region)


def _lookups(config: PlatformConfig, aws: StubbedAws,
             steps: list[BucketStep]) -> dict[str, Resource | None]:
    ctx: StepContext = aws.context(config, batched=True)
    return {step.name: step.lookup(ctx) for step in steps}


def test_one_listing_under_the_shared_prefix_finds_every_bucket_and_its_region(
        config: PlatformConfig) -> None:
    steps = _buckets(config)
    assert len(steps) == 6 and {s.region for s in steps} == {"us-east-1", "us-west-2"}
    aws = StubbedAws()
    _expect_tag_batches(aws, steps)
    aws.expect("s3", "list_buckets", {"Buckets": [_entry(s) for s in steps]},
               {"Prefix": "vivr-", "MaxBuckets": LIST_PAGE})
    for step in steps:
        _expect_tags(aws, step)  # in the bucket's own region; no GetBucketLocation
    with aws:
        found = _lookups(config, aws, steps)
    assert found == {s.name: Resource(s.bucket_name, {"Region": s.region, "Tags": s.tags()})
                     for s in steps}


def test_a_bucket_read_on_its_own_gives_the_same_resource_as_from_the_listing(
        config: PlatformConfig) -> None:
    step = next(s for s in _buckets(config) if s.name == "dr.s3.backups")
    aws = StubbedAws()
    _expect_tag_batches(aws, [step])
    aws.expect("s3", "list_buckets", {"Buckets": [_entry(step)]},
               {"Prefix": "vivr-", "MaxBuckets": LIST_PAGE})
    _expect_tags(aws, step)
    # The step's second lookup (after an update) reads directly, by its full name.
    aws.expect("s3", "list_buckets", {"Buckets": [_entry(step)]},
               {"Prefix": "vivr-backups-dr", "MaxBuckets": LIST_PAGE})
    _expect_tags(aws, step)
    with aws:
        ctx = aws.context(config, batched=True)
        batched, direct = step.lookup(ctx), step.lookup(ctx)
    assert batched == direct == Resource("vivr-backups-dr",
                                         {"Region": "us-west-2", "Tags": step.tags()})


def test_every_page_is_read_and_a_missing_region_is_asked_of_get_bucket_location(
        config: PlatformConfig) -> None:
    assets, temp = (next(s for s in _buckets(config) if s.name == n)
                    for n in ("s3.assets", "s3.temp"))
    aws = StubbedAws()
    _expect_tag_batches(aws, [assets, temp])
    aws.expect("s3", "list_buckets", {"Buckets": [_entry(assets, region=False)],
                                      "ContinuationToken": "page-2"},
               {"Prefix": "vivr-", "MaxBuckets": LIST_PAGE})
    aws.expect("s3", "list_buckets", {"Buckets": [_entry(temp)]},
               {"Prefix": "vivr-", "MaxBuckets": LIST_PAGE, "ContinuationToken": "page-2"})
    aws.expect("s3", "get_bucket_location", {}, {"Bucket": "vivr-assets"})  # us-east-1
    _expect_tags(aws, assets)
    _expect_tags(aws, temp)
    with aws:
        found = _lookups(config, aws, [assets, temp])
    assert {n: r.data["Region"] for n, r in found.items() if r} == {
        "s3.assets": "us-east-1", "s3.temp": "us-east-1"}


def test_a_bucket_in_no_listing_is_absent_and_nothing_else_is_read(
        config: PlatformConfig) -> None:
    step = _buckets(config)[0]
    aws = StubbedAws()
    aws.expect("s3", "list_buckets", {"Buckets": []},
               {"Prefix": "vivr-", "MaxBuckets": LIST_PAGE})
    # Not in the batch: listed on its own before it is called absent (never hidden).
    aws.expect("s3", "list_buckets", {"Buckets": []},
               {"Prefix": step.bucket_name, "MaxBuckets": LIST_PAGE})
    with aws:
        assert step.lookup(aws.context(config, batched=True)) is None
