"""The Failures view: failures grouped by (method, name, error), most frequent first, and the whole
error of the selected one."""

from __future__ import annotations

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import DataTable, Static

from tswarm.controller.snapshot import FailureRow, RunSnapshot
from tswarm.tui._format import fmt_clock, fmt_count
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


class FailuresView(Vertical):
    DEFAULT_CSS = """
    FailuresView {
        #failures-table { height: 1fr; min-height: 3; }
        #failures-detail { height: auto; max-height: 6; padding: 0 1; border-top: solid $foreground 30%; }
    }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._by_key: dict[str, FailureRow] = {}

    def compose(self) -> ComposeResult:
        yield SyncedTable(id="failures-table")
        yield Static("", id="failures-detail", markup=False)

    def update_snapshot(self, snapshot: RunSnapshot) -> None:
        failures = sorted(snapshot.failures, key=lambda f: (-f.occurrences, f.method, f.name, f.error))
        self._by_key = {f"{f.method} {f.name} {f.error}": f for f in failures}
        rows: list[tuple[str, list[Cell]]] = [
            (
                key,
                [
                    Text(fmt_count(f.occurrences), justify="right"),
                    f.method,
                    f.name,
                    fmt_clock(f.last_seen),
                    # A traceback-like error is shown by its first line; the table is one line a row.
                    f.error.splitlines()[0] if f.error else "",
                ],
            )
            for key, f in self._by_key.items()
        ]
        self.query_one(SyncedTable).sync(_COLUMNS, rows)
        self._show_detail()

    @on(DataTable.RowHighlighted, "#failures-table")
    def _row_highlighted(self) -> None:
        self._show_detail()

    def _show_detail(self) -> None:
        key = self.query_one(SyncedTable).cursor_key
        row = self._by_key.get(key) if key else None
        if row is None:
            text = "No failures."
        else:
            text = (
                f"{fmt_count(row.occurrences)} x {row.method} {row.name}, first seen {fmt_clock(row.first_seen)}, "
                f"last seen {fmt_clock(row.last_seen)}\n{row.error.rstrip()}"
            )
        self.query_one("#failures-detail", Static).update(text)
