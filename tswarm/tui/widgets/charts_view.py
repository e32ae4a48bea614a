"""The Charts view: throughput, failures, response times and users over the run's history."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Vertical

from tswarm.controller.formatting import format_count, format_ms, format_rps
from tswarm.controller.snapshot import RunSnapshot
from tswarm.tui.widgets.time_chart import TimeChart

__all__ = ["ChartsView"]


def _ms(value: float) -> str:
    return format_ms(value) + " ms"


class ChartsView(Vertical):
    DEFAULT_CSS = """
    ChartsView {
        #chart-rps { color: $success; }
        #chart-fails { color: $error; }
        #chart-p50 { color: $primary; }
        #chart-p95 { color: $warning; }
        #chart-users { color: $accent; }
    }
    """

    def compose(self) -> ComposeResult:
        yield TimeChart("Requests/s", format_rps, id="chart-rps")
        yield TimeChart("Failures/s", format_rps, id="chart-fails")
        yield TimeChart("Median (p50)", _ms, id="chart-p50")
        yield TimeChart("p95", _ms, id="chart-p95")
        yield TimeChart("Users", lambda value: format_count(int(value)), id="chart-users")

    def update_snapshot(self, snapshot: RunSnapshot) -> None:
        history = snapshot.history
        times = [p.timestamp for p in history]
        self.query_one("#chart-rps", TimeChart).set_series([p.current_rps for p in history], times)
        self.query_one("#chart-fails", TimeChart).set_series([p.current_fail_per_sec for p in history], times)
        self.query_one("#chart-p50", TimeChart).set_series([p.p50 for p in history], times)
        self.query_one("#chart-p95", TimeChart).set_series([p.p95 for p in history], times)
        self.query_one("#chart-users", TimeChart).set_series([float(p.user_count) for p in history], times)
