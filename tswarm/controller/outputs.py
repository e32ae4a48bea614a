"""Machine outputs built from the stats: Locust's CSV files, the JSON report, and snapshot rows.

CSV files use Locust's file names, column headers and value formats, so tools that read Locust's CSV
read ours. The JSON report is tswarm's own (schema in docs/json-output.md).
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import sys
import tempfile
import time
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import IO, Annotated, Any, Final, Literal, NotRequired, TypeAlias, TypedDict, cast

from tswarm._version import __version__
from tswarm.checks import CheckVerdict
from tswarm.controller.formatting import percentile_column
from tswarm.controller.snapshot import EntryDetail, EntryRow, ExceptionRow, FailureRow, HistoryPoint
from tswarm.exceptions import UsageError
from tswarm.shapes import Bounds, Count, shape_checker
from tswarm.stats import PERCENTILES_TO_REPORT, RequestStats, StatsEntry, StatsError, StatsHistory
from tswarm.stats.entries import DELTA_VERSION, NO_RESPONSE_STATUS, OTHER_STATUS, ExceptionStats, WireEntry
from tswarm.stats.histogram import MAX_BUCKET_KEY

__all__ = [
    "EXCEPTIONS_CSV_COLUMNS",
    "FAILURES_CSV_COLUMNS",
    "STATUS_CODES_CSV_COLUMNS",
    "JSON_SCHEMA_VERSION",
    "CsvHistoryWriter",
    "EntryReport",
    "ExceptionReport",
    "FailureReport",
    "HistoryPointReport",
    "JsonReport",
    "ReportFileError",
    "RunInfo",
    "build_json_report",
    "entry_detail",
    "entry_row",
    "entry_rows",
    "exception_rows",
    "failure_rows",
    "history_points",
    "is_failure_status",
    "load_json_report",
    "readable_status_code",
    "sorted_exceptions",
    "sorted_failures",
    "status_code_from_label",
    "status_code_label",
    "stats_from_report",
    "stats_csv_columns",
    "stats_history_csv_columns",
    "validate_json_report",
    "write_csv_stats",
    "write_json",
    "write_text_file",
]

JSON_SCHEMA_VERSION: Final = 1

FAILURES_CSV_COLUMNS = ("Method", "Name", "Error", "Occurrences")
EXCEPTIONS_CSV_COLUMNS = ("Count", "Message", "Traceback", "Nodes")
#: PREFIX_status_codes.csv, tswarm's own file beside Locust's (whose files and columns stay as they are)
STATUS_CODES_CSV_COLUMNS = ("Type", "Name", "Status Code", "Count")
#: how the outputs spell OTHER_STATUS (codes past the cap of an entry, or not a number from 0 to 999)
OTHER_STATUS_LABEL = "other"
#: how the summaries and the HTML report spell NO_RESPONSE_STATUS (the files write "0")
NO_RESPONSE_LABEL = "no response"


def status_code_label(code: int) -> str:
    """A status code as the outputs write it: ``"200"``, ``"0"`` (no response), ``"other"``."""
    return OTHER_STATUS_LABEL if code == OTHER_STATUS else str(code)


def status_code_from_label(label: str) -> int:
    """The inverse of :func:`status_code_label`, for a report read back; anything else is other."""
    if label.isdigit() and int(label) <= 999:
        return int(label)
    return OTHER_STATUS


def readable_status_code(code: int) -> str:
    """A status code as a person reads it in a summary or a page: ``200``, ``no response``, ``other``."""
    return NO_RESPONSE_LABEL if code == NO_RESPONSE_STATUS else status_code_label(code)


def is_failure_status(code: int) -> bool:
    """No response, or an HTTP error (4xx, 5xx): what the HTTP clients count as a failure unless the
    test says otherwise (``catch_response``); "other" is neither known good nor bad."""
    return code == NO_RESPONSE_STATUS or code >= 400


def _sorted_status_codes(entry: StatsEntry) -> list[tuple[int, int]]:
    """(code, count) by code, "other" last."""
    return sorted(entry.status_codes.items(), key=lambda item: (item[0] == OTHER_STATUS, item[0]))


def stats_csv_columns(percentiles: Sequence[float] = PERCENTILES_TO_REPORT) -> list[str]:
    """Header of PREFIX_stats.csv (Locust's)."""
    return [
        "Type",
        "Name",
        "Request Count",
        "Failure Count",
        "Median Response Time",
        "Average Response Time",
        "Min Response Time",
        "Max Response Time",
        "Average Content Size",
        "Requests/s",
        "Failures/s",
        *(percentile_column(q) for q in percentiles),
    ]


def stats_history_csv_columns(percentiles: Sequence[float] = PERCENTILES_TO_REPORT) -> list[str]:
    """Header of PREFIX_stats_history.csv (Locust's)."""
    return [
        "Timestamp",
        "User Count",
        "Type",
        "Name",
        "Requests/s",
        "Failures/s",
        *(percentile_column(q) for q in percentiles),
        "Total Request Count",
        "Total Failure Count",
        "Total Median Response Time",
        "Total Average Response Time",
        "Total Min Response Time",
        "Total Max Response Time",
        "Total Average Content Size",
    ]


# -- ordering shared by every output -------------------------------------------------------------


def sorted_failures(stats: RequestStats) -> list[StatsError]:
    """Most frequent first."""
    return sorted(stats.errors.values(), key=lambda e: (-e.occurrences, e.name, e.method, e.error))


def sorted_exceptions(stats: RequestStats) -> list[ExceptionStats]:
    """Most frequent first."""
    return sorted(stats.exceptions.values(), key=lambda e: (-e.count, e.traceback))


def _ms_int(value: float) -> int:
    # Locust keeps medians and percentiles as whole ms
    return int(round(value))


# -- CSV -----------------------------------------------------------------------------------------


def _percentile_fields(entry: StatsEntry, percentiles: Sequence[float], *, current: bool) -> list[Any]:
    if not entry.num_requests:
        return ["N/A"] * len(percentiles)
    if current:
        values = entry.get_current_response_time_percentiles(percentiles)
    else:
        values = entry.get_response_time_percentiles(percentiles)
    return [_ms_int(v) for v in values]


def _stats_row(entry: StatsEntry, percentiles: Sequence[float]) -> list[Any]:
    return [
        entry.method,
        entry.name,
        entry.num_requests,
        entry.num_failures,
        _ms_int(entry.median_response_time),
        entry.avg_response_time,
        entry.min_response_time or 0,
        entry.max_response_time,
        entry.avg_content_length,
        entry.total_rps,
        entry.total_fail_per_sec,
        *_percentile_fields(entry, percentiles, current=False),
    ]


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


#: read once, while the process has one thread: os.umask can only be read by setting it
_UMASK = _current_umask()


def _write_atomically(path: str, write: Any) -> None:
    """Write through ``write(file)`` into a temporary file beside ``path``, then rename it over ``path``.

    A reader sees the old file or the new one, never half of one.
    """
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=os.path.basename(path) + ".", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "w", newline="", encoding="utf-8") as f:
            write(f)
        # mkstemp makes the file private (0600); an output is a file like any other the user makes
        os.chmod(tmp, 0o666 & ~_UMASK)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _write_csv(path: str, header: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    def write(f: IO[str]) -> None:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)

    _write_atomically(path, write)


