"""A DataTable that is redrawn from plain rows once a second without flicker or lost cursor."""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Any

from rich.segment import Segment
from rich.style import Style
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

    DataTable forgets every rendered cell whenever any cell changes; once a second, with a few
    hundred cells visible, that re-rendering is most of the TUI's CPU. This table also keeps rendered
    cells by what they show (content, place, style, width), so a tick re-renders only the cells whose
    value changed.
    """

    #: rendered cells kept by content; cleared when it holds more than this many times the cells shown
    CONTENT_CACHE_FACTOR = 3

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        # before DataTable's __init__, which clears the caches
        self._content_cache: dict[Hashable, list[list[Segment]]] = {}
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
        rows = [
            (key, tuple(Text(cell) if isinstance(cell, str) else cell for cell in cells))
            for key, cells in rows
        ]
        row_keys = tuple(key for key, _ in rows)
        if columns != self._columns_shown or row_keys != self._row_keys:
            self._rebuild(columns, rows)
        else:
            column_keys = [column.key for column in columns]
            for key, cells in rows:
                old = self._cells[key]
                new = tuple(cells)
                if old == new:
                    continue
                for column_key, before, after in zip(column_keys, old, new, strict=True):
                    if before != after:
                        self.update_cell(key, column_key, after, update_width=True)
                self._cells[key] = new
        self._settle()

    def _settle(self) -> None:
        """Measure the new rows and changed cells now, so that the next frame already has the right column
        widths and row count.

        Textual 8.2's DataTable does this when its message queue is next idle; a frame drawn before that
        (a screenshot taken right after a view was filled) showed columns as wide as their labels only.
        Once per sync, so the batching the idle handler gives is not lost.
        """
        if self._updated_cells:
            updated = self._updated_cells.copy()
            self._updated_cells.clear()
            self._update_column_widths(updated)
        if self._require_update_dimensions:
            self._require_update_dimensions = False
            new_rows = self._new_rows.copy()
            self._new_rows.clear()
            self._update_dimensions(new_rows)

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

    # -- rendering --------------------------------------------------------------------------------------
    # Textual 8.2's DataTable renders each cell through ``_render_cell``; its own cache is keyed by the
    # table's update count. The snapshot tests cover the output of this override.

    def _render_cell(
        self,
        row_index: int,
        column_index: int,
        base_style: Style,
        width: int,
        cursor: bool = False,
        hover: bool = False,
    ) -> list[list[Segment]]:
        if row_index < 0 or column_index < 0:  # the header and row labels are cached by DataTable
            return super()._render_cell(row_index, column_index, base_style, width, cursor, hover)
        row_key = self._row_locations.get_key(row_index)
        column_key = self._column_locations.get_key(column_index)
        if row_key is None or column_key is None:
            return super()._render_cell(row_index, column_index, base_style, width, cursor, hover)
        key = (
            row_index,  # the rendered segments carry the row and column as mouse metadata
            column_index,
            _identity(self._data[row_key][column_key]),
            base_style,
            width,
            cursor,
            hover,
            self._show_hover_cursor,
            self.show_cursor,
            self._pseudo_class_state,
        )
        lines = self._content_cache.get(key)
        if lines is None:
            if len(self._content_cache) > self.CONTENT_CACHE_FACTOR * max(
                64, len(self._cells) * len(self._columns_shown)
            ):
                self._content_cache.clear()
            lines = super()._render_cell(row_index, column_index, base_style, width, cursor, hover)
            self._content_cache[key] = lines
        return lines

    def _clear_caches(self) -> None:
        super()._clear_caches()
        self._content_cache.clear()


def _identity(value: Any) -> Hashable:
    """What a cell shows, as a hashable key."""
    if isinstance(value, Text):
        return (value.plain, value.style, value.justify, value.overflow, tuple(value.spans))
    return value if isinstance(value, Hashable) else repr(value)
