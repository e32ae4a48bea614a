"""SVG snapshots of every view of the TUI, at 120x40 and 80x24, fed the deterministic fixture.

Update after an intended change with ``pytest tests/test_tui_snapshots.py --snapshot-update`` and look
at the report (or the SVGs under ``tests/__snapshots__/``) before committing them.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from textual.pilot import Pilot
from textual.widgets import Input
from tui_fixtures import CHECK_ROWS, FakeController

from tswarm.controller.snapshot import RunState
from tswarm.tui import TswarmApp

SIZES = [pytest.param((120, 40), id="120x40"), pytest.param((80, 24), id="80x24")]


@pytest.fixture(autouse=True)
def utc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Times of day in the logs and failures are local time: make local time UTC for stable output."""
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def _press(*keys: str):
    async def run_before(pilot: Pilot[None]) -> None:
        await pilot.pause()
        for key in keys:
            await pilot.press(key)
        await pilot.pause()
        # A blinking cursor would make the picture depend on timing.
        for input_ in pilot.app.screen.query(Input):
            input_.cursor_blink = False
        await pilot.pause()

    return run_before


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize(
    "key",
    [
        pytest.param("1", id="stats"),
        pytest.param("2", id="charts"),
        pytest.param("3", id="workers"),
        pytest.param("4", id="failures"),
        pytest.param("5", id="exceptions"),
        pytest.param("6", id="logs"),
        pytest.param("7", id="distributions"),
        pytest.param("8", id="checks-none"),
        pytest.param("question_mark", id="help"),
    ],
)
def test_view(snap_compare, key: str, size: tuple[int, int]) -> None:
    app = TswarmApp(FakeController.running())
    assert snap_compare(app, terminal_size=size, run_before=_press(key))


@pytest.mark.parametrize("size", SIZES)
def test_spawn_dialog(snap_compare, size: tuple[int, int]) -> None:
    app = TswarmApp(FakeController.running(state=RunState.STOPPED))
    assert snap_compare(app, terminal_size=size, run_before=_press("n"))


@pytest.mark.parametrize("size", SIZES)
def test_spawn_dialog_error(snap_compare, size: tuple[int, int]) -> None:
    app = TswarmApp(FakeController.running(state=RunState.STOPPED))
    keys = ("n", "tab", "tab", "tab", *"soon", "enter")  # users, rate, host, run time
    assert snap_compare(app, terminal_size=size, run_before=_press(*keys))


def test_quit_dialog(snap_compare) -> None:
    app = TswarmApp(FakeController.running())
    assert snap_compare(app, terminal_size=(80, 24), run_before=_press("q"))


def test_stats_filtered_and_sorted(snap_compare) -> None:
    app = TswarmApp(FakeController.running())
    keys = ("slash", *"api", "enter", "s", "s", "s", "s", "s")
    assert snap_compare(app, terminal_size=(120, 40), run_before=_press(*keys))


def test_stats_custom_percentiles(snap_compare) -> None:
    app = TswarmApp(FakeController.running(), percentiles=(0.5, 0.99))
    assert snap_compare(app, terminal_size=(80, 24), run_before=_press())


@pytest.mark.parametrize("size", [pytest.param((80, 24), id="80x24"), pytest.param((160, 48), id="160x48")])
def test_stats_sixty_rest_names(snap_compare, size: tuple[int, int]) -> None:
    # tests/locustfiles/rest_api_60.py's names, cut in the middle; the highlighted one in full below
    from test_tui_tables import app_showing, rest_snapshot

    assert snap_compare(app_showing(rest_snapshot()), terminal_size=size, run_before=_press("down", "down"))


@pytest.mark.parametrize("size", SIZES)
def test_endpoint_drill_down(snap_compare, size: tuple[int, int]) -> None:
    """Enter on the row of /api/checkout (it has failures of two kinds)."""

    async def run_before(pilot: Pilot[None]) -> None:
        await _press("slash", *"checkout", "enter", "enter")(pilot)
        app = pilot.app
        app.refresh_snapshot()  # type: ignore[attr-defined]  # the next snapshot holds the entry's detail
        app.screen.redraw()  # type: ignore[attr-defined]
        await pilot.pause()

    app = TswarmApp(FakeController.running())
    assert snap_compare(app, terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES)
def test_checks_view(snap_compare, size: tuple[int, int]) -> None:
    """The Checks view and the status bar's badge with one breached, one waiting and two holding checks."""
    app = TswarmApp(FakeController.running(checks=CHECK_ROWS))
    assert snap_compare(app, terminal_size=size, run_before=_press("8"))
