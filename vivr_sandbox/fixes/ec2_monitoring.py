"""EC2 fixes: detailed monitoring switched on a running instance (see :mod:`vivr_sandbox.fixes`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from vivr_sandbox.fixes.patching import wrap


def _fix_monitor_instances() -> None:
    """EC2: MonitorInstances and UnmonitorInstances switch an instance's detailed monitoring.

    moto 5.2.5 stores ``Monitoring.Enabled`` from RunInstances and reports it
    in DescribeInstances, but answers both calls with NotImplementedError (a
    500).  AWS turns 1-minute metrics on or off without a restart and
    answers ``InstanceMonitorings`` (``pending`` / ``disabling``: EC2 API
    reference, MonitorInstances); the sandbox settles at once (``enabled`` /
    ``disabled``), as moto settles other state.  The PgBouncer step converges
    ``pgbouncer.detailed_monitoring`` drift with them.
    """
    from moto.core.responses import ActionResult
    from moto.ec2.responses.monitoring import Monitoring

    def switch(self: Any, state: str, shown: str) -> Any:
        self.error_on_dryrun()
        ids = self._get_param("InstanceIds", [])
        for instance in self.ec2_backend.get_multi_instances_by_id(ids):
            instance.monitoring_state = state
        return ActionResult({"InstanceMonitorings": [
            {"InstanceId": i, "Monitoring": {"State": shown}} for i in ids]})

    @wrap(Monitoring, "monitor_instances")
    def monitor_instances(original: Any, self: Any) -> Any:
        return switch(self, "enabled", "pending")

    @wrap(Monitoring, "unmonitor_instances")
    def unmonitor_instances(original: Any, self: Any) -> Any:
        return switch(self, "disabled", "disabling")


FIXES: list[Callable[[], None]] = [_fix_monitor_instances]
