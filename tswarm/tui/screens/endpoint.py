"""The drill-down of one endpoint (Enter on a statistics row): every figure of that one entry.

Its full name, every percentile, status codes, errors, a live response-time histogram and its own
charts. The controller puts the entry's detail (histogram, percentiles) into its snapshots while the
screen is open (``RunController.watch_entry``); the charts are sampled by the screen itself, once per
new snapshot while it is open, so no per-endpoint history is kept for entries nobody looks at. May
import the controller's snapshot, api and formatting, and tui widgets.
"""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Static

from tswarm.controller.formatting import (
    format_bytes,
    format_count,
    format_failures,
    format_ms,
    format_rps,
    percentile_label,
)
from tswarm.controller.snapshot import EntryDetail, EntryRow, RunSnapshot
from tswarm.tui.widgets.distribution import BarList, ResponseTimeHistogram, error_shares, status_code_shares
from tswarm.tui.widgets.time_chart import ChartSeries, TimeChart

__all__ = ["AGGREGATE_KEY", "EndpointScreen", "entry_for_row_key"]

#: the (method, name) of the aggregate row
AGGREGATE_KEY = ("", "Aggregated")
#: samples of the endpoint's own charts kept while the screen is open (an hour at one a second)
MAX_SAMPLES = 3600


def entry_for_row_key(snapshot: RunSnapshot, row_key: str, total_key: str) -> EntryRow | None:
    """The entry of a statistics row (keys are ``"METHOD name"``; ``total_key`` is the aggregate's)."""
    if row_key == total_key:
        return snapshot.total
    for entry in snapshot.entries:
        if f"{entry.method} {entry.name}" == row_key:
            return entry
    return None


def _ms(value: float) -> str:
    return format_ms(value) + " ms"


