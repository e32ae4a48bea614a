"""Text tables for the headless front-end: the periodic live table and the final summary.

Without colour the output is plain text with no escape codes at all (safe for logs and CI); with
colour, rich draws the same tables.
"""

from __future__ import annotations

import heapq
import io
import os
import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tswarm.checks import CheckVerdict
from tswarm.controller.elide import ELLIPSIS, elide_middle
from tswarm.controller.formatting import (
    format_age,
    format_clock,
    format_count,
    format_failures,
    format_ms,
    format_rps,
    percentile_column,
)
from tswarm.controller.outputs import readable_status_code, sorted_exceptions, sorted_failures
from tswarm.stats import PERCENTILES_TO_REPORT, RequestStats, StatsEntry

__all__ = [
    "render_check_table",
    "render_live_table",
    "render_status_codes",
    "render_summary",
    "render_table",
    "terminal_width",
    "use_color",
]

#: the status-code line wraps at this width when the summary goes to a file or a pipe
STATUS_CODES_WIDTH = 80
#: longest request name shown before it is cut
NAME_WIDTH = 50
#: longest error text shown before it is cut
ERROR_WIDTH = 100
#: the narrowest a name or an error gets when a table is fitted to a terminal
MIN_FITTED_NAME = 20
MIN_FITTED_ERROR = 16
#: between two columns
_GAP = 2
#: the same in rich's tables: the padding each side and the (blank) rule; and the two edges
_RICH_GAP = 3
_RICH_EDGES = 2
#: names and errors are only cut by the fitting (in the middle, to the room there is)
_UNCUT = 100_000

_STATS_HEADERS = ("Type", "Name", "# reqs", "# fails (%)", "Avg", "Min", "Max", "Med", "req/s", "failures/s")


def _cell(text: str, width: int = NAME_WIDTH) -> str:
    text = text.replace("\r", " ").replace("\n", " ")
    return text if len(text) <= width else text[: width - 3] + "..."


@dataclass(frozen=True)
class _Fit:
    """How a table gives way when a terminal is narrower than its natural width.

    ``elastic`` columns (index -> (narrowest, cut in the middle)) shrink first; then the ``optional``
    ones, in that order, are left out; the table says which.
    """

    elastic: Mapping[int, tuple[int, bool]]
    optional: Sequence[int] = ()


