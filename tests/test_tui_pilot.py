"""Drive the TUI with Textual's Pilot against the fake controller."""

from __future__ import annotations

import asyncio
import csv
import json
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console
from textual.widgets import Input, Static
from tui_fixtures import FakeController, report_paths

from tswarm.cli.options import RunOptions
from tswarm.controller.snapshot import RunState
from tswarm.env import Environment
from tswarm.headless.reporter import HeadlessReporter
from tswarm.tui import TswarmApp
from tswarm.tui.screens.endpoint import EndpointScreen
from tswarm.tui.screens.help import HelpScreen
from tswarm.tui.screens.quit import QuitScreen
from tswarm.tui.screens.spawn import SpawnScreen, parse_duration
from tswarm.tui.screens.write import WriteScreen
from tswarm.tui.widgets.stats_view import TOTAL_KEY, StatsView

SIZE = (120, 40)


async def test_start_dialog_opens_when_ready_and_starts_the_test() -> None:
    controller = FakeController()
    app = TswarmApp(controller)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert isinstance(app.screen, SpawnScreen)
        users = app.screen.query_one("#spawn-users", Input)
        assert users.has_focus
        users.value = ""
        await pilot.press(*"25", "tab", *"2.5", "tab")
        app.screen.query_one("#spawn-host", Input).value = ""
        await pilot.press(*"http://t:9", "tab", *"1h30m", "enter")
        await pilot.pause()
        assert controller.calls == [("start", 25, 2.5, "http://t:9", 5400.0)]
        assert not isinstance(app.screen, SpawnScreen)
        assert app.snapshot is not None and app.snapshot.state is RunState.RUNNING


async def test_start_dialog_shows_errors_inline() -> None:
    controller = FakeController()
    app = TswarmApp(controller)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        app.screen.query_one("#spawn-run-time", Input).value = "soon"
        await pilot.click("#spawn-start")
        await pilot.pause()
        assert isinstance(app.screen, SpawnScreen)
        assert "Run time" in str(app.screen.query_one("#spawn-error").render())
        assert controller.calls == []
        await pilot.press("escape")
        assert not isinstance(app.screen, SpawnScreen)
        assert controller.calls == []


async def test_edit_prefills_the_running_test() -> None:
    controller = FakeController.running()
    app = TswarmApp(controller)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert not isinstance(app.screen, SpawnScreen)
        await pilot.press("e")
        assert isinstance(app.screen, SpawnScreen)
        assert app.screen.query_one("#spawn-users", Input).value == "150"
        assert app.screen.query_one("#spawn-rate", Input).value == "10"
        assert app.screen.query_one("#spawn-run-time", Input).value == "10m00s"
        await pilot.click("#spawn-start")
        await pilot.pause()
        assert controller.calls == [("start", 150, 10.0, "https://shop.example.test", 600.0)]


async def test_autostart_starts_at_once_without_the_dialog() -> None:
    controller = FakeController()
    app = TswarmApp(controller, autostart=(40, 4.0))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert controller.calls[0] == ("start", 40, 4.0, None, None)
        assert not isinstance(app.screen, SpawnScreen)


async def test_user_keys_add_up_from_the_target() -> None:
    controller = FakeController.running()
    app = TswarmApp(controller)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("plus", "plus")
        await pilot.press("minus")
        await pilot.press("right_square_bracket", "left_square_bracket", "left_square_bracket")
        targets = [call[1] for call in controller.calls if call[0] == "start"]
        assert targets == [151, 152, 151, 161, 151, 141]
        assert all(call[2] == 10.0 for call in controller.calls)


async def test_stop_reset_and_write() -> None:
    controller = FakeController.running()
    app = TswarmApp(controller)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("r", "w")
        # the files are written on a worker thread: let it finish before the next command
        await app.workers.wait_for_complete()
        await pilot.press("x")
        await pilot.pause()
        assert controller.names() == ["reset_stats", "write_outputs", "stop"]
        assert app.snapshot is not None and app.snapshot.state is RunState.STOPPED
        # Stopped: +/- and x do nothing now.
        await pilot.press("plus", "x")
        assert controller.names() == ["reset_stats", "write_outputs", "stop"]


