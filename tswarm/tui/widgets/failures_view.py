"""The Failures view: failures grouped by (method, name, error), most frequent first, as
Count | Status | Error | Name (the name last and cut in the middle), and the whole error of the selected one."""

from __future__ import annotations

import re

from rich.text import Text
from textual.app import ComposeResult
from textual.events import Resize
from textual.widgets import Static

from tswarm.controller.elide import common_stem, elide_name
from tswarm.controller.formatting import format_clock, format_count
from tswarm.controller.snapshot import FailureRow, RunSnapshot
from tswarm.tui.widgets.detail_table import DetailTable
from tswarm.tui.widgets.synced_table import Cell, ColumnSpec, SyncedTable

__all__ = ["FailuresView", "status_of"]

#: "500 Server Error", "404 Client Error" (requests' HTTPError), "status code 503", "status=429"
_STATUS = re.compile(r"\b([1-5]\d\d) (?:Client|Server) Error|\bstatus(?: code)?[ =:]+([1-5]\d\d)\b", re.I)
#: the vertical scrollbar, and the two padding cells DataTable gives each column
_SCROLLBAR = 1
_PADDING = 2
#: the Error column gets this share of what Count and Status leave; the Name column the rest
_ERROR_SHARE = 0.55
_NAME_MIN = 16


def status_of(error: str) -> str:
    """The HTTP status code a failure's error text names, or "" (a network error, a custom failure)."""
    match = _STATUS.search(error)
    if match is None:
        return ""
    return match.group(1) or match.group(2)


def _first_line(error: str) -> str:
    # A traceback-like error is shown by its first line; the table is one line a row.
    return error.splitlines()[0] if error else ""


class FailuresView(DetailTable[FailureRow]):
    DEFAULT_CSS = """
    FailuresView {
        #failures-table { height: 1fr; min-height: 3; scrollbar-size-vertical: 1; }
        #failures-detail { height: auto; max-height: 6; padding: 0 1; border-top: solid $foreground 30%; }
    }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._snapshot: RunSnapshot | None = None

    def compose(self) -> ComposeResult:
        yield SyncedTable(id="failures-table")
        yield Static("", id="failures-detail", classes="detail", markup=False)

    def on_resize(self, event: Resize) -> None:
        if self._snapshot is not None:
            self.update_snapshot(self._snapshot)

    def update_snapshot(self, snapshot: RunSnapshot) -> None:
        self._snapshot = snapshot
        failures = sorted(snapshot.failures, key=lambda f: (-f.occurrences, f.method, f.name, f.error))
        count_width = max([len("Count"), *(len(format_count(f.occurrences)) for f in failures)])
        status_width = len("Status")
        width = self.query_one(SyncedTable).size.width or self.size.width or 120
        rest = width - _SCROLLBAR - count_width - status_width - 4 * _PADDING
        longest_error = max((len(_first_line(f.error)) for f in failures), default=5)
        longest_name = max((len(f.method) + 1 + len(f.name) for f in failures), default=4)
        # The error says what went wrong: it gets its share, or all it needs when the names are short.
        error_width = max(
            len("Error"), min(longest_error, max(int(rest * _ERROR_SHARE), rest - longest_name))
        )
        name_width = max(_NAME_MIN, rest - error_width)
        stem = common_stem({f.name for f in failures})
        columns = (
            ColumnSpec("count", Text("Count", justify="right"), count_width),
            ColumnSpec("status", "Status", status_width),
            ColumnSpec("error", "Error", error_width),
            ColumnSpec("name", "Name", name_width),
        )

        def cells(f: FailureRow) -> list[Cell]:
            error = _first_line(f.error)
            if len(error) > error_width:
                error = error[: error_width - 1] + "…"
            return [
                Text(format_count(f.occurrences), justify="right"),
                status_of(f.error),
                error,
                f"{f.method} {elide_name(f.name, name_width - len(f.method) - 1, stem)}",
            ]

        self.show(columns, {f"{f.method} {f.name} {f.error}": f for f in failures}, cells)

    def detail(self, item: FailureRow | None) -> str:
        if item is None:
            return "No failures."
        return (
            f"{format_count(item.occurrences)} x {item.method} {item.name}, first seen {format_clock(item.first_seen)}, "
            f"last seen {format_clock(item.last_seen)}\n{item.error.rstrip()}"
        )
