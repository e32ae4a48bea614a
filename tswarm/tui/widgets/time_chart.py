"""A time chart of one or more series over a run, fitted to its width, drawn with block characters.

Usage (the Charts view and an endpoint's drill-down both draw this way)::

    chart = TimeChart("Response times (ms)", format_ms)
    chart.set_series(
        [
            ChartSeries("p50", [(timestamp, ms), ...], "$primary", "max"),
            ChartSeries("p95", [(timestamp, ms), ...], "$warning", "max"),
        ],
        origin=snapshot.started_at,
    )
    chart.window = TimeWindow(span=120)  # or put charts in a ChartGroup, which zooms them together

Every series is drawn as bars from zero, the shortest in front, so each one's top edge shows in its
own colour: failures/s in front of requests/s, p50 in front of p95 in front of p99. A cell can hold
two colours (a lower block in one, the cell's background in the other), so bands finer than a cell
still show. Any value above zero gets at least one eighth of a row: a trickle of failures never
vanishes into rounding.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from rich.style import Style
from rich.text import Text
from textual.color import Color, ColorParseError
from textual.widget import Widget

from tswarm.controller.formatting import format_duration
from tswarm.tui.widgets.chart_buckets import (
    Aggregate,
    TimeWindow,
    bucket_values,
    time_ticks,
    visible_range,
    y_scale,
)

__all__ = ["ChartSeries", "TimeChart"]

#: lower blocks of 0/8 ... 8/8 of a cell
_BLOCKS = " ▁▂▃▄▅▆▇█"


#: the y-axis labels get at least this many cells, so charts stacked in a group line up
_GUTTER = 5


def _height(layer: tuple[int, str | None]) -> int:
    return layer[0]


@dataclass(frozen=True)
class ChartSeries:
    """One line of a :class:`TimeChart`.

    Attributes:
        label: the legend's name for it (``"p95"``, ``"failures/s"``).
        points: ``(timestamp, value)`` pairs, oldest first; timestamps in seconds (``time.time()``).
        color: a Rich colour (``"#4ebf71"``, ``"green"``) or a theme variable (``"$success"``).
        aggregate: how the points that share a column combine: ``"mean"`` for rates (a column then
            reads as the rate over its seconds, and failures stay comparable with requests), ``"max"``
            for levels and percentiles (a spike is what one looks for, and a mean of percentiles is
            not a percentile of anything).
    """

    label: str
    points: Sequence[tuple[float, float]]
    color: str
    aggregate: Aggregate = "mean"


class TimeChart(Widget):
    """A titled chart with a legend, y-axis values and (optionally) an elapsed-time axis.

    Args:
        title: the chart's name, with its unit (``"Requests/s"``, ``"Response times (ms)"``).
        formatter: turns a value into the text of the legend and of the y axis.
        show_time_axis: draw the ``m:ss`` axis under the bars (a
            :class:`~tswarm.tui.widgets.chart_group.ChartGroup` shows it under its last chart only, and
            under the one it shows maximised).
    """

    COMPONENT_CLASSES = {"time-chart--title", "time-chart--figures", "time-chart--axis"}

    DEFAULT_CSS = """
    TimeChart {
        height: 1fr;
        min-height: 3;
        padding: 0 1;
        & > .time-chart--title { text-style: bold; }
        & > .time-chart--figures { color: $text-muted; }
        & > .time-chart--axis { color: $text-muted; }
    }
    """

    def __init__(
        self,
        title: str,
        formatter: Callable[[float], str],
        *,
        show_time_axis: bool = True,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(id=id, classes=classes)
        self.title = title
        self.formatter = formatter
        self.show_time_axis = show_time_axis
        self._series: tuple[ChartSeries, ...] = ()
        self._origin: float | None = None
        self._signature: object = None
        self._window = TimeWindow()
        #: columns of the plot at the last render (the width zoom and pan work in)
        self.plot_columns = 0
        #: (start, end) timestamps shown at the last render; None before there is data
        self.shown_range: tuple[float, float] | None = None

    # ---- data ---------------------------------------------------------------------------------

    @property
    def series(self) -> tuple[ChartSeries, ...]:
        return self._series

    def set_series(self, series: Sequence[ChartSeries], origin: float | None = None) -> None:
        """The series to draw, and the run's start (elapsed time 0; default: the first point).

        Redraws only when something changed: the number of points, the newest point, a label or a
        colour (points are taken to be appended to, as a run's history is).
        """
        series = tuple(series)
        signature = (
            origin,
            tuple((s.label, s.color, len(s.points), s.points[-1] if s.points else None) for s in series),
        )
        if signature != self._signature:
            self._series, self._origin, self._signature = series, origin, signature
            self.refresh()

    def extent(self) -> tuple[float, float] | None:
        """The run's (first, last) timestamps: the origin (or first point) and the newest point."""
        firsts = [s.points[0][0] for s in self._series if s.points]
        if not firsts:
            return None
        first = self._origin if self._origin is not None else min(firsts)
        return first, max(s.points[-1][0] for s in self._series if s.points)

    @property
    def window(self) -> TimeWindow:
        return self._window

    @window.setter
    def window(self, window: TimeWindow) -> None:
        if window != self._window:
            self._window = window
            self.refresh()

    # ---- drawing ------------------------------------------------------------------------------

    def _color(self, color: str) -> str | None:
        """A series' colour as Rich takes it (theme variables looked up; None if it cannot be read)."""
        text = self.app.theme_variables.get(color[1:], "") if color.startswith("$") else color
        try:
            return Color.parse(text).rich_color.name
        except ColorParseError:
            return None

    def render(self) -> Text:
        width, height = self.content_size
        colors = [self._color(s.color) for s in self._series]
        title = self._title_line(width, colors)
        time_axis = self.show_time_axis or self.has_class("-alone")
        rows = height - 1 - int(time_axis)
        extent = self.extent()
        if rows < 1 or width < _GUTTER + 4 or extent is None:
            self.shown_range = None
            return title
        first, last = extent
        # The gutter fits the widest label of a first guess at the scale; label widths rarely change.
        columns = width - _GUTTER - 1
        start, end = visible_range(self._window, first, last, columns)
        buckets = [bucket_values(s.points, start, end, columns, s.aggregate) for s in self._series]
        peak = max((v for column in buckets for v in column if v is not None), default=0.0)
        top, label_values = y_scale(peak, rows)
        values = [self.formatter(value) for _, value in label_values]
        gutter = max([_GUTTER, *(len(v) for v in values)])
        if gutter != _GUTTER:
            columns = width - gutter - 1
            start, end = visible_range(self._window, first, last, columns)
            buckets = [bucket_values(s.points, start, end, columns, s.aggregate) for s in self._series]
        self.plot_columns = columns
        self.shown_range = (start, end)

        axis_style = self.get_component_rich_style("time-chart--axis")
        labels = {row: text for (row, _), text in zip(label_values, values, strict=True)}
        eighths = rows * 8
        # (height in eighths, colour) of each series with a value in a column, shortest first; of equal
        # heights the later series is in front (failures/s as high as requests/s: every request failed)
        layers = [
            sorted(
                (
                    (min(eighths, max(1, round(value / top * eighths))), color)
                    for value, color in reversed(list(zip(column_values, colors, strict=True)))
                    if value is not None and value > 0
                ),
                key=_height,
            )
            for column_values in zip(*buckets, strict=True)
        ]
        styles: dict[tuple[str | None, str | None], Style] = {}
        lines = [title]
        lines.extend(
            self._plot_line(row, layers, styles, labels.get(row), gutter, axis_style)
            for row in reversed(range(rows))
        )
        if time_axis:
            axis = [" "] * columns
            for column, label in time_ticks(start, end, columns, first):
                axis[column : column + len(label)] = label
            lines.append(Text(" " * gutter + "└" + "".join(axis), axis_style))
        return Text("\n").join(lines)

    def _title_line(self, width: int, colors: list[str | None]) -> Text:
        line = Text()
        title_style = self.get_component_rich_style("time-chart--title")
        if self.has_class("-selected"):
            title_style += Style(reverse=True)
        line.append(self.title, title_style)
        figures = self.get_component_rich_style("time-chart--figures")
        for series, color in zip(self._series, colors, strict=True):
            newest = self.formatter(series.points[-1][1]) if series.points else "-"
            line.append("  ")
            line.append("■ ", Style(color=color))
            line.append(f"{series.label} {newest}", figures)
        note = self._window_note()
        if line.cell_len + len(note) + 2 <= width:
            line.append(" " * (width - line.cell_len - len(note)))
            line.append(note, figures)
        return line

    def _window_note(self) -> str:
        window = self._window
        extent = self.extent()
        if window.span is None or extent is None:
            return "whole run" if extent is not None else ""
        note = f"{format_duration(window.span)} window"
        return note + (" (paused)" if window.end is not None and window.end < extent[1] else "")

    @staticmethod
    def _plot_line(
        row: int,
        layers: list[list[tuple[int, str | None]]],
        styles: dict[tuple[str | None, str | None], Style],
        label: str | None,
        gutter: int,
        axis_style: Style,
    ) -> Text:
        line = Text((label or "").rjust(gutter) + ("┤" if label else "│"), axis_style)
        low, high = row * 8, row * 8 + 8
        run_chars: list[str] = []
        run_style: Style | None = None
        key: tuple[str | None, str | None] | None
        for column_layers in layers:
            if not column_layers or column_layers[-1][0] <= low:
                char, key = " ", None  # above every bar
            elif column_layers[0][0] >= high:
                char, key = "█", (column_layers[0][1], None)  # under every bar's top
            else:
                below = next(i for i, (height, _) in enumerate(column_layers) if height > low)
                height, color = column_layers[below]
                if height >= high:
                    char, key = "█", (color, None)
                else:
                    # the lower part in this series' colour, the rest in the next series' (a third
                    # colour in one cell cannot be shown: the next one is, so every series shows)
                    above = next((c for h, c in column_layers[below + 1 :] if h > height), None)
                    char, key = _BLOCKS[height - low], (color, above)
            style = None
            if key is not None:
                style = styles.get(key)
                if style is None:
                    style = styles[key] = Style(color=key[0], bgcolor=key[1])
            if style is not run_style and run_chars:
                line.append("".join(run_chars), run_style)
                run_chars = []
            run_style = style
            run_chars.append(char)
        if run_chars:
            line.append("".join(run_chars), run_style)
        return line
