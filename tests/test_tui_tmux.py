"""``tswarm run`` once in a real terminal: tmux, on a private socket, at 120x40.

Pilot tests drive the app in-process; this one checks what only a terminal shows: that the command
line picks the TUI when stdin and stdout are terminals, that keys arrive through a real tty, and that
the summary is printed on the normal screen after the app leaves, with exit code 0.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from conftest import TargetServer

pytestmark = [
    pytest.mark.timeout(120),
    pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed (.ci/run installs it)"),
]

WAIT = 40.0

TEST_FILE = """
from tswarm import FastHttpUser, constant, task


class Visitor(FastHttpUser):
    wait_time = constant(0.1)

    @task
    def fast(self):
        self.client.get("/fast")
"""


class Tmux:
    """A tmux server of our own (``-L tswarm-test-<pid>``) with one 120x40 session."""

    def __init__(self, socket: str) -> None:
        self.socket = socket

    def __call__(self, *args: str) -> str:
        result = subprocess.run(
            ["tmux", "-L", self.socket, "-f", "/dev/null", *args], capture_output=True, text=True, timeout=10
        )
        if result.returncode != 0:
            raise RuntimeError(f"tmux {' '.join(args)}: {result.stderr.strip()}")
        return result.stdout

    def screen(self) -> str:
        return self("capture-pane", "-p", "-t", "tswarm")

    def everything(self) -> str:
        """The pane and its scrollback."""
        return self("capture-pane", "-p", "-J", "-S", "-", "-t", "tswarm")

    def wait_for(self, predicate: Callable[[str], bool], what: str, *, full: bool = False) -> str:
        deadline = time.monotonic() + WAIT
        text = ""
        while time.monotonic() < deadline:
            text = self.everything() if full else self.screen()
            if predicate(text):
                return text
            time.sleep(0.2)
        pytest.fail(f"not within {WAIT}s: {what}; the pane shows:\n{text}")


@pytest.fixture
def tmux() -> Iterator[Tmux]:
    server = Tmux(f"tswarm-test-{os.getpid()}")
    yield server
    # only the server we started, on our private socket
    subprocess.run(["tmux", "-L", server.socket, "kill-server"], capture_output=True, timeout=10)


def test_run_in_a_real_terminal(tmp_path: Path, target: TargetServer, tmux: Tmux) -> None:
    testfile = tmp_path / "visitor.py"
    testfile.write_text(TEST_FILE)
    exit_file = tmp_path / "exit-code"
    tswarm = [sys.executable, "-m", "tswarm", "run", "-f", str(testfile), "-H", target.url]
    tswarm += ["-u", "3", "-r", "10", "-t", "30s", "--stop-timeout", "5", "--autostart"]
    # After tswarm exits the shell records its code and keeps the pane open so that we can read it.
    script = f"{shlex.join(tswarm)}; echo $? > {shlex.quote(str(exit_file))}; echo TSWARM-DONE; sleep 120"
    env_args = [f"{k}={v}" for k, v in {"TERM": "xterm-256color", "PYTHONUNBUFFERED": "1"}.items()]
    tmux(
        "new-session",
        "-d",
        "-s",
        "tswarm",
        "-x",
        "120",
        "-y",
        "40",
        "-c",
        str(tmp_path),
        "env",
        *env_args,
        "sh",
        "-c",
        script,
    )

    tmux.wait_for(
        lambda s: "RUNNING" in s and "/fast" in s and "Aggregated" in s, "RUNNING and a statistics row"
    )

    tmux("send-keys", "-t", "tswarm", "3")
    screen = tmux.wait_for(
        lambda s: "Users" in s and "Heartbeat" in s and " running" in s, "the Workers view with a worker"
    )
    worker_lines = [line for line in screen.splitlines() if " running" in line]
    assert len(worker_lines) == 1, screen

    tmux("send-keys", "-t", "tswarm", "x")
    tmux.wait_for(lambda s: "STOPPED" in s, "the test stopped")
    served = target.counts()["total"]
    assert served > 0
    tmux("send-keys", "-t", "tswarm", "q")
    text = tmux.wait_for(lambda s: "TSWARM-DONE" in s, "tswarm exited", full=True)

    assert exit_file.read_text().strip() == "0", text
    # the summary, printed on the normal screen once the app has left the alternate one
    assert "Statistics (whole test)" in text, text
    summary = text[text.index("Statistics (whole test)") :]
    fast = next(line for line in summary.splitlines() if "/fast" in line)
    assert f"{served}" in fast.split(), f"the summary's /fast row {fast!r} should count the server's {served}"
