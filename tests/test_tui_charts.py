"""The Charts view: bucketing of the whole run, zoom and pan, axes, maximising (numbers and Pilot)."""

from __future__ import annotations

import dataclasses
import math
import os
import re
from pathlib import Path

import pytest
from rich.style import Style
from rich.text import Text
from textual.app import App, ComposeResult
from textual.color import Color
from textual.widgets import Footer
from textual.widgets._footer import FooterKey, FooterLabel
from tui_fixtures import T0, FakeController, make_snapshot

from tswarm.controller.formatting import format_elapsed, format_rps
from tswarm.controller.outputs import history_points
from tswarm.controller.snapshot import HistoryPoint, RunSnapshot
from tswarm.stats import HistorySample, StatsHistory
from tswarm.tui import TswarmApp
from tswarm.tui.bindings import CHART_KEY_ACTIONS, CHART_KEYS_HELP
from tswarm.tui.widgets.chart_buckets import (
    TimeWindow,
    bucket_values,
    nice_ceiling,
    pan,
    time_ticks,
    visible_range,
    y_scale,
    zoom,
)
from tswarm.tui.widgets.charts_view import ChartsView
from tswarm.tui.widgets.time_chart import ChartSeries, TimeChart

# -- numbers --------------------------------------------------------------------------------------


def test_mean_buckets_average_the_points_of_each_column() -> None:
    points = [(T0 + s, float(s)) for s in range(10)]
    assert bucket_values(points, T0, T0 + 10, 5, "mean") == [0.5, 2.5, 4.5, 6.5, 8.5]


def test_max_buckets_keep_the_highest_point_of_each_column() -> None:
    points = [(T0 + s, v) for s, v in enumerate([1, 9, 2, 2, 7, 3])]
    assert bucket_values(points, T0, T0 + 6, 3, "max") == [9, 2, 7]


def test_a_short_burst_stays_in_the_whole_run() -> None:
    # 5 minutes at 60 columns: 5 s a column; 3 s of failures at minute 2 still show in one column
    points = [(T0 + s, 30.0 if 120 <= s < 123 else 0.0) for s in range(300)]
    columns = bucket_values(points, T0, T0 + 300, 60, "mean")
    assert [i for i, v in enumerate(columns) if v] == [24]
    assert columns[24] == pytest.approx(30.0 * 3 / 5)


def test_columns_without_a_point_hold_the_value_before_them() -> None:
    # thinned history (a point every 4 s) in a window of one second a column
    points = [(T0 + s, float(s)) for s in range(0, 20, 4)]
    assert bucket_values(points, T0, T0 + 20, 20, "max") == [
        *[0.0] * 4,
        *[4.0] * 4,
        *[8.0] * 4,
        *[12.0] * 4,
        16.0,
        None,
        None,
        None,
    ]
    # a window that starts between two points holds the one before it
    assert bucket_values(points, T0 + 2, T0 + 6, 4, "max") == [0.0, 0.0, 4.0, 4.0]


def test_columns_before_and_after_the_data_are_empty() -> None:
    points = [(T0 + 5, 1.0), (T0 + 6, 2.0)]
    assert bucket_values(points, T0, T0 + 10, 10, "mean") == [None] * 5 + [1.0, 2.0] + [None] * 3
    assert bucket_values([], T0, T0 + 10, 10) == [None] * 10
    assert bucket_values(points, T0, T0, 10) == []


def test_the_whole_run_fills_from_the_left_until_it_is_wider_than_the_chart() -> None:
    assert visible_range(TimeWindow(), T0, T0 + 30, 80) == (T0, T0 + 80)
    assert visible_range(TimeWindow(), T0, T0 + 300, 80) == (T0, T0 + 300)


def test_zoom_steps_through_round_spans_and_back_to_the_whole_run() -> None:
    first, last, columns = T0, T0 + 300, 70
    window = zoom(TimeWindow(), 1, first, last, columns)
    assert window == TimeWindow(120)  # follows the newest point
    assert visible_range(window, first, last, columns) == (T0 + 180, T0 + 300)
    assert zoom(window, 2, first, last, columns) == TimeWindow(30)
    assert zoom(TimeWindow(10), 1, first, last, columns) == TimeWindow(10)  # the narrowest
    assert zoom(window, -1, first, last, columns) == TimeWindow()
    assert zoom(TimeWindow(10), -2, first, last, columns) == TimeWindow(60)
    # a step is a real step: a 310 s run zooms to 120 s, not to 300 s
    assert zoom(TimeWindow(), 1, first, T0 + 310, columns) == TimeWindow(120)
    assert zoom(TimeWindow(300), -1, first, T0 + 310, columns) == TimeWindow()


