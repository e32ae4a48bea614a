"""``tswarm compare``: two runs' JSON reports side by side (per endpoint and aggregated), the change of
each figure, and checks of changes against the baseline (``p95<+10%``). Plain logic shared by the
command line and any later front-end; may import the checks, the stats and the controller's outputs and
formatting.

Percentiles are recomputed from the reports' histograms (``stats_from_report``), so they are as exact
as the run's own, and a check scoped to a glob merges its endpoints as on a run.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, Literal, TypedDict

from tswarm.checks import Check, CheckVerdict, evaluate_checks, holds, observe, scoped_entry
from tswarm.controller.formatting import format_ms, format_percent, format_rps
from tswarm.controller.markdown_report import markdown_cell
from tswarm.controller.outputs import JsonReport, ReportFileError, stats_from_report
from tswarm.controller.report import render_table
from tswarm.stats import RequestStats, StatsEntry

__all__ = [
    "COMPARE_SCHEMA_VERSION",
    "COMPARED_METRICS",
    "CompareCheckReport",
    "CompareReport",
    "CompareRunReport",
    "Comparison",
    "ComparisonVerdict",
    "EndpointComparison",
    "EndpointComparisonReport",
    "MetricChange",
    "MetricChangeReport",
    "change_of",
    "compare_reports",
    "comparison_json",
    "render_comparison_markdown",
    "render_comparison_table",
]

COMPARE_SCHEMA_VERSION: Final = 1

#: the figures compared: metric (as checks name it), label, and whether a higher value is better
COMPARED_METRICS: Final = (
    ("rps", "requests/s", True),
    ("fail_ratio", "fail ratio", False),
    ("p50", "p50 (ms)", False),
    ("p95", "p95 (ms)", False),
    ("p99", "p99 (ms)", False),
)

#: a change smaller than this (in % or pp) is shown as none and never marked worse: it rounds to 0.0
_NOISE = 0.05


@dataclass(frozen=True)
class MetricChange:
    """One figure of one endpoint in both runs. ``change`` is in % of the baseline (in percentage points
    for ``fail_ratio``); None when the endpoint is in one run only, or the baseline's value is 0."""

    metric: str
    baseline: float | None
    candidate: float | None
    change: float | None
    unit: str
    worse: bool

    def change_text(self) -> str:
        if self.baseline is None or self.candidate is None:
            return "-"
        if self.change is None:
            return "new" if self.candidate else "-"
        if abs(self.change) < _NOISE:
            return f"0.0{self.unit}"
        return f"{self.change:+.1f}{self.unit}" if self.unit == "%" else f"{self.change:+.2f}{self.unit}"


@dataclass(frozen=True)
class EndpointComparison:
    """One endpoint (or the aggregate, method "" and name "Aggregated") in both runs."""

    method: str
    name: str
    #: "baseline" or "candidate" for an endpoint in one run only, else None
    only_in: str | None
    metrics: tuple[MetricChange, ...]

    @property
    def worse(self) -> bool:
        return any(m.worse for m in self.metrics)


@dataclass(frozen=True)
class ComparisonVerdict:
    """A ``--check`` of ``tswarm compare`` and its verdict; ``baseline`` and ``candidate`` are the
    metric's values in the scope (None where nothing matched). An absolute check is judged on the
    candidate, a relative one on the change."""

    verdict: CheckVerdict
    baseline: float | None
    candidate: float | None

    @property
    def passed(self) -> bool:
        return self.verdict.passed

    def observed_text(self) -> str:
        check = self.verdict.check
        if check.relative is None:
            return self.verdict.observed_text
        if self.baseline is None:
            return "no request matched in the baseline"
        if self.candidate is None:
            return "no request matched in the candidate"
        return self.verdict.observed_text


@dataclass(frozen=True)
class Comparison:
    """Everything ``tswarm compare`` shows and writes."""

    baseline_path: str
    candidate_path: str
    baseline_run: dict[str, object]
    candidate_run: dict[str, object]
    total: EndpointComparison
    endpoints: tuple[EndpointComparison, ...]
    verdicts: tuple[ComparisonVerdict, ...]

    @property
    def regression(self) -> bool:
        """Whether any check was breached."""
        return any(not v.passed for v in self.verdicts)


def _value(entry: StatsEntry | None, metric: str) -> float | None:
    if entry is None or not (entry.num_requests or entry.num_failures):
        return None
    value = observe(entry, metric)
    return value if math.isfinite(value) else None


def change_of(metric: str, unit: str, baseline: float, candidate: float) -> float:
    """The change from ``baseline`` to ``candidate``: percentage points for ``pp``, else % of the
    baseline (infinite from a baseline of zero, 0 when both are zero)."""
    if unit == "pp":
        return (candidate - baseline) * 100
    if baseline == 0:
        return 0.0 if candidate == 0 else math.copysign(math.inf, candidate)
    return (candidate - baseline) / abs(baseline) * 100


