"""A fault-injecting HTTP proxy in front of the sandbox: the network an AWS client really meets.

The sandbox answers every request at once and never loses one; real AWS
throttles, fails with a 5xx now and then, and a network can drop a
request before it arrives or lose the response of a call the service has
already applied.  The last is what breaks naive provisioning tools: the
client's retry repeats a create that succeeded (``AlreadyExists``) or a
delete that succeeded (``NotFound``).  This proxy sits between the CLI and
the sandbox and injects exactly those faults, seeded so a failing run can
be replayed:

* ``throttle``: answered without forwarding, with the throttling error in
  the service protocol's real shape (``RequestLimitExceeded`` 503 for EC2,
  ``Throttling`` 400 for query and REST-XML services, ``SlowDown`` 503 for
  S3, ``ThrottlingException`` 400 for JSON services);
* ``error``: a 500 in the same shapes (``InternalError`` / ``InternalFailure``);
* ``drop``: the connection is closed before the request is forwarded (the
  server never sees it);
* ``lose``: the request is forwarded and applied, then the connection is
  closed without the response.

botocore's retry modes retry all four (throttling and 5xx by code and
status, closed connections as ``ConnectionClosedError``), so the tool sees
them only through what the retried call answers.  ``observe`` is called
before and after each forwarded request: the crash harness uses it to kill
the CLI at a chosen mutating call.  Nothing here is on the product's path:
the CLI only ever sees an endpoint URL.
"""

from __future__ import annotations

import http.client
import random
import socket
import sys
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal
from urllib.parse import urlsplit

from vivr_sandbox.errors import SERVER_ERROR, THROTTLING, error_reply, protocol_of
from vivr_sandbox.server import JOURNAL_PATH, request_identity

FaultKind = Literal["throttle", "error", "drop", "lose"]
Phase = Literal["before", "after"]
FAULTS_PATH = "/__vivr__/faults"
#: Headers that describe one hop, not the request (RFC 9110 section 7.6.1).
_HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te",
               "trailer", "upgrade"}


@dataclass(frozen=True)
class FaultRates:
    """Probability of each fault per request (they are exclusive; the rest pass)."""

    throttle: float = 0.0
    error: float = 0.0
    drop: float = 0.0
    lose: float = 0.0

    @classmethod
    def parse(cls, text: str) -> FaultRates:
        """``"throttle=0.1,error=0.02,drop=0.01,lose=0.01"`` (any subset)."""
        rates: dict[str, float] = {}
        for part in filter(None, (p.strip() for p in text.split(","))):
            name, _, value = part.partition("=")
            if name not in cls.__dataclass_fields__:
                raise ValueError(f"unknown fault {name!r}; known: throttle, error, drop, lose")
            rates[name] = float(value)
        parsed = cls(**rates)
        if any(not 0 <= r <= 1 for r in asdict(parsed).values()) or sum(
                asdict(parsed).values()) > 1:
            raise ValueError(f"fault rates must be in [0, 1] and sum to at most 1: {text!r}")
        return parsed


@dataclass(frozen=True)
class ProxiedCall:
    """One request seen by the proxy, and what it did to it."""

    seq: int
    service: str | None
    operation: str
    mutating: bool
    fault: FaultKind | None
    status: int


class FaultPlan:
    """Decides each request's fault from a seeded generator (thread-safe).

    ``only`` restricts faults to requests whose ``service.Operation`` is in
    it (a lost response on one chosen create); ``limit`` caps how many
    faults are injected in all; ``once`` faults each operation at most once
    (its first call that draws a fault), so every retry then passes.
    """

    def __init__(self, rates: FaultRates, seed: int = 0, *, only: set[str] | None = None,
                 limit: int | None = None, once: bool = False) -> None:
        self.rates = rates
        self._random = random.Random(seed)
        self._lock = threading.Lock()
        self.only = only
        self.remaining = limit
        self.once = once
        self._faulted: set[str] = set()

    def decide(self, service: str | None, operation: str) -> FaultKind | None:
        with self._lock:
            draw = self._random.random()
            name = f"{service}.{operation}"
            if self.only is not None and name not in self.only:
                return None
            if self.remaining is not None and self.remaining <= 0:
                return None
            if self.once and name in self._faulted:
                return None
            edge = 0.0
            for kind in ("throttle", "error", "drop", "lose"):
                edge += getattr(self.rates, kind)
                if draw < edge:
                    if self.remaining is not None:
                        self.remaining -= 1
                    self._faulted.add(name)
                    return kind
            return None


