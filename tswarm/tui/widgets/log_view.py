"""The Logs view: master and worker log lines, newest last, that you can read while they arrive.

It follows the newest line until you scroll up, and follows again with End (or by scrolling back to
the bottom); lines are filtered by level (``l``), by node (``o``) and by text (``/``); a line that
repeats one of the last :data:`FOLD_WINDOW` entries (a traceback raised over and over) is folded into
it with a count; lines are re-wrapped to the width when the terminal is resized. Only the lines on
screen are drawn, and an entry is wrapped once per width (cached), so ~10 tracebacks a second cost
little. Imports Textual, rich and the controller's snapshot types only.
"""

from __future__ import annotations

import re
from collections import deque
from dataclasses import dataclass, field

from rich.style import Style
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.events import Resize
from textual.geometry import Size
from textual.scroll_view import ScrollView
from textual.strip import Strip
from textual.widgets import Input, Static

from tswarm.controller.formatting import format_clock
from tswarm.controller.snapshot import LogLine, RunSnapshot

__all__ = ["FOLD_WINDOW", "LEVEL_FILTERS", "MAX_ENTRIES", "LogLines", "LogView"]

#: entries (folded lines) the view keeps; the oldest go first
MAX_ENTRIES = 1000
#: a line is folded into an equal one among this many newest entries (further back, it starts anew:
#: an old entry should not swallow what happens now)
FOLD_WINDOW = 50
#: the level filter's steps: (label, lowest level number shown)
LEVEL_FILTERS: tuple[tuple[str, int], ...] = (("all", 0), ("warning+", 30), ("error+", 40))
_LEVEL_NUMBERS = {
    "DEBUG": 10,
    "INFO": 20,
    "WARN": 30,
    "WARNING": 30,
    "ERROR": 40,
    "CRITICAL": 50,
    "FATAL": 50,
}
#: the master's own lines come first in the node filter
_MASTER = "master"
#: how run_log escapes a line break inside one record (a traceback); shown as a real one here
_ESCAPED_NEWLINE = "\\n"


def level_number(level: str) -> int:
    """``"WARNING"`` -> 30; a level the view does not know counts as INFO."""
    return _LEVEL_NUMBERS.get(level.upper(), 20)


@dataclass(eq=False)
class LogEntry:
    """One line shown, or several equal ones folded: the first of them, how many, the last time."""

    line: LogLine
    count: int = 1
    last_seen: float = 0.0
    sources: set[str] = field(default_factory=set)
    #: its place in the stream of entries (1, 2, ...): folding looks back FOLD_WINDOW of them
    sequence: int = 0
    #: (width, count, search, style generation) -> the wrapped lines drawn for it
    _cache_key: tuple[object, ...] | None = None
    _strips: list[Strip] = field(default_factory=list)

    @property
    def level(self) -> int:
        return level_number(self.line.level)


