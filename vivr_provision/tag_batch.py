"""The tags of many resources from one call per region: Resource Groups Tagging ``GetResources``.

A no-op apply reads each resource's tags to check they are still ours and
unchanged; one list-tags call per resource (``ListTagsForResource`` for
alarms, log groups, topics ..., ``DescribeTags`` for balancers) was a third
of its calls.  ``GetResources`` with ``TagFilters`` on the ownership tags
every resource of this project and environment carries (``ManagedBy``,
``Project``, ``Environment``: not the per-step ``vivr:step``, so one call
answers every step) returns each matching resource's ARN with **all** its
tags, the per-step tag included.  The answer goes through
:class:`~vivr_provision.batch_reads.BatchReads`: each ARN is handed to each
step once, and an ARN the answer lacks is read with the service's own call.

What AWS documents, and why the use here is safe:

* Supported types.  "The GetResources, GetTagKeys, and GetTagValues
  operations support all resource types", except IAM users and roles (and
  Auto Scaling groups, which answer empty) (Resource Groups Tagging API
  reference, "Services that support the Resource Groups Tagging API").
  IAM roles are read with ``GetRole``, which carries their tags.  Route 53
  tag calls take an id; the batch knows a zone or health check by its ARN
  (:func:`route53_arn`).
* Regions.  It lists the resources of the region it is called in; global
  resources (a CloudFront distribution, ``arn:aws:cloudfront::acct:...``,
  a Route 53 hosted zone, no region in their ARNs) are listed only in
  us-east-1 (cloud-custodian PR #2729, measured with ``get_resources(
  ResourceTypeFilters=['cloudfront:distribution'])`` in both regions, and
  the same seen for hosted zones).  The batch is keyed by
  the region in the ARN, us-east-1 when it has none.  S3 bucket ARNs carry
  no region either, yet a bucket lives in one (its tags are read there):
  :func:`bucket_tags` asks the bucket's region.  Which region's answer
  lists a bucket is not documented; were it another, the bucket would be
  missing from the answer and read with ``GetBucketTagging``, as before.
* "Tagged or previously tagged" resources (GetResources, API reference):
  a resource deleted a moment ago may still be listed (AWS re:Post, "Only
  get existing resources with ResourceGroupTaggingAPI get-resources": deleted
  RDS clusters are returned).  So an answer here never says a resource
  exists: the step's own describe decides that, and only then are its tags
  taken from the batch.
* Eventually consistent.  A resource created or re-tagged a moment ago may
  be missing or listed with its old tags.  Missing: the step reads its tags
  itself.  Old tags: the step's diff shows a tag change, and the engine
  confirms every change found from a batch answer with a direct read before
  it writes anything (``ctx.reads``), so a stale answer costs a read, never
  a write.  Old tags that still look right hide a tag edited by hand within
  the propagation delay until the next run.
* Limits (botocore model, ``GetResources``): ``TagFilters`` at most 50
  keys of 20 values each (3 keys of 1 value here); ``ResourceTypeFilters``
  at most 100 entries (the services of :data:`SERVICES`; a bare service
  name matches all its types); ``ResourcesPerPage`` 1 to 100, the
  paginator's ``limit_key``; pages follow ``PaginationToken``.
* Permission: ``tag:GetResources`` (the Resource Groups user guide, "Set up
  permissions").  A caller without it is refused: the batch is then empty
  and every step reads its own tags, as before.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from vivr_provision.steps.base import MANAGED_BY, StepContext

#: The client (and IAM action prefix ``tag:``) of the Resource Groups Tagging API.
TAGGING = "resourcegroupstaggingapi"
#: Where GetResources lists resources whose ARN names no region (CloudFront).
GLOBAL_REGION = "us-east-1"
#: ``ResourcesPerPage`` maximum (API reference, GetResources: "a minimum of 1 and a
#: maximum value of 100").
PAGE_SIZE = 100
#: The ownership tags every resource of a project and environment carries.
OWNERSHIP_KEYS = ("ManagedBy", "Project", "Environment")

#: The ARN service namespaces whose resources' tags the batch answers, each with
#: the per-resource call it saves.  Also the request's ``ResourceTypeFilters``
#: (the namespace as the ARN spells it: ``elasticloadbalancing``, ``states``), so
#: the answer leaves out the EC2 resources and secrets whose descriptions carry
#: their tags.
SERVICES: Mapping[str, str] = {
    "acm": "ListTagsForCertificate",
    "backup": "ListTags (vaults, plans)",
    "cloudfront": "ListTagsForResource (distributions; global: listed in us-east-1)",
    "cloudwatch": "ListTagsForResource (alarms)",
    "ecs": "ListTagsForResource",
    "elasticache": "ListTagsForResource",
    "elasticloadbalancing": "DescribeTags (balancers, target groups, listeners)",
    "kms": "ListResourceTags (by the key's ARN)",
    "lambda": "ListTags",
    "logs": "ListTagsForResource (log groups)",
    "rds": "ListTagsForResource (subnet and parameter groups, event subscriptions)",
    "route53": "ListTagsForResource (hosted zone, health checks; global: us-east-1)",
    "s3": "GetBucketTagging",
    "scheduler": "ListTagsForResource (schedule groups)",
    "sns": "ListTagsForResource (topics)",
    "states": "ListTagsForResource (state machines)",
    "wafv2": "ListTagsForResource (web ACLs)",
}


def normalized(arn: str) -> str:
    """An ARN as the batch keys it: a log group's describe ARN ends in ``:*``, its
    tag calls and GetResources name it without."""
    return arn.removesuffix(":*")


def answers_for(arn: str) -> bool:
    """Whether the batch may hold ``arn``'s tags (an ``aws`` partition ARN of a service
    in :data:`SERVICES`); anything else is read directly."""
    parts = arn.split(":", 5)
    return len(parts) == 6 and parts[0] == "arn" and parts[1] == "aws" and parts[2] in SERVICES


def route53_arn(resource_type: str, resource_id: str) -> str:
    """A Route 53 zone's or health check's ARN (``hostedzone``/``healthcheck``, the
    ``ResourceType`` its tag calls take; Service Authorization Reference, Route 53
    resource types): ``arn:aws:route53:::hostedzone/Z1...``."""
    return f"arn:aws:route53:::{resource_type}/{resource_id.rsplit('/', 1)[-1]}"


def region_of(arn: str) -> str:
    """The region whose GetResources lists ``arn`` (us-east-1 for global ones)."""
    return arn.split(":", 5)[3] or GLOBAL_REGION


def request(tags: Mapping[str, str]) -> dict[str, Any]:
    """GetResources' parameters for the resources carrying ``tags``' ownership tags."""
    return {"TagFilters": [{"Key": key, "Values": [tags[key]]} for key in OWNERSHIP_KEYS],
            "ResourceTypeFilters": sorted(SERVICES), "ResourcesPerPage": PAGE_SIZE}


def load(client: Any, tags: Mapping[str, str]) -> dict[str, dict[str, str]]:
    """ARN -> tags of every resource in ``client``'s region that carries the
    ownership tags of ``tags``, all pages."""
    pages = client.get_paginator("get_resources").paginate(**request(tags))
    return {normalized(item["ResourceARN"]):
            {tag["Key"]: tag.get("Value", "") for tag in item.get("Tags", [])}
            for page in pages for item in page.get("ResourceTagMappingList", [])}


def batched_tags(ctx: StepContext, reader: str, arn: str, tags: Mapping[str, str],
                 region: str | None = None) -> dict[str, str] | None:
    """``arn``'s tags from its region's batch for step ``reader`` (whose ownership
    ``tags`` select the batch), or None: not a type the batch answers, not in the
    answer, or already handed to that step (the caller then reads them itself).

    Call it only for a resource the step's own describe found (the answer also
    lists resources deleted a moment ago).  ``region``: where the resource lives,
    for ARNs that do not say (S3 buckets)."""
    if not answers_for(arn):
        return None
    where = region or region_of(arn)
    if tags.get("ManagedBy") != MANAGED_BY or not all(tags.get(k) for k in OWNERSHIP_KEYS):
        return None
    key = (TAGGING, where, tags["Project"], tags["Environment"])
    item = ctx.reads.take(key, normalized(arn),
                          lambda: load(ctx.client(TAGGING, where), tags), reader)
    return None if item is None else dict(item)


def bucket_tags(ctx: StepContext, reader: str, bucket: str, region: str,
                tags: Mapping[str, str]) -> dict[str, str] | None:
    """A bucket's tags from the batch of its ``region`` (``arn:aws:s3:::bucket``; the
    ARN names no region), or None: read them with ``GetBucketTagging``.  Call it
    only for a bucket the step's own lookup found."""
    return batched_tags(ctx, reader, f"arn:aws:s3:::{bucket}", tags, region)


__all__ = ["GLOBAL_REGION", "PAGE_SIZE", "SERVICES", "TAGGING", "answers_for",
           "batched_tags", "bucket_tags", "load", "normalized", "region_of", "request",
           "route53_arn"]
