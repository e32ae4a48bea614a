"""CSV (Locust's files), JSON report, snapshot rows, text reports and number formatting."""

from __future__ import annotations

import csv
import json
import random
import re
import typing
from pathlib import Path
from typing import Any

import pytest

from tswarm.controller.formatting import (
    format_bytes,
    format_duration,
    format_failures,
    format_ms,
    percentile_column,
    percentile_label,
)
from tswarm.controller.outputs import (
    JSON_SCHEMA_VERSION,
    STATUS_CODES_CSV_COLUMNS,
    CheckReport,
    CsvHistoryWriter,
    EntryReport,
    ExceptionReport,
    FailureReport,
    HistoryPointReport,
    JsonReport,
    MissingWorkerReport,
    RunInfo,
    build_json_report,
    entry_rows,
    exception_rows,
    failure_rows,
    history_points,
    stats_from_report,
    status_code_label,
    validate_json_report,
    write_csv_stats,
    write_json,
)
from tswarm.controller.report import render_live_table, render_summary
from tswarm.shapes import typed_dict_fields
from tswarm.stats import PERCENTILES_TO_REPORT, RequestStats, StatsHistory

T0 = 1_700_000_000.0

# Header lines exactly as Locust writes them (csv.writer, QUOTE_MINIMAL, "\r\n"), from locust/stats.py
LOCUST_STATS_HEADER = (
    b"Type,Name,Request Count,Failure Count,Median Response Time,Average Response Time,"
    b"Min Response Time,Max Response Time,Average Content Size,Requests/s,Failures/s,"
    b"50%,66%,75%,80%,90%,95%,98%,99%,99.9%,99.99%,100%\r\n"
)
LOCUST_HISTORY_HEADER = (
    b"Timestamp,User Count,Type,Name,Requests/s,Failures/s,"
    b"50%,66%,75%,80%,90%,95%,98%,99%,99.9%,99.99%,100%,"
    b"Total Request Count,Total Failure Count,Total Median Response Time,Total Average Response Time,"
    b"Total Min Response Time,Total Max Response Time,Total Average Content Size\r\n"
)
LOCUST_FAILURES_HEADER = b"Method,Name,Error,Occurrences\r\n"
LOCUST_EXCEPTIONS_HEADER = b"Count,Message,Traceback,Nodes\r\n"


@pytest.fixture
def stats() -> RequestStats:
    r = random.Random(3)
    s = RequestStats(start_time=T0)
    for i in range(3000):
        now = T0 + i * 0.01
        method, name = r.choice([("GET", "/"), ("GET", "/items/[id]"), ("POST", "/login, with comma")])
        status = 404 if i % 10 == 0 else 200  # no draw from r: the figures stay those of before
        s.log_request(
            method, name, r.lognormvariate(3, 0.8), r.randint(100, 3000), now=now, status_code=status
        )
        if r.random() < 0.03:
            s.log_error(method, name, ConnectionError(f"refused at {object()!r}"), now=now)
    s.log_exception(
        "worker-1", "ZeroDivisionError: division by zero", 'Traceback:\n  File "x.py"\nZeroDivisionError'
    )
    s.log_exception(
        "worker-2", "ZeroDivisionError: division by zero", 'Traceback:\n  File "x.py"\nZeroDivisionError'
    )
    return s


def _history(stats: RequestStats) -> StatsHistory:
    history = StatsHistory()
    for sec in range(31):
        history.record(stats, user_count=10, now=T0 + sec)
    return history


def test_csv_headers_are_locusts_byte_for_byte(tmp_path: Path, stats: RequestStats) -> None:
    prefix = str(tmp_path / "run")
    write_csv_stats(prefix, stats)
    with CsvHistoryWriter(prefix, full_history=True) as writer:
        writer.write_row(stats, 10, now=T0 + 30)
    for suffix, header in [
        ("_stats.csv", LOCUST_STATS_HEADER),
        ("_stats_history.csv", LOCUST_HISTORY_HEADER),
        ("_failures.csv", LOCUST_FAILURES_HEADER),
        ("_exceptions.csv", LOCUST_EXCEPTIONS_HEADER),
    ]:
        data = (tmp_path / f"run{suffix}").read_bytes()
        assert data.startswith(header), suffix
    assert not list(tmp_path.glob("*.tmp"))  # atomic writes leave nothing behind


