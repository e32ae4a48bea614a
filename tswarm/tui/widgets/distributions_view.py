"""The Distributions view: the whole test's status codes, errors and response-time histogram."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Static

from tswarm.controller.snapshot import RunSnapshot
from tswarm.tui.widgets.distribution import BarList, ResponseTimeHistogram, error_shares, status_code_shares

__all__ = ["DistributionsView"]


class DistributionsView(Horizontal):
    """Status codes and errors (left), the response-time histogram of every request (right)."""

    DEFAULT_CSS = """
    DistributionsView {
        .dist-title { text-style: bold; color: $text-accent; }
        #dist-breakdown { width: 1fr; min-width: 30; padding: 0 1; }
        #dist-histogram-box { width: 1fr; padding: 0 1; }
        #dist-errors { margin-top: 1; }
    }
    """

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="dist-breakdown"):
            yield Static("Status codes", classes="dist-title")
            yield BarList("No HTTP status yet", id="dist-status")
            yield Static("Errors", classes="dist-title", id="dist-errors")
            yield BarList("No errors", id="dist-error-list")
        with Vertical(id="dist-histogram-box"):
            yield Static("Response times (whole test)", classes="dist-title")
            yield ResponseTimeHistogram(id="dist-histogram")

    def update_snapshot(self, snapshot: RunSnapshot) -> None:
        """Draw the whole test of ``snapshot``."""
        self.query_one("#dist-status", BarList).set_items(status_code_shares(snapshot.total.status_codes))
        self.query_one("#dist-error-list", BarList).set_items(
            (error, count, "red") for error, count in error_shares(snapshot.failures)
        )
        detail = snapshot.total_detail
        self.query_one("#dist-histogram", ResponseTimeHistogram).set_histogram(
            detail.histogram if detail is not None else ()
        )
