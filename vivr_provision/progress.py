"""The live view: where every selected step is while a run goes, for a person at a terminal.

Why it is shaped this way:

* It must tell the truth, so its states are the engine's, not guesses:
  ``queued`` (ready, but no concurrency slot yet), ``reading`` (find,
  describe, diff: no slot needed), ``calling`` (holds a slot: creating,
  updating, deleting), ``waiting`` (a waiter; the slot was given back),
  then ``done`` or ``failed``.  The engine reports each change
  (``Engine._notify``; the slot ones from ``SlotGate``).
* A person scans the top first: the header gives the total elapsed time and
  the count per state, then the running steps come in the order that
  matters (calling, waiting longest first, reading, queued), and the view
  never grows past the terminal: what does not fit is counted in one line.
* Beside the elapsed time it shows how long the run still has to go, from
  AWS's typical durations along the longest remaining path
  (:mod:`vivr_provision.eta`), when the command gives one.
* The model (:class:`Board`) is kept apart from the drawing
  (:class:`ProgressView`) and takes a clock, so both are tested without a
  terminal or real time.

Only drawn when stderr is a terminal; elsewhere the log lines and the
report carry the same facts.  It is drawn on stderr, so stdout keeps only
the command's output.
"""

from __future__ import annotations

import io
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import IO, TYPE_CHECKING

from rich.console import Console, ConsoleOptions, RenderResult
from rich.live import Live
from rich.text import Text

if TYPE_CHECKING:
    from vivr_provision.eta import RemainingPath

#: Running states in the order their rows are shown (and counted in the header).
RUNNING = ("calling", "waiting", "reading", "queued")
#: What the engine's phases mean for the view.
PHASES = {"queued": "queued", "reading": "reading", "calling": "calling",
          "waiting": "waiting",
          # the call a step is about to make: it first queues for a slot
          "creating": "queued", "updating": "queued", "deleting": "queued"}
VERBS = {"creating": "create", "updating": "update", "deleting": "delete"}
#: Result actions that are not a success.
FAILED = {"failed"}
STOPPED = {"interrupted"}


def duration(seconds: float) -> str:
    """``7s``, ``1m12s``, ``1h04m``: short enough for a row, exact enough to judge."""
    whole = int(seconds)
    if whole < 60:
        return f"{whole}s"
    if whole < 3600:
        return f"{whole // 60}m{whole % 60:02d}s"
    return f"{whole // 3600}h{whole % 3600 // 60:02d}m"


def estimate(seconds: float) -> str:
    """``~40s``, ``~24m``, ``~1h05m``: an estimate to the minute, since it is no finer."""
    whole = round(seconds)
    if whole < 60:
        return f"~{whole}s"
    minutes = round(seconds / 60)
    return f"~{minutes}m" if minutes < 60 else f"~{minutes // 60}h{minutes % 60:02d}m"


@dataclass
class Row:
    step: str
    state: str
    since: float
    verb: str = ""


class Board:
    """Where each step is, from the engine's notifications (thread-safe)."""

    def __init__(self, total: int, clock: Callable[[], float] = time.monotonic,
                 eta: RemainingPath | None = None) -> None:
        self.total = total
        self.clock = clock
        self.started = clock()
        self.eta = eta
        self._rows: dict[str, Row] = {}
        #: Steps that called AWS: (verb, when they first did), and those that are over.
        self._began: dict[str, tuple[str, float]] = {}
        self._over: set[str] = set()
        self.done = 0
        self.failed = 0
        self.stopped = 0
        #: The longest name shown so far: the columns only ever widen, so rows do not jitter.
        self._widest = 0
        self._lock = threading.Lock()

    def update(self, step: str, phase: str, detail: str = "") -> None:
        now = self.clock()
        with self._lock:
            state = PHASES.get(phase)
            if state is None:  # a result action: the step is over
                self._rows.pop(step, None)
                self._began.pop(step, None)
                self._over.add(step)
                if phase in FAILED:
                    self.failed += 1
                elif phase in STOPPED:
                    self.stopped += 1
                else:
                    self.done += 1
                return
            row = self._rows.get(step)
            verb = VERBS.get(phase, row.verb if row else "")
            if state in ("calling", "waiting"):
                began = self._began.get(step)
                self._began[step] = (verb, began[1] if began else now)
            if row is None or row.state != state:
                self._rows[step] = Row(step, state, now, verb)
                self._widest = max(self._widest, len(step))
            else:
                row.verb = verb

    def running(self) -> list[Row]:
        """Rows in the order a person reads them: calling, waiting (longest first) ..."""
        with self._lock:
            rows = list(self._rows.values())
        rank = {state: i for i, state in enumerate(RUNNING)}
        return sorted(rows, key=lambda r: (rank[r.state], r.since, r.step))

    def counts(self) -> dict[str, int]:
        rows = self.running()
        return {state: sum(1 for r in rows if r.state == state) for state in RUNNING}

    def left(self) -> float | None:
        """Seconds the run still has to go on AWS's typical durations; None without an
        estimate, or once every step still running is later than AWS usually is."""
        if self.eta is None:
            return None
        now = self.clock()
        with self._lock:
            over = set(self._over)
            began = {step: (verb, now - since) for step, (verb, since) in self._began.items()}
        seconds = self.eta.remaining(over, began)
        return seconds if seconds >= 1 else None

    def header(self, title: str, width: int) -> str:
        """``apply 1m12s eta ~14m  done 40/107 · calling 3 · waiting 2 · reading 0 · ...``.

        When that is wider than the terminal, running states at zero are left
        out first, then ``failed 0``, then the estimate.
        """
        left = self.left()
        lead = " ".join(p for p in (title, duration(self.clock() - self.started),
                                    f"eta {estimate(left)}" if left else "") if p)
        running = [(f"{state} {n}", n) for state, n in self.counts().items()]
        ended = [(f"failed {self.failed}", self.failed)]
        if self.stopped:
            ended.append((f"interrupted {self.stopped}", self.stopped))
        done = [(f"done {self.done}/{self.total}", 1)]
        short = " ".join(p for p in (title, duration(self.clock() - self.started)) if p)
        for head, parts in ((lead, done + running + ended),
                            (lead, done + [p for p in running if p[1]] + ended),
                            (lead, done + [p for p in running + ended if p[1]]),
                            (short, done + [p for p in running + ended if p[1]])):
            line = "  ".join([head, " · ".join(text for text, _ in parts)])
            if len(line) <= width:
                break
        return line

    def lines(self, title: str, width: int, height: int) -> list[str]:
        """The view as text lines, at most ``height`` of them and none wider than ``width``."""
        return [text for text, _ in self.render(title, width, height)]

    def render(self, title: str, width: int, height: int) -> list[tuple[str, str]]:
        """The lines with what each shows: ``header``, a state name, or ``more``."""
        rows = self.running()
        room = max(1, height - 1)  # below the header
        shown = rows if len(rows) <= room else rows[:room - 1]
        hidden = rows[len(shown):]
        now = self.clock()
        name_width = max(8, min(self._widest, width - 27))
        out = [(self.header(title, width), "header")]
        for row in shown:
            name = row.step if len(row.step) <= name_width else row.step[:name_width - 1] + "…"
            out.append((f"  {row.state:<8} {name:<{name_width}} {row.verb:<7}"
                        f"{duration(now - row.since):>7}", row.state))
        if hidden:
            states = [s for s in RUNNING if any(r.state == s for r in hidden)]
            if states == ["queued"]:
                out.append((f"  … and {len(hidden)} more queued", "more"))
            else:
                kinds = ", ".join(f"{sum(1 for r in hidden if r.state == s)} {s}"
                                  for s in states)
                out.append((f"  … and {len(hidden)} more ({kinds})", "more"))
        return [(line if len(line) <= width else line[:width - 1] + "…", kind)
                for line, kind in out]