def write_csv_stats(
    prefix: str, stats: RequestStats, percentiles: Sequence[float] = PERCENTILES_TO_REPORT
) -> list[str]:
    """Write PREFIX_stats.csv, PREFIX_failures.csv, PREFIX_exceptions.csv and PREFIX_status_codes.csv,
    each atomically; returns their paths.

    Rows: one per entry sorted by (name, method), then the "Aggregated" row; in the status codes file,
    one per (entry, code), codes ascending ("0": no response) and "other" last.
    """
    rows = [_stats_row(e, percentiles) for e in stats.sorted_entries()]
    rows.append(_stats_row(stats.total, percentiles))
    _write_csv(f"{prefix}_stats.csv", stats_csv_columns(percentiles), rows)
    _write_csv(
        f"{prefix}_failures.csv",
        FAILURES_CSV_COLUMNS,
        ([e.method, e.name, e.error, e.occurrences] for e in sorted_failures(stats)),
    )
    _write_csv(
        f"{prefix}_exceptions.csv",
        EXCEPTIONS_CSV_COLUMNS,
        ([g.count, g.message, g.traceback, ", ".join(sorted(g.nodes))] for g in sorted_exceptions(stats)),
    )
    _write_csv(
        f"{prefix}_status_codes.csv",
        STATUS_CODES_CSV_COLUMNS,
        (
            [entry.method, entry.name, status_code_label(code), count]
            for entry in (*stats.sorted_entries(), stats.total)
            for code, count in _sorted_status_codes(entry)
        ),
    )
    return [f"{prefix}_{kind}.csv" for kind in ("stats", "failures", "exceptions", "status_codes")]