def test_pan_moves_half_a_window_and_stays_in_the_run() -> None:
    first, last, columns = T0, T0 + 300, 70
    back = pan(TimeWindow(120), -1, first, last, columns)
    assert back == TimeWindow(120, T0 + 240)
    assert visible_range(back, first, last, columns) == (T0 + 120, T0 + 240)
    start = pan(pan(pan(back, -1, first, last, columns), -1, first, last, columns), -1, first, last, columns)
    assert visible_range(start, first, last, columns) == (T0, T0 + 120)
    assert pan(back, 1, first, last, columns) == TimeWindow(120)  # the newest again: follows
    assert pan(TimeWindow(), -1, first, last, columns) == TimeWindow()


def test_round_numbers_for_the_y_axis() -> None:
    assert [nice_ceiling(v) for v in (0.7, 1, 1.1, 2.2, 7, 9, 41, 1234)] == [
        0.8,
        1,
        1.2,
        2.5,
        8,
        10,
        50,
        1500,
    ]
    top, labels = y_scale(222, 37)
    assert top >= 222
    assert [value for _, value in labels] == [50, 100, 150, 200]
    top, labels = y_scale(410, 4)
    assert top == 480 and labels == [(0, 120), (1, 240), (2, 360), (3, 480)]


def test_time_labels_are_elapsed_minutes_at_round_intervals() -> None:
    ticks = time_ticks(T0, T0 + 300, 70, T0)
    assert ticks[0] == (0, "0:00")
    assert [label for _, label in ticks] == [format_elapsed(30 * i) for i in range(10)]
    assert all(b[0] - a[0] >= 6 for a, b in zip(ticks, ticks[1:], strict=False))
    assert time_ticks(T0 + 3000, T0 + 3600, 100, T0)[-1][1] == "59:00"  # 1:00:00 would not fit
    assert "1:00:00" in [label for _, label in time_ticks(T0, T0 + 7200, 100, T0)]
    assert format_elapsed(3723) == "1:02:03"


# -- Pilot ------------------------------------------------------------------------------------------

BURST = (120, 135)


def _five_minutes() -> tuple[HistoryPoint, ...]:
    """A steady 5-minute run with a 15 s failure burst (and slow responses) at minute 2."""
    points = []
    for second in range(1, 301):
        failing = BURST[0] <= second < BURST[1]
        points.append(
            HistoryPoint(
                T0 + second,
                min(100, second),
                200.0 + 20 * math.sin(second / 9),
                40.0 if failing else 0.0,
                40.0,
                420.0 if failing else 120.0,
                1300.0 if failing else 400.0,
            )
        )
    return tuple(points)


@dataclasses.dataclass
class HistoryController(FakeController):
    history: tuple[HistoryPoint, ...] = ()

    def snapshot(self) -> RunSnapshot:
        last = self.history[-1].timestamp if self.history else T0
        return dataclasses.replace(make_snapshot(), history=self.history, started_at=T0, elapsed=last - T0)


def _app(history: tuple[HistoryPoint, ...]) -> TswarmApp:
    return TswarmApp(HistoryController.running(history=history))


def _plot_columns_in(chart: TimeChart, color: str) -> set[int]:
    """Plot columns with a cell drawn in ``color`` (as the block or as its background)."""
    wanted = Color.parse(chart.app.theme_variables[color[1:]]).rich_color
    found: set[int] = set()
    lines = chart.render().split("\n")[1:]
    for line in lines:
        axis = line.plain.find("┤") if "┤" in line.plain else line.plain.find("│")
        if axis < 0:
            continue
        for span in line.spans:
            style = span.style
            if isinstance(style, Style) and wanted in (style.color, style.bgcolor):
                found.update(range(span.start - axis - 1, span.end - axis - 1))
    return found


def _time_axis(chart: TimeChart) -> str:
    last: Text = chart.render().split("\n")[-1]
    return last.plain


def _seconds_at(chart: TimeChart, column: int) -> float:
    assert chart.shown_range is not None
    start, end = chart.shown_range
    return start - T0 + (column + 0.5) * (end - start) / chart.plot_columns


