"""The HTML report (``--html``, ``tswarm report --html``): one self-contained page rendered from a JSON
report; may import the stats and the controller's outputs and formatting.

Nothing on the page is fetched: the CSS is inline and the charts are SVG drawn here, with no script at
all, so the file opens the same from a CI artifact, an e-mail or a laptop without a network. Every text
that comes from the test (names, errors, tracebacks, hosts) is escaped.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from html import escape
from typing import Any

from tswarm.controller.formatting import (
    format_bytes,
    format_duration,
    format_ms,
    format_percent,
    format_rps,
    percentile_column,
)
from tswarm.controller.outputs import (
    EntryReport,
    JsonReport,
    is_failure_status,
    readable_status_code,
    status_code_from_label,
)
from tswarm.stats.histogram import distribution_bars

__all__ = ["render_html_report"]

#: chart sizes in SVG units (the page scales them to its width; the charts over time sit side by side)
CHART_WIDTH = 880
CHART_HEIGHT = 220
LINE_CHART_WIDTH = 520
LINE_CHART_HEIGHT = 240
_MARGIN_LEFT, _MARGIN_RIGHT, _MARGIN_TOP, _MARGIN_BOTTOM = 64, 16, 28, 30
#: bars of the response-time distribution
DISTRIBUTION_BARS = 40
#: failures and exceptions listed (the JSON keeps them all)
MAX_LISTED = 200

_CSS = """
:root { color-scheme: light; --fg: #1d2330; --muted: #5b6475; --line: #d9dee7; --bg: #ffffff;
  --head: #f3f5f9; --ok: #1b7f3b; --bad: #c62828; --accent: #2f6fdf; }
* { box-sizing: border-box; }
body { margin: 0; padding: 24px 32px 48px; font: 14px/1.45 system-ui, -apple-system, "Segoe UI",
  Roboto, "DejaVu Sans", sans-serif; color: var(--fg); background: var(--bg); }
h1 { font-size: 22px; margin: 0 0 4px; }
h2 { font-size: 17px; margin: 28px 0 8px; padding-bottom: 4px; border-bottom: 1px solid var(--line); }
.sub { color: var(--muted); margin: 0 0 16px; }
table { border-collapse: collapse; width: 100%; margin: 4px 0 8px; }
th, td { text-align: right; padding: 4px 8px; border-bottom: 1px solid var(--line);
  font-variant-numeric: tabular-nums; vertical-align: top; }
th { background: var(--head); font-weight: 600; white-space: nowrap; }
th.l, td.l { text-align: left; }
td.name { text-align: left; word-break: break-all; }
tr.total td { font-weight: 600; border-top: 2px solid var(--line); }
tr.total + tr.total td { border-top-width: 1px; }
table.meta { width: auto; }
table.meta th { text-align: left; background: none; font-weight: 500; color: var(--muted); }
table.meta td { text-align: left; }
.badge { display: inline-block; padding: 1px 8px; border-radius: 10px; color: #fff; font-weight: 600;
  font-size: 12px; }
.pass { background: var(--ok); } .fail { background: var(--bad); }
.bad { color: var(--bad); font-weight: 600; }
pre { margin: 0; white-space: pre-wrap; word-break: break-all; font: 12px/1.35 ui-monospace,
  "DejaVu Sans Mono", monospace; }
.charts { display: grid; grid-template-columns: repeat(auto-fit, minmax(420px, 1fr)); gap: 12px 24px; }
figure { margin: 0; }
figcaption { font-weight: 600; margin-bottom: 2px; }
svg { width: 100%; height: auto; display: block; }
svg text { font: 11px system-ui, sans-serif; fill: var(--muted); }
.empty { color: var(--muted); font-style: italic; }
footer { margin-top: 32px; color: var(--muted); font-size: 12px; }
"""

#: line colours of the charts: requests/s, failures/s, p50, p95, p99, users
_BLUE, _RED, _GREEN, _ORANGE, _MAGENTA, _PURPLE = (
    "#2f6fdf",
    "#c62828",
    "#1b7f3b",
    "#e07b00",
    "#b0307a",
    "#7a3fb8",
)


def render_html_report(report: JsonReport | Mapping[str, Any]) -> str:
    """The whole page for a report (valid: see ``tswarm.controller.outputs.load_json_report``)."""
    run: Mapping[str, Any] = report["run"]
    title = f"tswarm report: {run.get('locustfile') or run.get('command') or 'run'}"
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        # no network: nothing on this page may load anything, whatever a name in the test contains
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline';"
        ' img-src data:">',
        f"<title>{escape(title)}</title>",
        f"<style>{_CSS}</style>",
        "</head><body>",
        f"<h1>{escape(title)}</h1>",
        f'<p class="sub">{escape(_when(run))}</p>',
        _section("Run", _metadata(run, report)),
    ]
    checks = report.get("checks")
    if isinstance(checks, list) and checks:
        parts.append(_section("Checks", _checks(checks), section_id="checks"))
    entries: Sequence[EntryReport] = report["entries"]
    total: EntryReport = report["total"]
    parts.append(_section("Statistics", _statistics(entries, total), section_id="statistics"))
    parts.append(
        _section(
            "Response time percentiles (ms)",
            _percentiles(entries, total, report["percentiles"]),
            section_id="percentiles",
        )
    )
    parts.append(_section("Charts", _charts(report["history"], run), section_id="charts"))
    parts.append(_section("Response time distribution", _distribution(total), section_id="distribution"))
    parts.append(_section("Status codes", _status_codes(entries, total), section_id="status-codes"))
    parts.append(_section("Failures", _failures(report["failures"]), section_id="failures"))
    parts.append(_section("Exceptions", _exceptions(report["exceptions"]), section_id="exceptions"))
    parts.append(_section("Workers", _workers(run), section_id="workers"))
    parts.append(
        f"<footer>Written by tswarm {escape(str(run.get('tswarm_version', '')))} from a JSON report of schema"
        f" version {escape(str(report.get('schema_version', '')))}.</footer>"
    )
    parts.append("</body></html>\n")
    return "\n".join(parts)


# -- sections -------------------------------------------------------------------------------------


def _section(heading: str, body: str, section_id: str | None = None) -> str:
    ident = f' id="{section_id}"' if section_id else ""
    return f"<section{ident}><h2>{escape(heading)}</h2>\n{body}\n</section>"


def _empty(text: str) -> str:
    return f'<p class="empty">{escape(text)}</p>'


def _when(run: Mapping[str, Any]) -> str:
    start, end = run.get("start_time_iso", ""), run.get("end_time_iso", "")
    return f"{start} to {end} ({format_duration(float(run.get('duration', 0.0)))})"


def _table(headers: Sequence[str], rows: Iterable[Sequence[str]], *, left: int = 0, totals: int = 0) -> str:
    """A table from already escaped cells; the first ``left`` columns are text (left aligned); the last
    ``totals`` rows are the aggregate's."""
    head = "".join(f'<th class="l">{h}</th>' if i < left else f"<th>{h}</th>" for i, h in enumerate(headers))
    body = []
    all_rows = list(rows)
    for n, row in enumerate(all_rows):
        cells = "".join(
            f'<td class="name">{c}</td>' if i < left else f"<td>{c}</td>" for i, c in enumerate(row)
        )
        cls = ' class="total"' if n >= len(all_rows) - totals else ""
        body.append(f"<tr{cls}>{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _metadata(run: Mapping[str, Any], report: Mapping[str, Any]) -> str:
    total = report["total"]
    rows: list[tuple[str, str]] = [
        ("Command", f"tswarm {run['command']}" if run.get("command") else ""),
        ("Test file", str(run.get("locustfile") or "")),
        ("Profile", str(run.get("profile") or "")),
        ("Host", str(run.get("host") or "")),
        ("Duration", format_duration(float(run.get("duration", 0.0)))),
        ("Users at the end", str(run.get("user_count", ""))),
        ("Target users (-u)", str(run.get("target_user_count", ""))),
        ("Spawn rate (-r)", f"{run['spawn_rate']:g}/s" if "spawn_rate" in run else ""),
        ("Run time (-t)", format_duration(float(run["run_time"])) if run.get("run_time") else ""),
        ("User classes", ", ".join(f"{k}: {v}" for k, v in sorted(run.get("user_classes", {}).items()))),
        ("Requests", str(total["num_requests"])),
        ("Failures", f"{total['num_failures']} ({format_percent(total['fail_ratio'])})"),
        ("Requests/s", format_rps(total["total_rps"])),
        ("Interrupted requests", str(run.get("interrupted_requests") or "")),
        ("Exit code", str(run.get("exit_code", ""))),
    ]
    cells = "".join(f"<tr><th>{escape(k)}</th><td>{escape(v)}</td></tr>" for k, v in rows if v)
    return f'<table class="meta">{cells}</table>'


def _checks(checks: Sequence[Any]) -> str:
    rows = []
    failed = 0
    for check in checks:
        if not isinstance(check, Mapping):
            continue
        passed = bool(check.get("passed"))
        failed += not passed
        badge = '<span class="badge pass">pass</span>' if passed else '<span class="badge fail">FAIL</span>'
        rows.append([badge, escape(str(check.get("check", ""))), escape(_plain(check.get("observed")))])
    summary = (
        f'<p class="bad">{failed} of {len(rows)} checks breached</p>'
        if failed
        else f"<p>All {len(rows)} checks hold.</p>"
    )
    return summary + _table(["Verdict", "Check", "Observed"], rows, left=2)


def _plain(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def _entry_cells(entry: EntryReport) -> list[str]:
    fails = entry["num_failures"]
    fail_text = f"{fails} ({format_percent(entry['fail_ratio'])})"
    return [
        escape(entry["method"]),
        escape(entry["name"]),
        str(entry["num_requests"]),
        f'<span class="bad">{fail_text}</span>' if fails else fail_text,
        format_ms(entry["median_response_time"]),
        format_ms(entry["avg_response_time"]),
        format_ms(entry["min_response_time"]),
        format_ms(entry["max_response_time"]),
        format_bytes(entry["avg_content_length"]),
        format_rps(entry["total_rps"]),
        format_rps(entry["total_fail_per_sec"]),
    ]


def _statistics(entries: Sequence[EntryReport], total: EntryReport) -> str:
    headers = [
        "Type",
        "Name",
        "Requests",
        "Failures",
        "Median (ms)",
        "Average (ms)",
        "Min (ms)",
        "Max (ms)",
        "Avg size",
        "Requests/s",
        "Failures/s",
    ]
    rows = [_entry_cells(e) for e in entries] + [_entry_cells(total)]
    return _table(headers, rows, left=2, totals=1)


def _percentiles(entries: Sequence[EntryReport], total: EntryReport, percentiles: Sequence[float]) -> str:
    columns = [percentile_column(q) for q in percentiles]
    rows = [
        [escape(e["method"]), escape(e["name"]), *(format_ms(e["percentiles"].get(c)) for c in columns)]
        for e in [*entries, total]
    ]
    return _table(["Type", "Name", *columns], rows, left=2, totals=1)


def _status_codes(entries: Sequence[EntryReport], total: EntryReport) -> str:
    """Per endpoint and for the aggregate: each status code, its requests and its share of the requests
    that got a status code; no response and HTTP errors are marked as the failures are."""
    rows: list[list[str]] = []
    totals = 0
    for entry in [*entries, total]:
        codes = entry.get("status_codes") or {}
        counted = sum(codes.values())
        for label, count in codes.items():
            code = status_code_from_label(label)
            cells = [escape(readable_status_code(code)), str(count), format_percent(count / counted)]
            if is_failure_status(code):
                cells = [f'<span class="bad">{c}</span>' for c in cells]
            rows.append([escape(entry["method"]), escape(entry["name"]), *cells])
            totals += entry is total
    if not rows:
        return _empty("No status codes: no HTTP requests, or a report of an older tswarm.")
    headers = ["Type", "Name", "Status code", "Requests", "Share"]
    return _table(headers, rows, left=2, totals=totals)


def _failures(failures: Sequence[Mapping[str, Any]]) -> str:
    if not failures:
        return _empty("No failures.")
    rows = [
        [escape(f["method"]), escape(f["name"]), f"<pre>{escape(f['error'])}</pre>", str(f["occurrences"])]
        for f in failures[:MAX_LISTED]
    ]
    return _table(["Type", "Name", "Error", "Occurrences"], rows, left=3) + _more(len(failures))


def _exceptions(exceptions: Sequence[Mapping[str, Any]]) -> str:
    if not exceptions:
        return _empty("No exceptions in user code.")
    rows = [
        [
            f"<pre>{escape(e['message'])}</pre>",
            f"<pre>{escape(e['traceback'])}</pre>",
            escape(", ".join(e["nodes"])),
            str(e["count"]),
        ]
        for e in exceptions[:MAX_LISTED]
    ]
    return _table(["Message", "Traceback", "Nodes", "Count"], rows, left=3) + _more(len(exceptions))


def _more(count: int) -> str:
    if count <= MAX_LISTED:
        return ""
    return _empty(f"... and {count - MAX_LISTED} more (all of them are in the JSON report).")


def _workers(run: Mapping[str, Any]) -> str:
    outages = run.get("missing_workers") or []
    if not outages:
        return _empty("No worker went missing.")
    rows = [
        [
            escape(str(o["node_id"])),
            escape(str(o["reason"])),
            escape(_clock(o["missing_at"])),
            escape(_clock(o["back_at"]) if o.get("back_at") is not None else "never"),
            format_duration(float(o["duration"])),
        ]
        for o in outages
    ]
    return _table(["Worker", "Why", "Missing at (UTC)", "Back at (UTC)", "Missing for"], rows, left=4)


def _clock(timestamp: float) -> str:
    return datetime.fromtimestamp(float(timestamp), UTC).strftime("%H:%M:%S")


# -- charts ---------------------------------------------------------------------------------------


def _charts(history: Sequence[Mapping[str, Any]], run: Mapping[str, Any]) -> str:
    if len(history) < 2:
        return _empty("The run was too short for charts over time (fewer than two samples).")
    start = float(run.get("start_time", history[0]["timestamp"]))
    times = [float(p["timestamp"]) - start for p in history]
    response_times = [
        ("p50", _GREEN, [float(p["p50"]) for p in history]),
        ("p95", _ORANGE, [float(p["p95"]) for p in history]),
    ]
    # reports of older tswarm versions have no p99 in their history
    if all("p99" in p for p in history):
        response_times.append(("p99", _MAGENTA, [float(p["p99"]) for p in history]))
    charts = [
        _line_chart(
            "Requests/s and failures/s",
            times,
            [
                ("requests/s", _BLUE, [float(p["current_rps"]) for p in history]),
                ("failures/s", _RED, [float(p["current_fail_per_sec"]) for p in history]),
            ],
            format_rps,
        ),
        _line_chart(
            "Response time (ms), last ~10 s",
            times,
            response_times,
            format_ms,
        ),
        _line_chart("Users", times, [("users", _PURPLE, [float(p["user_count"]) for p in history])], _count),
    ]
    return f'<div class="charts">{"".join(charts)}</div>'


def _count(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"


def _nice_ceiling(value: float) -> float:
    """The smallest of 1, 2, 2.5, 5 times a power of ten at or above ``value`` (> 0)."""
    power = 10.0 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if step * power >= value:
            return step * power
    return 10 * power


def _line_chart(
    title: str, times: Sequence[float], series: Sequence[tuple[str, str, Sequence[float]]], fmt: Any
) -> str:
    left, right = _MARGIN_LEFT, LINE_CHART_WIDTH - _MARGIN_RIGHT
    top, bottom = _MARGIN_TOP, LINE_CHART_HEIGHT - _MARGIN_BOTTOM
    highest = max((v for _, _, values in series for v in values if math.isfinite(v)), default=0.0)
    y_max = _nice_ceiling(highest) if highest > 0 else 1.0
    t_min, t_max = times[0], times[-1]
    span = (t_max - t_min) or 1.0

    def x(t: float) -> float:
        return left + (t - t_min) / span * (right - left)

    def y(v: float) -> float:
        return bottom - max(0.0, min(v, y_max)) / y_max * (bottom - top)

    shapes = []
    for i in range(5):
        value = y_max * i / 4
        yy = y(value)
        shapes.append(f'<line x1="{left}" y1="{yy:.1f}" x2="{right}" y2="{yy:.1f}" stroke="#e6e9ef"/>')
        shapes.append(f'<text x="{left - 6}" y="{yy + 4:.1f}" text-anchor="end">{escape(fmt(value))}</text>')
    for i in range(5):
        t = t_min + span * i / 4
        anchor = "start" if i == 0 else "end" if i == 4 else "middle"
        shapes.append(
            f'<text x="{x(t):.1f}" y="{bottom + 18}" text-anchor="{anchor}">{format_duration(max(t, 0.0))}</text>'
        )
    legend_x = left
    for label, colour, values in series:
        points = " ".join(
            f"{x(t):.1f},{y(v if math.isfinite(v) else 0.0):.1f}" for t, v in zip(times, values, strict=True)
        )
        shapes.append(f'<polyline fill="none" stroke="{colour}" stroke-width="1.8" points="{points}"/>')
        shapes.append(f'<rect x="{legend_x}" y="8" width="12" height="4" fill="{colour}"/>')
        shapes.append(f'<text x="{legend_x + 16}" y="14">{escape(label)}</text>')
        legend_x += 16 + 8 * len(label) + 18
    shapes.append(f'<line x1="{left}" y1="{bottom}" x2="{right}" y2="{bottom}" stroke="#9aa3b2"/>')
    svg = (
        f'<svg viewBox="0 0 {LINE_CHART_WIDTH} {LINE_CHART_HEIGHT}" role="img" aria-label="{escape(title)}">'
        f"<title>{escape(title)}</title>{''.join(shapes)}</svg>"
    )
    return f"<figure><figcaption>{escape(title)}</figcaption>{svg}</figure>"


def _distribution(total: EntryReport) -> str:
    histogram = total.get("histogram")
    if histogram is None:
        return _empty("This report has no histograms (written by an older tswarm).")
    bars = distribution_bars(histogram, DISTRIBUTION_BARS)
    if not bars:
        return _empty("No requests.")
    left, right = _MARGIN_LEFT, CHART_WIDTH - _MARGIN_RIGHT
    top, bottom = _MARGIN_TOP, CHART_HEIGHT - _MARGIN_BOTTOM
    highest = max(c for _, _, c in bars)
    y_max = _nice_ceiling(highest)
    slot = (right - left) / len(bars)
    shapes = []
    for i in range(5):
        value = y_max * i / 4
        yy = bottom - value / y_max * (bottom - top)
        shapes.append(f'<line x1="{left}" y1="{yy:.1f}" x2="{right}" y2="{yy:.1f}" stroke="#e6e9ef"/>')
        shapes.append(f'<text x="{left - 6}" y="{yy + 4:.1f}" text-anchor="end">{value:.0f}</text>')
    for i, (low, high, count) in enumerate(bars):
        height = count / y_max * (bottom - top)
        shapes.append(
            f'<rect x="{left + i * slot + 1:.1f}" y="{bottom - height:.1f}" width="{max(slot - 2, 1):.1f}"'
            f' height="{height:.1f}" fill="{_BLUE}"><title>{format_ms(low)} to {format_ms(high)} ms:'
            f" {count}</title></rect>"
        )
    for i in range(0, len(bars) + 1, max(1, len(bars) // 5)):
        edge = bars[min(i, len(bars) - 1)][0 if i < len(bars) else 1]
        anchor = "start" if i == 0 else "end" if i >= len(bars) else "middle"
        shapes.append(
            f'<text x="{left + i * slot:.1f}" y="{bottom + 18}" text-anchor="{anchor}">{format_ms(edge)} ms</text>'
        )
    shapes.append(f'<line x1="{left}" y1="{bottom}" x2="{right}" y2="{bottom}" stroke="#9aa3b2"/>')
    caption = "Requests by response time, all endpoints (log scale of time)"
    svg = (
        f'<svg viewBox="0 0 {CHART_WIDTH} {CHART_HEIGHT}" role="img" aria-label="{escape(caption)}">'
        f"<title>{escape(caption)}</title>{''.join(shapes)}</svg>"
    )
    return f"<figure><figcaption>{escape(caption)}</figcaption>{svg}</figure>"