class EndpointScreen(Screen[None]):
    """Everything about one (method, name); Escape closes it."""

    BINDINGS = [Binding("escape,q", "close", "close")]

    DEFAULT_CSS = """
    EndpointScreen {
        #endpoint-name { padding: 0 1; background: $primary-muted; text-style: bold; }
        .endpoint-title { text-style: bold; color: $text-accent; }
        #endpoint-top { height: auto; }
        #endpoint-top > Vertical { width: 1fr; height: auto; padding: 0 1; }
        #endpoint-middle { height: 14; }
        #endpoint-middle > Vertical { width: 1fr; padding: 0 1; }
        #endpoint-failures { height: auto; padding: 0 1; }
        TimeChart { height: 1fr; min-height: 3; }
    }
    """

    def __init__(self, key: tuple[str, str]) -> None:
        super().__init__()
        self.key = key
        self._last_snapshot: RunSnapshot | None = None
        self._times: list[float] = []
        self._rps: list[float] = []
        self._fails: list[float] = []
        self._p50: list[float] = []
        self._p95: list[float] = []

    def compose(self) -> ComposeResult:
        method, name = self.key
        yield Static(Text(f"{method} {name}".strip(), overflow="fold"), id="endpoint-name")
        with VerticalScroll(id="endpoint-body"):
            with Horizontal(id="endpoint-top"):
                with Vertical():
                    yield Static("Figures", classes="endpoint-title")
                    yield Static(id="endpoint-figures")
                with Vertical():
                    yield Static("Percentiles (whole test)", classes="endpoint-title")
                    yield Static(id="endpoint-percentiles")
                with Vertical():
                    yield Static("Status codes", classes="endpoint-title")
                    yield BarList("No HTTP status yet", id="endpoint-status")
            with Horizontal(id="endpoint-middle"):
                with Vertical():
                    yield Static("Response times", classes="endpoint-title")
                    yield ResponseTimeHistogram(id="endpoint-histogram")
                with Vertical():
                    yield TimeChart("Requests/s", format_rps, show_time_axis=False, id="endpoint-chart-rps")
                    yield TimeChart("Response times (ms)", format_ms, id="endpoint-chart-latency")
            with Vertical(id="endpoint-failures"):
                yield Static("Errors", classes="endpoint-title")
                yield BarList("No errors", id="endpoint-errors")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        controller = getattr(self.app, "controller", None)
        if controller is not None:
            controller.watch_entry(self.key)
        self.redraw()
        # the app takes a snapshot about once a second; draw each new one
        self.set_interval(0.5, self.redraw)

    def on_unmount(self) -> None:
        controller = getattr(self.app, "controller", None)
        if controller is not None:
            controller.watch_entry(None)

    def action_close(self) -> None:
        self.dismiss(None)

    def _entry(self, snapshot: RunSnapshot) -> EntryRow | None:
        if self.key == AGGREGATE_KEY:
            return snapshot.total
        return next((e for e in snapshot.entries if e.key == self.key), None)

    def redraw(self) -> None:
        """Draw the app's newest snapshot, if it is new to this screen."""
        snapshot: RunSnapshot | None = getattr(self.app, "snapshot", None)
        if snapshot is None or snapshot is self._last_snapshot:
            return
        self._last_snapshot = snapshot
        self.update_snapshot(snapshot)

    def update_snapshot(self, snapshot: RunSnapshot) -> None:
        """Draw the endpoint as ``snapshot`` has it, and add a sample to its charts."""
        entry = self._entry(snapshot)
        detail = snapshot.detail
        if detail is not None and (detail.method, detail.name) != self.key:
            detail = None  # the snapshot was taken before the controller heard of this screen
        self.query_one("#endpoint-figures", Static).update(self._figures(entry))
        self.query_one("#endpoint-percentiles", Static).update(self._percentiles(entry, detail))
        self.query_one("#endpoint-status", BarList).set_items(
            status_code_shares(entry.status_codes if entry else ())
        )
        self.query_one("#endpoint-histogram", ResponseTimeHistogram).set_histogram(
            detail.histogram if detail else ()
        )
        key = None if self.key == AGGREGATE_KEY else self.key
        self.query_one("#endpoint-errors", BarList).set_items(
            (error, count, "red") for error, count in error_shares(snapshot.failures, key)
        )
        if entry is not None and detail is not None:
            self._sample(snapshot, entry, detail)

    def _sample(self, snapshot: RunSnapshot, entry: EntryRow, detail: EntryDetail) -> None:
        when = snapshot.started_at + snapshot.elapsed if snapshot.started_at is not None else 0.0
        if self._times and when <= self._times[-1]:
            return  # the same moment (a stopped test): nothing new to chart
        for series, value in (
            (self._times, when),
            (self._rps, entry.current_rps),
            (self._fails, entry.current_fail_per_sec),
            (self._p50, detail.current_p50),
            (self._p95, detail.current_p95),
        ):
            series.append(value)
            del series[:-MAX_SAMPLES]
        origin = snapshot.started_at

        def points(values: list[float]) -> list[tuple[float, float]]:
            return list(zip(self._times, values, strict=True))

        self.query_one("#endpoint-chart-rps", TimeChart).set_series(
            [
                ChartSeries("requests/s", points(self._rps), "$success"),
                ChartSeries("failures/s", points(self._fails), "$error"),
            ],
            origin,
        )
        self.query_one("#endpoint-chart-latency", TimeChart).set_series(
            [
                ChartSeries("p50", points(self._p50), "$primary", "max"),
                ChartSeries("p95", points(self._p95), "$warning", "max"),
            ],
            origin,
        )

    @staticmethod
    def _figures(entry: EntryRow | None) -> Table | Text:
        if entry is None:
            return Text("No requests yet", style="dim")
        table = Table(box=None, show_header=False, padding=(0, 1, 0, 0))
        table.add_column("what", style="dim", no_wrap=True)
        table.add_column("value", justify="right", no_wrap=True)
        table.add_row("Requests", format_count(entry.num_requests))
        table.add_row("Failures", format_failures(entry.num_failures, entry.fail_ratio))
        table.add_row("Requests/s", format_rps(entry.current_rps))
        table.add_row("Failures/s", format_rps(entry.current_fail_per_sec))
        table.add_row("Average", _ms(entry.avg_response_time))
        table.add_row("Min", _ms(entry.min_response_time))
        table.add_row("Max", _ms(entry.max_response_time))
        table.add_row("Avg size", format_bytes(entry.avg_content_length))
        return table

    @staticmethod
    def _percentiles(entry: EntryRow | None, detail: EntryDetail | None) -> Table | Text:
        values = detail.percentiles if detail is not None else (entry.percentiles if entry else {})
        if not values:
            return Text("No requests yet", style="dim")
        table = Table(box=None, show_header=False, padding=(0, 1, 0, 0))
        table.add_column("percentile", style="dim", no_wrap=True)
        table.add_column("ms", justify="right", no_wrap=True)
        for q in sorted(values):
            table.add_row(percentile_label(q), _ms(values[q]))
        return table