class CsvHistoryWriter:
    """Appends to PREFIX_stats_history.csv: the header once, then rows on each :meth:`write_row`.

    Streaming: rows go straight to the file, nothing is kept in memory. As in Locust, each call writes
    the Aggregated row, preceded by one row per entry when ``full_history`` is set; percentiles are the
    current (windowed) ones with ``full_history`` and the whole-test ones without.
    """

    def __init__(
        self, prefix: str, full_history: bool = False, percentiles: Sequence[float] = PERCENTILES_TO_REPORT
    ) -> None:
        self.path = f"{prefix}_stats_history.csv"
        self.full_history = full_history
        self.percentiles = tuple(percentiles)
        self._file: IO[str] | None = open(self.path, "w", newline="", encoding="utf-8")  # noqa: SIM115
        self._writer = csv.writer(self._file)
        self._writer.writerow(stats_history_csv_columns(self.percentiles))
        self._file.flush()

    def write_row(self, stats: RequestStats, user_count: int, now: float | None = None) -> None:
        """Append the rows for this moment and flush them."""
        if self._file is None:
            raise ValueError("CsvHistoryWriter is closed")
        timestamp = int(time.time() if now is None else now)
        entries = stats.sorted_entries() if self.full_history else []
        entries.append(stats.total)
        for entry in entries:
            self._writer.writerow(
                [
                    timestamp,
                    user_count,
                    entry.method or "",
                    entry.name,
                    f"{entry.current_rps:2f}",
                    f"{entry.current_fail_per_sec:2f}",
                    *_percentile_fields(entry, self.percentiles, current=self.full_history),
                    entry.num_requests,
                    entry.num_failures,
                    _ms_int(entry.median_response_time),
                    entry.avg_response_time,
                    entry.min_response_time or 0,
                    entry.max_response_time,
                    entry.avg_content_length,
                ]
            )
        self._file.flush()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def __enter__(self) -> CsvHistoryWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# -- JSON ----------------------------------------------------------------------------------------


def _iso(timestamp: float | None) -> str | None:
    if timestamp is None:
        return None
    return datetime.fromtimestamp(timestamp, UTC).isoformat().replace("+00:00", "Z")


def _r(value: float) -> float:
    # 4 decimals: a tenth of a microsecond, far below the histogram's resolution, and no float noise
    return round(float(value), 4)


def _entry_json(entry: StatsEntry, percentiles: Sequence[float]) -> dict[str, Any]:
    values = entry.get_response_time_percentiles(percentiles)
    return {
        "method": entry.method,
        "name": entry.name,
        "num_requests": entry.num_requests,
        "num_failures": entry.num_failures,
        "fail_ratio": entry.fail_ratio,
        "avg_response_time": entry.avg_response_time,
        "min_response_time": entry.min_response_time,
        "max_response_time": entry.max_response_time,
        "median_response_time": _r(entry.median_response_time),
        "total_response_time": entry.total_response_time,
        "avg_content_length": entry.avg_content_length,
        "total_content_length": entry.total_content_length,
        "total_rps": entry.total_rps,
        "total_fail_per_sec": entry.total_fail_per_sec,
        "current_rps": entry.current_rps,
        "current_fail_per_sec": entry.current_fail_per_sec,
        "last_request_timestamp": entry.last_request_timestamp,
        "percentiles": {percentile_column(q): _r(v) for q, v in zip(percentiles, values, strict=True)},
        # [bucket key, count] pairs, ascending: enough to recompute any percentile and merge runs exactly
        "histogram": [[key, count] for key, count in entry.histogram.items()],
        "status_codes": {status_code_label(code): count for code, count in _sorted_status_codes(entry)},
    }


