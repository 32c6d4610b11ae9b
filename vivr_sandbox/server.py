"""A local AWS emulator (moto in server mode) for first runs, demos and tests.

Why our own wrapper instead of ``moto_server``:

* **Accounts by access key.**  An access key ending in 12 digits
  (``sandbox123456789012``) is routed to that account, so parallel test
  runs or demos on one server never see each other's resources.
* **A call journal.**  Every request is recorded (account, region, service,
  operation, whether it mutates) and served at ``/__vivr__/calls``: the way
  tests prove that a second ``apply`` makes no mutating call, measured at the
  HTTP boundary rather than inside our own code.
* **Idempotency tokens** honoured where AWS honours them (moto ignores
  them): a create retried after a lost response gets the first answer
  (:mod:`vivr_sandbox.idempotency`).
* **Emulator settings** that must be set before moto is imported (ACM
  validation delay, AWS managed IAM policies).
* **AWS's pace**, optionally: with a timing profile, slow resources report
  their transitional states for the profile's scaled durations
  (:mod:`vivr_sandbox.timing`); without one everything is ready at once.

Nothing here is on the product's AWS code path: the CLI only ever sees an
endpoint URL.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import re
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, replace
from http import HTTPStatus
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

from vivr_sandbox.idempotency import TokenCache, tokened

if TYPE_CHECKING:
    from vivr_sandbox.timing import Timing

#: Emulator settings, applied before moto is imported (moto reads them at import).
MOTO_ENV = {
    "MOTO_ACM_VALIDATION_WAIT": "1",
    "MOTO_IAM_LOAD_MANAGED_POLICIES": "true",
}
DEFAULT_PORT = 4566
#: The account moto serves a request without an account-routing access key.
DEFAULT_ACCOUNT = "123456789012"
JOURNAL_PATH = "/__vivr__/calls"
READ_PREFIXES = ("Describe", "List", "Get", "Head", "Search", "Lookup", "Check", "Validate",
                 "Test", "Preview", "Query", "Scan", "Select")
_CREDENTIAL = re.compile(r"Credential=([^/,\s]+)/\d{8}/([^/]+)/([^/]+)/")
_ACCOUNT_SUFFIX = re.compile(r"(\d{12})$")

Environ = dict[str, Any]
StartResponse = Callable[..., Any]


@dataclass(frozen=True)
class Call:
    """One request the emulator served."""

    account: str | None
    region: str | None
    service: str | None
    operation: str
    mutating: bool
    status: int


def request_identity(method: str, path: str, headers: Mapping[str, str],
                     body: bytes) -> tuple[str | None, str, bool]:
    """(signing service, operation name, mutating?) of a request in any protocol.

    ``path`` includes the query string; ``headers`` have lower-case names.
    Shared by the journal and the fault proxy (:mod:`vivr_sandbox.faults`).
    """
    match = _CREDENTIAL.search(headers.get("authorization", ""))
    service = match.group(3) if match else None
    target = headers.get("x-amz-target")
    if target:
        name = target.rsplit(".", 1)[-1]
        return service, name, not name.startswith(READ_PREFIXES)
    path_only, _, query = path.partition("?")
    params = parse_qs(query)
    if "x-www-form-urlencoded" in headers.get("content-type", ""):
        params.update(parse_qs(body.decode("utf-8", "replace")))
    if "Action" in params:
        name = params["Action"][0]
        return service, name, not name.startswith(READ_PREFIXES)
    return service, f"{method} {path_only}", method not in ("GET", "HEAD")


def _headers(environ: Environ) -> dict[str, str]:
    """A WSGI request's headers with lower-case names."""
    headers = {key[5:].replace("_", "-").lower(): str(value) for key, value in environ.items()
               if key.startswith("HTTP_")}
    headers["content-type"] = environ.get("CONTENT_TYPE", "")
    return headers


def _path(environ: Environ) -> str:
    query = environ.get("QUERY_STRING", "")
    return str(environ.get("PATH_INFO", "/")) + (f"?{query}" if query else "")


def _operation(environ: Environ, body: bytes) -> tuple[str, bool]:
    """(operation name, mutating?) of a WSGI request (see :func:`request_identity`)."""
    _, name, mutating = request_identity(environ.get("REQUEST_METHOD", "GET"), _path(environ),
                                         _headers(environ), body)
    return name, mutating


