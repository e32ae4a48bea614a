"""The arithmetic of the TUI's time charts: windows, zoom, buckets, axis ticks; plain Python, no Textual.

Kept apart from the widget so it can be tested on numbers alone.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from tswarm.controller.formatting import format_elapsed

__all__ = [
    "MIN_SECONDS_PER_COLUMN",
    "ZOOM_SPANS",
    "Aggregate",
    "TimeWindow",
    "bucket_values",
    "nice_ceiling",
    "pan",
    "time_ticks",
    "visible_range",
    "y_scale",
    "zoom",
]

#: How the points that fall into one column are combined (see :func:`bucket_values`).
Aggregate = Literal["mean", "max"]

#: the whole-run view never spreads a point over more than one column: the history has about one
#: point a second, so a short run fills the chart from the left instead of being stretched
MIN_SECONDS_PER_COLUMN = 1.0

#: the window widths zoom steps through, in seconds (10 s ... 1 day)
ZOOM_SPANS: tuple[float, ...] = (10, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400, 28800, 86400)

#: multiples of a power of ten that make round axis values
_NICE_STEPS = (1.0, 1.2, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0)

#: time-axis label intervals, in seconds
_TICK_INTERVALS = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400)


@dataclass(frozen=True)
class TimeWindow:
    """Which part of the run a chart shows.

    ``span`` None is the whole run, fitted to the width; otherwise the window is ``span`` seconds wide.
    ``end`` None follows the newest point; otherwise it is the timestamp of the window's right edge
    (the window stays there while new points arrive).
    """

    span: float | None = None
    end: float | None = None

    @property
    def is_whole_run(self) -> bool:
        return self.span is None


def visible_range(window: TimeWindow, first: float, last: float, columns: int) -> tuple[float, float]:
    """The (start, end) timestamps ``window`` shows, given the run's ``first`` and ``last`` timestamps.

    The whole run is at least ``columns`` seconds wide, so a short run fills the chart from the left
    at one column a second. A zoomed window is kept inside the run where the run is long enough.
    """
    last = max(last, first)
    if window.span is None:
        return first, max(last, first + columns * MIN_SECONDS_PER_COLUMN)
    end = last if window.end is None else min(window.end, last)
    start = end - window.span
    if start < first:
        start, end = first, first + window.span
    return start, end


def zoom(window: TimeWindow, steps: int, first: float, last: float, columns: int) -> TimeWindow:
    """The window after ``steps`` zoom steps (positive: in, narrower; negative: out, wider).

    Zooming keeps the right edge: a window that follows the newest point keeps following it. Zooming
    out to (or past) the whole run gives the whole run.
    """
    start, end = visible_range(window, first, last, columns)
    whole = visible_range(TimeWindow(), first, last, columns)
    whole_span = whole[1] - whole[0]
    span = end - start
    # A step changes the width by a quarter at least (a 310 s run zooms to 120 s, not to 300 s), and
    # a window within a tenth of the whole run is the whole run.
    for _ in range(abs(steps)):
        if steps > 0:
            narrower = [s for s in ZOOM_SPANS if s <= span * 0.75]
            if not narrower:
                break
            span = narrower[-1]
        else:
            wider = [s for s in ZOOM_SPANS if s >= span * 1.25]
            if not wider or wider[0] >= whole_span * 0.9:
                return TimeWindow()
            span = wider[0]
    if span >= whole_span * 0.9:
        return TimeWindow()
    follows = window.end is None
    return TimeWindow(span, None if follows else end)


def pan(window: TimeWindow, direction: int, first: float, last: float, columns: int) -> TimeWindow:
    """The window moved by half its width (``direction`` -1: back in time, +1: forward).

    Moving forward past the newest point follows it again. The whole run does not move.
    """
    if window.span is None:
        return window
    start, end = visible_range(window, first, last, columns)
    new_end = end + direction * window.span / 2
    if new_end >= last:
        return TimeWindow(window.span)
    return TimeWindow(window.span, max(new_end, first + window.span))


def bucket_values(
    points: Sequence[tuple[float, float]],
    start: float,
    end: float,
    columns: int,
    aggregate: Aggregate = "mean",
) -> list[float | None]:
    """The ``(timestamp, value)`` points (oldest first) between ``start`` and ``end``, one value per column.

    Each column covers ``(end - start) / columns`` seconds; the points in it are combined by
    ``aggregate`` (``"mean"`` or ``"max"``). A column with no point of its own, between two that have
    one, holds the value before it (the history is thinned in long runs and a zoomed window can be
    narrower than a second a column). Columns before the first point and after the last are None.
    """
    if columns <= 0 or end <= start:
        return []
    step = (end - start) / columns
    sums = [0.0] * columns
    counts = [0] * columns
    maxima: list[float | None] = [None] * columns
    begin = bisect.bisect_left(points, start, key=lambda point: point[0])
    stop = bisect.bisect_right(points, end, key=lambda point: point[0])
    use_max = aggregate == "max"
    for timestamp, value in points[begin:stop]:
        index = min(int((timestamp - start) / step), columns - 1)
        counts[index] += 1
        if use_max:
            current = maxima[index]
            if current is None or value > current:
                maxima[index] = value
        else:
            sums[index] += value
    values: list[float | None] = (
        maxima if use_max else [sums[i] / counts[i] if counts[i] else None for i in range(columns)]
    )
    # Hold the last value across columns without a point, from the point before the window (if any)
    # up to the last point in or after it.
    held: float | None = points[begin - 1][1] if begin > 0 else None
    last_filled = (
        columns - 1 if stop < len(points) else max((i for i in range(columns) if counts[i]), default=-1)
    )
    for i in range(last_filled + 1):
        cell = values[i]
        if cell is None:
            values[i] = held
        else:
            held = cell
    return values


def nice_ceiling(value: float) -> float:
    """The smallest round number (1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6 or 8 times a power of ten) >= ``value``."""
    if value <= 0 or not math.isfinite(value):
        return 1.0
    power = 10.0 ** math.floor(math.log10(value))
    for step in _NICE_STEPS:
        # a little slack so 3.0000000001 (a float's error) is not pushed to 4
        if step * power >= value * (1 - 1e-9):
            return step * power
    return 10.0 * power


def y_scale(peak: float, rows: int) -> tuple[float, list[tuple[int, float]]]:
    """The value at the top of ``rows`` rows that hold ``peak``, and the labelled rows' values.

    Labels go on every ``m``-th row (at most five), at the row's top edge, and step by a round number,
    so they read 50, 100, 150 and not 37, 74, 111. Returns ``(top, [(row, value), ...])``, row 0 at
    the bottom.
    """
    rows = max(1, rows)
    every = max(1, -(-rows // 5))
    label_step = nice_ceiling(peak * every / rows) if peak > 0 else float(every)
    row_value = label_step / every
    labels = [(r, row_value * (r + 1)) for r in range(rows) if (r + 1) % every == 0]
    return row_value * rows, labels


def time_ticks(start: float, end: float, columns: int, origin: float) -> list[tuple[int, str]]:
    """Labels for a time axis: ``(column, "m:ss")`` at round intervals of elapsed time since ``origin``.

    The interval is the smallest that leaves two blank columns between labels; labels that would
    not fit before the right edge are left out.
    """
    if columns <= 0 or end <= start:
        return []
    seconds_per_column = (end - start) / columns
    width = len(format_elapsed(end - origin)) + 2
    interval = next((i for i in _TICK_INTERVALS if i / seconds_per_column >= width), None)
    if interval is None:  # a window too wide for the ladder: whole days
        interval = _TICK_INTERVALS[-1] * math.ceil(width * seconds_per_column / _TICK_INTERVALS[-1])
    ticks: list[tuple[int, str]] = []
    first = math.ceil((start - origin) / interval - 1e-9) * interval
    elapsed = first
    while origin + elapsed <= end + 1e-9:
        column = int(round((origin + elapsed - start) / seconds_per_column))
        label = format_elapsed(elapsed)
        if column + len(label) <= columns:
            ticks.append((column, label))
        elapsed += interval
    return ticks
