"""``tswarm demo``: the bundled example test against the built-in target server on 127.0.0.1.

Imports ``cli.options`` and ``cli.modes`` (which runs it like ``tswarm run``) from the command line.
"""

from __future__ import annotations

import subprocess
import sys
from importlib import resources
from pathlib import Path

from tswarm.cli.modes import choose_run_mode, launch
from tswarm.cli.options import RunOptions
from tswarm.exceptions import TswarmError


def bundled_demo_file() -> Path:
    """examples/demo.py: from the source tree, else the copy inside the installed package."""
    source = Path(__file__).resolve().parents[2] / "examples" / "demo.py"
    if source.is_file():
        return source
    packaged = resources.files("tswarm") / "_bundled" / "demo.py"
    return Path(str(packaged))


def start_target() -> tuple[subprocess.Popen[str], str]:
    """Start ``tswarm target`` on a free loopback port; returns the process and its URL."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "tswarm.target", "--host", "127.0.0.1", "--port", "0"],
        stdout=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()
    if not line.startswith("tswarm target listening on "):
        proc.kill()
        raise TswarmError(f"the built-in target server did not start: {line or 'no output'}")
    return proc, line.rsplit(" ", 1)[1]


def run_demo(options: RunOptions) -> int:
    """The bundled example test against a target server started for it; returns the exit code."""
    target, url = start_target()
    try:
        options.locustfile = str(bundled_demo_file())
        options.host = url
        options.stop_timeout = options.stop_timeout or 5.0
        print(f"tswarm demo: target server at {url}, test file {options.locustfile}", file=sys.stderr)
        if choose_run_mode(options).tui:
            options.autostart = True  # a demo shows a test at once
        elif options.run_time is None:
            options.run_time = 15.0  # and a headless one ends by itself
        return launch(options)
    finally:
        target.terminate()
        try:
            target.wait(timeout=5)
        except subprocess.TimeoutExpired:
            target.kill()
