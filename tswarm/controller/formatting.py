"""The one place that turns numbers into text for people: the TUI, the live headless table and the summary.

The convention, so that one figure reads the same in all three:

- Response times in milliseconds, rates (per second) and percentages get three significant digits and
  at most two decimals: ``0.52``, ``5.23``, ``12.3``, ``123``, ``12345``. The response-time histogram
  keeps three significant digits, so a fourth would be noise, and a fixed number of decimals would
  either hide sub-millisecond times or print noise on slow ones.
- Counts are plain digits, no thousands separators (as Locust, k6 and oha print them, and as the CSV
  and JSON files hold them), so a figure on screen can be searched for in those files.
- Sizes in SI units (``512 B``, ``1.2 kB``, ``3.4 MB``): the files hold bytes, and 1000-based units
  compare to them by moving the decimal point.
- Durations as ``45s``, ``1m05s``, ``2h03m04s``.
- What is not known yet (``None``, NaN) reads ``-``; nothing reads negative (a float subtraction that
  lands a hair below zero reads as zero).

Machine outputs (CSV, JSON) do not use these: they write raw values in Locust's formats.
Imports nothing from tswarm, so any layer above may use it.
"""

from __future__ import annotations

import math
import time

__all__ = [
    "format_age",
    "format_bytes",
    "format_clock",
    "format_count",
    "format_duration",
    "format_elapsed",
    "format_failures",
    "format_ms",
    "format_percent",
    "format_rps",
    "percentile_column",
    "percentile_label",
]

#: shown for a figure that is not known (no requests yet, a value that is None or NaN)
UNKNOWN = "-"


def _significant(value: float) -> str:
    """``value`` (finite, >= 0) with three significant digits and at most two decimals."""
    # Decide the decimals on the rounded value, so 9.996 becomes "10.0" (not "10.00") and 99.96 "100".
    if round(value, 2) < 10:
        return f"{value:.2f}"
    if round(value, 1) < 100:
        return f"{value:.1f}"
    return f"{value:.0f}"


def _known(value: float | None) -> float | None:
    """``value`` clamped at zero, or None when it is None, NaN or infinite."""
    if value is None or not math.isfinite(value):
        return None
    return max(0.0, float(value))


def format_ms(value: float | None) -> str:
    """A response time in ms, without unit: ``0.52``, ``5.23``, ``12.3``, ``1234``; ``-`` if unknown."""
    known = _known(value)
    return UNKNOWN if known is None else _significant(known)


def format_rps(value: float | None) -> str:
    """Requests (or failures) per second: ``0.00``, ``0.33``, ``12.5``, ``1234``; ``-`` if unknown."""
    known = _known(value)
    return UNKNOWN if known is None else _significant(known)


def format_count(value: int) -> str:
    """A count: plain digits, ``12345``."""
    return str(int(value))


def format_percent(ratio: float | None) -> str:
    """A ratio (0..1) as a percentage: ``0.00%``, ``1.25%``, ``12.5%``, ``100%``.

    A ratio that is not zero never reads ``0.00%`` (it reads ``<0.01%``), and one that is not whole
    never reads ``100%`` (it reads ``>99.9%``): one failure in a million must still show.
    """
    known = _known(ratio)
    if known is None:
        return UNKNOWN
    percent = known * 100
    text = _significant(percent)
    if percent > 0 and text == "0.00":
        return "<0.01%"
    if percent < 100 and text == "100":
        return ">99.9%"
    return f"{text}%"


def format_failures(count: int, ratio: float) -> str:
    """Failures with their share of requests, Locust style: ``3(1.25%)``."""
    return f"{format_count(count)}({format_percent(ratio)})"


def format_bytes(size: float | None) -> str:
    """A size in bytes with SI units: ``512 B``, ``1.2 kB``, ``3.4 MB``; ``-`` if unknown."""
    known = _known(size)
    if known is None:
        return UNKNOWN
    if round(known) < 1000:
        return f"{known:.0f} B"
    for unit in ("kB", "MB", "GB", "TB"):
        known /= 1000
        # Compare the rounded figure, so 999.96 kB reads "1.0 MB", not "1000.0 kB".
        if round(known, 1) < 1000:
            return f"{known:.1f} {unit}"
    return f"{known / 1000:.1f} PB"


def format_duration(seconds: float) -> str:
    """A duration: ``45s``, ``1m05s``, ``2h03m04s``."""
    total = max(0, int(round(seconds))) if math.isfinite(seconds) else 0
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m{secs:02d}s"
    if minutes:
        return f"{minutes}m{secs:02d}s"
    return f"{secs}s"


def format_elapsed(seconds: float) -> str:
    """Time since the start of a run, as a clock reads it (the charts' time axis): ``0:05``, ``12:30``,
    ``1:02:03``."""
    total = max(0, int(round(seconds))) if math.isfinite(seconds) else 0
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}:{minutes:02d}:{secs:02d}"
    return f"{minutes}:{secs:02d}"


def format_age(seconds: float) -> str:
    """How long ago something happened (a heartbeat): ``0.4s`` below ten seconds, then as a duration."""
    if round(seconds, 1) < 10:
        return f"{max(0.0, seconds):.1f}s"
    return format_duration(seconds)


def format_clock(timestamp: float) -> str:
    """A wall-clock time of day (local time) as ``HH:MM:SS``."""
    return time.strftime("%H:%M:%S", time.localtime(timestamp))


def _percent_text(q: float) -> str:
    percent = q * 100
    if abs(percent - round(percent)) < 1e-9:
        return str(int(round(percent)))
    return f"{round(percent, 6):g}"


def percentile_column(q: float) -> str:
    """Locust's column name of a percentile: 0.95 -> ``95%``, 0.999 -> ``99.9%``, 1.0 -> ``100%``."""
    return f"{_percent_text(q)}%"


def percentile_label(q: float) -> str:
    """A short label for charts and narrow tables: 0.95 -> ``p95``, 0.999 -> ``p99.9``."""
    return f"p{_percent_text(q)}"
