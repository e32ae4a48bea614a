"""Every number, size and time the TUI draws is formatted here.

Kept in one small module so it can later be swapped for the shared
``tswarm.controller.formatting`` without touching the widgets.
"""

from __future__ import annotations

import time

from tswarm.controller.formatting import format_duration, percentile_label
from tswarm.timespan import TimespanError, parse_timespan

__all__ = [
    "fmt_age",
    "fmt_bytes",
    "fmt_clock",
    "fmt_count",
    "fmt_duration",
    "fmt_ms",
    "fmt_percent",
    "fmt_percentile_label",
    "fmt_rps",
    "parse_duration",
]


def fmt_ms(value: float) -> str:
    """A response time in milliseconds, without unit: one decimal below 10 ms, whole ms above."""
    if value < 10:
        return f"{value:.1f}"
    return f"{value:,.0f}"


def fmt_rps(value: float) -> str:
    """Requests (or failures) per second, one decimal."""
    return f"{value:,.1f}"


def fmt_count(value: int) -> str:
    """A count with thousands separators."""
    return f"{value:,}"


def fmt_bytes(value: float) -> str:
    """A size in bytes with a binary unit (B, KiB, MiB, GiB)."""
    size = float(value)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(size) < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")


def fmt_percent(value: float) -> str:
    """A percentage (``value`` is already in percent, e.g. 12.5 -> "12.5%")."""
    if value and abs(value) < 0.1:
        return f"{value:.2f}%"
    return f"{value:.1f}%"


# Shared with the text reports: one definition of each.
fmt_percentile_label = percentile_label
fmt_duration = format_duration


def fmt_age(seconds: float) -> str:
    """How long ago something happened, e.g. a heartbeat: "0.4s", "12s", "3m05s"."""
    if seconds < 10:
        return f"{seconds:.1f}s"
    return fmt_duration(seconds)


def fmt_clock(timestamp: float) -> str:
    """A wall-clock time of day (local time) as HH:MM:SS."""
    return time.strftime("%H:%M:%S", time.localtime(timestamp))


def parse_duration(text: str) -> float | None:
    """Parse a run time typed by the user.

    Args:
        text: "30s", "5m", "1h30m", a bare number of seconds, or empty for no limit.

    Returns:
        Seconds, or None when ``text`` is empty.

    Raises:
        ValueError: if ``text`` is not a duration, or is zero.
    """
    if not text.strip():
        return None
    try:
        seconds = parse_timespan(text, "run time")
    except TimespanError:
        raise ValueError(f"not a duration: {text.strip()!r} (try 30s, 5m, 1h30m)") from None
    if seconds <= 0:
        raise ValueError("run time must be more than 0 s")
    return seconds
