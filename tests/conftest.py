"""Fixtures shared by the whole suite. Keep this file generic: area-specific fixtures go next to their tests."""

from __future__ import annotations

import json
import os
import queue
import socket
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).parents[1]
#: how long a started process may take to say it is ready
STARTUP_TIMEOUT = 30.0


@pytest.fixture(autouse=True)
def own_config_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test (and every process it starts) reads and writes settings (the TUI's theme) in a temp
    folder, never the developer's ~/.config."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path_factory.mktemp("config")))


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nothing listens on right now (bind to port 0, read it, close)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def repo_env(**extra: str) -> dict[str, str]:
    """The environment for a tswarm subprocess that runs from the source tree, uninstalled."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


def read_line_matching(proc: subprocess.Popen[str], prefix: str, timeout: float) -> str:
    """The first stdout line of ``proc`` that starts with ``prefix``; fails the test after ``timeout``."""
    assert proc.stdout is not None
    lines: queue.Queue[str | None] = queue.Queue()
    stdout = proc.stdout

    def pump() -> None:
        for line in stdout:
            lines.put(line)
            if line.startswith(prefix):
                break
        else:
            lines.put(None)  # the process ended without the line

    threading.Thread(target=pump, daemon=True).start()
    seen: list[str] = []
    while True:
        try:
            line = lines.get(timeout=timeout)
        except queue.Empty:
            pytest.fail(f"no line starting with {prefix!r} within {timeout} s; got {seen!r}")
        if line is None:
            pytest.fail(f"process exited ({proc.wait()}) before printing {prefix!r}; got {seen!r}")
        if line.startswith(prefix):
            return line.strip()
        seen.append(line)


def stop_process(proc: subprocess.Popen[Any], timeout: float = 10.0) -> int:
    """Terminate ``proc`` (by its PID, SIGTERM then SIGKILL) and return its exit code."""
    if proc.poll() is None:
        proc.terminate()
        try:
            return proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
    return proc.wait()


@dataclass
class TargetServer:
    """A running ``python -m tswarm.target`` and its request counts."""

    host: str
    port: int
    process: subprocess.Popen[str] = field(repr=False)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def counts(self) -> dict[str, Any]:
        """``{"total": N, "by_endpoint": {"GET /fast": n, ...}}`` as the server counted them."""
        with urllib.request.urlopen(self.url + "/__counts", timeout=10) as response:
            return json.load(response)

    def reset(self) -> None:
        """Zero the server's counts."""
        request = urllib.request.Request(self.url + "/__reset", data=b"", method="POST")
        with urllib.request.urlopen(request, timeout=10):
            pass


@pytest.fixture(scope="session")
def target_server() -> Iterator[TargetServer]:
    """The built-in target server, started once per test session on a free port."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "tswarm.target", "--host", "127.0.0.1", "--port", "0"],
        cwd=REPO_ROOT,
        env=repo_env(),
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        line = read_line_matching(proc, "tswarm target listening on http://", STARTUP_TIMEOUT)
        host, port = line.rsplit("/", 1)[1].rsplit(":", 1)
        yield TargetServer(host, int(port), proc)
    finally:
        stop_process(proc)


@pytest.fixture
def target(target_server: TargetServer) -> TargetServer:
    """The session's target server with its counts zeroed."""
    target_server.reset()
    return target_server
