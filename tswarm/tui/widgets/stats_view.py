"""The Statistics view: one row per (method, name), the aggregate last, a filter, a sort, and the full
name of the row under the cursor below the table."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.events import Resize
from textual.widgets import DataTable, Input, Static

from tswarm.controller.elide import common_stem, elide_name
from tswarm.controller.formatting import format_bytes, format_count, format_ms, format_rps, percentile_label
from tswarm.controller.snapshot import EntryRow, RunSnapshot, RunState
from tswarm.tui.widgets.synced_table import Cell, ColumnSpec, SyncedTable

__all__ = ["PERCENTILE_SORT", "SORT_COLUMNS", "StatsView", "TOTAL_KEY"]

#: row key of the aggregate row (cannot clash with "METHOD name")
TOTAL_KEY = "\x00total"
#: the Name column gets this many cells while the terminal has room for them (below, names are cut
#: further rather than pushing RPS off the edge)
NAME_MIN_WIDTH = 16
#: optional columns are dropped until the longest name fits, up to this many cells, and up to this share
#: of the width (names are cut in the middle and shown in full below the table: figures go last)
NAME_WANTED_MAX = 40
NAME_WANTED_SHARE = 0.3
#: the table's vertical scrollbar
SCROLLBAR_WIDTH = 1
#: DataTable pads each cell by one on both sides
CELL_PADDING = 2
#: what the sort column's label gets: a space and an arrow
SORT_MARKER_WIDTH = 2
#: the sort "column" that steps through the percentile columns (one key for all of them)
PERCENTILE_SORT = "percentile"
#: (column key, its title) of every sortable column, in table order; the keys of ``sort_by``
SORT_COLUMNS: tuple[tuple[str, str], ...] = (
    ("type", "Type"),
    ("name", "Name"),
    ("requests", "Requests"),
    ("fails", "Fails"),
    ("median", "Median"),
    ("average", "Average"),
    ("min", "Min"),
    ("max", "Max"),
    (PERCENTILE_SORT, "a percentile (again: the next one)"),
    ("size", "Avg size"),
    ("rps", "RPS"),
    ("fails_per_sec", "Fails/s"),
)
#: the rates are "current" only while users run; after a stop they read 0
_ACTIVE = (RunState.SPAWNING, RunState.RUNNING)


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


@functools.lru_cache(maxsize=8)
def _columns(percentiles: tuple[float, ...]) -> tuple[_Column, ...]:
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
        # below 80 columns the average goes too, after every percentile
        _Column("average", "Average", 7, lambda e: e.avg_response_time, 5 + len(by_keep)),
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
    return tuple(columns)


class StatsView(Vertical):
    """Statistics table with a name filter (``/``), a sort (a header click, a key per column, ``s`` next
    column, ``S`` reverse) and the full name of the highlighted row on the line below the table."""

    COMPONENT_CLASSES = {"stats-view--fail", "stats-view--fail-high", "stats-view--total"}

    DEFAULT_CSS = """
    StatsView {
        & > .stats-view--fail { color: $text-error; }
        & > .stats-view--fail-high { color: $text-error; text-style: bold; }
        & > .stats-view--total { text-style: bold; }
        #stats-filter { margin: 0 1; width: 1fr; }
        #stats-table { height: 1fr; scrollbar-size-vertical: 1; }
        #stats-name { height: auto; max-height: 3; padding: 0 1; color: $text-muted; }
    }
    """

    def __init__(self, *, percentiles: tuple[float, ...] | None = None, id: str | None = None) -> None:
        super().__init__(id=id)
        self._percentiles_override = percentiles
        self._snapshot: RunSnapshot | None = None
        self.sort_key: str | None = None
        self.sort_reverse = False
        #: how many entries the filter lets through, and what the line under the table says
        self._shown_count = 0
        self._name_line = ""

    def compose(self) -> ComposeResult:
        yield Input(
            placeholder="/ filter by name  (click a header or s: sort, S: reverse, ?: keys)",
            id="stats-filter",
            compact=True,
        )
        yield SyncedTable(id="stats-table")
        yield Static("", id="stats-name", markup=False)

    @property
    def table(self) -> SyncedTable:
        return self.query_one("#stats-table", SyncedTable)

    @property
    def filter_text(self) -> str:
        return self.query_one("#stats-filter", Input).value.strip()

    @property
    def full_name_line(self) -> str:
        """What the line under the table says: the highlighted row's method and whole name."""
        return self._name_line

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

    def sort_by(self, key: str) -> None:
        """Sort by column ``key``; again on the same column, reverse. :data:`PERCENTILE_SORT` steps
        through the percentile columns (the first one again after the last)."""
        if key == PERCENTILE_SORT:
            percentile_keys = [c.key for c in _columns(self._percentiles()) if c.key.startswith("p")]
            if not percentile_keys:
                return
            if self.sort_key in percentile_keys:
                index = percentile_keys.index(self.sort_key) + 1
                key = percentile_keys[index % len(percentile_keys)]
            else:
                # the one kept longest when narrow (closest to p95) first
                key = max(
                    (c for c in _columns(self._percentiles()) if c.key in percentile_keys),
                    key=lambda c: c.drop_rank,
                ).key
        if key == self.sort_key:
            self.sort_reverse = not self.sort_reverse
        else:
            self.sort_key = key
            self.sort_reverse = False
        self._redraw()

    @on(DataTable.HeaderSelected, "#stats-table")
    def _header_clicked(self, event: DataTable.HeaderSelected) -> None:
        event.stop()
        if event.column_key.value is not None:
            self.sort_by(event.column_key.value)

    @on(DataTable.RowHighlighted, "#stats-table")
    def _row_highlighted(self) -> None:
        self._show_full_name()

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

    def _available_width(self) -> int:
        # The vertical scrollbar takes its cell whether or not it shows, so that columns do not jump.
        width = self.table.size.width if self.is_mounted else 0
        return (width or self.size.width or 120) - SCROLLBAR_WIDTH

    def _widths(self, columns: tuple[_Column, ...], texts: list[dict[str, str]]) -> dict[str, int]:
        """Each column's width but the name's: its label (with the sort arrow if sorted) and every value
        it shows fit, so that "RPS" never reads "RP" and no number is clipped."""
        widths: dict[str, int] = {}
        for column in columns:
            if column.key == "name":
                continue
            label = len(column.label) + (SORT_MARKER_WIDTH if column.key == self.sort_key else 0)
            content = max((len(row[column.key]) for row in texts), default=0)
            widths[column.key] = max(column.width, label, content)
        return widths

    def _fit(
        self, texts: list[dict[str, str]], longest: int
    ) -> tuple[tuple[_Column, ...], dict[str, int], int]:
        """The columns shown, their widths and the Name column's width: optional columns go, lowest rank
        first, until the Name column has room for the longest name (up to :data:`NAME_WANTED_MAX`)."""
        columns = _columns(self._percentiles())
        available = self._available_width()
        wanted = max(NAME_MIN_WIDTH, min(longest, NAME_WANTED_MAX, int(available * NAME_WANTED_SHARE)))
        ranks = sorted({c.drop_rank for c in columns if c.drop_rank})
        while True:
            widths = self._widths(columns, texts)
            name_width = available - sum(w + CELL_PADDING for w in widths.values()) - CELL_PADDING
            if name_width >= wanted or not ranks:
                break
            rank = ranks.pop(0)
            columns = tuple(c for c in columns if c.drop_rank != rank)
        name_label = len("Name") + (SORT_MARKER_WIDTH if self.sort_key == "name" else 0)
        return columns, widths, max(name_label, min(name_width, longest))

    def _visible_columns(self) -> tuple[_Column, ...]:
        snapshot = self._snapshot
        if snapshot is None:
            return _columns(self._percentiles())
        columns = _columns(self._percentiles())
        texts = [self._texts(e, columns, snapshot) for e in (*snapshot.entries, snapshot.total)]
        return self._fit(texts, self._longest_name(snapshot.entries))[0]

    @staticmethod
    def _longest_name(entries: tuple[EntryRow, ...] | list[EntryRow]) -> int:
        return max((len(e.name) for e in entries), default=4)

    def _total_label(self) -> str:
        # The aggregate is over every endpoint: percentiles cannot be summed from the rows shown.
        return "Aggregated (all)" if self.filter_text else "Aggregated"

    def _redraw(self) -> None:
        snapshot = self._snapshot
        if snapshot is None or not self.is_mounted:
            return
        needle = self.filter_text.lower()
        entries = (
            [e for e in snapshot.entries if needle in e.name.lower()] if needle else list(snapshot.entries)
        )
        all_columns = _columns(self._percentiles())
        sort_column = next((c for c in all_columns if c.key == self.sort_key), None)
        if sort_column is not None:
            entries.sort(key=sort_column.sort_value, reverse=not self.sort_ascending)
        elif self.sort_reverse:
            entries.reverse()
        texts = [self._texts(e, all_columns, snapshot) for e in entries]
        total_texts = self._texts(snapshot.total, all_columns, snapshot)
        total_texts["name"] = self._total_label()
        longest = max(self._longest_name(entries), len(total_texts["name"]))
        columns, widths, name_width = self._fit([*texts, total_texts], longest)
        # the start every name shown shares is cut first: it tells no row from another
        stem = common_stem(e.name for e in entries)
        specs = []
        for column in columns:
            label = column.label
            if column.key == self.sort_key:
                label += " ▲" if self.sort_ascending else " ▼"
            width = name_width if column.key == "name" else widths[column.key]
            specs.append(
                ColumnSpec(column.key, Text(label, justify="right" if column.numeric else "left"), width)
            )
        rows = [
            (f"{e.method} {e.name}", self._cells(e, columns, row, name_width, stem))
            for e, row in zip(entries, texts, strict=True)
        ]
        rows.append((TOTAL_KEY, self._cells(snapshot.total, columns, total_texts, name_width, 0, total=True)))
        self._shown_count = len(entries)
        with self.app.batch_update():
            self.table.sync(specs, rows)
            self._show_full_name()

    def _show_full_name(self) -> None:
        key = self.table.cursor_key
        if key is None:
            line = ""
        elif key == TOTAL_KEY:
            count = len(self._snapshot.entries) if self._snapshot else 0
            line = f"Aggregated: all {count} endpoints"
            if self.filter_text:
                line += f" ({self._shown_count} match the filter; the total is not filtered)"
        else:
            line = key
        if line != self._name_line:
            self._name_line = line
            self.query_one("#stats-name", Static).update(line)

    @property
    def sort_ascending(self) -> bool:
        """Numbers sort largest first, text A to Z; ``S`` flips either."""
        column = next((c for c in _columns(self._percentiles()) if c.key == self.sort_key), None)
        ascending = column is not None and not column.numeric
        return ascending != self.sort_reverse

    @staticmethod
    def _texts(entry: EntryRow, columns: tuple[_Column, ...], snapshot: RunSnapshot) -> dict[str, str]:
        """What each column shows for ``entry`` (the name in full)."""
        # After a stop nothing runs: "current" rates are 0, not the last second's.
        running = snapshot.state in _ACTIVE or snapshot.state is RunState.STOPPING
        values: dict[str, str] = {
            "type": entry.method,
            "name": entry.name,
            "requests": format_count(entry.num_requests),
            "fails": format_count(entry.num_failures),
            "median": format_ms(entry.median_response_time),
            "average": format_ms(entry.avg_response_time),
            "min": format_ms(entry.min_response_time),
            "max": format_ms(entry.max_response_time),
            "size": format_bytes(entry.avg_content_length),
            "rps": format_rps(entry.current_rps if running else 0.0),
            "fails_per_sec": format_rps(entry.current_fail_per_sec if running else 0.0),
        }
        for column in columns:
            if column.key not in values:  # the percentile columns
                values[column.key] = format_ms(float(column.sort_value(entry)))
        return values

    def _cells(
        self,
        entry: EntryRow,
        columns: tuple[_Column, ...],
        texts: dict[str, str],
        name_width: int,
        stem: int,
        total: bool = False,
    ) -> list[Cell]:
        style = self.get_component_rich_style("stats-view--total", partial=True) if total else ""
        cells: list[Cell] = []
        for column in columns:
            text = texts[column.key]
            if column.key == "name":
                text = elide_name(text, name_width, stem)
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
