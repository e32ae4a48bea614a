"""A DataTable that is redrawn from plain rows once a second without flicker or lost cursor."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rich.text import Text
from textual.widgets import DataTable

__all__ = ["Cell", "ColumnSpec", "SyncedTable"]

Cell = str | Text


@dataclass(frozen=True)
class ColumnSpec:
    key: str
    label: str | Text
    #: None lets the DataTable size the column to its content
    width: int | None = None


class SyncedTable(DataTable[Cell]):
    """Takes the whole wanted table on every tick and changes only what changed.

    The rows are rebuilt only when the columns or the ordered set of row keys change (a new
    endpoint, a re-sort, a filter); otherwise only the cells whose value differs are updated.
    The cursor stays on the same row key across rebuilds.
    """

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes, cursor_type="row", zebra_stripes=True)
        self._columns_shown: tuple[ColumnSpec, ...] = ()
        self._row_keys: tuple[str, ...] = ()
        self._cells: dict[str, tuple[Cell, ...]] = {}

    @property
    def row_keys_shown(self) -> tuple[str, ...]:
        """The keys of the rows as they are shown, top to bottom."""
        return self._row_keys

    @property
    def cursor_key(self) -> str | None:
        """The key of the row under the cursor, if any."""
        if not self._row_keys or not 0 <= self.cursor_row < len(self._row_keys):
            return None
        return self._row_keys[self.cursor_row]

    def sync(self, columns: Sequence[ColumnSpec], rows: Sequence[tuple[str, Sequence[Cell]]]) -> None:
        """Make the table show ``columns`` and ``rows`` (row key, one cell per column)."""
        columns = tuple(columns)
        # Plain strings would be parsed as markup ("/search?q=[term]" would lose "[term]").
        rows = [(key, tuple(Text(cell) if isinstance(cell, str) else cell for cell in cells)) for key, cells in rows]
        row_keys = tuple(key for key, _ in rows)
        if columns != self._columns_shown or row_keys != self._row_keys:
            self._rebuild(columns, rows)
            return
        column_keys = [column.key for column in columns]
        for key, cells in rows:
            old = self._cells[key]
            new = tuple(cells)
            if old == new:
                continue
            for column_key, before, after in zip(column_keys, old, new, strict=True):
                if before != after:
                    self.update_cell(key, column_key, after)
            self._cells[key] = new

    def _rebuild(self, columns: tuple[ColumnSpec, ...], rows: Sequence[tuple[str, Sequence[Cell]]]) -> None:
        keep = self.cursor_key
        columns_changed = columns != self._columns_shown
        self.clear(columns=columns_changed)
        if columns_changed:
            for column in columns:
                self.add_column(column.label, key=column.key, width=column.width)
        self._cells = {key: tuple(cells) for key, cells in rows}
        for key, cells in rows:
            self.add_row(*cells, key=key)
        self._columns_shown = columns
        self._row_keys = tuple(key for key, _ in rows)
        if keep in self._cells:
            self.move_cursor(row=self._row_keys.index(keep), animate=False, scroll=False)