async def test_a_burst_at_minute_two_of_five_shows_at_80x24() -> None:
    app = _app(_five_minutes())
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await pilot.press("2")
        await pilot.pause()
        rps = app.query_one("#chart-rps", TimeChart)
        assert rps.shown_range == (T0, T0 + 300)  # the whole run, not the last 70 s
        failing = _plot_columns_in(rps, "$error")
        assert failing, "the failures are not drawn"
        seconds = [_seconds_at(rps, column) for column in sorted(failing)]
        assert BURST[0] - 5 <= seconds[0] and seconds[-1] <= BURST[1] + 5
        # the latency spike of the burst too, in p99's colour above the others
        latency = app.query_one("#chart-latency", TimeChart)
        top_row = latency.render().split("\n")[1]
        assert top_row.plain.strip().strip("│┤0123456789. ")  # something is drawn on the top row
        users = app.query_one("#chart-users", TimeChart)
        axis = _time_axis(users)
        assert axis.split()[0].lstrip("└") == "0:00" and "4:30" in axis
        title = rps.render().split("\n")[0].plain
        assert "requests/s" in title and "failures/s" in title and "whole run" in title
        assert "p50" in latency.render().plain and "p95" in latency.render().plain
        assert "p99" in latency.render().plain


async def test_zoom_and_pan_change_the_time_labels() -> None:
    app = _app(_five_minutes())
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await pilot.press("2")
        await pilot.pause()
        view = app.query_one(ChartsView)
        users = app.query_one("#chart-users", TimeChart)
        assert view.has_focus
        whole = _time_axis(users)
        await pilot.press("z")
        await pilot.pause()
        assert view.window == TimeWindow(120)
        zoomed = _time_axis(users)
        assert zoomed != whole and zoomed.split()[0].lstrip("└") == "3:00"
        assert "2m00s window" in users.render().split("\n")[0].plain
        await pilot.press("left")
        await pilot.pause()
        panned = _time_axis(users)
        assert panned.split()[0].lstrip("└") == "2:00"
        assert "(paused)" in users.render().split("\n")[0].plain
        # every chart of the view shows the same window
        assert {chart.shown_range for chart in view.charts} == {(T0 + 120, T0 + 240)}
        await pilot.press("end")
        await pilot.pause()
        assert users.shown_range == (T0 + 180, T0 + 300)
        await pilot.press("home")
        await pilot.pause()
        assert users.shown_range == (T0, T0 + 120)
        await pilot.press("Z")
        await pilot.pause()
        assert view.window == TimeWindow() and _time_axis(users) == whole


async def test_a_chart_is_maximised_and_escape_brings_the_others_back() -> None:
    app = _app(_five_minutes())
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await pilot.press("2")
        await pilot.pause()
        view = app.query_one(ChartsView)
        rps, latency, users = view.charts
        assert view.selected is rps and rps.has_class("-selected")
        await pilot.press("down")
        assert view.selected is latency
        await pilot.press("m")
        await pilot.pause()
        assert app.screen.maximized is view
        assert [chart.display for chart in view.charts] == [False, True, False]
        assert latency.size.height > 15
        assert "└0:00" in _time_axis(latency)  # the big chart has its own time axis
        await pilot.press("z")  # the keys still work on the big chart
        await pilot.pause()
        assert latency.window == TimeWindow(120)
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen.maximized is None
        assert all(chart.display for chart in view.charts)
        assert app.active_view == "charts" and view.has_focus
        assert not _time_axis(latency).startswith(" " * 5 + "└")


async def test_an_hour_long_run_is_shown_whole() -> None:
    history = StatsHistory()
    for second in range(3600):
        history.append(
            HistorySample(T0 + 1 + second, 50, 100.0, 5.0 if 1800 <= second < 1810 else 0.0, 10, 20, 0, 0, 30)
        )
    points = history_points(history)
    assert len(points) <= 2048 and points[-1].timestamp == T0 + 3600
    app = _app(points)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        await pilot.press("2")
        await pilot.pause()
        rps = app.query_one("#chart-rps", TimeChart)
        assert rps.shown_range == (T0, T0 + 3600)
        failing = sorted(_plot_columns_in(rps, "$error"))
        assert failing and 1780 <= _seconds_at(rps, failing[0]) <= 1820
        assert "50:00" in _time_axis(app.query_one("#chart-users", TimeChart))


