"""CloudFront under a timing profile: a distribution is InProgress while its config propagates.

moto 5.2.5 reports ``InProgress`` in the create response and ``Deployed``
from the first GetDistribution (its state manager), and stays ``Deployed``
after an update.  On AWS every create and update is ``InProgress`` until it
reaches every edge location (about 8 minutes for a create), and the update
that disables a distribution before its deletion takes longest (the profile's
``delete`` figure, about 15 minutes); DeleteDistribution is refused with
DistributionNotDisabled until that update is Deployed.
``distribution_deployed`` has a single acceptor (Status == Deployed), so
InProgress keeps it polling.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from vivr_sandbox.fixes.patching import wrap
from vivr_sandbox.timing.attributes import time_attribute
from vivr_sandbox.timing.clock import active_phase, begin

KIND = "cloudfront_distribution"
IN_PROGRESS = {"status": "InProgress"}


def _enabled(distribution: Any) -> bool:
    config = getattr(distribution, "distribution_config", None)
    return str(getattr(config, "Enabled", "")).lower() in ("true", "1")


def _time_distributions() -> None:
    """CloudFront: distributions are InProgress for the profile's create / update /
    disable durations; deleting one whose disable is still InProgress is refused."""
    from moto.cloudfront.models import CloudFrontBackend, Distribution

    from vivr_sandbox.fixes.cloudfront import _cloudfront_error

    time_attribute(Distribution, "status")

    @wrap(CloudFrontBackend, "create_distribution")
    def create_distribution(original: Any, self: Any, *args: Any, **kwargs: Any) -> Any:
        created = original(self, *args, **kwargs)
        begin(created[0], KIND, "create", IN_PROGRESS)
        return created

    @wrap(CloudFrontBackend, "update_distribution")
    def update_distribution(original: Any, self: Any, dist_config: Any, _id: str,
                            if_match: Any) -> Any:
        before = self.distributions.get(_id)
        was_enabled = before is not None and _enabled(before)
        updated = original(self, dist_config, _id, if_match)
        disabling = was_enabled and not _enabled(updated[0])
        begin(updated[0], KIND, "delete" if disabling else "modify", IN_PROGRESS)
        return updated

    @wrap(CloudFrontBackend, "delete_distribution")
    def delete_distribution(original: Any, self: Any, distribution_id: str,
                            if_match: Any) -> None:
        found = self.distributions.get(distribution_id)
        if found is not None and if_match and active_phase(found) is not None:
            raise _cloudfront_error("DistributionNotDisabled", "The distribution you are "
                                    "trying to delete has not been disabled.")
        original(self, distribution_id, if_match)


#: The hooks of this module, in application order.
HOOKS: list[Callable[[], None]] = [_time_distributions]
