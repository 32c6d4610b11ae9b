"""Sandbox fixes for Elastic Load Balancing v2.

Registered by :func:`vivr_sandbox.fixes.apply_moto_fixes` (see that module
for the rules: applied in the sandbox server's own process, never in the
product's code path).  Each fix's docstring says what moto 5.2.5 does, what
AWS does and why the tool needs it; its first paragraph is the line
``apply_moto_fixes`` returns.  moto is imported inside the fixes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from vivr_sandbox.fixes.patching import wrap


def _fix_elbv2_create_load_balancer_is_idempotent() -> None:
    """ELBv2: CreateLoadBalancer with the name and settings of an existing balancer
    returns that balancer (DuplicateLoadBalancerName only for other settings).

    moto 5.2.5 derives a new ARN for every call and so creates a second
    balancer of the same name.  AWS documents the call as idempotent ("If
    you attempt to create multiple load balancers with the same settings,
    each call succeeds", ELBv2 API reference, CreateLoadBalancer), which is
    what makes a create retried after a lost answer safe: measured with the
    fault proxy, the sandbox alone left a duplicate balancer behind.
    """
    from moto.elbv2.exceptions import DuplicateLoadBalancerName
    from moto.elbv2.models import ELBv2Backend

    @wrap(ELBv2Backend, "create_load_balancer")
    def create_load_balancer(original: Any, self: Any, name: str, *args: Any,
                             **params: Any) -> Any:
        existing = next((lb for lb in self.load_balancers.values() if lb.name == name), None)
        if existing is None:
            return original(self, name, *args, **params)
        subnets = set(params.get("subnet_ids") or []) | {
            m["SubnetId"] for m in params.get("subnet_mappings") or []}
        same = (existing.scheme == params.get("scheme", "internet-facing")
                and {s.id for s in existing.subnets} == subnets
                and set(existing.security_groups) == set(params.get("security_groups") or []))
        if not same:
            raise DuplicateLoadBalancerName()
        return existing


def _fix_elbv2_create_listener_is_idempotent() -> None:
    """ELBv2: CreateListener on a port the balancer already listens on returns that
    listener when the protocol is the same (DuplicateListener otherwise).

    moto 5.2.5 means to refuse a second listener on a port but looks the
    port up among listener ARNs, so it never does and creates a duplicate.
    AWS documents the call as idempotent ("If you attempt to create multiple
    listeners with the same settings, each call succeeds", ELBv2 API
    reference, CreateListener) and refuses another protocol on a taken port.
    """
    from moto.elbv2.exceptions import DuplicateListenerError
    from moto.elbv2.models import ELBv2Backend

    @wrap(ELBv2Backend, "create_listener")
    def create_listener(original: Any, self: Any, load_balancer_arn: str, protocol: str,
                        port: Any, *args: Any, **params: Any) -> Any:
        balancer = self.load_balancers.get(load_balancer_arn)
        for listener in (balancer.listeners.values() if balancer else ()):
            if str(listener.port) == str(port):
                if listener.protocol != protocol:
                    raise DuplicateListenerError()
                return listener
        return original(self, load_balancer_arn, protocol, port, *args, **params)


FIXES: list[Callable[[], None]] = [
    _fix_elbv2_create_load_balancer_is_idempotent,
    _fix_elbv2_create_listener_is_idempotent,
]
