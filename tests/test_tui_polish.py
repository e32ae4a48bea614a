"""The TUI's dialogs, keys and small-terminal behaviour, driven with Pilot against the fake controller."""

from __future__ import annotations

import io
import json
import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path

import pytest
from textual.command import CommandPalette
from textual.widgets import Input, Static, TabbedContent
from textual.widgets._toast import Toast
from tui_fixtures import FakeController, make_snapshot

from tswarm.cli.options import RunOptions
from tswarm.controller import outputs
from tswarm.controller.report import render_summary
from tswarm.controller.snapshot import RunSnapshot
from tswarm.env import Environment
from tswarm.headless.reporter import HeadlessReporter
from tswarm.stats import RequestStats
from tswarm.tui import TswarmApp
from tswarm.tui.bindings import VIEWS
from tswarm.tui.commands import TswarmCommands
from tswarm.tui.screens.help import HelpScreen
from tswarm.tui.screens.quit import QuitScreen
from tswarm.tui.screens.spawn import SpawnScreen
from tswarm.tui.screens.too_small import TooSmallScreen
from tswarm.tui.screens.write import WriteScreen, default_prefix
from tswarm.tui.settings import load_theme, save_theme, settings_path

SIZE = (120, 40)


@pytest.mark.parametrize(
    ("key", "dialog", "close"),
    [
        ("question_mark", HelpScreen, "escape"),
        ("q", QuitScreen, "n"),
        ("e", SpawnScreen, "escape"),
    ],
)
async def test_closing_a_dialog_keeps_the_view(key: str, dialog: type, close: str) -> None:
    app = TswarmApp(FakeController.running())
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("2")
        await pilot.pause()
        assert app.active_view == "charts"
        await pilot.press(key)
        await pilot.pause()
        assert isinstance(app.screen, dialog)
        await pilot.press(close)
        await pilot.pause()
        assert not isinstance(app.screen, dialog)
        assert app.active_view == "charts"


@dataclass
class LaggingController(FakeController):
    """A controller whose snapshot shows a new target only once ``catch_up`` is called, as a real one
    does: its commands are queued into its loop and its snapshot is rebuilt about once a second."""

    shown_target: int = 0

    def snapshot(self) -> RunSnapshot:
        return make_snapshot(
            state=self.state, user_count=self.shown_target, target_user_count=self.shown_target
        )

    def catch_up(self) -> None:
        self.shown_target = self.user_count


async def test_user_keys_are_not_lost_to_a_refresh_before_the_controller_catches_up() -> None:
    controller = LaggingController.running(user_count=40, shown_target=40)
    app = TswarmApp(controller)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        for _ in range(4):
            await pilot.press("right_square_bracket")
            app.refresh_snapshot()  # the app's timer fires before the controller's snapshot shows it
        assert [call[1] for call in controller.calls if call[0] == "start"] == [50, 60, 70, 80]
        controller.catch_up()
        app.refresh_snapshot()
        await pilot.press("left_square_bracket")
        assert controller.calls[-1][1] == 70


