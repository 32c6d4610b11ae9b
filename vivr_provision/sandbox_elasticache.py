"""Sandbox fix: ElastiCache reports the ReaderEndpoint of a cluster-mode-disabled group.

Registered from :func:`vivr_provision.sandbox_compat.apply_moto_fixes` (see that
module for the rules: fixes live in the sandbox's own process, the product
never learns it talks to an emulator).
"""

from __future__ import annotations

from typing import Any


def fix_elasticache_reader_endpoint() -> None:
    """ElastiCache: describe_replication_groups reports NodeGroups[].ReaderEndpoint for
    cluster-mode-disabled groups.

    moto 5.2.5 computes the reader address of such a group
    (``replica.<group>...``) but never serialises it, so the node group has a
    PrimaryEndpoint and no ReaderEndpoint.  AWS reports both for a Redis
    group with cluster mode disabled (botocore model ``NodeGroup.ReaderEndpoint``:
    "The endpoint of the replica nodes in this node group (shard)"; the
    ElastiCache guide "Finding connection endpoints": the reader endpoint
    spreads connections over the read replicas).  An application configured
    from it reads the replicas; without the fix such a config could not be
    applied in the sandbox.  The fix exposes moto's own reader address.
    """
    from moto.elasticache.models import ReplicationGroup

    from vivr_provision.sandbox_compat import _wrap

    @_wrap(ReplicationGroup, "__init__")
    def init(original: Any, self: Any, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        for node_group in self.node_groups:
            address = node_group.get("reader_endpoint_address")
            if address and "reader_endpoint" not in node_group:
                node_group["reader_endpoint"] = {"address": address,
                                                 "port": node_group.get("port", self.port)}