# --------------------------------------------------------------------------- the proxy


class _QuietServer(ThreadingHTTPServer):
    """A client that hangs up (botocore closing a kept-alive connection, a killed
    CLI) is the weather here, not an error worth a traceback."""

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


@dataclass
class FaultProxy:
    """A threaded HTTP proxy to ``upstream`` that injects :class:`FaultPlan`'s faults."""

    upstream: str
    plan: FaultPlan
    host: str = "127.0.0.1"
    port: int = 0
    #: Called with (call, phase) around each forwarded request; may kill the client.
    #: Returning True before forwarding cuts the connection instead (the call never
    #: reaches the server: a client killed just before sending).
    observe: Callable[[ProxiedCall, Phase], bool | None] | None = None
    calls: list[ProxiedCall] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._seq = 0
        target = urlsplit(self.upstream)
        self._upstream = (target.hostname or "127.0.0.1", target.port or 80)
        self._server = _QuietServer((self.host, self.port), self._handler())
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> FaultProxy:
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True,
                                        name="fault-proxy")
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def faults(self) -> dict[str, int]:
        """How many requests got each fault."""
        counts: dict[str, int] = {}
        with self._lock:
            for call in self.calls:
                if call.fault:
                    counts[call.fault] = counts.get(call.fault, 0) + 1
        return counts

    def _next(self) -> int:
        with self._lock:
            self._seq += 1
            return self._seq

    def _record(self, call: ProxiedCall) -> None:
        with self._lock:
            self.calls.append(call)

    def _forward(self, method: str, path: str, headers: dict[str, str],
                 body: bytes) -> tuple[int, list[tuple[str, str]], bytes]:
        connection = http.client.HTTPConnection(*self._upstream, timeout=300)
        try:
            connection.request(method, path, body=body or None, headers={
                k: v for k, v in headers.items() if k not in _HOP_BY_HOP})
            reply = connection.getresponse()
            payload = reply.read()
            return reply.status, [(k, v) for k, v in reply.getheaders()
                                  if k.lower() not in _HOP_BY_HOP
                                  and k.lower() != "content-length"], payload
        finally:
            connection.close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                """Quiet: the journal is the record."""

            def _reply(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
                self.send_response(status)
                for key, value in headers:
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _cut(self) -> None:
                """Close the connection without a response (RST, as a dead link shows)."""
                self.close_connection = True
                sock = self.connection
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00"
                                b"\x00\x00\x00\x00")
                sock.close()

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                headers = {k.lower(): v for k, v in self.headers.items()}
                if self.path.startswith((JOURNAL_PATH, FAULTS_PATH)):
                    self._reply(*proxy._forward(self.command, self.path, headers, body))
                    return
                service, operation, mutating = request_identity(
                    self.command, self.path, headers, body)
                fault = proxy.plan.decide(service, operation)
                seq = proxy._next()
                if fault in ("throttle", "error"):
                    protocol = protocol_of(headers, body, service)
                    code, status = (THROTTLING if fault == "throttle" else SERVER_ERROR)[protocol]
                    proxy._record(ProxiedCall(seq, service, operation, mutating, fault, status))
                    self._reply(*error_reply(protocol, code, status, "injected by the sandbox "
                                             "fault proxy"))
                    return
                if fault == "drop":
                    proxy._record(ProxiedCall(seq, service, operation, mutating, fault, 0))
                    self._cut()
                    return
                call = ProxiedCall(seq, service, operation, mutating, fault, 0)
                if proxy.observe is not None and proxy.observe(call, "before"):
                    proxy._record(call)
                    self._cut()
                    return
                status, reply_headers, payload = proxy._forward(self.command, self.path,
                                                                headers, body)
                call = ProxiedCall(seq, service, operation, mutating, fault, status)
                proxy._record(call)
                if proxy.observe is not None:
                    proxy.observe(call, "after")
                if fault == "lose":
                    self._cut()
                    return
                self._reply(status, reply_headers, payload)

            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = _serve  # noqa: N815

        return Handler


__all__ = ["FAULTS_PATH", "FaultKind", "FaultPlan", "FaultProxy", "FaultRates", "Phase",
           "ProxiedCall"]
