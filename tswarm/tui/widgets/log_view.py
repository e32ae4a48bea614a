"""The Logs view: master and worker log lines, newest last, appended as they arrive."""

from __future__ import annotations

from rich.style import Style
from rich.text import Text
from textual.widgets import RichLog

from tswarm.controller.formatting import format_clock
from tswarm.controller.snapshot import LogLine, RunSnapshot

__all__ = ["LogView"]


class LogView(RichLog):
    COMPONENT_CLASSES = {"log-view--time", "log-view--source", "log-view--warning", "log-view--error"}

    DEFAULT_CSS = """
    LogView {
        height: 1fr;
        padding: 0 1;
        & > .log-view--time { color: $text-muted; }
        & > .log-view--source { color: $text-accent; }
        & > .log-view--warning { color: $text-warning; }
        & > .log-view--error { color: $text-error; text-style: bold; }
    }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, wrap=True, markup=False, highlight=False, max_lines=5000)
        self._last: LogLine | None = None

    def update_snapshot(self, snapshot: RunSnapshot) -> None:
        """Append the lines of ``snapshot.logs`` not shown yet.

        The controller keeps only the newest lines, so counting them is not enough once the buffer
        is full: find the last line shown and append what follows it.
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
        for line in logs[start:]:
            self.write(self._format(line))
        if logs:
            self._last = logs[-1]

    def _format(self, line: LogLine) -> Text:
        level = line.level.upper()
        level_style: str | Style = ""
        if level in ("WARNING", "WARN"):
            level_style = self.get_component_rich_style("log-view--warning")
        elif level in ("ERROR", "CRITICAL", "FATAL"):
            level_style = self.get_component_rich_style("log-view--error")
        return Text.assemble(
            (format_clock(line.timestamp) + " ", self.get_component_rich_style("log-view--time")),
            (f"{line.source:<9} ", self.get_component_rich_style("log-view--source")),
            (f"{level:<7} ", level_style),
            (line.message, level_style),
        )
