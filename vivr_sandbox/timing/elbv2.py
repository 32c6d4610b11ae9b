"""ELBv2 under a timing profile: a load balancer is provisioning for AWS's duration.

moto 5.2.5 already says ``provisioning`` in the CreateLoadBalancer response
and ``active`` from the first describe.  On AWS an ALB is ``provisioning``
for a few minutes.  ``load_balancer_available`` retries on ``provisioning``.
A deleted load balancer has no transitional state in the ELBv2 API (describe
answers LoadBalancerNotFound), so deletes stay immediate.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from vivr_sandbox.fixes.patching import wrap
from vivr_sandbox.timing.attributes import time_attribute
from vivr_sandbox.timing.clock import begin

KIND = "load_balancer"


def _time_load_balancers() -> None:
    """ELBv2: load balancers report provisioning for the profile's create duration."""
    from moto.elbv2.models import ELBv2Backend, FakeLoadBalancer

    time_attribute(FakeLoadBalancer, "state")

    @wrap(ELBv2Backend, "create_load_balancer")
    def create_load_balancer(original: Any, self: Any, *args: Any, **kwargs: Any) -> Any:
        balancer = original(self, *args, **kwargs)
        begin(balancer, KIND, "create", {"state": "provisioning"})
        return balancer


#: The hooks of this module, in application order.
HOOKS: list[Callable[[], None]] = [_time_load_balancers]
