"""``vivr-provision sandbox start|stop|status``: run the local emulator in the background.

The server runs as a detached process (``python -m vivr_sandbox.server``)
so that separate CLI invocations (apply, status, destroy) share one
emulator; its PID and URL are kept in a small JSON file.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import click

from vivr_provision import project
from vivr_provision.errors import ConfigError, VivrError

DEFAULT_PIDFILE = Path("state") / "sandbox.json"


def default_pidfile() -> Path:
    """state/sandbox.json of the project (found as for the config), else of the cwd.

    So that ``sandbox stop`` or ``status`` from any directory of the project
    finds the sandbox ``start`` launched from another one.
    """
    root = project.find_root(os.environ.get("VIVR_ENV") or "production")
    return DEFAULT_PIDFILE if root is None else root / DEFAULT_PIDFILE


pidfile_option = click.option(
    "--pidfile", type=click.Path(path_type=Path), default=default_pidfile,
    show_default="state/sandbox.json under the project root",
    help="Where the running sandbox's PID and URL are kept.")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _answers(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def _read(pidfile: Path) -> dict[str, object] | None:
    try:
        data = json.loads(pidfile.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _already_running(running: dict[str, object], host: str, port: int, pidfile: Path,
                     paced: list[str]) -> None:
    """Starting what already runs is fine (idempotent); asking for another address or
    another pace is not.

    A second ``start --port 4577`` used to say "already running" and exit 0,
    leaving the operator to point AWS_ENDPOINT_URL at a port nobody serves.
    """
    url, pid = str(running["url"]), running["pid"]
    where = urlsplit(url)
    wanted = _pace({"timing": paced[1], "time_scale": float(paced[3])} if paced else {})
    if (where.hostname, where.port) == (host, port) and wanted == _pace(running):
        click.echo(f"sandbox already running at {url} (PID {pid}){wanted}")
        return
    if (where.hostname, where.port) == (host, port):
        raise ConfigError(
            f"the sandbox at {url} (PID {pid}) runs{_pace(running) or ' without timing'}, "
            f"not{wanted or ' without timing'}; stop it first (vivr-provision sandbox stop)")
    raise ConfigError(
        f"a sandbox already runs at {url} (PID {pid}, {pidfile}), not at http://{host}:{port}; "
        f"use that URL, or stop it first (vivr-provision sandbox stop) or give another --pidfile")


def _pace(running: dict[str, object]) -> str:
    """`` with timing PROFILE x F`` for a timed sandbox, else nothing."""
    if "timing" not in running:
        return ""
    return f" with timing {running['timing']} x {running.get('time_scale', 1.0):g}"


@click.group()
def sandbox() -> None:
    """Local AWS emulator (moto) for first runs and demos; no AWS account needed."""


def _timing_arguments(timing: Path | None, time_scale: float | None) -> list[str]:
    """The server's ``--timing``/``--time-scale`` arguments, after checking the profile here.

    A bad profile is reported by ``start`` in one line (exit 2) instead of as
    a server that died with the reason in its log.
    """
    if timing is None:
        if time_scale is not None:
            raise ConfigError("--time-scale needs --timing PROFILE (e.g. profiles/aws.yaml)")
        return []
    from vivr_sandbox.timing.profile import ProfileError, load_profile

    try:
        load_profile(timing)
    except ProfileError as exc:
        raise ConfigError(str(exc)) from None
    return ["--timing", str(timing.resolve()), "--time-scale", f"{time_scale or 1.0:g}"]


@sandbox.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=click.IntRange(1, 65535), default=4566, show_default=True)
@click.option("--timing", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="Timing profile (e.g. profiles/aws.yaml): resources stay creating, "
                   "modifying, deleting ... for AWS's durations. Default: all instant.")
@click.option("--time-scale", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Multiply the profile's durations (1 = AWS's pace, 0.01 = 15 min in 9 s).")
@pidfile_option
def start(host: str, port: int, timing: Path | None, time_scale: float | None,
          pidfile: Path) -> None:
    """Start the emulator in the background and print how to use it."""
    try:
        import moto  # noqa: F401
    except ImportError:
        raise ConfigError("the sandbox needs moto: pip install 'vivr-provision[sandbox]'") from None
    paced = _timing_arguments(timing, time_scale)
    running = _read(pidfile)
    if running and _alive(int(str(running["pid"]))):
        _already_running(running, host, port, pidfile, paced)
        return
    if _answers(host, port):
        raise VivrError(f"port {port} on {host} is already in use; pick another --port")
    pidfile.parent.mkdir(parents=True, exist_ok=True)
    log_path = pidfile.with_suffix(".log")
    with open(log_path, "ab") as log_file:
        process = subprocess.Popen(
            [sys.executable, "-m", "vivr_sandbox.server", "--host", host, "--port", str(port),
             *paced],
            stdout=log_file, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    deadline = time.monotonic() + 30
    while not _answers(host, port):
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise VivrError(f"the sandbox did not start; see {log_path}")
        time.sleep(0.1)
    url = f"http://{host}:{port}"
    running_info: dict[str, object] = {"pid": process.pid, "url": url}
    if paced:
        running_info.update(timing=paced[1], time_scale=float(paced[3]))
    pidfile.write_text(json.dumps(running_info))
    click.echo(f"sandbox running at {url} (PID {process.pid}){_pace(running_info)}; "
               "use it with:\n"
               f"  export AWS_ENDPOINT_URL={url} AWS_ACCESS_KEY_ID=sandbox000000000042 "
               "AWS_SECRET_ACCESS_KEY=sandbox")


@sandbox.command()
@pidfile_option
def stop(pidfile: Path) -> None:
    """Stop the background emulator (its resources are gone with it)."""
    running = _read(pidfile)
    if not running:
        click.echo("sandbox is not running")
        return
    pid = int(str(running["pid"]))
    if _alive(pid):
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)
    pidfile.unlink(missing_ok=True)
    click.echo(f"sandbox at {running['url']} stopped")


@sandbox.command(name="status")
@pidfile_option
def sandbox_status(pidfile: Path) -> None:
    """Tell whether the background emulator runs, and where."""
    running = _read(pidfile)
    if running and _alive(int(str(running["pid"]))):
        click.echo(f"sandbox running at {running['url']} (PID {running['pid']})"
                   f"{_pace(running)}")
    else:
        click.echo("sandbox is not running")
