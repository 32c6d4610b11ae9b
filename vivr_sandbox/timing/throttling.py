"""AWS's request rate limits in the sandbox: token buckets per account, Region and API.

EC2 documents its limits as token buckets ("Request throttling for the Amazon
EC2 API"): every API has a bucket of its category's capacity that refills at
the category's rate, per account and Region; a request finding it empty is
answered ``RequestLimitExceeded`` (503), which botocore's retry modes retry.
The profile's ``api.throttling`` says, per service, which operations draw
from which bucket (:class:`~vivr_sandbox.timing.profile.ServiceThrottling`);
this module keeps the levels.  Buckets run in real time, whatever
``--time-scale`` says: the scale compresses AWS's provisioning work, not the
pace at which a client may call it.
"""

from __future__ import annotations

import threading
import time
from collections import Counter

from vivr_sandbox.timing.profile import Api

BucketKey = tuple[str, str | None, str, str]


class TokenBuckets:
    """The current level of every bucket a profile defines (thread-safe)."""

    def __init__(self, api: Api) -> None:
        self.api = api
        self._levels: dict[BucketKey, tuple[float, float]] = {}
        self._lock = threading.Lock()
        #: (service, operation) -> requests refused so far (for benches and tests).
        self.refused: Counter[tuple[str, str]] = Counter()

    def take(self, account: str, region: str | None, service: str | None, operation: str,
             mutating: bool) -> bool:
        """Draw one token from each bucket this request uses; False (nothing drawn) when
        one of them is empty: AWS throttles the request."""
        limits = self.api.throttling.get(service or "")
        if limits is None:
            return True
        scope = (account, region, service or "")
        used = [((*scope, name), bucket) for name, bucket in limits.shared()]
        found = limits.bucket_for(operation, mutating)
        if found is not None:
            name, bucket = found
            used.append(((*scope, operation if limits.per == "operation" else name), bucket))
        with self._lock:
            now = time.monotonic()
            levels = {}
            for key, bucket in used:
                tokens, since = self._levels.get(key, (bucket.capacity, now))
                levels[key] = min(bucket.capacity,
                                  tokens + (now - since) * bucket.refill_per_second)
            allowed = all(tokens >= 1 for tokens in levels.values())
            for key, tokens in levels.items():
                self._levels[key] = (tokens - 1 if allowed else tokens, now)
            if not allowed:
                self.refused[service or "", operation] += 1
            return allowed


__all__ = ["TokenBuckets"]