#: seconds a test waits for something that happens at once unless the code under test is broken
WAIT = 10.0


@dataclass
class WritingController(FakeController):
    """Writes real --csv/--json files through the headless reporter, as ``tswarm run`` does under the TUI,
    but only once the test sets ``release``: a write that takes its time."""

    reporter: HeadlessReporter | None = None
    writing: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)

    def write_outputs(self) -> list[str]:
        self.calls.append(("write_outputs",))
        self.writing.set()
        # Bounded: were this called on the app's loop, the loop could not run the test that releases it.
        if not self.release.wait(WAIT):
            raise TimeoutError("the write was never released")
        assert self.reporter is not None
        return self.reporter.write_outputs()


def writing_controller(csv: str | None, json: str | None) -> WritingController:
    environment = Environment()
    environment.stats.log_request("GET", "/items", 12.5, 512)
    environment.stats.log_request("GET", "/items", 30.0, 512)
    environment.stats.log_error("GET", "/items", "boom")
    options = RunOptions(command="run", csv=csv, json=json)
    reporter = HeadlessReporter(environment, options, user_count=lambda: 2, live_table=False)
    return WritingController(reporter=reporter, **_running_fields())


def _running_fields() -> dict[str, Any]:
    running = FakeController.running()
    return {
        name: getattr(running, name)
        for name in ("state", "user_count", "spawn_rate", "run_time", "has_stats")
    }