def build_json_report(
    stats: RequestStats,
    history: StatsHistory | None,
    *,
    run_meta: dict[str, Any],
    percentiles: Sequence[float] = PERCENTILES_TO_REPORT,
) -> dict[str, Any]:
    """The JSON report (schema version 1, documented in docs/json-output.md).

    ``run_meta`` fills and overrides the ``run`` object: host, user_count, user_classes, exit_code,
    end_time... ``end_time`` defaults to now.
    """
    run: dict[str, Any] = {
        "tswarm_version": __version__,
        "start_time": stats.start_time,
        "end_time": time.time(),
    }
    run["interrupted_requests"] = stats.interrupted
    run.update(run_meta)
    run["duration"] = max(0.0, float(run["end_time"]) - float(run["start_time"]))
    run["start_time_iso"] = _iso(run["start_time"])
    run["end_time_iso"] = _iso(run["end_time"])
    return {
        "schema_version": JSON_SCHEMA_VERSION,
        "run": run,
        "percentiles": list(percentiles),
        "total": _entry_json(stats.total, percentiles),
        "entries": [_entry_json(e, percentiles) for e in stats.sorted_entries()],
        "failures": [e.to_wire() for e in sorted_failures(stats)],
        "exceptions": [
            {"count": g.count, "message": g.message, "traceback": g.traceback, "nodes": sorted(g.nodes)}
            for g in sorted_exceptions(stats)
        ],
        "history": [
            {
                "timestamp": p.timestamp,
                "user_count": p.user_count,
                "current_rps": p.current_rps,
                "current_fail_per_sec": p.current_fail_per_sec,
                "p50": _r(p.p50),
                "p95": _r(p.p95),
                "p99": _r(p.p99),
                "total_requests": p.total_requests,
                "total_failures": p.total_failures,
            }
            for p in (history.points() if history is not None else [])
        ],
    }


def write_json(path_or_dash: str, report: dict[str, Any]) -> None:
    """Write the report to a file (atomically), or to stdout when the path is ``-``."""
    text = json.dumps(report, indent=2, allow_nan=False) + "\n"
    if path_or_dash == "-":
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    _write_atomically(path_or_dash, lambda f: f.write(text))


def write_text_file(path: str, text: str) -> None:
    """Write a rendered report (HTML, Markdown, JUnit XML) atomically: a reader never sees half of it."""
    _write_atomically(path, lambda f: f.write(text))


# -- the report's shape ----------------------------------------------------------------------------
# Declared once, here; docs/json-output.md describes the same fields (tests/test_outputs.py checks the two
# against each other) and validate_json_report checks a document against it. A bool is never a number.


class RunInfo(TypedDict):
    """The ``run`` object: what ran, when, and how it ended."""

    tswarm_version: str
    start_time: float
    end_time: float
    duration: float
    start_time_iso: str
    end_time_iso: str
    host: NotRequired[str | None]
    user_count: NotRequired[int]
    user_classes: NotRequired[dict[str, int]]
    target_user_count: NotRequired[int]
    spawn_rate: NotRequired[float]
    run_time: NotRequired[float | None]
    command: NotRequired[str]
    locustfile: NotRequired[str]
    #: Locust's --profile: a label that groups runs
    profile: NotRequired[str]
    exit_code: NotRequired[int]
    missing_workers: NotRequired[list[MissingWorkerReport]]
    #: requests still waiting for a response when their user was stopped (not in the statistics)
    interrupted_requests: NotRequired[int]