class _Drawing:
    """The board as rich draws it: sized to the console at each refresh."""

    def __init__(self, board: Board, title: str) -> None:
        self.board = board
        self.title = title

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        # One line is left free so the view never fills the screen: a line
        # printed above it (a warning, -v logs) then scrolls cleanly.
        height = max(2, console.size.height - 1)
        for line, kind in self.board.render(self.title, options.max_width, height):
            yield Text(line, style=STYLES.get(kind, ""), no_wrap=True, overflow="ellipsis")


#: How each kind of line is drawn.
STYLES = {"header": "bold", "calling": "bold", "waiting": "yellow", "reading": "cyan",
          "queued": "dim", "more": "dim"}


class ProgressView:
    """Observer for the engine (``__call__(step, phase, detail)``) drawn with rich's Live.

    ``total`` is the number of steps the run selected (with ``--target``,
    the target and its dependencies or dependents), so ``done 12/12``
    means the run is complete; ``title`` names the command (``apply``).
    Lines written to stderr while it runs (warnings, ``-v`` logs) are
    printed above it by rich, never over it.
    """

    def __init__(self, total: int, console: Console, title: str = "",
                 clock: Callable[[], float] = time.monotonic,
                 eta: RemainingPath | None = None) -> None:
        self.board = Board(total, clock, eta)
        #: What is drawn: the board sized to the console at each refresh.
        self.renderable = _Drawing(self.board, title)
        self._console = console
        self._live = Live(self.renderable, console=console,
                          refresh_per_second=4, transient=True,
                          redirect_stdout=False, redirect_stderr=False)
        self._stderr: IO[str] | None = None

    def __call__(self, step: str, phase: str, detail: str) -> None:
        self.board.update(step, phase, detail)

    def __enter__(self) -> ProgressView:
        self._live.__enter__()
        self._stderr, sys.stderr = sys.stderr, _LinesAbove(self._console, sys.stderr)
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._stderr is not None:
            sys.stderr.flush()
            sys.stderr, self._stderr = self._stderr, None
        self._live.__exit__(exc_type, exc, tb)


class _LinesAbove(io.TextIOBase):
    """stderr while the view is drawn: each line is printed above the view, whole.

    rich's own redirection (``FileProxy``) prints lines wrapped at the
    terminal's width, which cuts a ``-vv`` line (``aws.call ... operation=``)
    in two for anyone who copies or greps it; soft wrapping leaves the
    breaking to the terminal.
    """

    def __init__(self, console: Console, file: IO[str]) -> None:
        self._console = console
        self._file = file
        self._partial = ""

    @property
    def rich_proxied_file(self) -> IO[str]:
        """Where rich writes the view itself (it must not come back here)."""
        return self._file

    def write(self, text: str) -> int:
        *lines, self._partial = (self._partial + text).split("\n")
        for line in lines:
            self._console.print(Text.from_ansi(line), soft_wrap=True)
        return len(text)

    def flush(self) -> None:
        if self._partial:
            line, self._partial = self._partial, ""
            self._console.print(Text.from_ansi(line), soft_wrap=True)

    def isatty(self) -> bool:
        return self._file.isatty()

    def fileno(self) -> int:
        return self._file.fileno()
