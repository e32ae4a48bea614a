"""Distributions drawn as text: a response-time histogram, status codes and errors with their shares.

Shared by the Distributions view (the whole test) and the endpoint drill-down (one entry); may import
the controller's snapshot, formatting and outputs' status-code labels (never gevent, zmq or the runner).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from rich.text import Text
from textual.widget import Widget

from tswarm.controller.formatting import format_count, format_ms, format_percent
from tswarm.controller.outputs import readable_status_code
from tswarm.controller.snapshot import FailureRow
from tswarm.stats.histogram import distribution_bars

__all__ = [
    "BarList",
    "ResponseTimeHistogram",
    "error_shares",
    "status_code_shares",
]

#: at most this many rows in a histogram, however tall the widget
MAX_HISTOGRAM_ROWS = 20
_BLOCKS = " ▏▎▍▌▋▊▉█"


def _status_style(code: int) -> str:
    if 200 <= code < 300:
        return "green"
    if 300 <= code < 400:
        return "cyan"
    if 400 <= code < 500:
        return "yellow"
    return "red"  # 5xx, no response and other


def status_code_shares(codes: Iterable[tuple[int, int]]) -> list[tuple[str, int, str]]:
    """(label, requests, style) per status code, most requests first."""
    ordered = sorted(codes, key=lambda item: (-item[1], item[0]))
    return [(readable_status_code(code), count, _status_style(code)) for code, count in ordered if count]


def error_shares(failures: Iterable[FailureRow], key: tuple[str, str] | None = None) -> list[tuple[str, int]]:
    """(error text, occurrences) summed over endpoints (or of the one ``(method, name)``), most first."""
    totals: dict[str, int] = {}
    for row in failures:
        if key is None or (row.method, row.name) == key:
            totals[row.error] = totals.get(row.error, 0) + row.occurrences
    return sorted(totals.items(), key=lambda item: (-item[1], item[0]))


def _bar(fraction: float, width: int) -> str:
    """A bar of ``fraction`` (0..1) of ``width`` cells, in eighths of a cell."""
    eighths = round(max(0.0, min(1.0, fraction)) * width * 8)
    full, part = divmod(eighths, 8)
    return "█" * full + (_BLOCKS[part] if part else "")


class BarList(Widget):
    """Labelled horizontal bars with counts and shares, one line each: status codes, errors."""

    DEFAULT_CSS = """
    BarList { height: auto; min-height: 1; }
    """

    def __init__(self, empty_text: str, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.empty_text = empty_text
        self._items: tuple[tuple[str, int, str], ...] = ()

    def set_items(self, items: Iterable[tuple[str, int, str]]) -> None:
        """Show ``items``: (label, count, rich style of the bar) per line, in this order."""
        items = tuple(items)
        if items != self._items:
            self._items = items
            self.refresh(layout=True)

    def get_content_height(self, container: object, viewport: object, width: int) -> int:
        return max(1, len(self._items))

    def render(self) -> Text:
        items = self._items
        if not items:
            return Text(self.empty_text, style="dim")
        total = sum(count for _, count, _ in items) or 1
        width = self.size.width or 60
        counts = [format_count(count) for _, count, _ in items]
        count_width = max(len(text) for text in counts)
        label_width = min(max(len(label) for label, _, _ in items), max(8, width // 2))
        bar_width = max(4, width - label_width - count_width - 10)
        largest = max(count for _, count, _ in items) or 1
        text = Text(no_wrap=True, overflow="ellipsis")
        for i, (label, count, style) in enumerate(items):
            if i:
                text.append("\n")
            shown = label if len(label) <= label_width else label[: label_width - 1] + "…"
            text.append(f"{shown:<{label_width}} ")
            text.append(f"{counts[i]:>{count_width}} {format_percent(count / total):>6} ")
            text.append(_bar(count / largest, bar_width), style=style)
        return text


class ResponseTimeHistogram(Widget):
    """Response times as horizontal bars over log-spaced ranges (like oha's histogram)."""

    DEFAULT_CSS = """
    ResponseTimeHistogram { height: 1fr; min-height: 3; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._buckets: tuple[tuple[int, int], ...] = ()

    def set_histogram(self, buckets: Sequence[tuple[int, int]]) -> None:
        """Show the histogram of ``buckets``: (bucket key, count) of tswarm's mergeable histogram."""
        buckets = tuple(buckets)
        if buckets != self._buckets:
            self._buckets = buckets
            self.refresh()

    def render(self) -> Text:
        rows = distribution_bars(self._buckets, min(MAX_HISTOGRAM_ROWS, max(1, self.size.height or 10)))
        if not rows:
            return Text("No requests yet", style="dim")
        total = sum(count for _, _, count in rows) or 1
        largest = max(count for _, _, count in rows) or 1
        labels = [f"{format_ms(low)}-{format_ms(high)} ms" for low, high, _ in rows]
        counts = [format_count(count) for _, _, count in rows]
        label_width = max(len(label) for label in labels)
        count_width = max(len(text) for text in counts)
        bar_width = max(4, (self.size.width or 60) - label_width - count_width - 10)
        text = Text(no_wrap=True, overflow="ellipsis")
        for i, (_, _, count) in enumerate(rows):
            if i:
                text.append("\n")
            text.append(f"{labels[i]:>{label_width}} ")
            text.append(
                f"{counts[i]:>{count_width}} {format_percent(count / total):>6} ",
                style="" if count else "dim",
            )
            text.append(_bar(count / largest, bar_width), style="blue")
        return text
