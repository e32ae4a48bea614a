"""The one place that turns numbers into text for humans (text reports and the TUI).

Machine outputs (CSV, JSON) do not use these: they write raw values in Locust's formats.
"""

from __future__ import annotations

__all__ = [
    "format_bytes",
    "format_count",
    "format_duration",
    "format_failures",
    "format_ms",
    "format_percent",
    "format_rps",
    "percentile_column",
    "percentile_label",
]


def format_ms(value: float | None) -> str:
    """A response time in ms with about three significant digits: ``0.52``, ``12.3``, ``1234``."""
    if value is None:
        return "-"
    if value < 10:
        return f"{value:.2f}"
    if value < 100:
        return f"{value:.1f}"
    return f"{value:.0f}"


def format_rps(value: float) -> str:
    """Requests (or failures) per second: ``0.00``, ``12.50``, ``1234.5``."""
    return f"{value:.1f}" if value >= 1000 else f"{value:.2f}"


def format_count(value: int) -> str:
    return str(value)


def format_percent(ratio: float) -> str:
    """A ratio (0..1) as a percentage with two decimals: ``1.25%``."""
    return f"{ratio * 100:.2f}%"


def format_failures(count: int, ratio: float) -> str:
    """Failures with their share of requests, Locust style: ``3(1.25%)``."""
    return f"{count}({format_percent(ratio)})"


def format_bytes(size: float) -> str:
    """A size in bytes with SI units: ``512 B``, ``1.2 kB``, ``3.4 MB``."""
    if size < 1000:
        return f"{size:.0f} B"
    for unit in ("kB", "MB", "GB", "TB"):
        size /= 1000
        if size < 1000:
            return f"{size:.1f} {unit}"
    return f"{size:.1f} PB"


def format_duration(seconds: float) -> str:
    """A duration: ``45s``, ``1m05s``, ``2h03m04s``."""
    total = max(0, int(round(seconds)))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m{secs:02d}s"
    if minutes:
        return f"{minutes}m{secs:02d}s"
    return f"{secs}s"


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
