"""A labelled bar chart of one series over time, drawn with block characters."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from rich.style import Style
from rich.text import Text
from textual.widget import Widget

from tswarm.controller.formatting import format_duration

__all__ = ["TimeChart"]

_BARS = " ▁▂▃▄▅▆▇█"


class TimeChart(Widget):
    """One column per history point (newest on the right), scaled from 0 to the series' max.

    Textual's ``Sparkline`` scales from the series' min to its max and buckets points to fit the
    width; that makes a steady 100 RPS with ±1 jitter look like a saw. A load-test chart needs a
    zero baseline and a fixed time step, which is the small difference this widget adds.
    """

    COMPONENT_CLASSES = {"time-chart--title", "time-chart--figures"}

    DEFAULT_CSS = """
    TimeChart {
        height: 1fr;
        min-height: 2;
        padding: 0 1;
        & > .time-chart--title { text-style: bold; }
        & > .time-chart--figures { color: $text-muted; }
    }
    """

    def __init__(
        self,
        title: str,
        formatter: Callable[[float], str],
        *,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(id=id, classes=classes)
        self.title = title
        self._formatter = formatter
        self._data: tuple[float, ...] = ()
        self._timestamps: tuple[float, ...] = ()

    @property
    def data(self) -> tuple[float, ...]:
        return self._data

    @data.setter
    def data(self, values: Sequence[float]) -> None:
        self.set_series(values)

    def set_series(self, values: Sequence[float], timestamps: Sequence[float] = ()) -> None:
        """The points to draw, oldest first, and when each was taken (to label the span shown)."""
        values, timestamps = tuple(values), tuple(timestamps)
        if values != self._data or timestamps != self._timestamps:
            self._data, self._timestamps = values, timestamps
            self.refresh()

    def render(self) -> Text:
        width, height = self.content_size
        data = self._data
        peak = max(data, default=0.0)
        current = data[-1] if data else 0.0
        shown = data[-width:] if width else ()
        figures = f"  now {self._formatter(current)}  max {self._formatter(peak)}"
        if len(shown) > 1 and len(self._timestamps) == len(data):
            figures += f"  last {format_duration(self._timestamps[-1] - self._timestamps[-len(shown)])}"
        title = Text.assemble(
            (self.title, self.get_component_rich_style("time-chart--title")),
            (figures, self.get_component_rich_style("time-chart--figures")),
        )
        rows = max(1, height - 1)
        levels = [round(value / peak * rows * (len(_BARS) - 1)) if peak > 0 else 0 for value in shown]
        bar_style = Style(color=self.rich_style.color)
        lines = [title]
        for row in reversed(range(rows)):
            base = row * (len(_BARS) - 1)
            chars = []
            for level in levels:
                part = min(max(level - base, 0), len(_BARS) - 1)
                # A zero value still shows a baseline tick on the bottom row so the time axis is visible.
                chars.append(_BARS[part] if part or row else ("▁" if level == 0 else _BARS[part]))
            line = Text(" " * (width - len(chars)))
            line.append("".join(chars), bar_style)
            lines.append(line)
        return Text("\n").join(lines)
