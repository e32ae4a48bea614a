"""JUnit XML of a run for CI test reporters (GitLab, Jenkins, GitHub): one testsuite, one testcase per
check and one per endpoint that had failures. Imports only the standard library, stats, checks and the
controller's outputs (the JSON report it renders from, as ``tswarm report --junit`` does)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tswarm.checks import Check, CheckError, CheckVerdict, parse_check
from tswarm.controller.outputs import JsonReport, ReportFileError
from tswarm.stats import RequestStats

__all__ = ["render_junit", "render_junit_report", "verdicts_from_report"]

#: errors of one endpoint listed in its failure text
TOP_ERRORS = 5


@dataclass(frozen=True)
class _FailingEndpoint:
    method: str
    name: str
    num_failures: int
    num_requests: int
    #: (occurrences, error text), most frequent first
    errors: list[tuple[int, str]]


def _top_errors(errors: Sequence[tuple[int, str]]) -> list[tuple[int, str]]:
    # most frequent first, ties by text: the run and a report read back list the same errors
    return sorted(errors, key=lambda e: (-e[0], e[1]))


def render_junit(stats: RequestStats, verdicts: Sequence[CheckVerdict], run_meta: Mapping[str, Any]) -> str:
    """The XML document of live statistics: ``tests`` counts the checks and the failing endpoints."""
    failing = [
        _FailingEndpoint(
            entry.method,
            entry.name,
            entry.num_failures,
            entry.num_requests,
            _top_errors(
                [
                    (e.occurrences, e.error)
                    for e in stats.errors.values()
                    if (e.method, e.name) == (entry.method, entry.name)
                ]
            ),
        )
        for entry in stats.sorted_entries()
        if entry.num_failures
    ]
    return _render(verdicts, failing, run_meta.get("start_time"), float(run_meta.get("duration") or 0.0))


def verdicts_from_report(report: JsonReport | Mapping[str, Any]) -> list[CheckVerdict]:
    """The check verdicts a JSON report recorded (its ``checks``), rebuilt from each check's text.

    Raises:
        ReportFileError: a recorded check does not parse (the report was edited by hand).
    """
    verdicts = []
    for record in report.get("checks") or []:
        try:
            parsed = parse_check(record["check"])
        except CheckError as e:
            raise ReportFileError(f"the report's checks: {e}") from None
        # the recorded limit is the one the run used (the text shows it rounded for reading)
        check = Check(
            parsed.metric, record["op"], record["limit"], parsed.name, parsed.method, record["check"]
        )
        verdicts.append(CheckVerdict(check, record["observed"], record["passed"]))
    return verdicts


def render_junit_report(report: JsonReport | Mapping[str, Any]) -> str:
    """The XML document of a JSON report (valid: see ``load_json_report``): the same document as
    :func:`render_junit` wrote for the run the report is of."""
    failing = [
        _FailingEndpoint(
            entry["method"],
            entry["name"],
            entry["num_failures"],
            entry["num_requests"],
            _top_errors(
                [
                    (f["occurrences"], f["error"])
                    for f in report["failures"]
                    if (f["method"], f["name"]) == (entry["method"], entry["name"])
                ]
            ),
        )
        for entry in report["entries"]
        if entry["num_failures"]
    ]
    run = report["run"]
    return _render(
        verdicts_from_report(report), failing, run.get("start_time"), float(run.get("duration") or 0.0)
    )


def _render(
    verdicts: Sequence[CheckVerdict], failing: Sequence[_FailingEndpoint], start_time: object, duration: float
) -> str:
    suite = ET.Element("testsuite", name="tswarm", timestamp=_iso(start_time))
    for verdict in verdicts:
        check = verdict.check
        case = ET.SubElement(suite, "testcase", classname="tswarm.checks", name=check.text(), time="0")
        if not verdict.passed:
            message = f"observed {verdict.observed_text}, limit {verdict.limit_text}"
            failure = ET.SubElement(case, "failure", message=message, type="CheckBreached")
            failure.text = f"{check.text()}: {message}"
    for endpoint in failing:
        name = f"{endpoint.method} {endpoint.name}".strip()
        case = ET.SubElement(suite, "testcase", classname="tswarm.endpoints", name=name, time="0")
        message = f"{endpoint.num_failures} of {endpoint.num_requests} requests failed"
        failure = ET.SubElement(case, "failure", message=message, type="RequestFailures")
        failure.text = "\n".join(
            [message, *(f"{count} x {error}" for count, error in endpoint.errors[:TOP_ERRORS])]
        )
    failures = sum(1 for v in verdicts if not v.passed) + len(failing)
    suite.set("tests", str(len(verdicts) + len(failing)))
    suite.set("failures", str(failures))
    suite.set("errors", "0")
    suite.set("skipped", "0")
    suite.set("time", f"{duration:.3f}")
    suites = ET.Element("testsuites", name="tswarm", tests=suite.get("tests", "0"), failures=str(failures))
    suites.set("errors", "0")
    suites.set("time", f"{duration:.3f}")
    suites.append(suite)
    ET.indent(suites)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suites, encoding="unicode") + "\n"


def _iso(timestamp: object) -> str:
    from datetime import UTC, datetime

    if not isinstance(timestamp, int | float):
        return ""
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%dT%H:%M:%S")
