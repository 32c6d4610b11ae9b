"""Sandbox fixes for Route 53: TestDNSAnswer, answered by failover rules; the query
logging group's ARN as AWS documents it.

Registered by :func:`vivr_sandbox.fixes.apply_moto_fixes` (see that module
for the rules: applied in the sandbox server's own process, never in the
product's code path).  moto is imported inside the fixes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from vivr_sandbox.fixes.patching import wrap


def _fqdn(name: str) -> str:
    name = name.lower()
    return name if name.endswith(".") else name + "."


def _values(record: Any) -> list[str]:
    return [str(r["Value"] if isinstance(r, dict) else r) for r in record.records or []]


def _healthy(backend: Any, check_id: str | None) -> bool:
    """Route 53's verdict on a record's check, from what the sandbox's checkers observe.

    The sandbox's checkers always see success (moto's GetHealthCheckStatus),
    so the verdict is the check's settings: a disabled check is healthy
    ("Route 53 considers the status of the health check to be healthy",
    UpdateHealthCheck ``Disabled``), an inverted one unhealthy (``Inverted``:
    "Route 53 considers [a healthy endpoint] unhealthy"), a record without
    a check always healthy.
    """
    if not check_id:
        return True
    check = backend.health_checks.get(check_id)
    if check is None:
        return False
    if check.disabled:
        return True
    return not check.inverted


def answer(backend: Any, zone_id: str, name: str, record_type: str) -> tuple[str, list[str]]:
    """(response code, record data) as Route 53 would answer ``name``/``record_type``.

    Failover pairs follow Route 53's documented rule ("Active-passive
    failover"): the PRIMARY while it is healthy, else a healthy SECONDARY,
    and the PRIMARY when both are unhealthy.
    """
    zone = backend.get_hosted_zone(zone_id)
    matching = [r for r in zone.rrsets if _fqdn(r.name) == _fqdn(name)]
    if not matching:
        return "NXDOMAIN", []
    typed = [r for r in matching if r.type == record_type]
    if not typed:
        return "NOERROR", []
    roles = {str(r.failover).upper(): r for r in typed if r.failover}
    if not roles:
        return "NOERROR", [v for r in typed for v in _values(r)]
    primary, secondary = roles.get("PRIMARY"), roles.get("SECONDARY")
    chosen = primary
    if (primary is None or not _healthy(backend, primary.health_check_id)) \
            and secondary is not None and _healthy(backend, secondary.health_check_id):
        chosen = secondary
    chosen = chosen or secondary
    return "NOERROR", _values(chosen) if chosen is not None else []


def _fix_route53_test_dns_answer() -> None:
    """Route 53: TestDNSAnswer answers with the record Route 53 would serve, failover
    records by their health checks (Inverted, Disabled).

    moto 5.2.5 has no TestDNSAnswer (no route, 404).  AWS returns "the value
    that Amazon Route 53 returns in response to a DNS request for a
    specified record name and type" (API reference, TestDNSAnswer); for a
    failover pair that depends on the PRIMARY's health check.  ``dr
    promote`` verifies with it that traffic moved to the standby ALB.
    """
    from moto.core.responses import ActionResult
    from moto.route53 import urls
    from moto.route53.responses import Route53

    from vivr_sandbox.fixes.patching import add_missing

    def test_dns_answer(self: Any) -> Any:
        zone_id = str(self._get_param("HostedZoneId"))
        name = str(self._get_param("RecordName"))
        record_type = str(self._get_param("RecordType"))
        code, data = answer(self.backend, zone_id, name, record_type)
        return ActionResult({"Nameserver": "ns-1.awsdns-01.org", "RecordName": name,
                             "RecordType": record_type, "RecordData": data,
                             "ResponseCode": code, "Protocol": "UDP"})

    add_missing(Route53, "test_dns_answer", test_dns_answer)
    urls.url_paths.setdefault(r"{0}/(?P<api_version>[\d_-]+)/testdnsanswer$", Route53.dispatch)


def _fix_route53_query_log_group_arn() -> None:
    """Route 53: CreateQueryLoggingConfig takes the log group's ARN without ``:*``.

    moto 5.2.5 finds the group only when the ARN ends in ``:*`` (it compares
    with DescribeLogGroups' ``arn`` field) and answers
    ``NoSuchCloudWatchLogsLogGroup`` otherwise.  AWS documents the parameter
    as ``arn:aws:logs:region:account-id:log-group:log_group_name`` (Route 53
    API reference, CreateQueryLoggingConfig), the form the tool sends.  The
    fix lets moto's check see the ``:*`` form and keeps the ARN as sent.
    """
    from moto.route53.models import Route53Backend

    @wrap(Route53Backend, "create_query_logging_config")
    def create_query_logging_config(original: Any, self: Any, hosted_zone_id: str,
                                    log_group_arn: str) -> Any:
        checked = log_group_arn if log_group_arn.endswith(":*") else f"{log_group_arn}:*"
        created = original(self, hosted_zone_id, checked)
        created.cloud_watch_logs_log_group_arn = log_group_arn
        return created


def _fix_route53_list_query_logging_configs() -> None:
    """Route 53: ListQueryLoggingConfigs(HostedZoneId=...) lists that zone's configuration.

    moto 5.2.5 compares the parameter with ``/hostedzone/<id>``, so the plain
    id every client sends (botocore strips the prefix) answers
    ``NoSuchHostedZone``; and with a zone it still lists every zone's
    configurations.  AWS takes the plain id and lists only that zone's (Route
    53 API reference, ListQueryLoggingConfigs: "HostedZoneId ... returns only
    the configuration for the specified hosted zone").
    """
    from moto.route53.exceptions import NoSuchHostedZone
    from moto.route53.models import Route53Backend

    @wrap(Route53Backend, "list_query_logging_configs")
    def list_query_logging_configs(original: Any, self: Any, hosted_zone_id: str | None = None,
                                   **page: Any) -> Any:
        if not hosted_zone_id:
            return original(self, **page)
        plain = hosted_zone_id.split("/")[-1]
        if not any(zone.resource_id == plain for zone in self.zones.values()):
            raise NoSuchHostedZone(hosted_zone_id)
        # A zone has at most one configuration: one page, no token.
        return [c for c in self.query_logging_configs.values()
                if c.hosted_zone_id == plain], None


FIXES: list[Callable[[], None]] = [_fix_route53_test_dns_answer,
                                   _fix_route53_query_log_group_arn,
                                   _fix_route53_list_query_logging_configs]
