"""A live view of steps in flight for people at a terminal (rich).

Only used when stderr is a TTY; pipelines and CI get the structured log
lines instead, which carry the same transitions.
"""

from __future__ import annotations

import threading
import time
from types import TracebackType

from rich.console import Console
from rich.live import Live
from rich.table import Table

ACTIVE = {"checking", "creating", "updating", "waiting", "deleting"}


class ProgressView:
    """Observer for the engine: keeps a table of active steps and done counts."""

    def __init__(self, total: int, console: Console) -> None:
        self.total = total
        self._active: dict[str, tuple[str, float]] = {}
        self._done = 0
        self._lock = threading.Lock()
        self._live = Live(console=console, refresh_per_second=4, transient=True,
                          get_renderable=self._render, redirect_stderr=True)

    def __call__(self, step: str, phase: str, detail: str) -> None:
        with self._lock:
            if phase in ACTIVE:
                started = self._active.get(step, (phase, time.monotonic()))[1]
                self._active[step] = (phase, started)
            else:
                self._active.pop(step, None)
                self._done += 1

    def _render(self) -> Table:
        with self._lock:
            table = Table(title=f"{self._done}/{self.total} steps done", title_justify="left",
                          show_edge=False, show_header=False)
            now = time.monotonic()
            for step, (phase, started) in sorted(self._active.items()):
                table.add_row(step, phase, f"{now - started:.0f}s")
            return table

    def __enter__(self) -> ProgressView:
        self._live.__enter__()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._live.__exit__(exc_type, exc, tb)
