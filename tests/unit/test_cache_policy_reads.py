"""The cache policies' first reads from one ``ListCachePolicies(Type=custom)`` per run.

The listing carries each policy's whole config (``CachePolicyList.Items[].CachePolicy``)
but no ETag: each step's data is the direct read's with ``ETag`` None, so its diff
is the same, and a write still sends the ETag of a ``GetCachePolicy`` it makes
first.  A policy the listing lacks, or a second read, is read by ``GetCachePolicy``;
a kind configured once (the origin request policy) is read by ``Get`` alone.
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.unit.stubbed import StubbedAws, Unbatched, production_config
from vivr_provision.config import PlatformConfig
from vivr_provision.steps import build_steps
from vivr_provision.steps.base import Resource
from vivr_provision.steps.cloudfront.policies import CachePolicyStep, OriginRequestPolicyStep

MODIFIED = datetime(2026, 12, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def config() -> PlatformConfig:
    return production_config()


def _cache_steps(config: PlatformConfig) -> list[CachePolicyStep]:
    return [s for s in build_steps(config) if isinstance(s, CachePolicyStep)]


def _body(step: CachePolicyStep, policy_id: str, **edits: Any) -> dict[str, Any]:
    return {"Id": policy_id, "LastModifiedTime": MODIFIED,
            "CachePolicyConfig": {**step.desired_config(), **edits}}


def _listing(bodies: list[dict[str, Any]], marker: str | None = None) -> dict[str, Any]:
    page: dict[str, Any] = {"MaxItems": 100, "Quantity": len(bodies),
                            "Items": [{"Type": "custom", "CachePolicy": copy.deepcopy(b)}
                                      for b in bodies]}
    if marker:
        page["NextMarker"] = marker
    return {"CachePolicyList": page}


def _expect_get(aws: StubbedAws, body: dict[str, Any], etag: str) -> None:
    aws.expect("cloudfront", "get_cache_policy",
               {"CachePolicy": copy.deepcopy(body), "ETag": etag}, {"Id": body["Id"]})


def test_production_declares_several_cache_policies_and_one_request_policy(
        config: PlatformConfig) -> None:
    """What makes the listing pay for cache policies and not for the other kind."""
    assert len(_cache_steps(config)) >= 2
    assert len(config.cloudfront.origin_request_policies) == 1


def test_one_listing_answers_every_cache_policy_with_the_direct_reads_data(
        config: PlatformConfig) -> None:
    steps = _cache_steps(config)
    bodies = [_body(step, f"id-{i}") for i, step in enumerate(steps)]
    drifted = _body(steps[0], "id-0", MaxTTL=60)
    with StubbedAws() as aws:
        direct = aws.context(config, batched=True)
        direct.reads = Unbatched()
        for body in (drifted, *bodies[1:]):
            _expect_get(aws, body, "E1")
        expected = [step.find(direct, body["Id"]) for step, body in zip(steps, bodies,
                                                                        strict=True)]
        # Pages follow NextMarker; only custom policies are asked for.
        aws.expect("cloudfront", "list_cache_policies",
                   _listing([drifted], marker="page-2"), {"Type": "custom"})
        aws.expect("cloudfront", "list_cache_policies", _listing(bodies[1:]),
                   {"Type": "custom", "Marker": "page-2"})
        ctx = aws.context(config, batched=True)
        listed = [step.find(ctx, body["Id"]) for step, body in zip(steps, bodies, strict=True)]
    assert ctx.reads.loads == 1
    for step, got, want in zip(steps, listed, expected, strict=True):
        assert got is not None and want is not None
        assert got.id == want.id
        assert got.data == {**want.data, "ETag": None}  # same keys; the listing has no ETag
        assert step.diff(ctx, got) == step.diff(direct, want)
    assert [c.field for c in steps[0].diff(ctx, listed[0])] == ["MaxTTL"]


def test_a_policy_the_listing_lacks_and_a_second_read_are_read_by_get(
        config: PlatformConfig) -> None:
    steps = _cache_steps(config)
    first, second = _body(steps[0], "id-0"), _body(steps[1], "id-1")
    with StubbedAws() as aws:
        ctx = aws.context(config, batched=True)
        aws.expect("cloudfront", "list_cache_policies", _listing([first]), {"Type": "custom"})
        assert steps[0].find(ctx, "id-0") is not None
        _expect_get(aws, second, "E7")  # made after the listing: not in it
        found = steps[1].find(ctx, "id-1")
        assert found is not None and found.data["ETag"] == "E7"
        _expect_get(aws, first, "E8")  # the engine's confirming read, or a re-read
        again = steps[0].find(ctx, "id-0")
        assert again is not None and again.data["ETag"] == "E8"
        # Deleted since the state recorded it: Get says so, then the name is looked for.
        aws.expect_error("cloudfront", "get_cache_policy", "NoSuchCachePolicy",
                         params={"Id": "id-gone"}, status=404)
        aws.expect("cloudfront", "list_cache_policies", _listing([first]), {"Type": "custom"})
        assert steps[1].find(ctx, "id-gone") is None


def test_a_write_after_a_listed_read_sends_the_etag_of_a_fresh_get(
        config: PlatformConfig) -> None:
    steps = _cache_steps(config)
    step = steps[0]
    desired = _body(step, "id-0")
    drifted = _body(step, "id-0", MaxTTL=60)
    with StubbedAws() as aws:
        ctx = aws.context(config, batched=True)
        aws.expect("cloudfront", "list_cache_policies",
                   _listing([drifted, _body(steps[1], "id-1")]), {"Type": "custom"})
        listed = step.find(ctx, "id-0")
        assert listed is not None and listed.data["ETag"] is None
        changes = step.diff(ctx, listed)
        _expect_get(aws, drifted, "E2")
        aws.expect("cloudfront", "update_cache_policy", {"CachePolicy": desired, "ETag": "E3"},
                   {"Id": "id-0", "IfMatch": "E2", "CachePolicyConfig": step.desired_config()})
        _expect_get(aws, desired, "E3")
        updated = step.update(ctx, listed, changes)
    assert updated.data == {"Config": desired["CachePolicyConfig"], "ETag": "E3"}


def test_a_kind_configured_once_is_read_by_get_alone(config: PlatformConfig) -> None:
    """One origin request policy: a listing would cost the same call."""
    [step] = [s for s in build_steps(config) if isinstance(s, OriginRequestPolicyStep)]
    body = {"Id": "orp-1", "LastModifiedTime": MODIFIED,
            "OriginRequestPolicyConfig": step.desired_config()}
    with StubbedAws() as aws:
        ctx = aws.context(config, batched=True)
        aws.expect("cloudfront", "get_origin_request_policy",
                   {"OriginRequestPolicy": body, "ETag": "E1"}, {"Id": "orp-1"})
        found = step.find(ctx, "orp-1")
    assert found == Resource("orp-1", {"Config": step.desired_config(), "ETag": "E1"})
    assert ctx.reads.loads == 0
