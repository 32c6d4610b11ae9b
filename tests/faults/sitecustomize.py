"""Fault injection for end-to-end tests, loaded into the CLI subprocess.

Tests put this directory on PYTHONPATH; Python imports ``sitecustomize``
at start-up, and this module registers botocore event handlers on every
session, so faults happen at the botocore/HTTP boundary, never by mocking
the tool's own functions.  Controlled by environment variables:

* ``VIVR_FAULT_CRASH_AFTER=ec2.CreateVpc``: the process dies (``os._exit(137)``,
  like ``kill -9``) right after that call succeeded, before the tool can
  record its result.
* ``VIVR_FAULT_FAIL=ec2.CreateRouteTable``: that call returns an AWS error
  (``VIVR_FAULT_FAIL_CODE``, default ``UnauthorizedOperation``, with
  ``VIVR_FAULT_FAIL_MESSAGE`` and HTTP ``VIVR_FAULT_FAIL_STATUS``) every
  time, or only the first N times with ``ec2.CreateRouteTable:N`` (a
  transient condition such as IAM propagation).
* ``VIVR_FAULT_THROTTLE=ec2.DescribeVpcs:2``: the first N calls get a 503
  ``RequestLimitExceeded`` that botocore's retry mode must absorb.
* ``VIVR_FAULT_DELAY_S=0.05``: every request is delayed (slow AWS).
* ``VIVR_RECORD_CALLS=/path/calls.jsonl``: every API call's parameters, as the
  tool passed them to botocore, are appended as one JSON line
  ``{"service", "operation", "region", "params"}``: how tests check settings
  the emulator drops (the request is what real AWS would receive).
* ``VIVR_STRICT_REQUESTS=/path/strict.jsonl``: every API call's parameters are
  checked against botocore's service model for what AWS enforces and botocore
  does not (enum, max/min, pattern; ``strict_requests.py``), and each
  violation is appended as one JSON line (values redacted to lengths where a
  member may hold a secret).  The e2e suite fails the test that caused one.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from typing import Any

import botocore.session
from botocore.awsrequest import AWSResponse


class _Raw:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Any:
        yield self._body

    def read(self, *_: Any, **__: Any) -> bytes:
        return self._body


def _error(request: Any, status: int, code: str, message: str,
           service: str = "") -> AWSResponse:
    """An AWS error response in the request's protocol (JSON, S3's REST XML, query XML)."""
    if service == "s3":
        body = (f"<?xml version='1.0' encoding='UTF-8'?><Error><Code>{code}</Code>"
                f"<Message>{message}</Message></Error>").encode()
        return AWSResponse(request.url, status, {"Content-Type": "application/xml"},
                           _Raw(body))
    if "X-Amz-Target" in request.headers:
        body = json.dumps({"__type": code, "message": message}).encode()
        return AWSResponse(request.url, status, {"Content-Type": "application/x-amz-json-1.1"},
                           _Raw(body))
    body = (f"<Response><Errors><Error><Code>{code}</Code><Message>{message}</Message>"
            f"</Error></Errors><RequestID>fault</RequestID></Response>").encode()
    return AWSResponse(request.url, status, {"Content-Type": "text/xml"}, _Raw(body))


_lock = threading.Lock()
_throttled: dict[str, int] = {}


def _split(spec: str) -> tuple[str, str]:
    service, _, operation = spec.partition(".")
    return service, operation


def _install(session: Any) -> None:
    crash = os.environ.get("VIVR_FAULT_CRASH_AFTER")
    if crash:
        def _die(http_response: Any = None, **_: Any) -> None:
            if http_response is not None and http_response.status_code < 300:
                os._exit(137)

        session.register(f"after-call.{crash}", _die)
    fail = os.environ.get("VIVR_FAULT_FAIL")
    if fail:
        fail_spec, _, times = fail.partition(":")
        code = os.environ.get("VIVR_FAULT_FAIL_CODE", "UnauthorizedOperation")
        message = os.environ.get("VIVR_FAULT_FAIL_MESSAGE", "injected failure")
        status = int(os.environ.get("VIVR_FAULT_FAIL_STATUS", "400"))
        service = _split(fail_spec)[0]

        def _fail(request: Any, **_: Any) -> AWSResponse | None:
            with _lock:
                done = _throttled.get("fail:" + fail_spec, 0)
                if times and done >= int(times):
                    return None
                _throttled["fail:" + fail_spec] = done + 1
            return _error(request, status, code, message, service)

        session.register(f"before-send.{fail_spec}", _fail)
    throttle = os.environ.get("VIVR_FAULT_THROTTLE")
    if throttle:
        spec, _, count = throttle.partition(":")

        def _throttle(request: Any, **_: Any) -> AWSResponse | None:
            with _lock:
                done = _throttled.get(spec, 0)
                if done >= int(count or 1):
                    return None
                _throttled[spec] = done + 1
            return _error(request, 503, "RequestLimitExceeded", "Request limit exceeded.",
                          _split(spec)[0])

        session.register(f"before-send.{spec}", _throttle)
    record = os.environ.get("VIVR_RECORD_CALLS")
    if record:
        def _record(params: Any, model: Any, context: Any = None, **_: Any) -> None:
            client_region = (context or {}).get("client_region")
            line = json.dumps({"service": model.service_model.service_name,
                               "operation": model.name, "region": client_region,
                               "params": params}, default=str)
            with _lock, open(record, "a", encoding="utf-8") as handle:
                handle.write(line + "\n")

        session.register("before-parameter-build", _record)
    strict = os.environ.get("VIVR_STRICT_REQUESTS")
    if strict:
        _install_strict(session, strict)
    delay = float(os.environ.get("VIVR_FAULT_DELAY_S", "0") or 0)
    if delay:
        session.register("before-send", lambda **_: time.sleep(delay))


def _install_strict(session: Any, path: str) -> None:
    import strict_requests  # next to this file, on PYTHONPATH

    def _check(params: Any, model: Any, context: Any = None, **_: Any) -> None:
        try:
            found = [v.as_dict() for v in strict_requests.check_request(
                model, params, strict_requests.allowed)]
        except Exception as error:  # a checker bug must fail the test, not pass it
            found = [{"operation": model.name, "path": model.name, "rule": "checker-error",
                      "message": f"strict-request checker failed: {error!r}"}]
        if not found:
            return
        log = sys.modules.get("vivr_provision.log")  # the tool's registered secrets
        service = model.service_model.service_name
        lines = []
        for violation in found:
            if log is not None:
                violation["message"] = log.redact(violation["message"])
            lines.append(json.dumps({"service": service, **violation}) + "\n")
        with _lock, open(path, "a", encoding="utf-8") as handle:
            handle.writelines(lines)

    # Last among the generic handlers: after botocore's own (idempotency
    # tokens filled in, Route 53 ids trimmed), just before validation and
    # serialisation: the values AWS will receive.
    session.get_component("event_emitter").register_last("before-parameter-build", _check)


_original_init = botocore.session.Session.__init__


def _patched_init(self: Any, *args: Any, **kwargs: Any) -> None:
    _original_init(self, *args, **kwargs)
    _install(self)


botocore.session.Session.__init__ = _patched_init  # type: ignore[method-assign]
