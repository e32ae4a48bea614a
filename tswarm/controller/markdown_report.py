"""The Markdown summary (``--markdown``, ``tswarm report --markdown``) for a CI job's summary page, such
as the file GitHub names in ``$GITHUB_STEP_SUMMARY``; may import the controller's outputs and formatting.

Short on purpose: totals, the busiest endpoints, the top failures and the checks. The HTML report and
the JSON hold the rest.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from tswarm.controller.formatting import format_duration, format_ms, format_percent, format_rps
from tswarm.controller.outputs import EntryReport, JsonReport

__all__ = ["markdown_cell", "render_markdown_report"]

#: endpoints and failures listed (the busiest, the most frequent)
TOP_ROWS = 10
#: a cell's text is cut to this many characters (an error text can be a page long)
MAX_CELL = 120


def markdown_cell(value: object) -> str:
    """Text made safe inside a Markdown table cell: one line, no column breaks, no HTML or links."""
    text = " ".join(str(value).split())
    if len(text) > MAX_CELL:
        text = text[: MAX_CELL - 1] + "…"
    for char in ("\\", "|", "`", "*", "_", "[", "]", "<", ">"):
        text = text.replace(char, "\\" + char)
    return text


def _row(cells: Sequence[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def render_markdown_report(report: JsonReport | Mapping[str, Any]) -> str:
    """The summary of a report (valid: see ``tswarm.controller.outputs.load_json_report``)."""
    run: Mapping[str, Any] = report["run"]
    total: EntryReport = report["total"]
    lines: list[str] = []
    checks = report.get("checks")
    checks = [c for c in checks if isinstance(c, Mapping)] if isinstance(checks, list) else []
    failed_checks = sum(1 for c in checks if not c.get("passed"))
    verdict = ""
    if checks:
        verdict = (
            f" — {failed_checks} of {len(checks)} checks breached" if failed_checks else " — all checks hold"
        )
    lines.append(f"## tswarm: {markdown_cell(run.get('locustfile') or run.get('command') or 'run')}{verdict}")
    lines.append("")
    facts = [
        f"**{total['num_requests']}** requests",
        f"**{total['num_failures']}** failures ({format_percent(total['fail_ratio'])})",
        f"{format_rps(total['total_rps'])} requests/s",
        f"median {format_ms(total['median_response_time'])} ms",
        f"p95 {format_ms(total['percentiles'].get('95%'))} ms",
        f"p99 {format_ms(total['percentiles'].get('99%'))} ms",
        f"{format_duration(float(run.get('duration', 0.0)))}",
    ]
    if "user_count" in run or "target_user_count" in run:
        facts.append(f"{run.get('target_user_count', run.get('user_count'))} users")
    if run.get("host"):
        facts.append(f"host {markdown_cell(run['host'])}")
    if run.get("profile"):
        facts.append(f"profile {markdown_cell(run['profile'])}")
    if "exit_code" in run:
        facts.append(f"exit code {run['exit_code']}")
    lines.append(" · ".join(facts))
    if checks:
        lines += ["", "### Checks", "", _row(["", "Check", "Observed"]), _row(["---", "---", "---:"])]
        for check in checks:
            mark = "✅" if check.get("passed") else "❌"
            observed = check.get("observed")
            shown = (
                "-" if observed is None else f"{observed:.6g}" if isinstance(observed, float) else observed
            )
            lines.append(_row([mark, markdown_cell(check.get("check", "")), markdown_cell(shown)]))
    entries: Sequence[EntryReport] = report["entries"]
    if entries:
        busiest = sorted(entries, key=lambda e: (-e["num_requests"], e["name"], e["method"]))[:TOP_ROWS]
        title = (
            "### Endpoints" if len(entries) <= TOP_ROWS else f"### Top {TOP_ROWS} of {len(entries)} endpoints"
        )
        lines += ["", title, ""]
        lines.append(
            _row(
                ["Type", "Name", "Requests", "Failures", "Median (ms)", "p95 (ms)", "p99 (ms)", "Requests/s"]
            )
        )
        lines.append(_row(["---", "---", *(["---:"] * 6)]))
        for e in [*busiest, total]:
            bold = "**" if e is total else ""
            lines.append(
                _row(
                    [
                        markdown_cell(e["method"]),
                        f"{bold}{markdown_cell(e['name'])}{bold}",
                        str(e["num_requests"]),
                        f"{e['num_failures']} ({format_percent(e['fail_ratio'])})",
                        format_ms(e["median_response_time"]),
                        format_ms(e["percentiles"].get("95%")),
                        format_ms(e["percentiles"].get("99%")),
                        format_rps(e["total_rps"]),
                    ]
                )
            )
    failures = report["failures"]
    if failures:
        title = (
            "### Failures" if len(failures) <= TOP_ROWS else f"### Top {TOP_ROWS} of {len(failures)} failures"
        )
        lines += [
            "",
            title,
            "",
            _row(["Type", "Name", "Error", "Occurrences"]),
            _row(["---", "---", "---", "---:"]),
        ]
        for f in failures[:TOP_ROWS]:
            lines.append(
                _row(
                    [
                        markdown_cell(f["method"]),
                        markdown_cell(f["name"]),
                        markdown_cell(f["error"]),
                        str(f["occurrences"]),
                    ]
                )
            )
    missing = run.get("missing_workers") or []
    if missing:
        lines += [
            "",
            f"{len(missing)} time(s) a worker went missing: "
            + ", ".join(markdown_cell(o["node_id"]) for o in missing),
        ]
    return "\n".join(lines) + "\n"
