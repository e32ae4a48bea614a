"""The Failures view: failures grouped by (method, name, error), most frequent first."""

from __future__ import annotations

from rich.text import Text

from tswarm.controller.snapshot import RunSnapshot
from tswarm.tui._format import fmt_clock, fmt_count
from tswarm.tui.widgets.synced_table import Cell, ColumnSpec, SyncedTable

__all__ = ["FailuresView"]

_COLUMNS = (
    ColumnSpec("count", Text("Count", justify="right")),
    ColumnSpec("method", "Type"),
    ColumnSpec("name", "Name"),
    ColumnSpec("error", "Error"),
    ColumnSpec("first", "First seen"),
    ColumnSpec("last", "Last seen"),
)


class FailuresView(SyncedTable):
    DEFAULT_CSS = """
    FailuresView { height: 1fr; }
    """

    def update_snapshot(self, snapshot: RunSnapshot) -> None:
        failures = sorted(snapshot.failures, key=lambda f: (-f.occurrences, f.method, f.name, f.error))
        rows: list[tuple[str, list[Cell]]] = [
            (
                f"{f.method} {f.name} {f.error}",
                [
                    Text(fmt_count(f.occurrences), justify="right"),
                    f.method,
                    f.name,
                    # A traceback-like error is shown by its first line; the table is one line a row.
                    f.error.splitlines()[0] if f.error else "",
                    fmt_clock(f.first_seen),
                    fmt_clock(f.last_seen),
                ],
            )
            for f in failures
        ]
        self.sync(_COLUMNS, rows)
