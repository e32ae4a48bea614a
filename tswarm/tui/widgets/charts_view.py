"""The Charts view: throughput with failures, response-time percentiles and users over the whole run."""

from __future__ import annotations

from textual.app import ComposeResult

from tswarm.controller.formatting import format_count, format_ms, format_rps
from tswarm.controller.snapshot import HistoryPoint, RunSnapshot
from tswarm.tui.widgets.chart_group import ChartGroup
from tswarm.tui.widgets.time_chart import ChartSeries, TimeChart

__all__ = ["ChartsView"]

#: the users chart's colour: none of the theme's (accent is warning's orange in textual-dark)
USERS_COLOR = "#a371f7"


def _users(value: float) -> str:
    return format_count(round(value))


class ChartsView(ChartGroup):
    """Three charts on one time axis (the last one shows it), fitted to the whole run until zoomed.

    Rates are averaged over each column's seconds, so failures stay comparable with requests and
    the area under a rate is its request count; percentiles and users take the column's maximum,
    so a latency spike or a peak of users stays as high as it was.
    """

    DEFAULT_CSS = """
    ChartsView {
        #chart-users { height: 2fr; }
        #chart-rps, #chart-latency { height: 3fr; }
    }
    """

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self._drawn: tuple[int, HistoryPoint | None, float | None] | None = None

    def compose(self) -> ComposeResult:
        yield TimeChart("Requests/s", format_rps, show_time_axis=False, id="chart-rps")
        yield TimeChart("Response times (ms)", format_ms, show_time_axis=False, id="chart-latency")
        yield TimeChart("Users", _users, id="chart-users")

    def update_snapshot(self, snapshot: RunSnapshot) -> None:
        history = snapshot.history
        drawn = (len(history), history[-1] if history else None, snapshot.started_at)
        if drawn == self._drawn:
            return  # a stopped run: nothing new to bucket
        self._drawn = drawn
        origin = snapshot.started_at
        times = [p.timestamp for p in history]

        def points(values: list[float]) -> list[tuple[float, float]]:
            return list(zip(times, values, strict=True))

        self.query_one("#chart-rps", TimeChart).set_series(
            [
                ChartSeries("requests/s", points([p.current_rps for p in history]), "$success"),
                ChartSeries("failures/s", points([p.current_fail_per_sec for p in history]), "$error"),
            ],
            origin,
        )
        self.query_one("#chart-latency", TimeChart).set_series(
            [
                ChartSeries("p50", points([p.p50 for p in history]), "$primary", "max"),
                ChartSeries("p95", points([p.p95 for p in history]), "$warning", "max"),
                ChartSeries("p99", points([p.p99 for p in history]), "$error", "max"),
            ],
            origin,
        )
        self.query_one("#chart-users", TimeChart).set_series(
            [ChartSeries("users", points([float(p.user_count) for p in history]), USERS_COLOR, "max")], origin
        )