def _fit_columns(
    headers: Sequence[str],
    rows: list[list[str]],
    footer: list[list[str]],
    fit: _Fit,
    width: int,
    *,
    gap: int = _GAP,
    edges: int = 0,
) -> tuple[list[str], list[list[str]], list[list[str]], list[str]]:
    """The table's headers, rows and footer fitted into ``width`` columns, and the headers left out.

    ``gap``: the cells between two columns; ``edges``: those at the left and right of the table."""
    widths = [len(h) for h in headers]
    for row in rows + footer:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], len(cell))

    def total(columns: Sequence[int]) -> int:
        return sum(widths[i] for i in columns) + gap * (len(columns) - 1) + edges

    kept = list(range(len(headers)))
    natural = list(widths)
    narrowest = {i: min(natural[i], max(least, len(headers[i]))) for i, (least, _) in fit.elastic.items()}
    if total(kept) > width:
        # elastic columns at their narrowest; then leave out optional ones until the rest fits ...
        for index, least in narrowest.items():
            widths[index] = least
        dropped = []
        for index in fit.optional:
            if total(kept) <= width:
                break
            kept.remove(index)
            dropped.append(index)
        # ... and give the room left back to the elastic columns, shared evenly
        room = width - total(kept)
        for count, index in enumerate(narrowest, start=1):
            share = max(0, room // (len(narrowest) - count + 1))
            grown = min(natural[index], widths[index] + share)
            room -= grown - widths[index]
            widths[index] = grown
    else:
        dropped = []

    def cut(row: list[str]) -> list[str]:
        cells = []
        for i in kept:
            cell = row[i]
            if len(cell) > widths[i]:
                middle = fit.elastic.get(i, (0, False))[1]
                # an error's text may hold line breaks: one line per cell
                one_line = cell.replace("\r", " ").replace("\n", " ")
                cell = elide_middle(one_line, widths[i]) if middle else cell[: widths[i] - 1] + ELLIPSIS
            cells.append(cell)
        return cells

    return (
        [headers[i] for i in kept],
        [cut(r) for r in rows],
        [cut(r) for r in footer],
        [headers[i] for i in dropped],
    )


def _stats_cells(entry: StatsEntry, *, current: bool, name_width: int = NAME_WIDTH) -> list[str]:
    rps = entry.current_rps if current else entry.total_rps
    fails = entry.current_fail_per_sec if current else entry.total_fail_per_sec
    return [
        entry.method,
        _cell(entry.name, name_width),
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
    title: str | None,
    headers: Sequence[str],
    rows: list[list[str]],
    footer: list[list[str]],
    left: int,
    width: int | None = None,
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
    console = Console(
        file=buffer, force_terminal=True, color_system="standard", width=width or 200, highlight=False
    )
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
    width: int | None = None,
    fit: _Fit | None = None,
) -> str:
    """The table as text; with ``width`` and ``fit``, fitted to that many columns (a terminal's)."""
    note = ""
    if width is not None and fit is not None:
        # rich draws a blank edge each side and a blank rule between padded columns
        gap, edges = (_RICH_GAP, _RICH_EDGES) if color else (_GAP, 0)
        headers, rows, footer, dropped = _fit_columns(headers, rows, footer, fit, width, gap=gap, edges=edges)
        if dropped:
            note = "\n" + _wrap(f"({', '.join(dropped)} left out to fit {width} columns)", width)
    if color:
        return _rich_table(title, headers, rows, footer, left, width) + note
    body = _plain_table(headers, rows, footer, left)
    return (f"{title}\n{body}" if title else body) + note


def _wrap(text: str, width: int | None, indent: str = "", hanging: str = "") -> str:
    """``text`` wrapped at ``width`` (unchanged without one), each line's continuation indented."""
    if width is None:
        return text
    out: list[str] = []
    for line in text.splitlines() or [""]:
        lead = indent + line[: len(line) - len(line.lstrip())]
        out.extend(
            textwrap.wrap(
                line.strip(),
                width,
                initial_indent=lead,
                subsequent_indent=lead + hanging,
                break_on_hyphens=False,
                drop_whitespace=True,
            )
            or [lead]
        )
    return "\n".join(out)


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
    width: int | None = None,
) -> str:
    shown = stats.sorted_entries() if entries is None else entries
    name_width = NAME_WIDTH if width is None else _UNCUT
    rows = [_stats_cells(e, current=current, name_width=name_width) for e in shown]
    footer = [_stats_cells(stats.total, current=current, name_width=name_width)]
    # left out first when narrow: failures/s, Min, Max, Avg (the CSV and JSON have them all)
    fit = _Fit({1: (MIN_FITTED_NAME, True)}, optional=(9, 5, 6, 4))
    return _table(title, _STATS_HEADERS, rows, footer, left=2, color=color, width=width, fit=fit)


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


#: percentiles a narrow summary keeps longest
_KEY_PERCENTILES = (0.5, 0.95, 0.99, 1.0, 0.9)


def _percentile_table(
    stats: RequestStats, percentiles: Sequence[float], *, color: bool, width: int | None = None
) -> str:
    headers = ["Type", "Name", *(percentile_column(q) for q in percentiles), "# reqs"]
    name_width = NAME_WIDTH if width is None else _UNCUT

    def cells(entry: StatsEntry) -> list[str]:
        values = entry.get_response_time_percentiles(percentiles)
        return [
            entry.method,
            _cell(entry.name, name_width),
            *(format_ms(v) for v in values),
            format_count(entry.num_requests),
        ]

    rows = [cells(e) for e in stats.sorted_entries() if e.num_requests]
    footer = [cells(stats.total)] if stats.total.num_requests else []

    # when narrow, the percentiles people quote least go first, the highest of them first
    def keep_longer(column: int) -> tuple[int, float]:
        q = percentiles[column - 2]
        rank = len(_KEY_PERCENTILES) - _KEY_PERCENTILES.index(q) if q in _KEY_PERCENTILES else 0
        return rank, -q

    optional = sorted((2 + i for i in range(len(percentiles))), key=keep_longer)
    fit = _Fit({1: (MIN_FITTED_NAME, True)}, optional=optional)
    title = "Response time percentiles (approximated, ms)"
    return _table(title, headers, rows, footer, left=2, color=color, width=width, fit=fit)


def render_check_table(verdicts: Sequence[CheckVerdict], *, color: bool, width: int | None = None) -> str:
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
    headers = ("Scope", "Metric", "Limit", "Observed", "Verdict")
    fit = _Fit({0: (MIN_FITTED_NAME, True)})
    return _table(title, headers, rows, [], left=2, color=color, width=width, fit=fit)


