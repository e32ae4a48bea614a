"""A table of keyed items with the details of the one under the cursor below it."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

from textual import on
from textual.containers import Vertical
from textual.widgets import DataTable, Static

from tswarm.tui.widgets.synced_table import Cell, ColumnSpec, SyncedTable

__all__ = ["DetailTable"]

T = TypeVar("T")


class DetailTable(Vertical, Generic[T]):
    """Compose a :class:`SyncedTable` and a ``Static`` with class ``detail``; :meth:`show` fills the
    table, :meth:`detail` says what the ``Static`` shows for the selected item (or None)."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._by_key: dict[str, T] = {}

    def show(
        self, columns: Sequence[ColumnSpec], items: dict[str, T], cells: Callable[[T], list[Cell]]
    ) -> None:
        self._by_key = items
        self.query_one(SyncedTable).sync(columns, [(key, cells(item)) for key, item in items.items()])
        self._show_detail()

    def detail(self, item: T | None) -> str:
        raise NotImplementedError

    @on(DataTable.RowHighlighted)
    def _row_highlighted(self) -> None:
        self._show_detail()

    def _show_detail(self) -> None:
        key = self.query_one(SyncedTable).cursor_key
        self.query_one(".detail", Static).update(self.detail(self._by_key.get(key) if key else None))
