"""The TUI's dialogs, keys and small-terminal behaviour, driven with Pilot against the fake controller."""

from __future__ import annotations

import io
import os
import re
from dataclasses import dataclass
from pathlib import Path

import pytest
from textual.command import CommandPalette
from tui_fixtures import FakeController, make_snapshot

from tswarm.cli.options import RunOptions
from tswarm.controller.report import render_summary
from tswarm.controller.snapshot import RunSnapshot
from tswarm.env import Environment
from tswarm.headless.reporter import HeadlessReporter
from tswarm.stats import RequestStats
from tswarm.tui import TswarmApp
from tswarm.tui.commands import TswarmCommands
from tswarm.tui.screens.help import HelpScreen
from tswarm.tui.screens.quit import QuitScreen
from tswarm.tui.screens.spawn import SpawnScreen

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
        assert re.search(rf"/api/v2/t\S*\.\.\.\S*logs{i}", text)
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
