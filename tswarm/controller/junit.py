"""JUnit XML of a run for CI test reporters (GitLab, Jenkins, GitHub): one testsuite, one testcase per
check and one per endpoint that had failures. Imports only the standard library, stats and checks."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from typing import Any

from tswarm.checks import CheckVerdict
from tswarm.stats import RequestStats

__all__ = ["render_junit"]

#: errors of one endpoint listed in its failure text
TOP_ERRORS = 5


def render_junit(stats: RequestStats, verdicts: Sequence[CheckVerdict], run_meta: Mapping[str, Any]) -> str:
    """The XML document: ``tests`` counts the checks and the failing endpoints."""
    duration = float(run_meta.get("duration") or 0.0)
    suite = ET.Element("testsuite", name="tswarm", timestamp=_iso(run_meta.get("start_time")))
    for verdict in verdicts:
        check = verdict.check
        case = ET.SubElement(suite, "testcase", classname="tswarm.checks", name=check.text(), time="0")
        if not verdict.passed:
            message = f"observed {verdict.observed_text}, limit {verdict.limit_text}"
            failure = ET.SubElement(case, "failure", message=message, type="CheckBreached")
            failure.text = f"{check.text()}: {message}"
    failing = [e for e in stats.sorted_entries() if e.num_failures]
    for entry in failing:
        name = f"{entry.method} {entry.name}".strip()
        case = ET.SubElement(suite, "testcase", classname="tswarm.endpoints", name=name, time="0")
        errors = sorted(
            (e for e in stats.errors.values() if (e.method, e.name) == (entry.method, entry.name)),
            key=lambda e: -e.occurrences,
        )
        message = f"{entry.num_failures} of {entry.num_requests} requests failed"
        failure = ET.SubElement(case, "failure", message=message, type="RequestFailures")
        failure.text = "\n".join([message, *(f"{e.occurrences} x {e.error}" for e in errors[:TOP_ERRORS])])
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
