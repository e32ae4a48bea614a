"""Text tables for the headless front-end: the periodic live table and the final summary.

Without colour the output is plain text with no escape codes at all (safe for logs and CI); with
colour, rich draws the same tables.
"""

from __future__ import annotations

import heapq
import io
import os
from collections.abc import Mapping, Sequence
from typing import Any

from tswarm.checks import CheckVerdict
from tswarm.controller.formatting import (
    format_age,
    format_clock,
    format_count,
    format_failures,
    format_ms,
    format_rps,
    percentile_column,
)
from tswarm.controller.outputs import sorted_exceptions, sorted_failures
from tswarm.stats import PERCENTILES_TO_REPORT, RequestStats, StatsEntry

__all__ = ["render_check_table", "render_live_table", "render_summary", "render_table", "use_color"]

#: longest request name shown before it is cut
NAME_WIDTH = 50

_STATS_HEADERS = ("Type", "Name", "# reqs", "# fails (%)", "Avg", "Min", "Max", "Med", "req/s", "failures/s")


def _cell(text: str, width: int = NAME_WIDTH) -> str:
    text = text.replace("\r", " ").replace("\n", " ")
    return text if len(text) <= width else text[: width - 3] + "..."


def _stats_cells(entry: StatsEntry, *, current: bool) -> list[str]:
    rps = entry.current_rps if current else entry.total_rps
    fails = entry.current_fail_per_sec if current else entry.total_fail_per_sec
    return [
        entry.method,
        _cell(entry.name),
        format_count(entry.num_requests),
        format_failures(entry.num_failures, entry.fail_ratio),
        format_ms(entry.avg_response_time),
        format_ms(entry.min_response_time or 0),
        format_ms(entry.max_response_time),
        format_ms(entry.median_response_time),
        format_rps(rps),
        format_rps(fails),
    ]


def _plain_table(headers: Sequence[str], rows: list[list[str]], footer: list[list[str]], left: int) -> str:
    """Columns padded with spaces; the first ``left`` columns align left, the rest right."""
    widths = [len(h) for h in headers]
    for row in rows + footer:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], len(cell))

    def line(cells: Sequence[str]) -> str:
        parts = [
            c.ljust(w) if i < left else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ]
        return "  ".join(parts).rstrip()

    rule = "  ".join("-" * w for w in widths)
    out = [line(headers), rule, *(line(r) for r in rows)]
    if footer:
        out.append(rule)
        out.extend(line(r) for r in footer)
    return "\n".join(out)


def _rich_table(
    title: str | None, headers: Sequence[str], rows: list[list[str]], footer: list[list[str]], left: int
) -> str:
    from rich import box
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    table = Table(
        title=title, box=box.SIMPLE_HEAD, title_justify="left", header_style="bold cyan", pad_edge=False
    )
    for i, header in enumerate(headers):
        table.add_column(header, justify="left" if i < left else "right", no_wrap=True)
    # Text, not str: a name like "/items/[id]" is not rich markup
    for row in rows:
        table.add_row(*map(Text, row))
    if footer:
        table.add_section()
        for row in footer:
            table.add_row(*map(Text, row), style="bold")
    buffer = io.StringIO()
    console = Console(file=buffer, force_terminal=True, color_system="standard", width=200, highlight=False)
    console.print(table)
    return buffer.getvalue().rstrip("\n")


def _table(
    title: str | None,
    headers: Sequence[str],
    rows: list[list[str]],
    footer: list[list[str]],
    *,
    left: int,
    color: bool,
) -> str:
    if color:
        return _rich_table(title, headers, rows, footer, left)
    body = _plain_table(headers, rows, footer, left)
    return f"{title}\n{body}" if title else body


def use_color(stream: Any) -> bool:
    """Whether tables for ``stream`` get colour: only on a terminal, and never with ``NO_COLOR`` set
    (https://no-color.org): a CI log or a pipe gets plain text without escape codes."""
    if os.environ.get("NO_COLOR"):
        return False
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def render_table(
    title: str | None,
    headers: Sequence[str],
    rows: list[list[str]],
    footer: list[list[str]],
    *,
    left: int,
    color: bool,
) -> str:
    """A titled table the way the summary draws its own (rich with ``color``, plain text without), for
    other commands' tables (``tswarm compare``); the first ``left`` columns align left."""
    return _table(title, headers, rows, footer, left=left, color=color)


def _stats_table(
    stats: RequestStats,
    *,
    current: bool,
    color: bool,
    title: str | None,
    entries: Sequence[StatsEntry] | None = None,
) -> str:
    shown = stats.sorted_entries() if entries is None else entries
    rows = [_stats_cells(e, current=current) for e in shown]
    footer = [_stats_cells(stats.total, current=current)]
    return _table(title, _STATS_HEADERS, rows, footer, left=2, color=color)