def test_stats_csv_rows(tmp_path: Path, stats: RequestStats) -> None:
    prefix = str(tmp_path / "run")
    write_csv_stats(prefix, stats)
    with open(f"{prefix}_stats.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [(r["Name"], r["Type"]) for r in rows] == [
        *sorted(stats.entries),
        ("Aggregated", ""),
    ]
    total = rows[-1]
    assert int(total["Request Count"]) == stats.num_requests
    assert int(total["Failure Count"]) == stats.num_failures
    int(total["Median Response Time"])  # whole ms, as Locust
    float(total["Average Response Time"])
    assert all(r["100%"].isdigit() for r in rows)

    with open(f"{prefix}_failures.csv", newline="") as f:
        failures = list(csv.DictReader(f))
    assert sum(int(r["Occurrences"]) for r in failures) == stats.num_failures
    assert all("0x...." in r["Error"] for r in failures)
    with open(f"{prefix}_exceptions.csv", newline="") as f:
        (exc,) = list(csv.DictReader(f))
    assert exc["Count"] == "2"
    assert exc["Nodes"] == "worker-1, worker-2"
    assert exc["Traceback"].endswith("ZeroDivisionError")


def test_empty_entry_percentiles_are_na(tmp_path: Path) -> None:
    s = RequestStats(start_time=T0)
    s.get("/never", "GET")
    write_csv_stats(str(tmp_path / "e"), s)
    with open(tmp_path / "e_stats.csv", newline="") as f:
        rows = list(csv.reader(f))
    assert rows[1][:4] == ["GET", "/never", "0", "0"]
    assert rows[1][11:] == ["N/A"] * len(PERCENTILES_TO_REPORT)
    assert rows[2][1] == "Aggregated"