async def test_a_click_selects_a_chart() -> None:
    app = _app(_five_minutes())
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await pilot.press("2")
        await pilot.pause()
        await pilot.click("#chart-users")
        await pilot.pause()
        view = app.query_one(ChartsView)
        assert view.has_focus and view.selected is app.query_one("#chart-users", TimeChart)


async def test_an_empty_history_draws_titles_only() -> None:
    app = TswarmApp(FakeController())
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("escape", "2")
        await pilot.pause()
        for chart in app.query(TimeChart):
            assert chart.render().plain.count("\n") == 0
            assert chart.shown_range is None


def test_the_help_screen_names_every_chart_key() -> None:
    listed = {token for keys, _ in CHART_KEYS_HELP for token in re.findall(r"\w+", keys)}
    for entry in CHART_KEY_ACTIONS:
        assert set(entry.keys.split(",")) <= listed, entry


async def test_closing_a_dialog_on_the_charts_stays_on_the_charts() -> None:
    # The charts take the focus (as a table does), so the screen has something to give it back to.
    app = _app(_five_minutes())
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await pilot.press("2", "question_mark")
        await pilot.pause()
        await pilot.press("escape")
        await pilot.pause()
        assert app.active_view == "charts" and app.query_one(ChartsView).has_focus


def _footer_keys(app: TswarmApp) -> dict[str, int]:
    """The footer's keys and group labels as shown (description -> its right edge), only those it had
    room for."""
    footer = app.screen.query_one(Footer)
    shown = {key.description: key.region.right for key in footer.query(FooterKey) if key.region.width}
    shown.update(
        (str(label.render()), label.region.right) for label in footer.query(FooterLabel) if label.region.width
    )
    return shown


async def test_quit_stays_in_the_footer_of_the_charts_at_80_columns(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The chart keys took the footer's room: at 80 columns ``q quit`` was cut off on Charts."""
    monkeypatch.chdir(tmp_path)
    app = _app(_five_minutes())
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert {"quit", "shot", "help"} <= set(_footer_keys(app))  # Statistics has room for them all
        await pilot.press("2")
        await pilot.pause()
        shown = _footer_keys(app)
        assert {"zoom", "pan", "max", "quit", "help"} <= set(shown)
        assert max(shown.values()) <= 80, shown  # quit ended past the 80th column
        assert "shot" not in shown  # the screenshot key made the room
        # ctrl+s still works there (the help lists it)
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert [name for name in os.listdir(tmp_path) if name.endswith(".svg")]
        await pilot.press("1")
        await pilot.pause()
        assert "shot" in _footer_keys(app)
        # a wide terminal has room for every key on Charts too
        await pilot.resize_terminal(120, 40)
        await pilot.press("2")
        await pilot.pause()
        assert {"zoom", "shot", "quit", "help"} <= set(_footer_keys(app))


class OneChart(App[None]):
    """A chart on its own, as an endpoint's drill-down would show one."""

    def compose(self) -> ComposeResult:
        yield TimeChart("Requests/s", format_rps)


async def test_a_chart_on_its_own_draws_series_of_timestamped_values() -> None:
    app = OneChart()
    async with app.run_test(size=(60, 10)) as pilot:
        chart = app.query_one(TimeChart)
        chart.set_series([ChartSeries("requests/s", [(T0 + s, 10.0) for s in range(1, 31)], "green")], T0)
        chart.window = TimeWindow(10)
        await pilot.pause()
        lines = chart.render().plain.splitlines()
        assert "■ requests/s 10.0" in lines[0] and "10s window" in lines[0]
        assert lines[-1].strip().startswith("└0:20")
        assert chart.shown_range == (T0 + 20, T0 + 30)
        assert all("█" in line for line in lines[-3:-1])  # a steady 10/s fills the bottom rows


async def test_failures_as_high_as_requests_are_drawn_in_front() -> None:
    # every request failed: the two series are equal, and the chart must show the failures
    app = OneChart()
    async with app.run_test(size=(60, 10)) as pilot:
        chart = app.query_one(TimeChart)
        points = [(T0 + s, 10.0) for s in range(1, 31)]
        chart.set_series(
            [ChartSeries("requests/s", points, "$success"), ChartSeries("failures/s", points, "$error")], T0
        )
        await pilot.pause()
        assert _plot_columns_in(chart, "$error") and not _plot_columns_in(chart, "$success")