def _metric_change(
    metric: str, higher_is_better: bool, base: StatsEntry | None, cand: StatsEntry | None
) -> MetricChange:
    unit = "pp" if metric == "fail_ratio" else "%"
    b, c = _value(base, metric), _value(cand, metric)
    change: float | None = None
    if b is not None and c is not None:
        change = change_of(metric, unit, b, c)
        if math.isinf(change):
            change = None
    worse = change is not None and (change <= -_NOISE if higher_is_better else change >= _NOISE)
    return MetricChange(metric, b, c, change, unit, worse)


def _endpoint(method: str, name: str, base: StatsEntry | None, cand: StatsEntry | None) -> EndpointComparison:
    only_in = "baseline" if cand is None else "candidate" if base is None else None
    metrics = tuple(_metric_change(m, better, base, cand) for m, _, better in COMPARED_METRICS)
    return EndpointComparison(method, name, only_in, metrics)


def _judge(check: Check, baseline: RequestStats, candidate: RequestStats) -> ComparisonVerdict:
    base_entry, cand_entry = scoped_entry(baseline, check), scoped_entry(candidate, check)
    base = _value(base_entry, check.metric) if base_entry is not None else None
    cand = _value(cand_entry, check.metric) if cand_entry is not None else None
    if check.relative is None:
        (verdict,) = evaluate_checks(candidate, [check])
        return ComparisonVerdict(verdict, base, cand)
    if base is None or cand is None:
        # nothing to compare in the scope: as on a run, a check with nothing measured cannot hold
        return ComparisonVerdict(CheckVerdict(check, None, False), base, cand)
    change = change_of(check.metric, check.relative, base, cand)
    return ComparisonVerdict(CheckVerdict(check, change, holds(check, change)), base, cand)


def _stats(report: JsonReport, path: str) -> RequestStats:
    try:
        return stats_from_report(report)
    except ReportFileError as e:
        raise ReportFileError(f"{path}: {e}") from None


def compare_reports(
    baseline: JsonReport,
    candidate: JsonReport,
    checks: Sequence[Check] = (),
    *,
    baseline_path: str = "baseline",
    candidate_path: str = "candidate",
) -> Comparison:
    """Compare two valid reports (see ``load_json_report``) and judge ``checks`` (parsed with
    ``parse_check(..., baseline=True)``).

    Raises:
        ReportFileError: a report has no histograms (see ``stats_from_report``); names its path.
    """
    base_stats, cand_stats = _stats(baseline, baseline_path), _stats(candidate, candidate_path)
    base_entries = {(e.method, e.name): e for e in base_stats.sorted_entries()}
    cand_entries = {(e.method, e.name): e for e in cand_stats.sorted_entries()}
    keys = sorted(base_entries.keys() | cand_entries.keys(), key=lambda k: (k[1], k[0]))
    return Comparison(
        baseline_path=baseline_path,
        candidate_path=candidate_path,
        baseline_run=dict(baseline["run"]),
        candidate_run=dict(candidate["run"]),
        total=_endpoint("", "Aggregated", base_stats.total, cand_stats.total),
        endpoints=tuple(_endpoint(m, n, base_entries.get((m, n)), cand_entries.get((m, n))) for m, n in keys),
        verdicts=tuple(_judge(c, base_stats, cand_stats) for c in checks),
    )


# -- text --------------------------------------------------------------------------------------------


def _figure(metric: str, value: float | None) -> str:
    if value is None:
        return "-"
    if metric == "fail_ratio":
        return format_percent(value)
    return format_rps(value) if metric == "rps" else format_ms(value)


def _label(metric: str) -> str:
    return next(label for m, label, _ in COMPARED_METRICS if m == metric)


def _rows(endpoint: EndpointComparison) -> list[list[str]]:
    """One row per figure; the endpoint is named on its first row, with the note of a one-run endpoint."""
    rows = []
    for i, m in enumerate(endpoint.metrics):
        first = i == 0
        if endpoint.only_in:
            note = f"only in {endpoint.only_in}" if first else ""
        else:
            note = "WORSE" if m.worse else ""
        rows.append(
            [
                endpoint.method if first else "",
                endpoint.name if first else "",
                _label(m.metric),
                _figure(m.metric, m.baseline),
                _figure(m.metric, m.candidate),
                m.change_text(),
                note,
            ]
        )
    return rows


_HEADERS = ("Type", "Name", "Metric", "Baseline", "Candidate", "Change", "")


def render_comparison_table(comparison: Comparison, *, color: bool) -> str:
    """The comparison for a terminal (a rich table with ``color``, plain text without) and, with
    checks, the checks' verdicts."""
    rows = [row for e in comparison.endpoints for row in _rows(e)]
    title = f"Comparison: {comparison.baseline_path} (baseline) -> {comparison.candidate_path} (candidate)"
    parts = [render_table(title, _HEADERS, rows, _rows(comparison.total), left=3, color=color)]
    if comparison.verdicts:
        held = sum(v.passed for v in comparison.verdicts)
        check_rows = [
            [
                v.verdict.check.scope,
                v.verdict.check.metric,
                v.verdict.limit_text,
                v.observed_text(),
                "pass" if v.passed else "REGRESSION",
            ]
            for v in comparison.verdicts
        ]
        parts.append(
            render_table(
                f"Checks ({held} of {len(comparison.verdicts)} held)",
                ("Scope", "Metric", "Limit", "Observed", "Verdict"),
                check_rows,
                [],
                left=2,
                color=color,
            )
        )
    return "\n\n".join(parts)


