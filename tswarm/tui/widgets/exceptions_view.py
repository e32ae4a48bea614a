"""The Exceptions view: exceptions raised in user code, and the traceback of the selected one."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Static

from tswarm.controller.formatting import format_count
from tswarm.controller.snapshot import ExceptionRow, RunSnapshot
from tswarm.tui.widgets.detail_table import DetailTable
from tswarm.tui.widgets.synced_table import Cell, ColumnSpec, SyncedTable

__all__ = ["ExceptionsView"]

_COLUMNS = (
    ColumnSpec("count", Text("Count", justify="right")),
    ColumnSpec("message", "Message"),
    ColumnSpec("nodes", "Nodes"),
)


class ExceptionsView(DetailTable[ExceptionRow]):
    DEFAULT_CSS = """
    ExceptionsView {
        #exceptions-table { height: 1fr; min-height: 3; }
        #exceptions-traceback-box { height: 2fr; border-top: solid $foreground 30%; }
        #exceptions-traceback { padding: 0 1; }
    }
    """

    def compose(self) -> ComposeResult:
        yield SyncedTable(id="exceptions-table")
        with VerticalScroll(id="exceptions-traceback-box", can_focus=False):
            yield Static("", id="exceptions-traceback", classes="detail", markup=False)

    def update_snapshot(self, snapshot: RunSnapshot) -> None:
        exceptions = sorted(snapshot.exceptions, key=lambda e: (-e.count, e.message))
        self.show(_COLUMNS, {e.message + "\x00" + e.traceback: e for e in exceptions}, _cells)

    def detail(self, item: ExceptionRow | None) -> str:
        return item.traceback.rstrip() if item else "No exceptions."


def _cells(e: ExceptionRow) -> list[Cell]:
    return [
        Text(format_count(e.count), justify="right"),
        e.message.splitlines()[0] if e.message else "",
        ", ".join(e.nodes),
    ]
