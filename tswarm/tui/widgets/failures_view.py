"""The Failures view: failures grouped by (method, name, error), most frequent first, and the whole
error of the selected one."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.widgets import Static

from tswarm.controller.formatting import format_clock, format_count
from tswarm.controller.snapshot import FailureRow, RunSnapshot
from tswarm.tui.widgets.detail_table import DetailTable
from tswarm.tui.widgets.synced_table import Cell, ColumnSpec, SyncedTable

__all__ = ["FailuresView"]

_COLUMNS = (
    ColumnSpec("count", Text("Count", justify="right")),
    ColumnSpec("method", "Type"),
    ColumnSpec("name", "Name"),
    ColumnSpec("last", "Last seen"),
    # last: a long message runs off the right edge; the detail below shows all of it
    ColumnSpec("error", "Error"),
)


class FailuresView(DetailTable[FailureRow]):
    DEFAULT_CSS = """
    FailuresView {
        #failures-table { height: 1fr; min-height: 3; }
        #failures-detail { height: auto; max-height: 6; padding: 0 1; border-top: solid $foreground 30%; }
    }
    """

    def compose(self) -> ComposeResult:
        yield SyncedTable(id="failures-table")
        yield Static("", id="failures-detail", classes="detail", markup=False)

    def update_snapshot(self, snapshot: RunSnapshot) -> None:
        failures = sorted(snapshot.failures, key=lambda f: (-f.occurrences, f.method, f.name, f.error))
        self.show(_COLUMNS, {f"{f.method} {f.name} {f.error}": f for f in failures}, _cells)

    def detail(self, item: FailureRow | None) -> str:
        if item is None:
            return "No failures."
        return (
            f"{format_count(item.occurrences)} x {item.method} {item.name}, first seen {format_clock(item.first_seen)}, "
            f"last seen {format_clock(item.last_seen)}\n{item.error.rstrip()}"
        )


def _cells(f: FailureRow) -> list[Cell]:
    return [
        Text(format_count(f.occurrences), justify="right"),
        f.method,
        f.name,
        format_clock(f.last_seen),
        # A traceback-like error is shown by its first line; the table is one line a row.
        f.error.splitlines()[0] if f.error else "",
    ]