class MissingWorkerReport(TypedDict):
    """Each item of ``run.missing_workers``: a time a worker went missing during a distributed run."""

    node_id: str
    reason: str
    missing_at: float
    back_at: float | None
    duration: float


#: one bucket of EntryReport.histogram: its key (the lower bound in 10 ns units) and how many responses
HistogramBucket: TypeAlias = tuple[
    Annotated[int, Bounds(min=0, max=MAX_BUCKET_KEY)], Annotated[int, Bounds(min=1)]
]


class EntryReport(TypedDict):
    """``total`` and each item of ``entries``."""

    method: str
    name: str
    num_requests: int
    num_failures: int
    fail_ratio: float
    avg_response_time: float
    min_response_time: float | None
    max_response_time: float
    median_response_time: float
    total_response_time: float
    avg_content_length: float
    total_content_length: float
    total_rps: float
    total_fail_per_sec: float
    current_rps: float
    current_fail_per_sec: float
    last_request_timestamp: float | None
    #: percentile column name ("50%", ...) -> response time, one per top-level percentile
    percentiles: dict[str, float]
    #: the response-time histogram as [bucket key, count] pairs in ascending key order (see
    #: tswarm.stats.histogram); optional: reports of older tswarm versions lack it
    histogram: NotRequired[list[HistogramBucket]]
    #: status code ("200", "0" for no response, "other") -> requests; optional: older reports lack it
    status_codes: NotRequired[dict[str, Count]]


class FailureReport(TypedDict):
    method: str
    name: str
    error: str
    occurrences: int
    first_seen: float
    last_seen: float


class ExceptionReport(TypedDict):
    count: int
    message: str
    traceback: str
    nodes: list[str]


class HistoryPointReport(TypedDict):
    timestamp: float
    user_count: int
    current_rps: float
    current_fail_per_sec: float
    p50: float
    p95: float
    #: optional: reports of older tswarm versions lack it
    p99: NotRequired[float]
    total_requests: int
    total_failures: int


class CheckReport(TypedDict):
    """Each item of ``checks``: one pass/fail check and its verdict (see :mod:`tswarm.checks`)."""

    check: str
    scope: str
    metric: str
    op: str
    limit: float
    observed: float | None
    passed: bool


def check_record(verdict: CheckVerdict) -> CheckReport:
    """A check's verdict as the JSON report carries it."""
    check = verdict.check
    return {
        "check": check.text(),
        "scope": check.scope,
        "metric": check.metric,
        "op": check.op,
        "limit": check.limit,
        "observed": verdict.observed,
        "passed": verdict.passed,
    }


class JsonReport(TypedDict):
    """The whole report (schema version 1)."""

    #: JSON_SCHEMA_VERSION (a test keeps the two equal)
    schema_version: Literal[1]
    run: RunInfo
    percentiles: list[Annotated[float, Bounds(min=0, max=1)]]
    total: EntryReport
    entries: list[EntryReport]
    failures: list[FailureReport]
    exceptions: list[ExceptionReport]
    history: list[HistoryPointReport]
    checks: NotRequired[list[CheckReport]]


_REPORT_SHAPE = shape_checker(JsonReport, "report")