def top_entries(stats: RequestStats, max_rows: int | None) -> tuple[list[StatsEntry], int]:
    """The ``max_rows`` entries with the most requests (all when None), in the table's name order,
    and how many were left out."""
    entries = stats.sorted_entries()
    if max_rows is None or len(entries) <= max_rows:
        return entries, 0
    # nlargest keeps the first of equal counts, so ties go to the name order too
    kept = {id(e) for e in heapq.nlargest(max(max_rows, 0), entries, key=lambda e: e.num_requests)}
    return [e for e in entries if id(e) in kept], len(entries) - len(kept)


def render_live_table(
    stats: RequestStats, user_count: int, *, color: bool, max_rows: int | None = None
) -> str:
    """The periodic table: one line per entry and the Aggregated line, with current rates.

    ``max_rows``: show only that many entries, those with the most requests, and a line saying how
    many more there are (the Aggregated line always counts them all). None shows every entry.
    """
    title = f"Users: {format_count(user_count)}"
    entries, hidden = top_entries(stats, max_rows)
    table = _stats_table(stats, current=True, color=color, title=title, entries=entries)
    if hidden:
        table += f"\n... and {format_count(hidden)} more with fewer requests (the final summary lists all)"
    return table


def _percentile_table(stats: RequestStats, percentiles: Sequence[float], *, color: bool) -> str:
    headers = ["Type", "Name", *(percentile_column(q) for q in percentiles), "# reqs"]

    def cells(entry: StatsEntry) -> list[str]:
        values = entry.get_response_time_percentiles(percentiles)
        return [
            entry.method,
            _cell(entry.name),
            *(format_ms(v) for v in values),
            format_count(entry.num_requests),
        ]

    rows = [cells(e) for e in stats.sorted_entries() if e.num_requests]
    footer = [cells(stats.total)] if stats.total.num_requests else []
    return _table("Response time percentiles (approximated, ms)", headers, rows, footer, left=2, color=color)


def render_check_table(verdicts: Sequence[CheckVerdict], *, color: bool) -> str:
    """The "Checks" table of the summary: each check, its scope, the limit, what was observed, and
    whether it held."""
    rows = [
        [
            _cell(v.check.scope),
            v.check.metric,
            v.limit_text,
            v.observed_text,
            "pass" if v.passed else "BREACHED",
        ]
        for v in verdicts
    ]
    held = sum(v.passed for v in verdicts)
    title = f"Checks ({held} of {len(verdicts)} held)"
    return _table(title, ("Scope", "Metric", "Limit", "Observed", "Verdict"), rows, [], left=2, color=color)


def render_summary(
    stats: RequestStats, *, color: bool, percentiles: Sequence[float] = PERCENTILES_TO_REPORT
) -> str:
    """The end-of-test report: statistics (whole-test rates), percentiles, failures, exceptions."""
    parts = [
        _stats_table(stats, current=False, color=color, title="Statistics (whole test)"),
        _percentile_table(stats, percentiles, color=color),
    ]
    failures = sorted_failures(stats)
    if failures:
        rows = [[e.method, _cell(e.name), _cell(e.error, 100), format_count(e.occurrences)] for e in failures]
        parts.append(
            _table("Failures", ("Method", "Name", "Error", "Occurrences"), rows, [], left=3, color=color)
        )
    exceptions = sorted_exceptions(stats)
    if exceptions:
        lines = ["Exceptions"]
        for group in exceptions:
            nodes = ", ".join(sorted(group.nodes))
            lines.append(
                f"{format_count(group.count)} x {group.message}" + (f"  (on {nodes})" if nodes else "")
            )
            lines.extend("    " + tb_line for tb_line in group.traceback.rstrip("\n").splitlines())
        text = "\n".join(lines)
        if color:
            text = _rich_text(text)
        parts.append(text)
    if stats.interrupted:
        parts.append(interrupted_line(stats.interrupted))
    return "\n\n".join(parts) + "\n"


def interrupted_line(count: int) -> str:
    """The summary's line on requests cut off by the stop (they are in no statistic above)."""
    were = "request was" if count == 1 else "requests were"
    return (
        f"{format_count(count)} {were} still waiting for a response when the users stopped: not counted "
        "above (--stop-timeout lets users finish the request they are in)"
    )


def render_missing_workers(outages: Sequence[Mapping[str, Any]]) -> str:
    """The summary's lines on workers that went missing (``run.missing_workers`` items); "" for none."""
    if not outages:
        return ""
    lines = [f"Workers missing during the test: {len(outages)} time(s)"]
    for outage in outages:
        back = "came back" if outage["back_at"] is not None else "never came back"
        lines.append(
            f"  {outage['node_id']}: missing at {format_clock(outage['missing_at'])} ({outage['reason']}) "
            f"for {format_age(outage['duration'])}, {back}"
        )
    return "\n".join(lines) + "\n"


def _rich_text(text: str) -> str:
    from rich.console import Console
    from rich.text import Text

    buffer = io.StringIO()
    console = Console(file=buffer, force_terminal=True, color_system="standard", width=200, highlight=False)
    rich_text = Text(text)
    rich_text.stylize("bold", 0, len("Exceptions"))
    console.print(rich_text)
    return buffer.getvalue().rstrip("\n")
