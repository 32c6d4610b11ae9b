"""Idempotency tokens, honoured where AWS honours them (moto ignores them all).

A create repeated with the token of one that succeeded must not make a
second resource: that is what a client's retry after a lost response
sends, and what the tool's deterministic tokens rely on.  AWS answers such
a repeat with the first call's result, or with an error when the token was
used for a different request; moto creates again.  The sandbox keeps the
first successful response per (account, region, operation, token) and
answers a repeat the way the service documents:

* EC2 ``ClientToken`` (``RunInstances``, ``CreateNatGateway``,
  ``CreateRouteTable``, ``CreateLaunchTemplate``, ``CreateFlowLogs`` ...):
  the same response; other parameters give ``IdempotentParameterMismatch``
  (EC2 API reference, "Ensuring idempotency");
* ECS ``CreateService`` ``clientToken``: the same service;
* Route 53 ``CreateHealthCheck`` ``CallerReference``: the same health
  check when the settings are the same, ``HealthCheckAlreadyExists``
  otherwise; ``CreateHostedZone``: ``HostedZoneAlreadyExists`` for a
  reused ``CallerReference`` (Route 53 API reference);
* CloudFront ``CreateDistribution[WithTags]`` ``CallerReference``: the same
  response for an identical config, ``DistributionAlreadyExists`` otherwise.

moto honours ACM's ``IdempotencyToken`` itself (one certificate per
token; ``test_sandbox_faults`` checks it).  Secrets Manager's
``ClientRequestToken`` is not replayed: ``CreateSecret``
of a name that exists answers ``ResourceExistsException`` (moto does too),
which the tool must resolve by adopting.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal
from urllib.parse import parse_qsl

from vivr_sandbox.errors import error_reply

Headers = list[tuple[str, str]]
Repeat = Literal["replay", "conflict"]


@dataclass(frozen=True)
class TokenRule:
    """Where a request carries its token, and what a repeat gets."""

    #: "replay": the first response (or ``mismatch`` when the request differs);
    #: "conflict": always the ``mismatch`` error.
    repeat: Repeat
    #: (error code, HTTP status) for a repeat AWS refuses.
    mismatch: tuple[str, int]
    protocol: str


_EC2 = TokenRule("replay", ("IdempotentParameterMismatch", 400), "ec2")
_JSON_RULES = {
    "CreateService": ("clientToken", TokenRule("replay", ("InvalidParameterException", 400),
                                               "json")),
}
_REST_RULES = [
    (re.compile(r"^POST /2013-04-01/healthcheck$"),
     TokenRule("replay", ("HealthCheckAlreadyExists", 409), "rest-xml")),
    (re.compile(r"^POST /2013-04-01/hostedzone$"),
     TokenRule("conflict", ("HostedZoneAlreadyExists", 409), "rest-xml")),
    (re.compile(r"^POST /20\d\d-\d\d-\d\d/distribution$"),
     TokenRule("replay", ("DistributionAlreadyExists", 409), "rest-xml")),
]
_CALLER_REFERENCE = re.compile(rb"<CallerReference>([^<]*)</CallerReference>")


@dataclass(frozen=True)
class Tokened:
    """A request that carries an idempotency token."""

    token: str
    digest: str
    rule: TokenRule


def _digest(parts: object) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


def tokened(service: str | None, operation: str, path: str, headers: Mapping[str, str],
            body: bytes) -> Tokened | None:
    """The token of a request AWS treats idempotently, with a digest of the rest of it."""
    content_type = headers.get("content-type", "")
    if service == "ec2" and "x-www-form-urlencoded" in content_type:
        params = dict(parse_qsl(body.decode("utf-8", "replace")))
        token = params.pop("ClientToken", None)
        return Tokened(token, _digest(params), _EC2) if token else None
    if operation in _JSON_RULES and "x-amz-target" in headers:
        key, rule = _JSON_RULES[operation]
        try:
            document = json.loads(body or b"{}")
        except ValueError:
            return None
        token = document.pop(key, None) if isinstance(document, dict) else None
        return Tokened(str(token), _digest(document), rule) if token else None
    for pattern, rule in _REST_RULES:
        if pattern.match(operation.split("?", 1)[0]):
            found = _CALLER_REFERENCE.search(body)
            if found:
                return Tokened(found.group(1).decode(), _digest(body.decode("utf-8", "replace")),
                               rule)
    return None


class TokenCache:
    """First successful responses by (account, region, operation, token)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._seen: dict[tuple[str | None, str | None, str, str],
                         tuple[str, int, Headers, bytes]] = {}

    def repeat(self, key: tuple[str | None, str | None, str, str],
               request: Tokened) -> tuple[int, Headers, bytes] | None:
        """The answer to a repeated token, or None for a first use."""
        with self._lock:
            first = self._seen.get(key)
        if first is None:
            return None
        digest, status, headers, body = first
        if request.rule.repeat == "replay" and digest == request.digest:
            return status, headers, body
        code, error_status = request.rule.mismatch
        return error_reply(request.rule.protocol, code, error_status,
                           f"the token {request.token} was already used for another request")

    def remember(self, key: tuple[str | None, str | None, str, str], request: Tokened,
                 status: int, headers: Headers, body: bytes) -> None:
        if 200 <= status < 300:
            with self._lock:
                self._seen.setdefault(key, (request.digest, status, headers, body))


__all__ = ["TokenCache", "Tokened", "tokened"]