class LogLines(ScrollView, can_focus=True):
    """The scrolling lines of the Logs view (drawn line by line from the entries' cached wrapping)."""

    COMPONENT_CLASSES = {
        "log-view--time",
        "log-view--source",
        "log-view--warning",
        "log-view--error",
        "log-view--fold",
        "log-view--match",
    }
    BINDINGS = [
        Binding("end,G", "follow", "follow", show=False),
    ]
    DEFAULT_CSS = """
    LogLines {
        height: 1fr;
        padding: 0 0 0 1;
        scrollbar-gutter: stable;
        & > .log-view--time { color: $text-muted; }
        & > .log-view--source { color: $text-accent; }
        & > .log-view--warning { color: $text-warning; }
        & > .log-view--error { color: $text-error; text-style: bold; }
        & > .log-view--fold { color: $text-secondary; text-style: bold; }
        & > .log-view--match { background: $warning 40%; }
    }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.entries: deque[LogEntry] = deque()
        #: following the newest line (stops when the user scrolls up, resumes with End / the bottom)
        self.following = True
        #: lines that arrived (and passed the filters) since following stopped
        self.unseen = 0
        self.min_level = 0
        self.node: str | None = None
        self.search = ""
        self._search_pattern: re.Pattern[str] | None = None
        self._lines: list[Strip] = []
        #: for each line of _lines, the entry it belongs to (to keep the view still while not following)
        self._line_entries: list[LogEntry] = []
        self._style_generation = 0
        self._moving = False
        self._width = 0
        #: entries changed while the widget had no size
        self._stale = False
        #: (level, message) -> the newest entry with them, for folding
        self._recent: dict[tuple[str, str], LogEntry] = {}
        self._sequence = 0

    # ---- what arrives ------------------------------------------------------------------------

    def add_lines(self, lines: list[LogLine]) -> None:
        """Append (or fold) ``lines`` and redraw once."""
        if not lines:
            return
        recent = self._recent
        for line in lines:
            key = (line.level, line.message)
            folded = recent.get(key)
            if folded is not None and self._sequence - folded.sequence < FOLD_WINDOW:
                folded.count += 1
                folded.last_seen = line.timestamp
                folded.sources.add(line.source)
                if not self.following and self._shown(folded):
                    self.unseen += 1
                continue
            self._sequence += 1
            entry = LogEntry(line, last_seen=line.timestamp, sources={line.source}, sequence=self._sequence)
            self.entries.append(entry)
            recent[key] = entry
            if not self.following and self._shown(entry):
                self.unseen += 1
        if len(recent) > 4 * FOLD_WINDOW:
            self._recent = {k: e for k, e in recent.items() if self._sequence - e.sequence < FOLD_WINDOW}
        while len(self.entries) > MAX_ENTRIES:
            self.entries.popleft()
        self._rebuild()

    def sources(self) -> list[str]:
        """The nodes seen, the master first."""
        seen = {source for entry in self.entries for source in entry.sources}
        return sorted(seen, key=lambda source: (source != _MASTER, source))

    # ---- filters -----------------------------------------------------------------------------

    def set_filters(self, *, min_level: int, node: str | None, search: str) -> None:
        """Show only entries at ``min_level`` or above, from ``node`` (None: all), containing ``search``."""
        self.min_level = min_level
        self.node = node
        self.search = search
        self._search_pattern = re.compile(re.escape(search), re.IGNORECASE) if search else None
        self._rebuild()

    def _shown(self, entry: LogEntry) -> bool:
        if entry.level < self.min_level:
            return False
        if self.node is not None and self.node not in entry.sources:
            return False
        pattern = self._search_pattern
        return pattern is None or bool(
            pattern.search(entry.line.message) or pattern.search(entry.line.source)
        )

    # ---- following -----------------------------------------------------------------------------

    def action_follow(self) -> None:
        """Follow the newest line again."""
        self.following = True
        self.unseen = 0
        self._move_to(self.max_scroll_y)
        self._following_changed()

    def release_anchor(self) -> None:
        # Textual calls this when the user scrolls (keys, wheel, scrollbar): stop following.
        super().release_anchor()
        if not self._moving and self.following:
            self.following = False
            self._following_changed()

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        # scrolled back to the bottom by the user: follow again
        if (
            not self._moving
            and not self.following
            and new_value >= self.max_scroll_y
            and new_value > old_value
        ):
            self.following = True
            self.unseen = 0
            self._following_changed()

    def _following_changed(self) -> None:
        parent = self.parent
        if isinstance(parent, LogView):
            parent.show_state()

    def _move_to(self, y: float) -> None:
        self._moving = True
        try:
            self.set_scroll(None, max(0.0, min(y, self.max_scroll_y)))
            self.scroll_target_y = self.scroll_y
        finally:
            self._moving = False

    # ---- drawing -------------------------------------------------------------------------------

    def on_resize(self, event: Resize) -> None:
        if self._stale or self.scrollable_content_region.width != self._width:
            self._rebuild()

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._style_generation += 1
        if self.is_mounted:
            self._rebuild()

    def _rebuild(self) -> None:
        """Lay out the shown entries at the current width, keeping the view still unless following."""
        width = self.scrollable_content_region.width
        if width <= 0:
            # not laid out (a hidden tab): done on the next resize
            self._stale = True
            return
        self._stale = False
        self._width = width
        anchor: tuple[LogEntry, int] | None = None
        if not self.following and self._line_entries:
            top = min(int(self.scroll_y), len(self._line_entries) - 1)
            entry = self._line_entries[top]
            first = top
            while first > 0 and self._line_entries[first - 1] is entry:
                first -= 1
            anchor = (entry, top - first)
        lines: list[Strip] = []
        owners: list[LogEntry] = []
        starts: dict[int, int] = {}
        for entry in self.entries:
            if not self._shown(entry):
                continue
            strips = self._strips(entry, width)
            starts[id(entry)] = len(lines)
            lines.extend(strips)
            owners.extend([entry] * len(strips))
        self._lines = lines
        self._line_entries = owners
        self.virtual_size = Size(width, len(lines))
        if self.following:
            self._move_to(self.max_scroll_y)
        elif anchor is not None:
            entry, offset = anchor
            start = starts.get(id(entry))
            # the top entry was dropped (too old, or filtered out): keep the line number
            self._move_to(self.scroll_y if start is None else start + offset)
        self.refresh()
        self._following_changed()

    def _strips(self, entry: LogEntry, width: int) -> list[Strip]:
        key = (width, entry.count, entry.last_seen, self.search, self._style_generation)
        if entry._cache_key != key:
            console = self.app.console
            text = self._format(entry)
            wrapped = text.wrap(console, width, overflow="fold")
            entry._strips = [Strip(list(line.render(console)), line.cell_len) for line in wrapped]
            entry._cache_key = key
        return entry._strips

    def _format(self, entry: LogEntry) -> Text:
        line = entry.line
        level = line.level.upper()
        level_style: str | Style = ""
        if entry.level >= 40:
            level_style = self.get_component_rich_style("log-view--error")
        elif entry.level >= 30:
            level_style = self.get_component_rich_style("log-view--warning")
        text = Text.assemble(
            (format_clock(line.timestamp) + " ", self.get_component_rich_style("log-view--time")),
            (f"{line.source:<9} ", self.get_component_rich_style("log-view--source")),
            (f"{level:<7} ", level_style),
        )
        if entry.count > 1:
            nodes = f" on {len(entry.sources)} nodes" if len(entry.sources) > 1 else ""
            fold = f"[x{entry.count}{nodes}, last {format_clock(entry.last_seen)}] "
            text.append(fold, self.get_component_rich_style("log-view--fold"))
        first, *rest = line.message.split(_ESCAPED_NEWLINE)
        text.append(first, level_style)
        for continued in rest:
            text.append("\n  " + continued)
        if self._search_pattern is not None:
            text.highlight_regex(self._search_pattern, self.get_component_rich_style("log-view--match"))
        return text

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        index = int(self.scroll_y) + y
        if index >= len(self._lines):
            return Strip.blank(width, self.rich_style)
        return self._lines[index].crop_extend(0, width, self.rich_style).apply_style(self.rich_style)


class LogView(Vertical):
    """The Logs view: a line saying what is shown, the search box (``/``), and the lines."""

    BINDINGS = [
        Binding("l", "cycle_level", "level", show=False),
        Binding("o", "cycle_node", "node", show=False),
        Binding("escape", "clear_search", "clear search", show=False),
    ]
    DEFAULT_CSS = """
    LogView {
        height: 1fr;
        #logs-state { height: 1; padding: 0 1; color: $text-muted; }
        #logs-search { display: none; margin: 0 1; }
        #logs-search.-shown { display: block; }
    }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._last: LogLine | None = None
        self._level_index = 0
        self._node: str | None = None

    def compose(self) -> ComposeResult:
        yield Static("", id="logs-state", markup=False)
        yield Input(
            placeholder="search the logs (enter: done, escape: clear)", id="logs-search", compact=True
        )
        yield LogLines(id="logs-lines")

    @property
    def lines(self) -> LogLines:
        return self.query_one(LogLines)

    def on_mount(self) -> None:
        self.show_state()

    def update_snapshot(self, snapshot: RunSnapshot) -> None:
        """Add the lines of ``snapshot.logs`` not shown yet.

        The controller keeps only the newest lines, so counting them is not enough once the buffer
        is full: find the last line shown and add what follows it.
        """
        logs = snapshot.logs
        start = 0
        if self._last is not None:
            for index in range(len(logs) - 1, -1, -1):
                if logs[index] == self._last:
                    start = index + 1
                    break
            else:
                start = next(
                    (i for i, line in enumerate(logs) if line.timestamp > self._last.timestamp), len(logs)
                )
        if logs:
            self._last = logs[-1]
        self.lines.add_lines(list(logs[start:]))

    # ---- filters -------------------------------------------------------------------------------

    def action_cycle_level(self) -> None:
        """Show all levels, warnings and up, errors and up, in turn."""
        self._level_index = (self._level_index + 1) % len(LEVEL_FILTERS)
        self._apply_filters()

    def action_cycle_node(self) -> None:
        """Show every node, then each node alone, in turn."""
        choices: list[str | None] = [None, *self.lines.sources()]
        index = choices.index(self._node) if self._node in choices else 0
        self._node = choices[(index + 1) % len(choices)]
        self._apply_filters()

    def open_search(self) -> None:
        """Show the search box and put the cursor in it (the ``/`` key on this view)."""
        search = self.query_one("#logs-search", Input)
        search.add_class("-shown")
        search.focus()

    @on(Input.Changed, "#logs-search")
    def _search_changed(self, event: Input.Changed) -> None:
        event.stop()
        self._apply_filters()

    @on(Input.Submitted, "#logs-search")
    def _search_done(self, event: Input.Submitted) -> None:
        event.stop()
        self._leave_search(clear=False)

    def action_clear_search(self) -> None:
        """Clear the search and leave its box."""
        self._leave_search(clear=True)

    def _leave_search(self, *, clear: bool) -> None:
        search = self.query_one("#logs-search", Input)
        if clear:
            search.value = ""
        if not search.value:
            search.remove_class("-shown")
        self.lines.focus()
        self._apply_filters()

    def _apply_filters(self) -> None:
        search = self.query_one("#logs-search", Input).value
        self.lines.set_filters(min_level=LEVEL_FILTERS[self._level_index][1], node=self._node, search=search)

    def show_state(self) -> None:
        """Say what is shown: the filters, and whether the view follows the newest line."""
        if not self.is_mounted:
            return
        lines = self.lines
        level = LEVEL_FILTERS[self._level_index][0]
        parts = [f"level {level} (l)", f"node {self._node or 'all'} (o)"]
        parts.append(f"search {lines.search!r} (/)" if lines.search else "search (/)")
        if lines.following:
            parts.append("following the newest")
        else:
            new = f"{lines.unseen} new, " if lines.unseen else ""
            parts.append(f"paused: {new}End to follow")
        self.query_one("#logs-state", Static).update("  ·  ".join(parts))