def render_summary(
    stats: RequestStats,
    *,
    color: bool,
    percentiles: Sequence[float] = PERCENTILES_TO_REPORT,
    width: int | None = None,
) -> str:
    """The end-of-test report: statistics (whole-test rates), percentiles, failures, exceptions.

    ``width``: the terminal's columns; every line is fitted into them (names cut in the middle,
    the least quoted columns left out, long lines wrapped). None: the tables' natural width.
    """
    parts = [
        _stats_table(stats, current=False, color=color, title="Statistics (whole test)", width=width),
        _percentile_table(stats, percentiles, color=color, width=width),
    ]
    failures = sorted_failures(stats)
    if failures:
        name_width = NAME_WIDTH if width is None else _UNCUT
        error_width = ERROR_WIDTH if width is None else _UNCUT
        rows = [
            [e.method, _cell(e.name, name_width), _cell(e.error, error_width), format_count(e.occurrences)]
            for e in failures
        ]
        fit = _Fit({2: (MIN_FITTED_ERROR, False), 1: (MIN_FITTED_NAME, True)})
        headers = ("Method", "Name", "Error", "Occurrences")
        parts.append(_table("Failures", headers, rows, [], left=3, color=color, width=width, fit=fit))
    exceptions = sorted_exceptions(stats)
    if exceptions:
        lines = ["Exceptions"]
        for group in exceptions:
            nodes = ", ".join(sorted(group.nodes))
            heading = f"{format_count(group.count)} x {group.message}" + (f"  (on {nodes})" if nodes else "")
            lines.append(_wrap(heading, width, hanging="    "))
            lines.extend(
                _wrap("    " + tb_line, width, hanging="  ")
                for tb_line in group.traceback.rstrip("\n").splitlines()
            )
        text = "\n".join(lines)
        if color:
            text = _rich_text(text)
        parts.append(text)
    if stats.interrupted:
        parts.append(_wrap(interrupted_line(stats.interrupted), width))
    return "\n\n".join(parts) + "\n"


def interrupted_line(count: int) -> str:
    """The summary's line on requests cut off by the stop (they are in no statistic above)."""
    were = "request was" if count == 1 else "requests were"
    return (
        f"{format_count(count)} {were} still waiting for a response when the users stopped: not counted "
        "above (--stop-timeout lets users finish the request they are in)"
    )


def render_missing_workers(outages: Sequence[Mapping[str, Any]], width: int | None = None) -> str:
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
    return _wrap("\n".join(lines), width, hanging="    ") + "\n"


def render_status_codes(stats: RequestStats, width: int | None = None) -> str:
    """The summary's status codes of the aggregate, most requests first, on one line or wrapped at
    ``width`` (:data:`STATUS_CODES_WIDTH` when None) between codes; "" when no code was counted.

    ``Status codes: 200 x 9812 · 404 x 12 · no response x 3``
    """
    codes = sorted(stats.total.status_codes.items(), key=lambda item: (-item[1], item[0]))
    items = [f"{readable_status_code(code)} x {format_count(count)}" for code, count in codes if count]
    if not items:
        return ""
    limit = width or STATUS_CODES_WIDTH
    head = "Status codes: "
    lines = [head + items[0]]
    for item in items[1:]:
        if len(lines[-1]) + len(" · ") + len(item) <= limit:
            lines[-1] += " · " + item
        else:
            lines.append(" " * len(head) + item)
    return "\n".join(lines) + "\n"


def terminal_width(stream: Any) -> int | None:
    """The columns of the terminal ``stream`` writes to; None when it is no terminal (a file, a pipe,
    a CI log), where the summary keeps its natural width."""
    isatty = getattr(stream, "isatty", None)
    if isatty is None or not isatty():
        return None
    try:
        return max(40, os.get_terminal_size(stream.fileno()).columns)
    except (OSError, ValueError, AttributeError):
        return None


def _rich_text(text: str) -> str:
    from rich.console import Console
    from rich.text import Text

    buffer = io.StringIO()
    console = Console(file=buffer, force_terminal=True, color_system="standard", width=200, highlight=False)
    rich_text = Text(text)
    rich_text.stylize("bold", 0, len("Exceptions"))
    console.print(rich_text)
    return buffer.getvalue().rstrip("\n")
