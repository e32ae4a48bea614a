"""Drive the TUI with Textual's Pilot against the fake controller."""

from __future__ import annotations

import pytest
from textual.widgets import Input
from tui_fixtures import FakeController

from tswarm.controller.snapshot import RunState
from tswarm.tui import TswarmApp
from tswarm.tui.screens.help import HelpScreen
from tswarm.tui.screens.quit import QuitScreen
from tswarm.tui.screens.spawn import SpawnScreen, parse_duration
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
        await pilot.press("r", "w", "x")
        await pilot.pause()
        assert controller.names() == ["reset_stats", "write_outputs", "stop"]
        assert app.snapshot is not None and app.snapshot.state is RunState.STOPPED
        # Stopped: +/- and x do nothing now.
        await pilot.press("plus", "x")
        assert controller.names() == ["reset_stats", "write_outputs", "stop"]


@pytest.mark.parametrize(
    ("key", "pane"),
    [
        ("1", "stats"),
        ("2", "charts"),
        ("3", "workers"),
        ("4", "failures"),
        ("5", "exceptions"),
        ("6", "logs"),
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