def validate_json_report(doc: Any) -> list[str]:
    """Problems with a JSON report (empty when it matches :class:`JsonReport`, schema version 1).

    Each problem names the path and what was expected (``total.num_requests: expected int, got str``).
    """
    problems = _REPORT_SHAPE.problems(doc)
    if not isinstance(doc, dict):
        return problems
    # the one rule the declaration cannot say: every entry has a value for each reported percentile
    percentiles = doc.get("percentiles")
    if not isinstance(percentiles, list) or any(p.startswith("percentiles") for p in problems):
        return problems
    columns = sorted(percentile_column(q) for q in percentiles)
    entries = [("total", doc.get("total"))]
    if isinstance(doc.get("entries"), list):
        entries += [(f"entries[{i}]", e) for i, e in enumerate(doc["entries"])]
    for where, entry in entries:
        if not isinstance(entry, dict):
            continue
        values = entry.get("percentiles")
        if isinstance(values, dict) and sorted(values) != columns:
            problems.append(f"{where}.percentiles: keys {sorted(values, key=str)} do not match {columns}")
        histogram = entry.get("histogram")
        if isinstance(histogram, list) and not any(p.startswith(f"{where}.") for p in problems):
            # the other rules: ascending keys, each once, and one count per request
            keys = [key for key, _ in histogram]
            if any(a >= b for a, b in zip(keys, keys[1:], strict=False)):
                problems.append(f"{where}.histogram: bucket keys are not in ascending order")
            elif sum(count for _, count in histogram) != entry.get("num_requests"):
                problems.append(f"{where}.histogram: counts do not add up to num_requests")
    return problems


class ReportFileError(UsageError):
    """A JSON report that cannot be read back: missing, not JSON, another tool's, or a newer schema."""


def load_json_report(path: str) -> JsonReport:
    """Read a JSON report written by ``--json`` and check it against :class:`JsonReport`.

    Raises :class:`ReportFileError` with one line naming the file and what is wrong: it cannot be read,
    it is no JSON, it is not a tswarm report (another tool's JSON), or its schema version is newer than
    this tswarm knows (fields it does not know are ignored, as the schema allows).
    """
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError as e:
        raise ReportFileError(f"cannot read {path}: {e.strerror or e}") from None
    except UnicodeDecodeError:
        raise ReportFileError(f"{path} is not a JSON report (not UTF-8 text)") from None
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as e:
        raise ReportFileError(f"{path} is not JSON (line {e.lineno}, column {e.colno}: {e.msg})") from None
    if not isinstance(doc, dict) or "schema_version" not in doc or not isinstance(doc.get("run"), dict):
        raise ReportFileError(f"{path} is not a tswarm JSON report (no schema_version and run)")
    version = doc["schema_version"]
    if type(version) is int and version > JSON_SCHEMA_VERSION:
        raise ReportFileError(
            f"{path} has schema version {version}, newer than this tswarm reads ({JSON_SCHEMA_VERSION});"
            " render it with a newer tswarm"
        )
    problems = validate_json_report(doc)
    if problems:
        more = f" (and {len(problems) - 1} more problems)" if len(problems) > 1 else ""
        raise ReportFileError(f"{path} is not a valid tswarm JSON report: {problems[0]}{more}")
    return cast(JsonReport, doc)


def _wire_entry(data: EntryReport) -> WireEntry:
    """A report's entry as a worker would send it: the per-second window is not in a report, so its
    whole histogram is ``unslotted`` and a loaded entry has no current rates."""
    return (
        data["method"],
        data["name"],
        data["num_requests"],
        data["num_failures"],
        data["total_response_time"],
        data["min_response_time"] or 0.0,
        data["max_response_time"],
        data["total_content_length"],
        data["last_request_timestamp"] or 0.0,
        [],
        _status_codes_from_report(data.get("status_codes", {})),
        {key: count for key, count in data.get("histogram", [])},
    )


def _status_codes_from_report(labels: dict[str, int]) -> dict[int, int]:
    codes: dict[int, int] = {}
    for label, count in labels.items():
        code = status_code_from_label(label)
        codes[code] = codes.get(code, 0) + count
    return codes


