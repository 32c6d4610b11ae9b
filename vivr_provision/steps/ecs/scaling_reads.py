"""The scaling policies on one scalable target: one DescribeScalingPolicies per run.

``ecs-autoscaling`` (the target tracking policies) and ``scaling-policy.scale-out``
(the step scaling policy, :mod:`vivr_provision.steps.monitoring`) each read the
policies on the service's scalable target.  DescribeScalingPolicies filtered by
``ServiceNamespace`` + ``ResourceId`` + ``ScalableDimension`` and no
``PolicyNames`` lists every policy on the target, so the first lookup of each
step takes its answer from one such call (:mod:`vivr_provision.batch_reads`),
keyed by (region, namespace, resource id, dimension).

Why it is safe: the listing is exactly ``ecs-autoscaling``'s own read, and the
scale-out step reads its policy directly when the listing lacks it (or on any
later lookup).  The only step that changes policies on the target before the
scale-out step's lookup is ``ecs-autoscaling``, and on apply it only puts its
own target tracking policies (registering the target again updates it in
place; it is deregistered, which deletes every policy on it, only by destroy).
"""

from __future__ import annotations

from typing import Any

from vivr_provision.steps.base import StepContext


def target_policies(client: Any, namespace: str, resource_id: str,
                    dimension: str) -> list[dict[str, Any]]:
    """Every scaling policy on the scalable target, all pages.

    Pages hold ``MaxResults`` policies (1..10, 10 by default: botocore's model) and
    the rest follows a ``NextToken``; a target holds at most 50 scaling policies
    (Application Auto Scaling User Guide, "Quotas", not adjustable): 5 pages at most.
    """
    pages = client.get_paginator("describe_scaling_policies").paginate(
        ServiceNamespace=namespace, ResourceId=resource_id, ScalableDimension=dimension)
    return [p for page in pages for p in page.get("ScalingPolicies", [])
            if p.get("ResourceId") == resource_id]


def shared_target_policies(ctx: StepContext, reader: str, region: str, *, namespace: str,
                           resource_id: str, dimension: str) -> list[dict[str, Any]] | None:
    """:func:`target_policies` from the run's one listing of the target, for ``reader``'s
    first lookup; None once ``reader`` had it (or the listing failed): read directly."""
    client = ctx.client("application-autoscaling", region)
    item = ctx.reads.take(
        ("application-autoscaling", region, namespace, resource_id, dimension), resource_id,
        lambda: {resource_id: {"ScalingPolicies": target_policies(
            client, namespace, resource_id, dimension)}},
        reader=reader)
    return None if item is None else list(item["ScalingPolicies"])