class SandboxApp:
    """WSGI middleware around moto: account routing and the call journal."""

    def __init__(self, app: Callable[[Environ, StartResponse], Iterable[bytes]],
                 timing: Timing | None = None) -> None:
        self.app = app
        #: AWS's pace (:mod:`vivr_sandbox.timing`); None: everything is ready at once.
        self.timing = timing
        self.calls: list[Call] = []
        self._lock = threading.Lock()
        #: One lock per account: moto's backends are not thread-safe (two
        #: concurrent CreateSecurityGroup calls of one account were seen to
        #: fail with "dictionary changed size during iteration", a 500 AWS
        #: never gives), so an account's requests are served one at a time,
        #: while different accounts (parallel tests, demos) still run at once.
        self._account_locks: dict[str | None, threading.Lock] = {}
        #: Idempotency tokens honoured as AWS does (:mod:`vivr_sandbox.idempotency`).
        self.tokens = TokenCache()

    def journal(self, account: str | None = None) -> list[Call]:
        with self._lock:
            return [c for c in self.calls if account is None or c.account == account]

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("PATH_INFO") == JOURNAL_PATH:
            return self._serve_journal(environ, start_response)
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        environ["wsgi.input"] = io.BytesIO(body)
        match = _CREDENTIAL.search(environ.get("HTTP_AUTHORIZATION", ""))
        access_key, region, service = match.groups() if match else (None, None, None)
        account = None
        if access_key and (suffix := _ACCOUNT_SUFFIX.search(access_key)):
            account = suffix.group(1)
            environ["HTTP_X_MOTO_ACCOUNT_ID"] = account
        operation, mutating = _operation(environ, body)
        if self.timing is not None and not self.timing.admits(
                account or DEFAULT_ACCOUNT, region, service, operation, mutating):
            return self._throttle(environ, body, start_response,
                                  Call(account or DEFAULT_ACCOUNT, region, service, operation,
                                       mutating, 0))
        request = tokened(service, operation, _path(environ), _headers(environ), body)
        key = (account, region, operation, request.token) if request else None
        if request is not None and key is not None and (
                repeat := self.tokens.repeat(key, request)) is not None:
            status, headers, payload = repeat
            with self._lock:
                self.calls.append(Call(account or DEFAULT_ACCOUNT, region, service, operation,
                                       mutating, status))
            start_response(f"{status} {HTTPStatus(status).phrase}", headers)
            return [payload]
        status_holder: list[int] = []
        header_holder: list[list[tuple[str, str]]] = []

        def _start(status: str, headers: Any, exc_info: Any = None) -> Any:
            status_holder.append(int(status.split(maxsplit=1)[0]))
            header_holder.append(list(headers))
            return start_response(status, headers, exc_info)

        with self._lock:
            serving = self._account_locks.setdefault(account, threading.Lock())
        with serving:
            result = self._serve(environ, _start, account or DEFAULT_ACCOUNT)
            if request is not None and key is not None and status_holder:
                result = [b"".join(result)]
                self.tokens.remember(key, request, status_holder[0], header_holder[0],
                                     result[0])
        with self._lock:
            self.calls.append(Call(account or DEFAULT_ACCOUNT, region, service, operation,
                                   mutating, status_holder[0] if status_holder else 0))
        return result

    def _throttle(self, environ: Environ, body: bytes, start_response: StartResponse,
                  call: Call) -> list[bytes]:
        """Answer as AWS does when a request finds its token bucket empty (never reaches moto)."""
        from vivr_sandbox.errors import THROTTLING, error_reply, protocol_of

        protocol = protocol_of(_headers(environ), body, call.service)
        code, status = THROTTLING[protocol]
        status, headers, payload = error_reply(protocol, code, status, "Rate exceeded")
        with self._lock:
            self.calls.append(replace(call, status=status))
        start_response(f"{status} {HTTPStatus(status).phrase}",
                       [*headers, ("Content-Length", str(len(payload)))])
        return [payload]

    def _serve(self, environ: Environ, start_response: StartResponse,
               account: str) -> Iterable[bytes]:
        """moto's answer, under the timing profile if there is one (account lock held)."""
        if self.timing is None:
            return self.app(environ, start_response)
        from vivr_sandbox.timing import ACTIVE

        self.timing.release_due(account)
        token = ACTIVE.set(self.timing)
        try:
            return self.app(environ, start_response)
        finally:
            ACTIVE.reset(token)

    def _serve_journal(self, environ: Environ, start_response: StartResponse) -> list[bytes]:
        if environ.get("REQUEST_METHOD") == "DELETE":
            with self._lock:
                self.calls.clear()
        params = parse_qs(environ.get("QUERY_STRING", ""))
        account = params.get("account", [None])[0]
        payload = json.dumps([asdict(c) for c in self.journal(account)]).encode()
        start_response("200 OK", [("Content-Type", "application/json"),
                                  ("Content-Length", str(len(payload)))])
        return [payload]


class SandboxServer:
    """moto behind :class:`SandboxApp`, served on a background thread."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0,
                 timing: Timing | None = None) -> None:
        for key, value in MOTO_ENV.items():
            os.environ.setdefault(key, value)
        from moto.moto_server.werkzeug_app import (
            DomainDispatcherApplication,
            MotoRequestHandler,
            create_backend_app,
        )
        from werkzeug.serving import make_server

        from vivr_sandbox.fixes import apply_moto_fixes

        apply_moto_fixes()
        if timing is not None:
            from vivr_sandbox.timing import install_timing

            install_timing()
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        self.app = SandboxApp(DomainDispatcherApplication(create_backend_app), timing)
        self._server = make_server(host, port, self.app, threaded=True,
                                   request_handler=MotoRequestHandler)
        self._thread: threading.Thread | None = None
        # Lambda functions the sandbox runs call it back here (fixes/awslambda.py).
        from vivr_sandbox.fixes.awslambda import serve_functions_at

        serve_functions_at(self.url)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> SandboxServer:
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True,
                                        name="sandbox")
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self._server.serve_forever()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)


def main(argv: list[str] | None = None) -> None:
    """``python -m vivr_sandbox.server --port N``: serve in the foreground."""
    import argparse

    parser = argparse.ArgumentParser(description="vivr-provision local AWS sandbox (moto)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    parser.add_argument("--timing", type=Path, default=None,
                        help="timing profile (YAML, e.g. profiles/aws.yaml): AWS's durations")
    parser.add_argument("--time-scale", type=float, default=1.0,
                        help="multiply the profile's durations (0.01: 15 min -> 9 s)")
    args = parser.parse_args(argv)
    timing = None
    if args.timing is not None:
        from vivr_sandbox.timing import ProfileError, Timing, load_profile

        try:
            timing = Timing(load_profile(args.timing), args.time_scale)
        except (ProfileError, ValueError) as exc:
            parser.error(str(exc))
    server = SandboxServer(args.host, args.port, timing)
    paced = (f" (timing {args.timing} x {args.time_scale:g})" if timing is not None else "")
    print(f"sandbox listening on {server.url}{paced}", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()


if __name__ == "__main__":
    main()
