"""The one place that builds boto3 sessions and clients.

Why a factory: boto3 sessions are not thread-safe, so clients are created
under a lock from one session; botocore clients are (boto3 guide
"Multithreading or multiprocessing with clients"), so one client per
service and region is shared by all the engine's threads.  Caching them per
thread instead made every worker build its own ~25 clients, one at a time
under the session lock: on a whole-platform apply the workers spent more
time queued for that lock than calling AWS.
Every client gets the same botocore retry policy (standard or adaptive mode
with the configured attempts) and the call budgets of :mod:`vivr_provision.throttle`
(AWS's documented token buckets per API category, halved while AWS
throttles), so that a wide parallel apply slows down instead of tripping
AWS throttling.

boto3 and botocore are imported inside the methods that build sessions and
clients, never at module level: commands that make no AWS call (``status``,
``graph``, ``cost``, ``check``, ``--help``) import this module for
:class:`AwsSettings` and :func:`error_code` and must not pay ~0.1 s for the
SDK (``bench/startup.py`` measures it; exception classes come from
:mod:`vivr_provision.aws_errors`).
"""

from __future__ import annotations

import functools
import logging
import sys
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from vivr_provision import aws_errors, gc_policy, log
from vivr_provision.errors import EndpointError
from vivr_provision.throttle import CallBudgets

if TYPE_CHECKING:
    import boto3

retry_log = log.get_logger("vivr.aws")

#: Credentials used only when the endpoint is a local emulator and none are configured.
SANDBOX_CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


@dataclass(frozen=True)
class AwsSettings:
    """Resolved connection settings (CLI flags > environment > config)."""

    region: str
    profile: str | None = None
    endpoint_url: str | None = None
    retry_mode: str = "standard"
    max_attempts: int = 10
    max_calls_per_second: float = 20.0
    #: ``documented``: AWS's per-API budgets (:mod:`vivr_provision.api_budgets`),
    #: each capped by ``max_calls_per_second``; ``flat``: that one limit per service.
    api_budgets: str = "documented"
    connect_timeout: float = 10.0
    read_timeout: float = 60.0

    @property
    def is_local_endpoint(self) -> bool:
        """True for an emulator on this machine (the sandbox), never for AWS."""
        if not self.endpoint_url:
            return False
        host = urlparse(self.endpoint_url).hostname or ""
        return host in ("127.0.0.1", "localhost", "::1")