def test_history_csv_streams_rows(tmp_path: Path, stats: RequestStats) -> None:
    prefix = str(tmp_path / "h")
    writer = CsvHistoryWriter(prefix, full_history=False)
    for sec in range(3):
        writer.write_row(stats, 7, now=T0 + 28 + sec)
    writer.close()
    with open(f"{prefix}_stats_history.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 3
    assert {r["Name"] for r in rows} == {"Aggregated"}
    assert rows[0]["Timestamp"] == str(int(T0 + 28))
    assert rows[0]["User Count"] == "7"
    assert rows[0]["Requests/s"] == f"{stats.total.current_rps:2f}"
    full = CsvHistoryWriter(prefix + "full", full_history=True)
    full.write_row(stats, 7, now=T0 + 30)
    full.close()
    with open(f"{prefix}full_stats_history.csv", newline="") as f:
        assert len(list(csv.DictReader(f))) == len(stats.entries) + 1


def test_json_validates_and_agrees_with_csv(tmp_path: Path, stats: RequestStats) -> None:
    report = build_json_report(
        stats,
        _history(stats),
        run_meta={
            "host": "http://localhost",
            "user_count": 10,
            "user_classes": {"WebUser": 10},
            "exit_code": 1,
        },
    )
    assert validate_json_report(report) == []
    path = tmp_path / "report.json"
    write_json(str(path), report)
    doc = json.loads(path.read_text())
    assert validate_json_report(doc) == []
    assert doc["run"]["exit_code"] == 1
    assert doc["run"]["duration"] == pytest.approx(doc["run"]["end_time"] - T0)
    assert doc["run"]["start_time"] == T0 and doc["run"]["end_time"] > T0
    assert len(doc["history"]) == 31

    prefix = str(tmp_path / "run")
    write_csv_stats(prefix, stats)
    with open(f"{prefix}_stats.csv", newline="") as f:
        rows = {(r["Name"], r["Type"]): r for r in csv.DictReader(f)}
    json_entries = [*doc["entries"], doc["total"]]
    assert len(json_entries) == len(rows)
    for entry in json_entries:
        row = rows[(entry["name"], entry["method"])]
        assert int(row["Request Count"]) == entry["num_requests"]
        assert int(row["Failure Count"]) == entry["num_failures"]
        assert float(row["Average Response Time"]) == pytest.approx(entry["avg_response_time"])
        assert float(row["Max Response Time"]) == entry["max_response_time"]
        assert int(row["Median Response Time"]) == round(entry["median_response_time"])
        for q in PERCENTILES_TO_REPORT:
            column = percentile_column(q)
            assert int(row[column]) == round(entry["percentiles"][column]), (entry["name"], column)
    assert sum(f["occurrences"] for f in doc["failures"]) == doc["total"]["num_failures"]


def test_json_to_stdout(capsys: pytest.CaptureFixture[str], stats: RequestStats) -> None:
    write_json("-", build_json_report(stats, None, run_meta={}))
    doc = json.loads(capsys.readouterr().out)
    assert validate_json_report(doc) == []
    assert doc["history"] == []


def test_validator_reports_problems(stats: RequestStats) -> None:
    report = build_json_report(stats, None, run_meta={})
    report["schema_version"] = 2
    report["total"]["num_requests"] = "many"
    del report["run"]["start_time"]
    report["entries"][0]["percentiles"].pop("50%")
    report["history"] = [{"timestamp": 1}]
    problems = validate_json_report(report)
    joined = "\n".join(problems)
    for needle in ("schema_version", "total.num_requests", "run.start_time", "percentiles", "history[0]"):
        assert needle in joined
    # each problem names the path and what was expected
    assert "schema_version: expected 1, got 2" in problems
    assert "total.num_requests: expected int, got str" in problems
    assert "run.start_time: missing" in problems
    assert validate_json_report([]) == ["report: expected object, got list"]


def test_snapshot_rows(stats: RequestStats) -> None:
    rows, total = entry_rows(stats, (0.5, 0.95))
    assert [r.name for r in rows] == sorted(name for name, _ in stats.entries)
    assert total.name == "Aggregated"
    assert total.num_requests == stats.num_requests
    assert set(total.percentiles) == {0.5, 0.95}
    assert sum(f.occurrences for f in failure_rows(stats)) == stats.num_failures
    (exc,) = exception_rows(stats)
    assert exc.nodes == ("worker-1", "worker-2")
    points = history_points(_history(stats))
    assert len(points) == 31
    assert points[-1].current_rps > 0


def test_plain_reports_have_no_escape_codes(stats: RequestStats) -> None:
    live = render_live_table(stats, 10, color=False)
    summary = render_summary(stats, color=False)
    for text in (live, summary):
        assert "\x1b" not in text
    assert "Aggregated" in live
    assert "Users: 10" in live
    for needle in ("99.99%", "Failures", "Exceptions", "ZeroDivisionError", "/login, with comma"):
        assert needle in summary
    colored = render_summary(stats, color=True)
    assert "\x1b[" in colored
    assert "Aggregated" in colored
    stats.log_request("GET", "/items/[id]", 5.0, 10, now=T0 + 1)
    assert "/items/[id]" in render_summary(stats, color=True)  # a name, not rich markup


def test_summary_without_failures_omits_sections() -> None:
    s = RequestStats(start_time=T0)
    s.log_request("GET", "/", 12.0, 10, now=T0)
    summary = render_summary(s, color=False)
    assert "Failures" not in summary
    assert "Exceptions" not in summary


@pytest.mark.parametrize(
    ("q", "column", "label"),
    [
        (0.5, "50%", "p50"),
        (0.66, "66%", "p66"),
        (0.95, "95%", "p95"),
        (0.999, "99.9%", "p99.9"),
        (0.9999, "99.99%", "p99.99"),
        (1.0, "100%", "p100"),
    ],
)
def test_percentile_names(q: float, column: str, label: str) -> None:
    assert percentile_column(q) == column
    assert percentile_label(q) == label


def test_number_formats() -> None:
    assert format_ms(0.523) == "0.52"
    assert format_ms(12.34) == "12.3"
    assert format_ms(1234.4) == "1234"
    assert format_ms(None) == "-"
    assert format_bytes(512) == "512 B"
    assert format_bytes(1234) == "1.2 kB"
    assert format_bytes(3_400_000) == "3.4 MB"
    assert format_duration(45) == "45s"
    assert format_duration(65) == "1m05s"
    assert format_duration(3723) == "1h02m03s"
    assert format_failures(3, 0.0125) == "3(1.25%)"


# -- docs/json-output.md against the declaration ------------------------------------------------------

JSON_DOC = Path(__file__).parent.parent / "docs" / "json-output.md"
#: the heading of each table in the doc -> the TypedDict it describes
DOC_TABLES: dict[str, Any] = {
    "Top level": JsonReport,
    "`run`": RunInfo,
    "`run.missing_workers` items": MissingWorkerReport,
    "Entry (`total` and each item of `entries`)": EntryReport,
    "`failures` items": FailureReport,
    "`exceptions` items": ExceptionReport,
    "`history` items": HistoryPointReport,
    "`checks` items": CheckReport,
}
_PLURALS = {"entry": "entries", "pair of ints": "pairs of ints"}


def _doc_type(declared: Any) -> str:
    """The words docs/json-output.md uses for a declared type."""
    origin, args = typing.get_origin(declared), typing.get_args(declared)
    if origin is typing.Annotated:
        return _doc_type(args[0])
    if origin is typing.Literal:
        return _doc_type(type(args[0]))
    if origin in (typing.Union, type(int | None)):
        named = [_doc_type(a) for a in args if a is not type(None)]
        return " or ".join(named + (["null"] if type(None) in args else []))
    if origin is tuple and len(args) == 2 and _doc_type(args[0]) == _doc_type(args[1]):
        return f"pair of {_doc_type(args[0])}s"
    if origin is list:
        item = _doc_type(args[0])
        return f"list of {_PLURALS.get(item, item + 's')}"
    if declared is EntryReport:
        return "entry"
    if origin is dict or typing.is_typeddict(declared):
        return "object"
    return {int: "int", float: "number", str: "string", bool: "bool"}[declared]


def _doc_tables() -> dict[str, dict[str, tuple[str, str]]]:
    """heading -> field -> (type, meaning), from every table of the doc."""
    tables: dict[str, dict[str, tuple[str, str]]] = {}
    heading = ""
    for line in JSON_DOC.read_text().splitlines():
        if line.startswith("## "):
            heading = line[3:].strip()
        elif line.startswith("| `") and heading:
            names, type_text, meaning = (cell.strip() for cell in line.strip("|").split("|", 2))
            for name in re.findall(r"`([a-z_0-9]+)`", names):
                tables.setdefault(heading, {})[name] = (type_text, meaning)
    return tables


def test_json_doc_tables_match_the_declaration() -> None:
    tables = _doc_tables()
    assert set(tables) == set(DOC_TABLES), "a table of docs/json-output.md has no declaration or vice versa"
    for heading, declaration in DOC_TABLES.items():
        documented = tables[heading]
        declared = typed_dict_fields(declaration)
        assert set(documented) == set(declared), heading
        for name, (hint, required) in declared.items():
            type_text, meaning = documented[name]
            assert type_text == _doc_type(hint), (heading, name)
            # the doc says "optional" exactly for the keys a report may leave out
            assert meaning.startswith("optional") == (not required), (heading, name)


def test_versions_are_declared_once() -> None:
    hints = typing.get_type_hints(JsonReport)
    assert typing.get_args(hints["schema_version"]) == (JSON_SCHEMA_VERSION,)


def test_a_bool_is_never_a_number_in_the_report(stats: RequestStats) -> None:
    report = build_json_report(stats, _history(stats), run_meta={"user_classes": {"WebUser": 1}})
    assert validate_json_report(report) == []
    changes = {
        ("schema_version",): True,  # True == 1 in Python; it passed before
        ("total", "num_requests"): True,
        ("total", "fail_ratio"): False,
        ("entries", 0, "percentiles", "50%"): True,
        ("run", "user_classes", "WebUser"): True,
        ("history", 0, "p95"): True,
        ("percentiles", 0): True,
    }
    for path, value in changes.items():
        doc = json.loads(json.dumps(report))
        target = doc
        for part in path[:-1]:
            target = target[part]
        target[path[-1]] = value
        problems = validate_json_report(doc)
        assert problems and "got bool" in problems[0], (path, problems)


def test_outputs_get_the_mode_any_new_file_gets(tmp_path: Path, stats: RequestStats) -> None:
    """Written through a private temporary file, the outputs used to stay mode 0600 whatever the umask:
    a CI artifact or a report served by a web server could not be read by anyone else."""
    from tswarm.controller import outputs

    write_csv_stats(str(tmp_path / "run"), stats)
    write_json(str(tmp_path / "run.json"), build_json_report(stats, None, run_meta={}))
    written = sorted(tmp_path.iterdir())
    assert len(written) == 5  # stats, failures, exceptions, status codes, JSON
    # what open() would give a new file under the process's umask
    expected = 0o666 & ~outputs._UMASK
    assert {p.name: p.stat().st_mode & 0o777 for p in written} == {p.name: expected for p in written}


def test_status_codes_in_csv_and_json(tmp_path: Path, stats: RequestStats) -> None:
    stats.log_request("GET", "/", 5.0, 0, now=T0 + 30, status_code=0)  # no response
    stats.log_request("GET", "/", 5.0, 0, now=T0 + 30, status_code=1234)  # counted as "other"
    prefix = str(tmp_path / "run")
    write_csv_stats(prefix, stats)
    with open(f"{prefix}_status_codes.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == list(STATUS_CODES_CSV_COLUMNS)
    by_entry: dict[tuple[str, str], dict[str, int]] = {}
    for row in rows:
        by_entry.setdefault((row["Type"], row["Name"]), {})[row["Status Code"]] = int(row["Count"])
    assert by_entry[("GET", "/")] == {
        status_code_label(c): n for c, n in stats.entries[("/", "GET")].status_codes.items()
    }
    assert list(by_entry[("GET", "/")]) == ["0", "200", "404", "other"]  # ascending, other last
    assert list(by_entry)[-1] == ("", "Aggregated")
    assert sum(by_entry[("", "Aggregated")].values()) == stats.num_requests

    report = build_json_report(stats, None, run_meta={})
    assert validate_json_report(report) == []
    assert report["total"]["status_codes"] == by_entry[("", "Aggregated")]
    assert sum(report["total"]["status_codes"].values()) == stats.num_requests
    # read back (tswarm report), the counts are those of the run
    again = stats_from_report(json.loads(json.dumps(report)))
    assert again.total.status_codes == stats.total.status_codes
    assert again.entries[("/", "GET")].status_codes == stats.entries[("/", "GET")].status_codes
