"""CSV (Locust's files), JSON report, snapshot rows, text reports and number formatting."""

from __future__ import annotations

import csv
import json
import random
from pathlib import Path

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
    CsvHistoryWriter,
    build_json_report,
    entry_rows,
    exception_rows,
    failure_rows,
    history_points,
    validate_json_report,
    write_csv_stats,
    write_json,
)
from tswarm.controller.report import render_live_table, render_summary
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
        s.log_request(method, name, r.lognormvariate(3, 0.8), r.randint(100, 3000), now=now)
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
    assert validate_json_report([]) == ["report: expected an object"]


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