def record_notifications(app: TswarmApp, monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Every notification the app shows from now on, as the keyword arguments of ``notify``."""
    shown: list[dict[str, Any]] = []
    notify = app.notify

    def recording(message: str, **kwargs: Any) -> None:
        shown.append({"message": message, **kwargs})
        notify(message, **kwargs)

    monkeypatch.setattr(app, "notify", recording)
    return shown


async def test_write_key_writes_off_the_event_loop_and_names_the_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # relative paths, as typed on the command line
    controller = writing_controller(csv="run", json="report.json")
    app = TswarmApp(controller)
    shown = record_notifications(app, monkeypatch)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("w")
        assert await asyncio.to_thread(controller.writing.wait, WAIT), "the write did not start"
        # While the files are being written, the app still answers keys and redraws.
        await pilot.press("2")
        await pilot.pause()
        assert app.active_view == "charts"
        assert not (tmp_path / "report.json").exists()
        assert shown == []
        # A second press while the first write is under way does not start another.
        await pilot.press("w")
        await pilot.pause()
        assert controller.names() == ["write_outputs"]
        assert [n["severity"] for n in shown] == ["warning"]

        controller.release.set()
        await app.workers.wait_for_complete()
        await pilot.pause()
    kinds = ("stats", "failures", "exceptions", "status_codes", "stats_history")
    expected = [tmp_path / f"run_{kind}.csv" for kind in kinds]
    expected.append(tmp_path / "report.json")
    written = shown[-1]
    assert written["title"] == "Outputs"
    assert written["message"].splitlines() == ["Wrote", *map(str, expected)]
    for path in expected:
        assert path.is_absolute() and path.is_file(), path
    assert json.loads((tmp_path / "report.json").read_text())["total"]["num_requests"] == 2
    with (tmp_path / "run_stats.csv").open(newline="") as stats_file:
        rows = {row["Name"]: row for row in csv.DictReader(stats_file)}
    assert rows["/items"]["Request Count"] == "2"
    assert rows["/items"]["Failure Count"] == "1"


async def test_write_key_reports_a_failed_write(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    controller = writing_controller(csv=None, json="no-such-folder/report.json")
    controller.release.set()
    app = TswarmApp(controller)
    shown = record_notifications(app, monkeypatch)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("w")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert app.is_running  # the error is told, not raised
    assert len(shown) == 1
    assert shown[0]["severity"] == "error"
    assert shown[0]["message"].startswith("Could not write the outputs: ")
    assert "no-such-folder" in shown[0]["message"]


async def test_write_key_without_outputs_asks_for_a_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    controller = FakeController.running(output_paths=[])
    app = TswarmApp(controller)
    shown = record_notifications(app, monkeypatch)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("w")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert isinstance(app.screen, WriteScreen)
        prefix_box = app.screen.query_one("#write-prefix", Input)
        assert prefix_box.value.startswith("tswarm_")
        prefix_box.value = "/tmp/run1"
        await pilot.press("enter")
        await pilot.pause()
        await app.workers.wait_for_complete()
        await pilot.pause()
    assert controller.calls == [("write_outputs",), ("write_outputs", "/tmp/run1")]
    assert [n["message"].splitlines() for n in shown] == [["Wrote", *report_paths("/tmp/run1")]]


@pytest.mark.parametrize(
    ("key", "pane"),
    [
        ("1", "stats"),
        ("2", "charts"),
        ("3", "workers"),
        ("4", "failures"),
        ("5", "exceptions"),
        ("6", "logs"),
        ("7", "distributions"),
    ],
)
async def test_number_keys_switch_views(key: str, pane: str) -> None:
    app = TswarmApp(FakeController.running())
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("3" if key == "1" else "1", key)
        await pilot.pause()
        assert app.active_view == pane


async def test_filter_box_filters_by_name() -> None:
    app = TswarmApp(FakeController.running())
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("slash", *"static", "enter")
        await pilot.pause()
        table = app.query_one(StatsView).table
        assert table.row_keys_shown == ("GET /static/app.js", "GET /static/style.css", TOTAL_KEY)
        assert table.has_focus
        await pilot.press("slash", "ctrl+u", "escape")  # ctrl+u clears the input
        await pilot.pause()
        assert len(table.row_keys_shown) == 13


async def test_sort_cycles_columns_and_reverses() -> None:
    app = TswarmApp(FakeController.running())
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        view = app.query_one(StatsView)
        await pilot.press("s")
        assert view.sort_key == "type"
        await pilot.press("s")
        assert view.sort_key == "name"
        assert view.table.row_keys_shown[0] == "GET /"
        await pilot.press("s")
        assert view.sort_key == "requests"
        keys = view.table.row_keys_shown
        assert keys[0] == "GET /api/products/[id]"  # most requests first
        assert keys[-1] == TOTAL_KEY  # the aggregate stays last
        await pilot.press("S")
        assert view.table.row_keys_shown[0] == "PUT /api/profile"
        assert view.table.row_keys_shown[-1] == TOTAL_KEY


async def test_quit_asks_while_running() -> None:
    controller = FakeController.running()
    app = TswarmApp(controller)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("q")
        assert isinstance(app.screen, QuitScreen)
        await pilot.press("n")
        assert not isinstance(app.screen, QuitScreen)
        assert "shutdown" not in controller.names()
        await pilot.press("q", "y")
        await pilot.pause()
        assert controller.names()[-1] == "shutdown"
    assert app.return_code == 0


async def test_quit_without_asking_when_stopped() -> None:
    controller = FakeController.running(state=RunState.STOPPED)
    app = TswarmApp(controller)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("q")
        await pilot.pause()
        assert controller.names() == ["shutdown"]


async def test_autoquit_after_the_test_stopped() -> None:
    controller = FakeController()
    app = TswarmApp(controller, autostart=(5, 5.0), autoquit=0.1)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        controller.stop()  # the run ends (as a --run-time would)
        app.refresh_snapshot()
        await pilot.pause(0.5)
        assert controller.names() == ["start", "stop", "shutdown"]
    assert app.return_code == 0


async def test_help_and_command_palette() -> None:
    controller = FakeController.running()
    app = TswarmApp(controller)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape")
        await pilot.press("ctrl+p")
        await pilot.press(*"reset the stat")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await pilot.pause()
        assert controller.names() == ["reset_stats"]


async def test_screenshot_key_saves_an_svg(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    app = TswarmApp(FakeController.running())
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("ctrl+s")
        await pilot.pause()
    assert len(list(tmp_path.glob("*.svg"))) == 1


@pytest.mark.parametrize(
    ("text", "seconds"), [("30s", 30.0), ("5m", 300.0), ("1h30m", 5400.0), ("90", 90.0), ("", None)]
)
def test_parse_duration(text: str, seconds: float | None) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["soon", "0s", "5x", "h"])
def test_parse_duration_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


def test_tui_imports_neither_gevent_nor_zmq() -> None:
    import subprocess
    import sys

    code = "import sys, tswarm.tui; bad = {'gevent', 'zmq'} & set(sys.modules); assert not bad, bad"
    subprocess.run([sys.executable, "-c", code], check=True)


def _text(widget: Static) -> str:
    """What a Static shows, as plain text."""
    console = Console(width=200, record=True)
    console.print(widget.content)
    return console.export_text()


async def test_enter_opens_the_endpoint_and_escape_closes_it() -> None:
    controller = FakeController.running()
    app = TswarmApp(controller)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("slash", *"recommend", "enter")  # the filter leaves one row above the aggregate
        await pilot.press("enter")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, EndpointScreen)
        key = ("GET", "/api/recommendations/for-user/[id]")
        assert screen.key == key
        assert controller.calls[-1] == ("watch_entry", key)
        app.refresh_snapshot()  # the controller's next snapshot has the entry's detail
        screen.redraw()  # (the screen's own timer would, within half a second)
        await pilot.pause()
        name = _text(screen.query_one("#endpoint-name", Static))
        assert name.strip() == "GET /api/recommendations/for-user/[id]"  # in full, however long
        percentiles = _text(screen.query_one("#endpoint-percentiles", Static))
        assert all(label in percentiles for label in ("p50", "p66", "p99.9", "p99.99", "p100"))
        assert screen.query_one("#endpoint-histogram")._buckets  # type: ignore[attr-defined]
        status = screen.query_one("#endpoint-status")._items  # type: ignore[attr-defined]
        assert [(label, count) for label, count, _ in status] == [("200", 5209), ("no response", 1)]
        errors = screen.query_one("#endpoint-errors")._items  # type: ignore[attr-defined]
        assert [(label, count) for label, count, _ in errors] == [("Timeout('read timed out')", 1)]
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, EndpointScreen)
        assert controller.calls[-1] == ("watch_entry", None)


async def test_enter_on_the_aggregate_opens_the_whole_test() -> None:
    controller = FakeController.running()
    app = TswarmApp(controller)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        table = app.query_one(StatsView).table
        table.move_cursor(row=len(table.row_keys_shown) - 1)
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, EndpointScreen)
        assert app.screen.key == ("", "Aggregated")


async def test_distributions_view_shows_status_codes_errors_and_histogram() -> None:
    app = TswarmApp(FakeController.running())
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("7")
        await pilot.pause()
        view = app.query_one("#distributions-view")
        status = [(label, n) for label, n, _ in view.query_one("#dist-status")._items]  # type: ignore[attr-defined]
        snapshot = app.snapshot
        assert snapshot is not None
        assert sum(n for _, n in status) == snapshot.total.num_requests
        assert status[0][0] == "200" and ("500", 611) in status and ("no response", 8) in status
        errors = [(label, n) for label, n, _ in view.query_one("#dist-error-list")._items]  # type: ignore[attr-defined]
        assert errors[0] == ("HTTPError('500 Server Error: Internal Server Error')", 611)
        assert view.query_one("#dist-histogram")._buckets  # type: ignore[attr-defined]
