"""The real ``sandbox start|stop`` on a free port with its own pidfile."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.e2e


def _sandbox(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIVR_", "AWS_"))}
    env["PYTHONPATH"] = str(REPO)
    return subprocess.run(
        [sys.executable, "-m", "vivr_provision", "sandbox", *args,
         "--pidfile", str(tmp_path / "sandbox.json")],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=90, check=False)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_a_second_start_is_idempotent_on_its_port_and_refused_on_another(
        tmp_path: Path) -> None:
    port, other = _free_port(), _free_port()
    started = _sandbox(tmp_path, "start", "--port", str(port))
    assert started.returncode == 0, started.stderr
    try:
        url = f"http://127.0.0.1:{port}"
        again = _sandbox(tmp_path, "start", "--port", str(port))
        assert again.returncode == 0 and f"already running at {url}" in again.stdout
        elsewhere = _sandbox(tmp_path, "start", "--port", str(other))
        assert elsewhere.returncode == 2
        assert f"a sandbox already runs at {url}" in elsewhere.stderr
        assert f"not at http://127.0.0.1:{other}" in elsewhere.stderr
        with socket.socket() as sock:
            assert sock.connect_ex(("127.0.0.1", other)) != 0, "no second server was started"
    finally:
        stopped = _sandbox(tmp_path, "stop")
    assert stopped.returncode == 0 and f"sandbox at {url} stopped" in stopped.stdout