def stats_from_report(*reports: JsonReport) -> RequestStats:
    """The whole-test statistics of one or more reports (valid ones: see :func:`load_json_report`),
    added together through the one stats merge, the one the master uses for its workers' deltas: counts
    and sums add and histograms add bucket by bucket, so percentiles recomputed from the result equal
    those of one run that made all the requests.

    Raises:
        ReportFileError: a report has no histograms (written by a tswarm before them), so its
            percentiles cannot be recomputed; or its numbers are beyond what the statistics take.
    """
    start = min((float(r["run"]["start_time"]) for r in reports), default=None)
    stats = RequestStats(track_deltas=False, start_time=start)
    for report in reports:
        delta = {
            "version": DELTA_VERSION,
            "entries": [_wire_entry(e) for e in report["entries"]],
            "errors": list(report["failures"]),
            "exceptions": [],
            "interrupted": int(report["run"].get("interrupted_requests", 0)),
        }
        if any("histogram" not in e for e in report["entries"]):
            raise ReportFileError(
                "a report without histograms (written by an older tswarm) cannot be read back into statistics"
            )
        try:
            stats.merge_delta(delta, node_id="report")
        except ValueError as e:
            raise ReportFileError(str(e).replace("malformed stats delta from report", "a report")) from None
        # each group keeps the nodes it was seen on (a delta names one sender)
        for group in report["exceptions"]:
            known = stats.exceptions.get(group["traceback"])
            if known is None:
                known = stats.exceptions[group["traceback"]] = ExceptionStats(
                    0, group["message"], group["traceback"]
                )
            known.count += group["count"]
            known.nodes.update(group["nodes"])
    return stats


# -- snapshot rows for the front-ends ------------------------------------------------------------


def entry_row(entry: StatsEntry, percentiles: Sequence[float]) -> EntryRow:
    """One line of the statistics table, with the whole-test ``percentiles`` (e.g. (0.5, 0.95))."""
    values = entry.get_response_time_percentiles(percentiles)
    return EntryRow(
        method=entry.method,
        name=entry.name,
        num_requests=entry.num_requests,
        num_failures=entry.num_failures,
        median_response_time=entry.median_response_time,
        avg_response_time=entry.avg_response_time,
        min_response_time=entry.min_response_time or 0.0,
        max_response_time=entry.max_response_time,
        avg_content_length=entry.avg_content_length,
        current_rps=entry.current_rps,
        current_fail_per_sec=entry.current_fail_per_sec,
        total_rps=entry.total_rps,
        percentiles=dict(zip(percentiles, values, strict=True)),
        status_codes=tuple(_sorted_status_codes(entry)),
    )


def entry_detail(entry: StatsEntry, *, current: bool = True) -> EntryDetail:
    """The drill-down of one entry: its histogram, every reported percentile, its current p50/p95.

    ``current=False`` leaves the current p50/p95 at 0: they merge the window's per-second histograms,
    the dearest part (about 10 ms a second for an aggregate of 2,500 buckets).
    """
    values = entry.get_current_response_time_percentiles((0.5, 0.95)) if current else [0.0, 0.0]
    return EntryDetail(
        method=entry.method,
        name=entry.name,
        histogram=tuple(entry.histogram.items()),
        percentiles=dict(
            zip(
                PERCENTILES_TO_REPORT,
                entry.get_response_time_percentiles(PERCENTILES_TO_REPORT),
                strict=True,
            )
        ),
        current_p50=values[0],
        current_p95=values[1],
    )


def entry_rows(stats: RequestStats, percentiles: Sequence[float]) -> tuple[tuple[EntryRow, ...], EntryRow]:
    """(rows of the entries sorted by (name, method), row of the aggregate)."""
    rows = tuple(entry_row(e, percentiles) for e in stats.sorted_entries())
    return rows, entry_row(stats.total, percentiles)


def failure_rows(stats: RequestStats) -> tuple[FailureRow, ...]:
    return tuple(
        FailureRow(e.method, e.name, e.error, e.occurrences, e.first_seen, e.last_seen)
        for e in sorted_failures(stats)
    )


def exception_rows(stats: RequestStats) -> tuple[ExceptionRow, ...]:
    return tuple(
        ExceptionRow(g.count, g.message, g.traceback, tuple(sorted(g.nodes)))
        for g in sorted_exceptions(stats)
    )


def history_points(history: StatsHistory) -> tuple[HistoryPoint, ...]:
    return tuple(
        HistoryPoint(p.timestamp, p.user_count, p.current_rps, p.current_fail_per_sec, p.p50, p.p95, p.p99)
        for p in history.points()
    )
