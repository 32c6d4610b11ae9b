"""structlog set-up: console rendering for people, JSON lines for machines.

Logs go to stderr so that ``--output json`` on stdout stays parseable.  A
redaction processor replaces every value registered with
:func:`register_secret` before anything is rendered, so a secret that slips
into an event or an exception text never reaches a terminal or a log file.

Quiet by default: what a person needs while a run goes is the live view (on
a terminal) and the report at the end, not a line per step.  Detail is one
flag away, and each event's level says at which flag it appears:

========================  =========  ==========================================
shown at                  level      events
========================  =========  ==========================================
always (also with ``-q``) warning+   what needs attention: failures, interrupts,
                                     config features not applied, blocked waits
``-v``                    info       per step: ``step.created``,
                                     ``step.updated``, ``step.waiting`` ... and
                                     what a step did (``acm.certificate.issued``)
``-vv``                   debug      every AWS call (``aws.call``), botocore's
                                     retries (``aws.retry``), step-level retries
                                     (``retrying``) and waiter polls
                                     (``aws.poll``)
========================  =========  ==========================================

structlog itself is imported only when something logs: importing it costs
~50 ms (it brings rich's traceback machinery), and ``status``, ``graph``,
``cost``, ``check`` and ``--help`` usually log nothing.  Modules take their
logger from :func:`get_logger`, which imports structlog on first use, and the
CLI calls :func:`configure_on_first_use`, which sets the level at once (for
:func:`enabled`) and keeps the rest until then (``bench/startup.py``).
"""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import MutableMapping
from types import ModuleType
from typing import Any, TextIO

_secrets: set[str] = set()
_secrets_lock = threading.Lock()
REDACTED = "***redacted***"


def register_secret(value: str) -> None:
    """Never print ``value``: replace it wherever it appears in a log event."""
    if len(value) >= 6:
        with _secrets_lock:
            _secrets.add(value)


def redact(text: str) -> str:
    with _secrets_lock:
        secrets = sorted(_secrets, key=len, reverse=True)
    for secret in secrets:
        text = text.replace(secret, REDACTED)
    return text


def _redact_value(value: Any) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {k: _redact_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_redact_value(v) for v in value]
    return value


def _redaction_processor(
    _logger: Any, _method: str, event: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    if not _secrets:
        return event
    return {k: _redact_value(v) for k, v in event.items()}


class _StderrProxy:
    """Resolves ``sys.stderr`` at each write, so rich's live view can redirect it."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()

    def isatty(self) -> bool:
        return sys.stderr.isatty()


#: The lowest level shown per verbosity: ``-q`` -1, default 0, ``-v`` 1, ``-vv`` 2 (and more).
LEVELS = {-1: logging.WARNING, 0: logging.WARNING, 1: logging.INFO}
#: The level in force (set by :func:`configure`).
_shown = {"level": logging.WARNING}


def level_for(verbosity: int) -> int:
    return LEVELS.get(verbosity, logging.DEBUG if verbosity > 1 else logging.WARNING)


def enabled(level: int) -> bool:
    """Whether events of ``level`` are shown: lets a hot path skip building one."""
    return level >= _shown["level"]


#: Settings given to :func:`configure_on_first_use` and not applied yet:
#: verbosity, JSON lines or not, colours or not.
_pending: tuple[int, bool, bool] | None = None
#: Re-entrant: the first use configures structlog while holding it (configure
#: takes it too), so a second thread logging at that moment waits for the
#: configuration instead of using structlog's defaults (which print to stdout
#: and would break ``--output json``).
_pending_lock = threading.RLock()


class Logger:
    """A named structlog logger that imports structlog the first time it is used.

    Every attribute (``info``, ``warning``, ``bind`` ...) is structlog's own,
    looked up at each use, so the configuration in force at that moment
    applies (as with ``structlog.get_logger`` and no logger caching).
    """

    def __init__(self, name: str) -> None:
        self.name = name

    def __getattr__(self, attribute: str) -> Any:
        return getattr(_structlog().get_logger(self.name), attribute)


def get_logger(name: str) -> Logger:
    """The logger ``name`` (``vivr.engine``, ``vivr.ecs`` ...); structlog loads on first use."""
    return Logger(name)


def _structlog() -> ModuleType:
    """structlog, with the settings :func:`configure_on_first_use` kept applied first."""
    global _pending
    with _pending_lock:
        pending, _pending = _pending, None
        if pending is not None:
            verbosity, json_logs, colors = pending
            configure(verbosity, json_logs, colors=colors)
    import structlog

    return structlog


def configure_on_first_use(verbosity: int = 0, json_logs: bool | None = None) -> None:
    """What the CLI calls: :func:`configure` with these settings when a logger is first used.

    A command that logs nothing then never imports structlog.  The level is
    set now (:func:`enabled` answers before any event); whether stderr is a
    terminal (JSON lines or not, colours or not) is decided now too: by the
    first event rich's live view may have replaced ``sys.stderr`` with a
    proxy that is no terminal.
    """
    global _pending  # noqa: PLW0603  (one process-wide logging set-up)
    tty = sys.stderr.isatty()
    _shown["level"] = level_for(verbosity)
    with _pending_lock:
        _pending = (verbosity, not tty if json_logs is None else json_logs, tty)


def configure(
    verbosity: int = 0, json_logs: bool | None = None, stream: TextIO | None = None, *,
    colors: bool | None = None,
) -> None:
    """Set the level (see :data:`LEVELS`) and the renderer (JSON lines off a terminal).

    ``json_logs`` and ``colors`` default to whether ``stream`` is a terminal.
    """
    global _pending  # noqa: PLW0603  (these settings replace any kept ones)
    with _pending_lock:
        _pending = None
    import structlog

    stream = stream or _StderrProxy()  # type: ignore[assignment]
    assert stream is not None
    if json_logs is None:
        json_logs = not stream.isatty()
    level = _shown["level"] = level_for(verbosity)
    renderer: Any = (
        structlog.processors.JSONRenderer(sort_keys=False)
        if json_logs
        else structlog.dev.ConsoleRenderer(colors=stream.isatty() if colors is None else colors)
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            # JSON lines carry the full UTC instant; a person reads the time of day.
            structlog.processors.TimeStamper(fmt="iso", utc=True) if json_logs
            else structlog.processors.TimeStamper(fmt="%H:%M:%S", utc=False),
            structlog.processors.format_exc_info,
            _redaction_processor,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(file=stream),
        cache_logger_on_first_use=False,
    )
