"""Run the real CLI under a pseudo-terminal and see what a person at that terminal sees.

Why a pty: the CLI decides on ``isatty()`` whether to draw the live view,
ask for confirmation or print JSON log lines, so only a terminal shows
what a person gets.  Why a terminal emulator (pyte): the live view redraws
itself with cursor movements; the screen after those movements, not the
byte stream, is what a person reads.

Use::

    with PtyCli(aws, "apply", "--parallelism", "2") as run:
        run.expect(r"Type the environment name")   # waits, returns the match
        run.send("production\\n")
        code = run.wait()
    run.text          # everything written, escape sequences removed
    run.screen()      # the 80x40 screen as it is now, one string per row
    run.frames        # every distinct screen seen while it ran (taken when output pauses)

stdin, stdout and stderr all go to the pty (as on a person's terminal);
``COLUMNS``, ``LINES`` and ``TERM`` describe it.
"""

from __future__ import annotations

import fcntl
import os
import re
import select
import signal
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

import pyte

if TYPE_CHECKING:
    from tests.conftest import Aws

#: CSI and OSC sequences and the two-byte escapes rich and click write.
_ESCAPES = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[=>()][0-9A-B]?")


#: How long output must pause for the screen to count as a frame (rich redraws 4 times a second).
QUIET_S = 0.05


def strip_escapes(text: str) -> str:
    """``text`` without terminal escape sequences or carriage returns."""
    return _ESCAPES.sub("", text).replace("\r", "")


class PtyCli:
    """One CLI process on a pseudo-terminal of ``columns`` x ``lines``."""

    def __init__(self, aws: Aws, *args: str, env: dict[str, str] | None = None,
                 columns: int = 80, lines: int = 40, config: Path | None = None,
                 state: Path | str | None = None) -> None:
        command = [sys.executable, "-m", "vivr_provision", *args,
                   "--config", str(config or aws.config),
                   "--state", str(state or aws.state_path)]
        terminal = {"COLUMNS": str(columns), "LINES": str(lines), "TERM": "xterm"}
        full_env = aws.env(**terminal, **(env or {}))
        for name in ("NO_COLOR", "FORCE_COLOR", "CI", "TTY_COMPATIBLE", "TTY_INTERACTIVE"):
            full_env.pop(name, None)
        self._master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", lines, columns, 0, 0))
        self.process = subprocess.Popen(command, cwd=aws.workdir, env=full_env, stdin=slave,
                                        stdout=slave, stderr=slave, start_new_session=True)
        os.close(slave)
        self._screen = pyte.Screen(columns, lines)
        self._stream = pyte.ByteStream(self._screen)
        self._raw = bytearray()
        self._seen = 0  # position in ``text`` that expect() has consumed
        self._eof = False
        #: Every distinct screen seen while the process ran, in order.
        self.frames: list[list[str]] = []

    # -- reading ----------------------------------------------------------
    def _pump(self, timeout: float) -> bool:
        """Read what is there (waiting at most ``timeout``); False at end of output."""
        if self._eof:
            return False
        ready, _, _ = select.select([self._master], [], [], timeout)
        if not ready:
            return True
        try:
            chunk = os.read(self._master, 65536)
        except OSError:  # EIO: every writer closed the terminal
            chunk = b""
        if not chunk:
            self._eof = True
            return False
        self._raw.extend(chunk)
        self._stream.feed(chunk)
        # A redraw arrives in pieces (the pty buffer is smaller than a 40-line frame) but
        # in one burst; redraws are 250 ms apart: take the screen once output pauses.
        if self._drained(QUIET_S):
            screen = self.screen()
            if not self.frames or self.frames[-1] != screen:
                self.frames.append(screen)
        return True

    @property
    def text(self) -> str:
        """Everything written so far, escape sequences removed."""
        return strip_escapes(self._raw.decode("utf-8", errors="replace"))

    def screen(self) -> list[str]:
        """The terminal's rows as they are now (trailing blanks removed)."""
        return [row.rstrip() for row in self._screen.display]

    def expect(self, pattern: str, timeout: float = 120) -> re.Match[str]:
        """Wait until ``pattern`` appears in output not matched before; return the match."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while True:
            found = regex.search(self.text, self._seen)
            if found:
                self._seen = found.end()
                return found
            if time.monotonic() > deadline or not self._pump(0.1):
                found = regex.search(self.text, self._seen)
                if found:
                    self._seen = found.end()
                    return found
                raise AssertionError(f"{pattern!r} never appeared; output was:\n{self.text}")

    # -- writing and ending ----------------------------------------------
    def send(self, text: str) -> None:
        """Type ``text`` (``\\n`` is Enter)."""
        os.write(self._master, text.encode())

    def interrupt(self) -> None:
        """Ctrl-C, as the terminal sends it: SIGINT to the process group."""
        os.killpg(self.process.pid, signal.SIGINT)

    def wait(self, timeout: float = 300) -> int:
        """Read until the process ends and its output is drained; its exit code."""
        deadline = time.monotonic() + timeout
        while self._pump(0.1):
            if self.process.poll() is not None and self._drained():
                break
            if time.monotonic() > deadline:
                self.process.kill()
                raise AssertionError(f"still running after {timeout}s; output:\n{self.text}")
        return self.process.wait(timeout=max(1.0, deadline - time.monotonic()))

    def _drained(self, wait_s: float = 0.0) -> bool:
        ready, _, _ = select.select([self._master], [], [], wait_s)
        return not ready

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        os.close(self._master)

    def __enter__(self) -> PtyCli:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
