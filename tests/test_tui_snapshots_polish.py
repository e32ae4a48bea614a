"""SVG snapshots of the write dialog, the too-small screen and the Logs view searched and folded.

Update after an intended change with ``pytest tests/test_tui_snapshots_polish.py --snapshot-update``.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from test_tui_logs import LoggingController, traceback_line
from test_tui_snapshots import _press
from tui_fixtures import FakeController

from tswarm.tui import TswarmApp


@pytest.fixture(autouse=True)
def utc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def test_write_dialog(snap_compare, monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("tswarm.tui.screens.write.default_prefix", lambda now=None: "tswarm_20240501-120000")
    monkeypatch.setattr("os.getcwd", lambda: "/home/me/loadtests")
    app = TswarmApp(FakeController.running(output_paths=[]))
    assert snap_compare(app, terminal_size=(80, 24), run_before=_press("w"))


def test_too_small(snap_compare) -> None:
    app = TswarmApp(FakeController.running())
    assert snap_compare(app, terminal_size=(40, 10), run_before=_press())


def test_logs_folded_and_searched(snap_compare) -> None:
    controller = LoggingController.running()
    controller.log([traceback_line(n, "worker-a1" if n % 2 else "worker-b2", same=True) for n in range(30)])
    app = TswarmApp(controller)
    assert snap_compare(app, terminal_size=(80, 24), run_before=_press("6", "slash", *"value", "enter"))
