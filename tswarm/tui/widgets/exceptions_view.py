"""The Exceptions view: exceptions raised in user code, and the traceback of the selected one."""

from __future__ import annotations

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.widgets import DataTable, Static

from tswarm.controller.snapshot import ExceptionRow, RunSnapshot
from tswarm.tui._format import fmt_count
from tswarm.tui.widgets.synced_table import Cell, ColumnSpec, SyncedTable

__all__ = ["ExceptionsView"]

_COLUMNS = (
    ColumnSpec("count", Text("Count", justify="right")),
    ColumnSpec("message", "Message"),
    ColumnSpec("nodes", "Nodes"),
)


class ExceptionsView(Vertical):
    DEFAULT_CSS = """
    ExceptionsView {
        #exceptions-table { height: 1fr; min-height: 3; }
        #exceptions-traceback-box { height: 2fr; border-top: solid $foreground 30%; }
        #exceptions-traceback { padding: 0 1; }
    }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._by_key: dict[str, ExceptionRow] = {}

    def compose(self) -> ComposeResult:
        yield SyncedTable(id="exceptions-table")
        with VerticalScroll(id="exceptions-traceback-box", can_focus=False):
            yield Static("", id="exceptions-traceback", markup=False)

    def update_snapshot(self, snapshot: RunSnapshot) -> None:
        exceptions = sorted(snapshot.exceptions, key=lambda e: (-e.count, e.message))
        self._by_key = {e.message + "\x00" + e.traceback: e for e in exceptions}
        rows: list[tuple[str, list[Cell]]] = [
            (
                key,
                [
                    Text(fmt_count(e.count), justify="right"),
                    e.message.splitlines()[0] if e.message else "",
                    ", ".join(e.nodes),
                ],
            )
            for key, e in self._by_key.items()
        ]
        self.query_one(SyncedTable).sync(_COLUMNS, rows)
        self._show_traceback()

    @on(DataTable.RowHighlighted, "#exceptions-table")
    def _row_highlighted(self) -> None:
        self._show_traceback()

    def _show_traceback(self) -> None:
        key = self.query_one(SyncedTable).cursor_key
        row = self._by_key.get(key) if key else None
        text = row.traceback.rstrip() if row else "No exceptions."
        self.query_one("#exceptions-traceback", Static).update(text)
