"""The Statistics view: one row per (method, name), the aggregate last, a filter and a sort."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.events import Resize
from textual.widgets import Input

from tswarm.controller.formatting import format_bytes, format_count, format_ms, format_rps, percentile_label
from tswarm.controller.snapshot import EntryRow, RunSnapshot
from tswarm.tui.widgets.synced_table import Cell, ColumnSpec, SyncedTable

__all__ = ["StatsView", "TOTAL_KEY"]

#: row key of the aggregate row (cannot clash with "METHOD name")
TOTAL_KEY = "\x00total"
#: the Name column always gets this many cells
NAME_MIN_WIDTH = 16
#: optional columns are dropped until the longest name fits, up to this many cells
NAME_WANTED_MAX = 40
#: the table's vertical scrollbar
SCROLLBAR_WIDTH = 1
#: DataTable pads each cell by one on both sides
CELL_PADDING = 2


@dataclass(frozen=True)
class _Column:
    key: str
    label: str
    width: int
    sort_value: Callable[[EntryRow], float | str]
    #: columns are dropped, highest rank first, when the view is too narrow; 0 = never
    drop_rank: int
    numeric: bool = True


def _percentile(entry: EntryRow, percentile: float) -> float:
    """``entry.percentiles[percentile]``, tolerant of float keys computed another way."""
    if percentile in entry.percentiles:
        return entry.percentiles[percentile]
    for key, value in entry.percentiles.items():
        if abs(key - percentile) < 1e-9:
            return value
    return 0.0


def _columns(percentiles: tuple[float, ...]) -> list[_Column]:
    # The median has its own column, so p50 is not repeated among the extra percentiles.
    extra = [p for p in percentiles if abs(p - 0.5) > 1e-9]
    # Keep the percentile closest to p95 longest; drop the others farthest-first.
    by_keep = sorted(extra, key=lambda p: abs(p - 0.95))
    percentile_rank = {p: 5 + len(by_keep) - 1 - i for i, p in enumerate(by_keep)}
    columns = [
        _Column("type", "Type", 6, lambda e: e.method, 0, numeric=False),
        _Column("name", "Name", NAME_MIN_WIDTH, lambda e: e.name, 0, numeric=False),
        _Column("requests", "Requests", 8, lambda e: e.num_requests, 0),
        _Column("fails", "Fails", 6, lambda e: e.num_failures, 0),
        _Column("median", "Median", 6, lambda e: e.median_response_time, 0),
        _Column("average", "Average", 7, lambda e: e.avg_response_time, 0),
        _Column("min", "Min", 6, lambda e: e.min_response_time, 3),
        _Column("max", "Max", 6, lambda e: e.max_response_time, 4),
    ]
    for p in extra:
        columns.append(
            _Column(
                f"p{p}",
                percentile_label(p),
                6,
                functools.partial(_percentile, percentile=p),
                percentile_rank[p],
            )
        )
    columns += [
        _Column("size", "Avg size", 9, lambda e: e.avg_content_length, 2),
        _Column("rps", "RPS", 7, lambda e: e.current_rps, 0),
        _Column("fails_per_sec", "Fails/s", 7, lambda e: e.current_fail_per_sec, 1),
    ]
    return columns


class StatsView(Vertical):
    """Statistics table with a name filter (``/``) and keyboard sort (``s`` next column, ``S`` reverse)."""

    COMPONENT_CLASSES = {"stats-view--fail", "stats-view--fail-high", "stats-view--total"}

    DEFAULT_CSS = """
    StatsView {
        & > .stats-view--fail { color: $text-error; }
        & > .stats-view--fail-high { color: $text-error; text-style: bold; }
        & > .stats-view--total { text-style: bold; }
        #stats-filter { margin: 0 1; width: 1fr; }
        #stats-table { height: 1fr; scrollbar-size-vertical: 1; }
    }
    """

    def __init__(self, *, percentiles: tuple[float, ...] | None = None, id: str | None = None) -> None:
        super().__init__(id=id)
        self._percentiles_override = percentiles
        self._snapshot: RunSnapshot | None = None
        self.sort_key: str | None = None
        self.sort_reverse = False

    def compose(self) -> ComposeResult:
        yield Input(placeholder="/ filter by name  (s: sort, S: reverse)", id="stats-filter", compact=True)
        yield SyncedTable(id="stats-table")

    @property
    def table(self) -> SyncedTable:
        return self.query_one("#stats-table", SyncedTable)

    @property
    def filter_text(self) -> str:
        return self.query_one("#stats-filter", Input).value.strip()

    def update_snapshot(self, snapshot: RunSnapshot) -> None:
        """Draw ``snapshot``."""
        self._snapshot = snapshot
        self._redraw()

    def focus_filter(self) -> None:
        self.query_one("#stats-filter", Input).focus()

    def cycle_sort(self) -> None:
        """Sort by the next visible column; after the last one, back to the controller's order."""
        keys = [column.key for column in self._visible_columns()]
        if self.sort_key not in keys:
            self.sort_key = keys[0]
        else:
            index = keys.index(self.sort_key) + 1
            self.sort_key = keys[index] if index < len(keys) else None
        self.sort_reverse = False
        self._redraw()

    def reverse_sort(self) -> None:
        self.sort_reverse = not self.sort_reverse
        self._redraw()

    @on(Input.Changed, "#stats-filter")
    def _filter_changed(self) -> None:
        self._redraw()

    @on(Input.Submitted, "#stats-filter")
    def _filter_submitted(self) -> None:
        self.table.focus()

    def key_escape(self) -> None:
        if self.query_one("#stats-filter", Input).has_focus:
            self.table.focus()

    def on_resize(self, event: Resize) -> None:
        self._redraw()

    def _percentiles(self) -> tuple[float, ...]:
        if self._percentiles_override is not None:
            return self._percentiles_override
        return self._snapshot.percentiles_to_show if self._snapshot else (0.9, 0.95, 0.99)

    def _name_width(self, columns: list[_Column], available: int) -> int:
        others = sum(column.width + CELL_PADDING for column in columns if column.key != "name")
        return available - others - CELL_PADDING

    def _longest_name(self) -> int:
        return max((len(e.name) for e in self._snapshot.entries), default=4) if self._snapshot else 4

    def _visible_columns(self) -> list[_Column]:
        """The columns that leave the Name column room for the longest name (up to
        :data:`NAME_WANTED_MAX`): optional columns go, lowest rank first, rather than cutting names."""
        columns = _columns(self._percentiles())
        available = (self.size.width or 120) - SCROLLBAR_WIDTH
        wanted = max(NAME_MIN_WIDTH, min(self._longest_name(), NAME_WANTED_MAX))
        for rank in sorted({c.drop_rank for c in columns if c.drop_rank}, reverse=False):
            if self._name_width(columns, available) >= wanted:
                break
            columns = [c for c in columns if c.drop_rank != rank]
        return columns

    def _redraw(self) -> None:
        snapshot = self._snapshot
        if snapshot is None or not self.is_mounted:
            return
        columns = self._visible_columns()
        longest = self._longest_name()
        name_width = max(
            NAME_MIN_WIDTH, min(self._name_width(columns, (self.size.width or 120) - 1), longest)
        )
        specs = []
        for column in columns:
            label = column.label
            if column.key == self.sort_key:
                label += " ▲" if self.sort_ascending else " ▼"
            width = name_width if column.key == "name" else max(column.width, len(label))
            specs.append(
                ColumnSpec(column.key, Text(label, justify="right" if column.numeric else "left"), width)
            )
        entries = [e for e in snapshot.entries if self.filter_text.lower() in e.name.lower()]
        sort_column = next((c for c in columns if c.key == self.sort_key), None)
        if sort_column is not None:
            entries.sort(key=sort_column.sort_value, reverse=not self.sort_ascending)
        elif self.sort_reverse:
            entries.reverse()
        rows = [(f"{e.method} {e.name}", self._cells(e, columns)) for e in entries]
        rows.append((TOTAL_KEY, self._cells(snapshot.total, columns, total=True)))
        with self.app.batch_update():
            self.table.sync(specs, rows)

    @property
    def sort_ascending(self) -> bool:
        """Numbers sort largest first, text A to Z; ``S`` flips either."""
        column = next((c for c in _columns(self._percentiles()) if c.key == self.sort_key), None)
        ascending = column is not None and not column.numeric
        return ascending != self.sort_reverse

    def _cells(self, entry: EntryRow, columns: list[_Column], total: bool = False) -> list[Cell]:
        style = self.get_component_rich_style("stats-view--total", partial=True) if total else ""
        values: dict[str, str] = {
            "type": entry.method,
            "name": "Aggregated" if total else entry.name,
            "requests": format_count(entry.num_requests),
            "fails": format_count(entry.num_failures),
            "median": format_ms(entry.median_response_time),
            "average": format_ms(entry.avg_response_time),
            "min": format_ms(entry.min_response_time),
            "max": format_ms(entry.max_response_time),
            "size": format_bytes(entry.avg_content_length),
            "rps": format_rps(entry.current_rps),
            "fails_per_sec": format_rps(entry.current_fail_per_sec),
        }
        cells: list[Cell] = []
        for column in columns:
            # Only the percentile columns are not in ``values``.
            text = values[column.key] if column.key in values else format_ms(float(column.sort_value(entry)))
            cell = Text(text, style=style, justify="right" if column.numeric else "left")
            if column.key in ("fails", "fails_per_sec") and entry.num_failures:
                high = entry.fail_ratio > 0.05
                cell.stylize(
                    self.get_component_rich_style(
                        "stats-view--fail-high" if high else "stats-view--fail", partial=True
                    )
                )
            cells.append(cell)
        return cells
