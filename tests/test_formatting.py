"""The one number formatter that the TUI, the live headless table and the summary share."""

from __future__ import annotations

import ast
import re
import time
from pathlib import Path

import pytest

from tswarm.controller.formatting import (
    format_age,
    format_bytes,
    format_clock,
    format_count,
    format_duration,
    format_elapsed,
    format_failures,
    format_ms,
    format_percent,
    format_rps,
    percentile_label,
)

NAN = float("nan")
INF = float("inf")


@pytest.mark.parametrize(
    ("ms", "text"),
    [
        (0, "0.00"),
        (0.004, "0.00"),
        (0.05, "0.05"),
        (0.523, "0.52"),
        (5.234, "5.23"),
        (9.994, "9.99"),
        # the decimals follow the rounded figure: never "10.00" or "100.0"
        (9.996, "10.0"),
        (12.34, "12.3"),
        (99.94, "99.9"),
        (99.96, "100"),
        (123.4, "123"),
        (1234.4, "1234"),
        (12345.6, "12346"),
        (3_600_000.0, "3600000"),
        (1e12, "1000000000000"),
    ],
)
def test_ms_three_significant_digits_at_most_two_decimals(ms: float, text: str) -> None:
    assert format_ms(ms) == text


@pytest.mark.parametrize("unknown", [None, NAN, INF])
def test_unknown_figures_read_as_a_dash(unknown: float | None) -> None:
    assert format_ms(unknown) == "-"
    assert format_rps(unknown) == "-"
    assert format_bytes(unknown) == "-"
    assert format_percent(unknown) == "-"


def test_nothing_reads_negative() -> None:
    # float subtraction can land a hair below zero; it must not print "-0.00"
    assert format_ms(-1e-12) == "0.00"
    assert format_rps(-0.001) == "0.00"
    assert format_bytes(-3) == "0 B"
    assert format_percent(-1e-9) == "0.00%"
    assert format_duration(-4) == "0s"
    assert format_age(-0.01) == "0.0s"


@pytest.mark.parametrize(
    ("rps", "text"),
    [(0, "0.00"), (0.333, "0.33"), (1.5, "1.50"), (12.5, "12.5"), (111.5, "112"), (1234.5, "1234")],
)
def test_rates_follow_the_same_rule_as_times(rps: float, text: str) -> None:
    assert format_rps(rps) == text


@pytest.mark.parametrize("count", [0, 7, 12345, 10**12])
def test_counts_are_plain_digits(count: int) -> None:
    assert format_count(count) == str(count)
    assert "," not in format_count(count)


@pytest.mark.parametrize(
    ("ratio", "text"),
    [
        (0.0, "0.00%"),
        (0.0125, "1.25%"),
        (0.125, "12.5%"),
        (1.0, "100%"),
        # a failure never reads as none, and some successes never as all failed
        (1e-6, "<0.01%"),
        (0.99999, ">99.9%"),
    ],
)
def test_percentages(ratio: float, text: str) -> None:
    assert format_percent(ratio) == text


def test_failures_locust_style() -> None:
    assert format_failures(3, 0.0125) == "3(1.25%)"
    assert format_failures(0, 0.0) == "0(0.00%)"
    assert format_failures(12345, 1.0) == "12345(100%)"


@pytest.mark.parametrize(
    ("size", "text"),
    [
        (0, "0 B"),
        (512, "512 B"),
        (999.4, "999 B"),
        # rounding up to the next unit reads in that unit
        (999.6, "1.0 kB"),
        (1234, "1.2 kB"),
        (999_960, "1.0 MB"),
        (3_400_000, "3.4 MB"),
        (5 * 10**9, "5.0 GB"),
        (7 * 10**12, "7.0 TB"),
        (2 * 10**18, "2000.0 PB"),
    ],
)
def test_sizes_in_si_units(size: float, text: str) -> None:
    assert format_bytes(size) == text


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "0s"), (0.4, "0s"), (45, "45s"), (65, "1m05s"), (600, "10m00s"), (3723, "1h02m03s"), (NAN, "0s")],
)
def test_durations(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "0:00"), (5.4, "0:05"), (750, "12:30"), (3723, "1:02:03"), (-3, "0:00"), (NAN, "0:00")],
)
def test_elapsed_times(seconds: float, text: str) -> None:
    assert format_elapsed(seconds) == text


@pytest.mark.parametrize(
    ("seconds", "text"), [(0, "0.0s"), (0.42, "0.4s"), (9.94, "9.9s"), (9.96, "10s"), (75, "1m15s")]
)
def test_ages(seconds: float, text: str) -> None:
    assert format_age(seconds) == text


def test_clock_is_local_time_of_day() -> None:
    stamp = time.mktime((2024, 5, 1, 13, 4, 5, 0, 0, -1))
    assert format_clock(stamp) == "13:04:05"


def test_percentile_labels() -> None:
    assert percentile_label(0.95) == "p95"
    assert percentile_label(0.999) == "p99.9"
    assert percentile_label(0.5) == "p50"


def test_every_human_view_formats_numbers_through_this_module() -> None:
    """The TUI, the headless front-end and the text report use no numeric format spec of their own
    (``:.1f``, ``:,``, ``:d``, ``:%`` ...): padding text (``:<9``) is fine."""
    root = Path(__file__).resolve().parent.parent / "tswarm"
    paths = [*sorted((root / "tui").rglob("*.py")), *sorted((root / "headless").rglob("*.py"))]
    paths.append(root / "controller" / "report.py")
    numeric_spec = re.compile(r"[,_]|\.\d|[bcdeEfFgGnoxX%]$")
    offenders = []
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.FormattedValue) and isinstance(node.format_spec, ast.JoinedStr):
                spec = "".join(
                    str(part.value) for part in node.format_spec.values if isinstance(part, ast.Constant)
                )
                if numeric_spec.search(spec):
                    offenders.append(f"{path.relative_to(root)}:{node.lineno} {spec}")
    assert offenders == []
    assert not (root / "tui" / "_format.py").exists()