async def test_screenshot_key_works_in_a_dialog_and_writes_plain_spaces(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    app = TswarmApp(FakeController.running())
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("e")
        await pilot.pause()
        assert isinstance(app.screen, SpawnScreen)
        await pilot.press("ctrl+s")
        await pilot.pause()
    shots = list(tmp_path.glob("*.svg"))
    assert len(shots) == 1
    svg = shots[0].read_text()
    # rsvg-convert drops no-break spaces at the start of a text run, shifting the columns
    assert "&#160;" not in svg
    assert 'xml:space="preserve"' in svg
    assert "Edit the running test" in svg


async def _palette_titles(app: TswarmApp) -> list[str]:
    provider = TswarmCommands(app.screen)
    return [hit.text or "" async for hit in provider.discover()]


async def test_palette_offers_only_what_applies_now() -> None:
    controller = FakeController.running()
    app = TswarmApp(controller)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        titles = await _palette_titles(app)
        assert not any(t.startswith("Start a new test") for t in titles)
        assert any(t.startswith("Stop the test") for t in titles)
        await pilot.press("x")
        await pilot.pause()
        titles = await _palette_titles(app)
        assert any(t.startswith("Start a new test") for t in titles)
        assert not any(t.startswith("Stop the test") for t in titles)
        assert not any(t.startswith("Add 10 users") for t in titles)
        # the palette itself shows the same
        await pilot.press("ctrl+p")
        await pilot.pause()
        assert isinstance(app.screen, CommandPalette)


def _long_run_stats() -> RequestStats:
    stats = RequestStats()
    for i in range(3):
        name = f"/api/v2/tenants/{{tenant_id}}/projects/{{project_id}}/deployments/{{deployment_id}}/logs{i}"
        stats.log_request("GET", name, 12.5 + i, 512)
        stats.log_error(
            "GET", name, "HTTPError('500 Server Error: Internal Server Error for url: " + "x" * 80
        )
    traceback = (
        'Traceback (most recent call last):\n  File "/srv/tests/' + "deep/" * 20 + 'locustfile.py", line 41\n'
    )
    stats.log_exception("worker-a1", "KeyError: 'order' " + "and more " * 12, traceback)
    stats.log_interrupted(3)
    return stats


@pytest.mark.parametrize("width", [80, 60])
@pytest.mark.parametrize("color", [False, True])
def test_exit_summary_fits_the_terminal(width: int, color: bool) -> None:
    summary = render_summary(_long_run_stats(), color=color, width=width)
    lines = [re.sub(r"\x1b\[[0-9;]*m", "", line) for line in summary.splitlines()]
    assert max(map(len, lines)) <= width, "\n".join(line for line in lines if len(line) > width)
    text = "\n".join(lines)
    # names cut in the middle keep their distinctive end
    for i in range(3):
        assert re.search(rf"/api/v\S*…\S*logs{i}", text)
    assert "locustfile.py" in text
    assert "left out to fit" in text


def test_exit_summary_keeps_its_natural_width_outside_a_terminal() -> None:
    stats = _long_run_stats()
    assert render_summary(stats, color=False) == render_summary(stats, color=False, width=None)
    assert max(map(len, render_summary(stats, color=False).splitlines())) > 120


def test_reporter_fits_the_summary_to_its_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

        def fileno(self) -> int:
            return 99

    monkeypatch.setattr(os, "get_terminal_size", lambda fd: os.terminal_size((80, 24)))
    monkeypatch.setenv("NO_COLOR", "1")
    environment = Environment()
    environment.stats = _long_run_stats()
    terminal = Terminal()
    reporter = HeadlessReporter(
        environment, RunOptions(command="run"), user_count=lambda: 0, stream=terminal, live_table=False
    )
    reporter.final()
    printed = terminal.getvalue().splitlines()
    assert "Statistics (whole test)" in printed
    assert max(map(len, printed)) <= 80


@dataclass
class ReportingController(FakeController):
    """Writes real files through the headless reporter of a run given no output options."""

    reporter: HeadlessReporter | None = None

    def write_outputs(self, prefix: str | None = None) -> list[str]:
        assert self.reporter is not None
        return self.reporter.write_outputs(prefix=prefix)


async def test_write_key_writes_csv_json_and_html_under_the_prefix_with_the_umask_mode(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    environment = Environment()
    environment.stats.log_request("GET", "/items", 12.5, 512)
    environment.stats.log_error("GET", "/items", "boom")
    reporter = HeadlessReporter(
        environment, RunOptions(command="run"), user_count=lambda: 2, live_table=False
    )
    controller = ReportingController.running(reporter=reporter)
    app = TswarmApp(controller)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("w")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert isinstance(app.screen, WriteScreen)
        # a folder that does not exist is said at once, in the dialog
        app.screen.query_one("#write-prefix", Input).value = "nowhere/run"
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, WriteScreen)
        assert "No such folder" in str(app.screen.query_one("#write-error", Static).render())
        app.screen.query_one("#write-prefix", Input).value = "run1"
        await pilot.press("enter")
        await pilot.pause()
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert not isinstance(app.screen, WriteScreen)
    names = ["run1_stats.csv", "run1_failures.csv", "run1_exceptions.csv", "run1.json", "run1.html"]
    modes = {name: stat.S_IMODE((tmp_path / name).stat().st_mode) for name in names}
    assert set(modes.values()) == {0o666 & ~outputs._UMASK}, modes
    assert json.loads((tmp_path / "run1.json").read_text())["total"]["num_requests"] == 1
    assert "<html" in (tmp_path / "run1.html").read_text().lower()


def test_default_prefix_names_the_date_and_time() -> None:
    assert re.fullmatch(r"tswarm_\d{8}-\d{6}", default_prefix())


async def test_a_terminal_below_the_minimum_shows_what_is_needed() -> None:
    controller = FakeController.running()
    app = TswarmApp(controller)
    async with app.run_test(size=(40, 10)) as pilot:
        await pilot.pause()
        assert isinstance(app.screen, TooSmallScreen)
        message = str(app.screen.query_one("#too-small", Static).render())
        assert "terminal too small (need 60x16)\nthis one is 40x10" in message
        await pilot.press("x", "n")  # the app's keys wait: no dialog squeezed in
        assert isinstance(app.screen, TooSmallScreen)
        assert "stop" not in controller.names()
        await pilot.resize_terminal(80, 24)
        await pilot.pause()
        assert not isinstance(app.screen, TooSmallScreen)
        await pilot.resize_terminal(59, 24)
        await pilot.pause()
        assert isinstance(app.screen, TooSmallScreen)
        await pilot.press("q")  # still quits, asking first while a test runs
        await pilot.pause()
        assert isinstance(app.screen, QuitScreen)
        await pilot.press("y")
        await pilot.pause()
    assert controller.names()[-1] == "shutdown"


async def test_tabs_get_short_labels_when_narrow() -> None:
    app = TswarmApp(FakeController.running())
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        tabs = app.query_one("#views", TabbedContent)
        assert tabs.get_tab("stats").label.plain == "1 Statistics"
        await pilot.resize_terminal(64, 20)
        await pilot.pause()
        labels = [tabs.get_tab(pane).label.plain for pane, _ in VIEWS]
        assert labels[0] == "1 Stats" and labels[4] == "5 Exc"
        assert sum(len(label) + 2 for label in labels) <= 64
        await pilot.resize_terminal(60, 20)  # the smallest size the app draws at: two letters each
        await pilot.pause()
        labels = [tabs.get_tab(pane).label.plain for pane, _ in VIEWS]
        assert labels[0] == "1 St" and sum(len(label) + 2 for label in labels) <= 60
        await pilot.resize_terminal(120, 40)
        await pilot.pause()
        assert tabs.get_tab("exceptions").label.plain == "5 Exceptions"


async def test_notifications_do_not_cover_a_dialogs_buttons() -> None:
    app = TswarmApp(FakeController.running())
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await pilot.pause()
        await pilot.press("e")
        await pilot.pause()
        assert isinstance(app.screen, SpawnScreen)
        app.notify(
            "Wrote\n/a/long/path/one.csv\n/a/long/path/two.csv\n/a/long/path/three.json", title="Outputs"
        )
        await pilot.pause(0.3)
        toasts = list(app.screen.query(Toast))
        assert toasts
        buttons = [app.screen.query_one(f"#{name}").region for name in ("spawn-start", "spawn-cancel")]
        for toast in toasts:
            for button in buttons:
                assert not toast.region.overlaps(button), (toast.region, button)


async def test_the_theme_chosen_is_remembered(tmp_path: Path) -> None:
    settings_file = tmp_path / "tswarm" / "tui.toml"
    app = TswarmApp(FakeController.running(), settings_file=settings_file)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        app.theme = "nord"
        await pilot.pause()
    assert 'theme = "nord"' in settings_file.read_text()
    again = TswarmApp(FakeController.running(), settings_file=settings_file)
    async with again.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert again.theme == "nord"
    # a broken file or an unknown theme is no error
    settings_file.write_text("theme = [")
    broken = TswarmApp(FakeController.running(), settings_file=settings_file)
    async with broken.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert broken.theme == "textual-dark"


def test_settings_live_under_xdg_config_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    assert settings_path() == tmp_path / "tswarm" / "tui.toml"
    assert load_theme(settings_path()) is None
    save_theme(settings_path(), "gruvbox")
    assert load_theme(settings_path()) == "gruvbox"


async def test_the_statistics_table_has_the_keys_after_the_start_dialog() -> None:
    app = TswarmApp(FakeController())
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert isinstance(app.screen, SpawnScreen)
        await pilot.press("enter")
        await pilot.pause()
        assert app.focused is app.query_one("#stats-table")