class RetryLog:
    """botocore's own retries, made visible: logged at ``-vv`` and counted per service.

    botocore retries throttling, 5xx and broken connections inside one API
    call (``retries.mode``), silently.  Its ``needs-retry`` event fires
    after every attempt with the attempt's outcome; the next attempt's
    request carries ``amz-sdk-request: attempt=N``.  The first handler
    remembers the outcome (per thread: a thread runs one call at a time),
    the second logs and counts an attempt after the first.  Neither changes
    what botocore decides.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[str, int] = {}
        self._last = threading.local()

    def outcome(self, response: Any = None, caught_exception: Any = None, **_: Any) -> None:
        """``needs-retry`` handler: remember why this attempt may be retried."""
        reason = None
        if caught_exception is not None:
            reason = type(caught_exception).__name__
        elif response is not None:
            http, parsed = response
            if getattr(http, "status_code", 200) >= 300:
                error = (parsed or {}).get("Error", {}) if isinstance(parsed, dict) else {}
                reason = str(error.get("Code") or f"HTTP {http.status_code}")
        self._last.reason = reason

    def attempt(self, request: Any = None, event_name: str = "", service: str = "",
                **_: Any) -> None:
        """``before-send`` handler: count and log an attempt that is a retry
        (``service``: the client's name, ``elbv2`` rather than the event's
        ``elastic-load-balancing-v2``)."""
        header = request.headers.get("amz-sdk-request", b"") if request is not None else b""
        text = header.decode() if isinstance(header, bytes) else str(header)
        fields = dict(part.strip().split("=", 1) for part in text.split(";") if "=" in part)
        attempt = int(fields.get("attempt", "1"))
        if attempt <= 1:
            return
        event_service, operation = [*event_name.split("."), "", ""][1:3]
        service = service or event_service
        with self._lock:
            self._counts[service] = self._counts.get(service, 0) + 1
        retry_log.debug("aws.retry", service=service, operation=operation, attempt=attempt,
                        after=getattr(self._last, "reason", None))

    def counts(self) -> dict[str, int]:
        """Retries per service so far (botocore's service names: ``ec2``, ``iam`` ...)."""
        with self._lock:
            return dict(sorted(self._counts.items()))


class CallLog:
    """Every AWS API call, logged at ``-vv`` (debug): what was called, where, how it ended.

    botocore's ``before-call`` and ``after-call`` (``after-call-error`` when no
    answer came) bracket one call with all its retries, so a line here is one
    call the tool made; the retries inside it are ``aws.retry`` lines.  The
    parameters are not logged: they can be large, and the outcome is what a
    person debugging a run looks for.  Below ``-vv`` the handlers return at once.
    """

    def __init__(self, service: str, region: str) -> None:
        self.service = service
        self.region = region

    def before(self, context: dict[str, Any] | None = None, **_: Any) -> None:
        if context is not None and log.enabled(logging.DEBUG):
            context["vivr_call_started"] = time.monotonic()

    def _emit(self, model: Any, context: dict[str, Any] | None, **fields: Any) -> None:
        started = (context or {}).get("vivr_call_started")
        took = {"ms": round((time.monotonic() - started) * 1000)} if started else {}
        retry_log.debug("aws.call", service=self.service, operation=getattr(model, "name", "?"),
                        region=self.region, **fields, **took)

    def after(self, http_response: Any = None, parsed: Any = None, model: Any = None,
              context: dict[str, Any] | None = None, **_: Any) -> None:
        if not log.enabled(logging.DEBUG):
            return
        error = parsed.get("Error", {}).get("Code") if isinstance(parsed, dict) else None
        self._emit(model, context, status=getattr(http_response, "status_code", None),
                   **({"error": error} if error else {}))

    def failed(self, exception: BaseException | None = None, model: Any = None,
               context: dict[str, Any] | None = None, **_: Any) -> None:
        if log.enabled(logging.DEBUG):
            self._emit(model, context, error=type(exception).__name__)


class ClientFactory:
    """Builds and caches clients; safe to share between the engine's threads."""

    def __init__(self, settings: AwsSettings) -> None:
        self.settings = settings
        self._session_lock = threading.Lock()
        self._session: boto3.session.Session | None = None
        self._clients: dict[tuple[str, str, bool], Any] = {}
        self.budgets = CallBudgets(settings.max_calls_per_second,
                                   documented=settings.api_budgets == "documented")
        self._throttling: Any = None  # botocore's throttling detector, built with the first client
        self.retries = RetryLog()
        self._config: Any = None  # botocore's Config, built with the first client

    def _client_config(self, quick: bool) -> Any:
        """The botocore ``Config`` every client shares (``quick``: the pre-flight's).

        Built on first use, under the session lock, so that a command that
        makes no call never imports botocore.
        """
        import botocore.config

        if self._config is None:
            self._config = botocore.config.Config(
                retries={"mode": self.settings.retry_mode,
                         "max_attempts": self.settings.max_attempts},
                connect_timeout=self.settings.connect_timeout,
                read_timeout=self.settings.read_timeout,
                user_agent_extra="vivr-provision",
                # One client serves every worker thread (up to the engine's 64):
                # botocore's default pool of 10 would open and discard a
                # connection per call beyond ten at once.
                max_pool_connections=64,
            )
        if not quick:
            return self._config
        return self._config.merge(
            botocore.config.Config(
                retries={"mode": "standard", "max_attempts": 2},
                connect_timeout=3,
                read_timeout=15,
            )
        )

    def _get_session(self) -> boto3.session.Session:
        if self._session is None:
            import boto3.session

            kwargs: dict[str, Any] = {"region_name": self.settings.region}
            if self.settings.profile:
                kwargs["profile_name"] = self.settings.profile
            session = boto3.session.Session(**kwargs, botocore_session=_lean_session())
            if self.settings.is_local_endpoint and session.get_credentials() is None:
                session = boto3.session.Session(**kwargs, **SANDBOX_CREDENTIALS,
                                                botocore_session=_lean_session())
            self._session = session
        return self._session

    def _before_send(self, service: str, region: str, event_name: str = "", **_: Any) -> None:
        """botocore ``before-send``: a token from each bucket the operation draws on
        (``before-send.<service>.<Operation>``; retries pass here too)."""
        self.budgets.acquire(service, region, event_name.rsplit(".", 1)[-1])

    def _after_attempt(self, service: str, region: str, **kwargs: Any) -> None:
        """botocore ``needs-retry``: slow the operation's buckets when AWS throttled it
        (botocore's own detector: its error codes, the model's throttling errors, 429)."""
        operation = kwargs.get("operation")
        if operation is None or kwargs.get("response") is None:
            return
        if self._throttling.is_throttling_error(**kwargs):
            self.budgets.throttled(service, region, operation.name)
            retry_log.info("aws.throttled", service=service, region=region,
                           operation=operation.name)

    def client(self, service: str, region: str | None = None, *, quick: bool = False) -> Any:
        """A client for ``service`` in ``region`` (default: the primary region).

        ``quick`` clients retry once with short timeouts: used for the
        pre-flight identity check so an unreachable endpoint fails fast.
        """
        region = region or self.settings.region
        key = (service, region, quick)
        client = self._clients.get(key)
        if client is not None:
            return client
        with self._session_lock:
            client = self._clients.get(key)
            if client is None:
                client = self._build(service, region, quick)
                self._clients[key] = client
        return client

    def _build(self, service: str, region: str, quick: bool) -> Any:
        """A new client with the shared config and our handlers (called under the session lock)."""
        client = self._get_session().client(
            service,
            region_name=region,
            endpoint_url=self.settings.endpoint_url,
            config=self._client_config(quick),
        )
        if self._throttling is None:
            from botocore.retries.standard import RetryEventAdapter, ThrottlingErrorDetector

            self._throttling = ThrottlingErrorDetector(RetryEventAdapter())
        client.meta.events.register("before-send",
                                    functools.partial(self._before_send, service, region))
        client.meta.events.register("needs-retry", self.retries.outcome)
        client.meta.events.register("needs-retry",
                                    functools.partial(self._after_attempt, service, region))
        client.meta.events.register("before-send",
                                    functools.partial(self.retries.attempt, service=service))
        calls = CallLog(service, region)
        client.meta.events.register("before-call", calls.before)
        client.meta.events.register("after-call", calls.after)
        client.meta.events.register("after-call-error", calls.failed)
        gc_policy.long_lived_made()  # the client and botocore's cached service model
        return client

    def whoami(self) -> str:
        """The account id of the credentials, or EndpointError with a one-line reason."""
        where = self.settings.endpoint_url or f"AWS ({self.settings.region})"
        try:
            identity = self.client("sts", quick=True).get_caller_identity()
        except aws_errors.EndpointConnectionError:
            raise EndpointError(f"cannot reach the AWS endpoint {where}") from None
        except aws_errors.NoCredentialsError:
            raise EndpointError(
                "no AWS credentials found (set AWS_PROFILE or AWS_ACCESS_KEY_ID, "
                "or use --endpoint-url with the local sandbox)"
            ) from None
        except aws_errors.ClientError as exc:
            raise EndpointError(f"{where} refused the credentials: {error_text(exc)}") from None
        except aws_errors.BotoCoreError as exc:
            raise EndpointError(f"cannot talk to the AWS endpoint {where}: {exc}") from None
        return str(identity["Account"])


def _lean_session() -> Any:
    """A botocore session whose service models are decoded lean (:mod:`vivr_provision.aws_models`:
    the models of a whole-platform apply were a third of its memory)."""
    import botocore.session

    from vivr_provision import aws_models

    session = botocore.session.Session()
    aws_models.install(session)
    return session


def _from_botocore(exc: BaseException) -> bool:
    """Whether ``exc`` can be a botocore exception at all.

    No botocore exception exists before botocore is imported, so the answer
    for the other errors (a step's own, a test's fake) needs no import.
    """
    return "botocore.exceptions" in sys.modules


def error_code(exc: BaseException) -> str | None:
    """The AWS error code of a ClientError (``None`` for anything else)."""
    if _from_botocore(exc) and isinstance(exc, aws_errors.ClientError):
        return str(exc.response.get("Error", {}).get("Code", "")) or None
    return None


def error_text(exc: BaseException) -> str:
    """``Code: message`` for AWS errors, a readable one-liner for everything else."""
    if _from_botocore(exc) and isinstance(exc, aws_errors.ClientError):
        err = exc.response.get("Error", {})
        text = f"{err.get('Code', 'Unknown')}: {err.get('Message', '')}".strip()
    elif _from_botocore(exc) and isinstance(exc, aws_errors.EndpointConnectionError):
        text = f"cannot reach endpoint {exc.kwargs.get('endpoint_url', '')}"
    else:
        text = str(exc) or type(exc).__name__
    return " ".join(text.split())
