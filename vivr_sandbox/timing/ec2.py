"""EC2 under a timing profile: NAT gateways are pending, then available; deleting, then deleted.

moto 5.2.5 reports ``available`` already in the CreateNatGateway response and
``deleted`` right after DeleteNatGateway.  On AWS a NAT gateway is
``pending`` for a minute or two and ``deleting`` for about a minute (then
``deleted``, still listed).  ``nat_gateway_available`` keeps polling on
``pending`` (it fails on failed/deleting/deleted); ``nat_gateway_deleted``
keeps polling on ``deleting``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from vivr_sandbox.fixes.patching import wrap
from vivr_sandbox.timing.attributes import time_attribute
from vivr_sandbox.timing.clock import begin

KIND = "nat_gateway"


def _time_nat_gateways() -> None:
    """EC2: NAT gateways report pending / deleting for the profile's durations."""
    from moto.ec2.models.nat_gateways import NatGateway, NatGatewayBackend

    time_attribute(NatGateway, "state")

    @wrap(NatGatewayBackend, "create_nat_gateway")
    def create_nat_gateway(original: Any, self: Any, *args: Any, **kwargs: Any) -> Any:
        gateway = original(self, *args, **kwargs)
        begin(gateway, KIND, "create", {"state": "pending"})
        return gateway

    @wrap(NatGatewayBackend, "delete_nat_gateway")
    def delete_nat_gateway(original: Any, self: Any, nat_gateway_id: str) -> Any:
        gateway = original(self, nat_gateway_id)
        begin(gateway, KIND, "delete", {"state": "deleting"})
        return gateway


#: The hooks of this module, in application order.
HOOKS: list[Callable[[], None]] = [_time_nat_gateways]
