"""How long AWS typically takes to create, modify and delete the resources a run waits on.

Data, kept apart from the waits that read it (:mod:`vivr_provision.wait_schedule`):
a wait polls densely near the end these figures predict.  The kind names and
figures are those of the sandbox's timing profile ``profiles/aws.yaml``, where
each figure names its source (an AWS guide page or a published measured run);
``tests/unit/test_wait_schedule.py`` fails when the two disagree, so the
product's expectation and the bench's critical path are the same numbers.
The product never reads the profile itself: it is the emulator's input.

A kind or operation not listed here answers at once on AWS (expected 0 s).
"""

from __future__ import annotations

from typing import Literal

Operation = Literal["create", "modify", "delete"]

#: kind -> operation -> typical minutes on AWS (us-east-1, the production sizes).
AWS_MINUTES: dict[str, dict[Operation, float]] = {
    # RDS User Guide; hashicorp/terraform#498 (single-AZ 5-10 min, Multi-AZ 15-20 min).
    "rds_instance": {"create": 8, "modify": 3, "delete": 6},
    "rds_instance_multi_az": {"create": 15, "modify": 5, "delete": 10},
    # RDS User Guide "Working with DB instance read replicas"; cross-region:
    # hashicorp/terraform-provider-aws#22990 (20-40 min, the snapshot crosses Regions first).
    "rds_read_replica": {"create": 12, "modify": 3, "delete": 6},
    "rds_cross_region_replica": {"create": 25, "modify": 3, "delete": 6},
    # Terraform acceptance runs of aws_elasticache_replication_group (PRs #2048, #4093).
    "elasticache_replication_group": {"create": 12, "modify": 8, "delete": 6},
    "elasticache_cache_cluster": {"create": 8, "delete": 5},
    # CloudFront Developer Guide (InProgress -> Deployed); delete = the disabling update
    # (hashicorp/terraform-provider-aws#3077: 15 min or more).
    "cloudfront_distribution": {"create": 8, "modify": 6, "delete": 15},
    # VPC User Guide "NAT gateways" (pending -> available, deleting -> deleted).
    "nat_gateway": {"create": 2, "delete": 1},
    # Elastic Load Balancing: provisioning -> active (hashicorp/terraform#24799).
    "load_balancer": {"create": 3},
    # ACM User Guide "DNS validation": PENDING_VALIDATION until the CNAME resolves.
    "acm_certificate": {"create": 4},
    # ECS Developer Guide "Service deployments": IN_PROGRESS until healthy; a rolling
    # update also drains the old tasks (deregistration delay 300 s); DRAINING on delete.
    "ecs_service": {"create": 3, "modify": 6, "delete": 2},
}


def aws_seconds(kind: str | None, operation: Operation) -> float:
    """AWS's typical seconds for ``operation`` on ``kind``; 0 when it answers at once."""
    if kind is None:
        return 0.0
    return AWS_MINUTES.get(kind, {}).get(operation, 0.0) * 60


__all__ = ["AWS_MINUTES", "Operation", "aws_seconds"]
