"""Sandbox fixes for Elastic Load Balancing v2.

Registered by :func:`vivr_sandbox.fixes.apply_moto_fixes` (see that module
for the rules: applied in the sandbox server's own process, never in the
product's code path).  Each fix's docstring says what moto 5.2.5 does, what
AWS does and why the tool needs it; its first paragraph is the line
``apply_moto_fixes`` returns.  moto is imported inside the fixes.
"""

from __future__ import annotations

import fnmatch
import json
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


def _fix_elbv2_ecs_targets_are_registered() -> None:
    """ELBv2: a target group an ECS service registers with reports the service's running
    tasks as healthy targets.

    moto 5.2.5 runs no tasks, so an ECS service's ``loadBalancers`` registers
    nothing and DescribeTargetHealth answers an empty list forever.  On AWS
    the scheduler registers each running task's IP (``target_type: ip``) and
    the group reports it ``healthy`` after its health checks pass.  ``dr
    promote`` scales the standby service and waits for that many healthy
    targets, which could never happen here.  The fix answers, for a group
    with no targets of its own, one healthy IP target per running task of
    every service in the same account and region that names the group.
    """
    from moto.ecs.models import ecs_backends
    from moto.elbv2.models import ELBv2Backend, FakeHealthStatus

    @wrap(ELBv2Backend, "describe_target_health")
    def describe_target_health(original: Any, self: Any, target_group_arn: str,
                               targets: list[dict[str, Any]]) -> Any:
        found = original(self, target_group_arn, targets)
        if found or targets:
            return found
        group = self.target_groups[target_group_arn]
        running = sum(
            service.running_count
            for service in ecs_backends[self.account_id][self.region_name].services.values()
            if any(lb.get("targetGroupArn") == target_group_arn
                   for lb in service.load_balancers or []))
        port = str(group.port)
        return [FakeHealthStatus(f"10.0.{n // 250}.{n % 250 + 4}", port, port, "healthy")
                for n in range(running)]


#: Who may write ALB access logs: the log-delivery service principal (every region)
#: or a region's legacy ELB account (``arn:aws:iam::<elb account>:root``).
ELB_LOG_DELIVERY = "logdelivery.elasticloadbalancing.amazonaws.com"


def _admits_elb(policy: bytes | None, key: str) -> bool:
    """Whether an Allow statement lets ELB's log delivery put ``key`` (Action and
    Resource matched with their wildcards; conditions are not evaluated)."""
    document = json.loads(policy.decode()) if policy else {}
    statements = document.get("Statement", [])
    for statement in statements if isinstance(statements, list) else [statements]:
        principal = statement.get("Principal")
        services = principal.get("Service", []) if isinstance(principal, dict) else []
        accounts = principal.get("AWS", []) if isinstance(principal, dict) else []
        elb = ELB_LOG_DELIVERY in ([services] if isinstance(services, str) else services) or (
            principal == "*" or any(str(a).endswith(":root")
                                    for a in ([accounts] if isinstance(accounts, str)
                                              else accounts)))
        actions = statement.get("Action", [])
        resources = statement.get("Resource", [])
        if (statement.get("Effect") == "Allow" and elb
                and any(fnmatch.fnmatchcase("s3:PutObject", a)
                        for a in ([actions] if isinstance(actions, str) else actions))
                and any(fnmatch.fnmatchcase(f"arn:aws:s3:::{key}", r)
                        for r in ([resources] if isinstance(resources, str) else resources))):
            return True
    return False


def _fix_elbv2_access_log_bucket_is_checked() -> None:
    """ELBv2: switching access logs on checks the bucket: in the balancer's region, and
    its policy lets ELB's log delivery write under ``<prefix>/AWSLogs/<account>/``.

    moto 5.2.5 stores any ``access_logs.s3.bucket``.  AWS tests the bucket
    when access logging is switched on (it writes ``ELBAccessLogTestFile``)
    and refuses with InvalidConfigurationRequest "Access Denied for bucket:
    <name>. Please check S3bucket permission"; the bucket must be in the
    load balancer's Region (ELB User Guide, "Enable access logs for your
    Application Load Balancer": bucket requirements).  The tool relies on
    both: the standby ALB logs into the DR site's own bucket, the primary's
    into vivr-logs.  The sandbox refuses a missing bucket, a bucket of
    another region and a policy with no Allow of ``s3:PutObject`` on the log
    path for ``logdelivery.elasticloadbalancing.amazonaws.com`` (or an
    account root, AWS's legacy form); conditions are not evaluated, and the
    test object is not written (delivery is dropped as for S3 server access
    logs, so destroy finds the log bucket empty).  The messages for a
    missing bucket and another region are the sandbox's: AWS's exact text is
    not documented.
    """
    from moto.elbv2.exceptions import InvalidConfigurationRequest
    from moto.elbv2.models import ELBv2Backend
    from moto.s3.models import s3_backends
    from moto.utilities.utils import get_partition

    @wrap(ELBv2Backend, "modify_load_balancer_attributes")
    def modify_load_balancer_attributes(original: Any, self: Any, arn: str,
                                        attrs: dict[str, Any]) -> Any:
        balancer = self.load_balancers.get(arn)
        merged = {**(balancer.attrs if balancer is not None else {}), **attrs}
        switched = any(k.startswith("access_logs.s3.") for k in attrs)
        if balancer is None or not switched or \
                str(merged.get("access_logs.s3.enabled")).lower() != "true":
            return original(self, arn, attrs)
        name, prefix = merged.get("access_logs.s3.bucket") or "", merged.get(
            "access_logs.s3.prefix") or ""
        s3 = s3_backends[self.account_id][get_partition(self.region_name)]
        bucket = s3.buckets.get(name)
        if bucket is None:
            raise InvalidConfigurationRequest(f"The access-log bucket {name} does not exist")
        if bucket.region_name != self.region_name:
            raise InvalidConfigurationRequest(
                f"The access-log bucket {name} is in {bucket.region_name}, not in the load "
                f"balancer's region {self.region_name}")
        key = (f"{name}/{prefix + '/' if prefix else ''}AWSLogs/{self.account_id}/"
               f"elasticloadbalancing/{self.region_name}/ELBAccessLogTestFile")
        if not _admits_elb(bucket.policy, key):
            raise InvalidConfigurationRequest(
                f"Access Denied for bucket: {name}. Please check S3bucket permission")
        return original(self, arn, attrs)


FIXES: list[Callable[[], None]] = [
    _fix_elbv2_create_load_balancer_is_idempotent,
    _fix_elbv2_create_listener_is_idempotent,
    _fix_elbv2_ecs_targets_are_registered,
    _fix_elbv2_access_log_bucket_is_checked,
]