def render_comparison_markdown(comparison: Comparison) -> str:
    """The comparison as Markdown (for a CI job's summary page): the checks, then one row per endpoint
    and figure, worse changes in bold."""
    regressions = sum(not v.passed for v in comparison.verdicts)
    verdict = ""
    if comparison.verdicts:
        verdict = (
            f" — {regressions} of {len(comparison.verdicts)} checks breached"
            if regressions
            else " — no regression"
        )
    lines = [
        f"## tswarm compare: {markdown_cell(comparison.candidate_path)} against {markdown_cell(comparison.baseline_path)}{verdict}",
        "",
    ]
    if comparison.verdicts:
        lines += ["### Checks", "", "| | Check | Observed |", "| --- | --- | ---: |"]
        for v in comparison.verdicts:
            mark = "✅" if v.passed else "❌"
            lines.append(
                f"| {mark} | {markdown_cell(v.verdict.check.text())} | {markdown_cell(v.observed_text())} |"
            )
        lines.append("")
    lines += [
        "| Type | Name | Metric | Baseline | Candidate | Change |",
        "| --- | --- | --- | ---: | ---: | ---: |",
    ]
    for endpoint in [*comparison.endpoints, comparison.total]:
        for row in _rows(endpoint):
            method, name, label, base, cand, change, note = row
            if endpoint is comparison.total and name:
                name = f"**{name}**"
            elif name:
                name = markdown_cell(name)
            if note == "WORSE":
                change = f"**{change}** ▲"
            elif note:
                change = f"{change} ({note})"
            lines.append(f"| {markdown_cell(method)} | {name} | {label} | {base} | {cand} | {change} |")
    return "\n".join(lines) + "\n"


# -- JSON (declared here, documented in docs/compare.md) --------------------------------------------------


class CompareRunReport(TypedDict):
    """``baseline`` and ``candidate``: which run each side is."""

    path: str
    tswarm_version: str
    start_time_iso: str
    duration: float


class MetricChangeReport(TypedDict):
    """Each value of an endpoint's ``metrics``."""

    baseline: float | None
    candidate: float | None
    change: float | None
    unit: str
    worse: bool


class EndpointComparisonReport(TypedDict):
    """``total`` and each item of ``endpoints``."""

    method: str
    name: str
    only_in: str | None
    metrics: dict[str, MetricChangeReport]


class CompareCheckReport(TypedDict):
    """Each item of ``checks``."""

    check: str
    scope: str
    metric: str
    op: str
    limit: float
    relative: str | None
    baseline: float | None
    candidate: float | None
    observed: float | None
    passed: bool


class CompareReport(TypedDict):
    """What ``tswarm compare --json`` writes (schema version 1)."""

    schema_version: Literal[1]
    baseline: CompareRunReport
    candidate: CompareRunReport
    total: EndpointComparisonReport
    endpoints: list[EndpointComparisonReport]
    checks: list[CompareCheckReport]
    regression: bool


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def _run_json(path: str, run: dict[str, object]) -> CompareRunReport:
    duration = run.get("duration")
    return {
        "path": path,
        "tswarm_version": str(run.get("tswarm_version", "")),
        "start_time_iso": str(run.get("start_time_iso", "")),
        "duration": float(duration) if isinstance(duration, int | float) else 0.0,
    }


def _endpoint_json(endpoint: EndpointComparison) -> EndpointComparisonReport:
    return {
        "method": endpoint.method,
        "name": endpoint.name,
        "only_in": endpoint.only_in,
        "metrics": {
            m.metric: {
                "baseline": m.baseline,
                "candidate": m.candidate,
                "change": m.change,
                "unit": m.unit,
                "worse": m.worse,
            }
            for m in endpoint.metrics
        },
    }


def comparison_json(comparison: Comparison) -> CompareReport:
    """The comparison as ``--json`` writes it (docs/compare.md)."""
    return {
        "schema_version": COMPARE_SCHEMA_VERSION,
        "baseline": _run_json(comparison.baseline_path, comparison.baseline_run),
        "candidate": _run_json(comparison.candidate_path, comparison.candidate_run),
        "total": _endpoint_json(comparison.total),
        "endpoints": [_endpoint_json(e) for e in comparison.endpoints],
        "checks": [
            {
                "check": v.verdict.check.text(),
                "scope": v.verdict.check.scope,
                "metric": v.verdict.check.metric,
                "op": v.verdict.check.op,
                "limit": v.verdict.check.limit,
                "relative": v.verdict.check.relative,
                "baseline": v.baseline,
                "candidate": v.candidate,
                # JSON has no infinity: a change from zero is null, baseline and candidate say why
                "observed": _finite(v.verdict.observed),
                "passed": v.passed,
            }
            for v in comparison.verdicts
        ],
        "regression": comparison.regression,
    }
