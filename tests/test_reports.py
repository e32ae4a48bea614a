"""The reports rendered from the JSON report: histograms in the JSON (round trip, exact merge), --html and
--markdown on a real run, `tswarm report` on a saved JSON, bad inputs, and the page in a real browser."""

from __future__ import annotations

import json
import random
import re
import shutil
import subprocess
import sys
import textwrap
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from conftest import repo_env

from tswarm.cli.options import expand_html_path
from tswarm.controller.formatting import percentile_column
from tswarm.controller.html_report import render_html_report
from tswarm.controller.markdown_report import render_markdown_report
from tswarm.controller.outputs import (
    ReportFileError,
    build_json_report,
    load_json_report,
    stats_from_report,
    validate_json_report,
)
from tswarm.stats import PERCENTILES_TO_REPORT, RequestStats, StatsHistory
from tswarm.stats.histogram import distribution_bars

RUN_TIMEOUT = 60
HOSTILE_NAME = "/x?<script>alert('name')</script>&a=1"
HOSTILE_ERROR = "<img src=http://example.invalid/x.png onerror=alert(1)> | `tick` **bold**"


def tswarm(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tswarm", *args],
        cwd=cwd,
        env=repo_env(),
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
        stdin=subprocess.DEVNULL,
    )


def log_requests(stats: RequestStats, seed: int, count: int, start: float) -> None:
    """``count`` requests over three endpoints, response times spread over five decades, some failing."""
    rng = random.Random(seed)
    for i in range(count):
        name = rng.choice(["/a", "/b", HOSTILE_NAME])
        now = start + i * 0.01
        if rng.random() < 0.05:
            stats.log_error("GET", name, HOSTILE_ERROR if name == HOSTILE_NAME else "ConnectionError()", now)
        stats.log_request("GET", name, 10 ** rng.uniform(-1.5, 3.5), rng.randint(0, 5000), now)


def saved(report: dict[str, Any]) -> Any:
    """The report as a reader gets it back from the file."""
    return json.loads(json.dumps(report, allow_nan=False))


def report_of(stats: RequestStats) -> Any:
    return saved(
        build_json_report(stats, None, run_meta={"command": "run", "end_time": stats.start_time + 60})
    )


def entry_figures(stats: RequestStats) -> dict[tuple[str, str], tuple[Any, ...]]:
    """Everything a report can carry back exactly, per entry and for the aggregate."""
    return {
        (e.method, e.name): (
            e.num_requests,
            e.num_failures,
            e.min_response_time,
            e.max_response_time,
            round(e.total_response_time, 6),
            e.total_content_length,
            e.histogram.to_wire(),
            tuple(e.get_response_time_percentiles(PERCENTILES_TO_REPORT)),
        )
        for e in [*stats.sorted_entries(), stats.total]
    }


# -- the JSON carries the histograms -------------------------------------------------------------


def test_histograms_round_trip_and_recompute_the_reported_percentiles() -> None:
    stats = RequestStats(start_time=1_700_000_000.0)
    log_requests(stats, seed=1, count=3000, start=1_700_000_000.0)
    report = report_of(stats)
    assert validate_json_report(report) == []
    loaded = stats_from_report(report)
    assert entry_figures(loaded) == entry_figures(stats)
    for data in [*report["entries"], report["total"]]:
        assert sum(count for _, count in data["histogram"]) == data["num_requests"]
        keys = [key for key, _ in data["histogram"]]
        assert keys == sorted(keys)
        entry = loaded.total if data["name"] == "Aggregated" else loaded.get(data["name"], data["method"])
        recomputed = entry.get_response_time_percentiles(report["percentiles"])
        assert {
            percentile_column(q): round(v, 4) for q, v in zip(report["percentiles"], recomputed, strict=True)
        } == data["percentiles"]
    assert {(f["name"], f["error"]): f["occurrences"] for f in report["failures"]} == {
        (e.name, e.error): e.occurrences for e in loaded.errors.values()
    }


def test_two_runs_merged_from_their_json_equal_one_run_with_all_the_requests() -> None:
    start = 1_700_000_000.0
    first, second, both = (RequestStats(start_time=start) for _ in range(3))
    log_requests(first, seed=2, count=1500, start=start)
    log_requests(second, seed=3, count=2500, start=start)
    log_requests(both, seed=2, count=1500, start=start)
    log_requests(both, seed=3, count=2500, start=start)
    merged = stats_from_report(report_of(first), report_of(second))
    assert entry_figures(merged) == entry_figures(both)
    assert {k: e.occurrences for k, e in merged.errors.items()} == {
        k: e.occurrences for k, e in both.errors.items()
    }


def test_a_report_without_histograms_still_loads_and_renders() -> None:
    stats = RequestStats(start_time=1_700_000_000.0)
    log_requests(stats, seed=4, count=200, start=1_700_000_000.0)
    report = report_of(stats)
    for entry in [*report["entries"], report["total"]]:
        del entry["histogram"]  # as tswarm wrote it before the field
    assert validate_json_report(report) == []
    assert "has no histograms" in render_html_report(report)
    assert "**200** requests" in render_markdown_report(report)
    with pytest.raises(ReportFileError, match="without histograms"):
        stats_from_report(report)


def test_histograms_that_do_not_add_up_are_refused() -> None:
    stats = RequestStats(start_time=1_700_000_000.0)
    log_requests(stats, seed=4, count=50, start=1_700_000_000.0)
    report = report_of(stats)
    report["entries"][0]["histogram"][0][1] += 1
    report["entries"][1]["histogram"].reverse()
    assert validate_json_report(report) == [
        "entries[0].histogram: counts do not add up to num_requests",
        "entries[1].histogram: bucket keys are not in ascending order",
    ]


def test_distribution_bars_count_every_request() -> None:
    stats = RequestStats(start_time=1_700_000_000.0)
    log_requests(stats, seed=5, count=1000, start=1_700_000_000.0)
    stats.log_request("GET", "/a", 0, 0)
    bars = distribution_bars(report_of(stats)["total"]["histogram"], bars=30)
    assert len(bars) == 30 and sum(count for _, _, count in bars) == 1001
    assert all(low < high for low, high, _ in bars)


# -- what the renderers show ---------------------------------------------------------------------


def test_html_is_self_contained_and_escapes_what_the_test_named() -> None:
    stats = RequestStats(start_time=1_700_000_000.0)
    log_requests(stats, seed=6, count=500, start=1_700_000_000.0)
    stats.log_exception("worker-1", "boom <b>", "Traceback\n  <script>x</script>")
    report = report_of(stats)
    report["run"]["host"] = "http://<evil>"
    page = render_html_report(report)
    assert page.count("<script") == 0 and "<img" not in page and "<b>" not in page
    assert "&lt;script&gt;alert(&#x27;name&#x27;)&lt;/script&gt;" in page
    assert "&lt;img src=http://example.invalid/x.png" in page
    # nothing fetched: no external reference of any kind
    assert not re.search(r"""(src|href)\s*=|url\(|@import|<link""", page.replace("&lt;img src=", ""))
    assert "Content-Security-Policy" in page
    assert 'id="checks"' not in page  # no checks in this report


def report_with_history(seconds: int = 12) -> tuple[Any, StatsHistory]:
    """A report whose history has a sample a second over requests logged across ``seconds`` seconds."""
    start = 1_700_000_000.0
    stats = RequestStats(start_time=start)
    history = StatsHistory()
    for second in range(seconds):
        log_requests(stats, seed=second, count=100, start=start + second)
        history.record(stats, user_count=5, now=start + second + 1)
    return saved(
        build_json_report(stats, history, run_meta={"command": "run", "end_time": start + seconds})
    ), history


def _figure(page: str, caption: str) -> str:
    """The <figure> of the page whose caption is ``caption``."""
    match = re.search(rf"<figure><figcaption>{re.escape(caption)}</figcaption>.*?</figure>", page)
    assert match is not None, caption
    return match.group(0)


def test_the_history_carries_p99_beside_p50_and_p95() -> None:
    report, history = report_with_history()
    assert validate_json_report(report) == []
    points = history.points()
    assert len(report["history"]) == len(points) == 12
    for item, sample in zip(report["history"], points, strict=True):
        # every key of before, and p99 (the TUI's history had it; the report did not)
        assert set(item) == {
            "timestamp",
            "user_count",
            "current_rps",
            "current_fail_per_sec",
            "p50",
            "p95",
            "p99",
            "total_requests",
            "total_failures",
        }
        assert item["p99"] == pytest.approx(sample.p99, abs=1e-4) and sample.p99 > 0
        assert item["p50"] <= item["p95"] <= item["p99"]
    # a report of an older tswarm, without p99, is still valid
    for item in report["history"]:
        del item["p99"]
    assert validate_json_report(report) == []
    report["history"][0]["p99"] = "slow"
    assert validate_json_report(report) == ["history[0].p99: expected number, got str"]


def test_the_html_response_time_chart_draws_p99() -> None:
    report, _ = report_with_history()
    chart = _figure(render_html_report(report), "Response time (ms), last ~10 s")
    assert chart.count("<polyline") == 3
    assert [label for label in re.findall(r'y="14">([^<]+)</text>', chart)] == ["p50", "p95", "p99"]
    # the p99 line is the one the history says: its highest point is the chart's highest
    lines = re.findall(
        r'<polyline fill="none" stroke="(#[0-9a-f]+)" stroke-width="1.8" points="([^"]+)"', chart
    )
    tops = {colour: min(float(xy.split(",")[1]) for xy in points.split()) for colour, points in lines}
    p50, p95, p99 = (tops[colour] for colour, _ in lines)
    assert p99 <= p95 <= p50  # SVG's y grows downwards
    # an older report's history has no p99: two lines, as before
    for item in report["history"]:
        del item["p99"]
    older = _figure(render_html_report(report), "Response time (ms), last ~10 s")
    assert older.count("<polyline") == 2 and ">p99<" not in older


class SectionRows(HTMLParser):
    """The rows of the table in one ``<section id=...>`` of a page (the header first): (row class, cells,
    marked cells), a cell's text without its markup, and which cells are marked as failures are."""

    def __init__(self, section_id: str) -> None:
        super().__init__()
        self.section_id = section_id
        self.inside = False
        self.rows: list[tuple[str, list[str], list[bool]]] = []
        self.paragraphs: list[str] = []
        self._cell: list[str] | None = None
        self._bad = False
        self._in_p = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag == "section":
            self.inside = attributes.get("id") == self.section_id
        elif self.inside and tag == "tr":
            self.rows.append((attributes.get("class") or "", [], []))
        elif self.inside and tag in ("td", "th"):
            self._cell, self._bad = [], False
        elif self._cell is not None and tag == "span" and attributes.get("class") == "bad":
            self._bad = True
        elif self.inside and tag == "p":
            self._in_p = True
            self.paragraphs.append("")

    def handle_endtag(self, tag: str) -> None:
        if tag == "section":
            self.inside = False
        elif tag in ("td", "th") and self._cell is not None:
            self.rows[-1][1].append("".join(self._cell))
            self.rows[-1][2].append(self._bad)
            self._cell = None
        elif tag == "p":
            self._in_p = False

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)
        elif self._in_p:
            self.paragraphs[-1] += data


def section_rows(page: str, section_id: str) -> SectionRows:
    parser = SectionRows(section_id)
    parser.feed(page)
    return parser


def test_the_html_report_lists_status_codes_per_endpoint_and_in_all() -> None:
    stats = RequestStats(start_time=1_700_000_000.0)
    now = 1_700_000_001.0
    for _ in range(9):
        stats.log_request("GET", "/a", 5.0, 10, now=now, status_code=200)
    stats.log_request("GET", "/a", 5.0, 10, now=now, status_code=404)
    stats.log_request("GET", HOSTILE_NAME, 5.0, 10, now=now, status_code=0)  # no response
    stats.log_request("GET", HOSTILE_NAME, 5.0, 10, now=now, status_code=302)
    stats.log_request("GET", HOSTILE_NAME, 5.0, 10, now=now, status_code=1234)  # counted as other
    stats.log_request("POST", "/plain", 5.0, 10, now=now)  # no HTTP answer to count (a custom client)
    page = render_html_report(report_of(stats))
    assert page.index('id="distribution"') < page.index('id="status-codes"') < page.index('id="failures"')
    header, *body = section_rows(page, "status-codes").rows
    assert header[1] == ["Type", "Name", "Status code", "Requests", "Share"]
    assert [(cls, cells) for cls, cells, _ in body] == [
        ("", ["GET", "/a", "200", "9", "90.0%"]),
        ("", ["GET", "/a", "404", "1", "10.0%"]),
        ("", ["GET", HOSTILE_NAME, "no response", "1", "33.3%"]),
        ("", ["GET", HOSTILE_NAME, "302", "1", "33.3%"]),
        ("", ["GET", HOSTILE_NAME, "other", "1", "33.3%"]),
        ("total", ["", "Aggregated", "no response", "1", "7.69%"]),
        ("total", ["", "Aggregated", "200", "9", "69.2%"]),
        ("total", ["", "Aggregated", "302", "1", "7.69%"]),
        ("total", ["", "Aggregated", "404", "1", "7.69%"]),
        ("total", ["", "Aggregated", "other", "1", "7.69%"]),
    ]
    # no response and HTTP errors are marked as failures are elsewhere on the page; the rest is not
    marked = {(cells[1], cells[2]): bad[2:] for _, cells, bad in body}
    assert {key for key, flags in marked.items() if all(flags)} == {
        ("/a", "404"),
        (HOSTILE_NAME, "no response"),
        ("Aggregated", "no response"),
        ("Aggregated", "404"),
    }
    assert all(not any(flags) for key, flags in marked.items() if key[1] in ("200", "302", "other"))
    assert "<script>" not in page  # the name is escaped here too


def test_the_html_report_says_when_no_status_code_was_counted() -> None:
    stats = RequestStats(start_time=1_700_000_000.0)
    log_requests(stats, seed=9, count=50, start=1_700_000_000.0)  # no status codes
    section = section_rows(render_html_report(report_of(stats)), "status-codes")
    assert not any(cells for _, cells, _ in section.rows)
    assert section.paragraphs == ["No status codes: no HTTP requests, or a report of an older tswarm."]


def test_checks_are_rendered_when_the_report_has_them() -> None:
    stats = RequestStats(start_time=1_700_000_000.0)
    log_requests(stats, seed=7, count=100, start=1_700_000_000.0)
    report = report_of(stats)
    report["checks"] = [
        {
            "check": "p95<300ms",
            "scope": "",
            "metric": "p95",
            "op": "<",
            "limit": 300.0,
            "observed": 12.5,
            "passed": True,
        },
        {
            "check": "GET <x>: fail_ratio<1%",
            "scope": "GET <x>",
            "metric": "fail_ratio",
            "op": "<",
            "limit": 0.01,
            "observed": 0.05,
            "passed": False,
        },
    ]
    page = render_html_report(report)
    assert 'id="checks"' in page and "1 of 2 checks breached" in page
    assert "GET &lt;x&gt;: fail_ratio&lt;1%" in page
    summary = render_markdown_report(report)
    assert "1 of 2 checks breached" in summary.splitlines()[0]
    assert "| ❌ | GET \\<x\\>: fail\\_ratio\\<1% | 0.05 |" in summary


def test_markdown_keeps_tables_whole() -> None:
    stats = RequestStats(start_time=1_700_000_000.0)
    log_requests(stats, seed=8, count=300, start=1_700_000_000.0)
    summary = render_markdown_report(report_of(stats))
    table_rows = [line for line in summary.splitlines() if line.startswith("| ")]
    assert table_rows and all(re.sub(r"\\\|", "", row).count("|") in (5, 9) for row in table_rows)
    assert "\\| \\`tick\\` \\*\\*bold\\*\\*" in summary


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("r_{u}_{r}_{t}.html", "r_10_2.5_60.html"),
        ("{u}{u}.html", "1010.html"),
        ("plain.html", "plain.html"),
    ],
)
def test_html_path_tags_expand_as_in_locust(template: str, expected: str) -> None:
    assert expand_html_path(template, 10, 2.5, 60.0) == expected


def test_html_path_keeps_a_tag_whose_value_is_not_set() -> None:
    assert expand_html_path("r_{u}_{t}.html", 3, 1.0, None) == "r_3_{t}.html"


# -- a real run, then `tswarm report` ------------------------------------------------------------

BOUNDED_USERS = """
    from tswarm import HttpUser, task, constant, StopUser

    class Browser(HttpUser):
        wait_time = constant(0)
        done = 0

        @task(3)
        def fast(self):
            self.client.get("/fast")

        @task(1)
        def failing(self):
            self.client.get("/status/500", name="/status/<500>")
            self.done += 1
            if self.done >= 10:
                raise StopUser()
"""


@pytest.fixture
def run_with_reports(tmp_path: Path, target: Any) -> tuple[Path, subprocess.CompletedProcess[str], Any]:
    """A real bounded run with --json, --html (with Locust's tags) and --markdown."""
    (tmp_path / "locustfile.py").write_text(textwrap.dedent(BOUNDED_USERS))
    (tmp_path / "out").mkdir()
    result = tswarm(
        "run",
        "--headless",
        "-H",
        target.url,
        *("-u", "3", "-r", "100", "-t", "3s", "--stop-timeout", "5"),
        *("--json", "out/result.json", "--html", "out/report_{u}u_{t}s.html", "--markdown", "out/summary.md"),
        cwd=tmp_path,
    )
    return tmp_path, result, target.counts()


def test_a_run_writes_html_and_markdown(run_with_reports: tuple[Path, Any, Any]) -> None:
    work, result, server = run_with_reports
    assert result.returncode == 1, result.stderr  # /status/500 fails
    report = load_json_report(str(work / "out" / "result.json"))
    assert report["total"]["num_requests"] == server["total"] > 0
    page = (work / "out" / "report_3u_3s.html").read_text()
    assert "/status/&lt;500&gt;" in page and "/fast" in page and "<polyline" in page
    assert f"<td>{report['total']['num_requests']}</td>" in page
    # the status codes the target answered with, each endpoint's and in all; the 500s marked
    codes = {
        (e["name"], label): n
        for e in [*report["entries"], report["total"]]
        for label, n in e["status_codes"].items()
    }
    assert codes[("/status/<500>", "500")] == 30 and codes[("Aggregated", "500")] == 30
    shown = {
        (cells[1], cells[2]): (cells[3], bad[2])
        for _, cells, bad in section_rows(page, "status-codes").rows[1:]
    }
    assert shown == {key: (str(n), key[1] == "500") for key, n in codes.items()}
    summary = (work / "out" / "summary.md").read_text()
    assert f"**{report['total']['num_requests']}** requests" in summary
    assert "### Failures" in summary and "/status/\\<500\\>" in summary
    # `tswarm report` renders the very same files from the JSON
    again = tswarm(
        "report", "out/result.json", "--html", "out/again_{u}.html", "--markdown", "out/again.md", cwd=work
    )
    assert again.returncode == 0, again.stderr
    assert (work / "out" / "again_3.html").read_text() == page
    assert (work / "out" / "again.md").read_text() == summary
    printed = tswarm("report", "out/result.json", "--markdown", "-", cwd=work)
    assert printed.returncode == 0 and printed.stdout == summary


def test_a_distributed_run_writes_the_same_reports(tmp_path: Path, target: Any) -> None:
    """A master with two local worker processes: the reports render the master's merged numbers."""
    (tmp_path / "locustfile.py").write_text(textwrap.dedent(BOUNDED_USERS))
    result = tswarm(
        "run",
        "--headless",
        "--processes",
        "2",
        "-H",
        target.url,
        *("-u", "4", "-r", "100", "-t", "3s", "--stop-timeout", "5"),
        *("--json", "result.json", "--html", "report.html", "--markdown", "summary.md"),
        cwd=tmp_path,
    )
    assert result.returncode == 1, result.stderr
    report = load_json_report(str(tmp_path / "result.json"))
    assert report["total"]["num_requests"] == target.counts()["total"] > 0
    page = (tmp_path / "report.html").read_text()
    assert f"<td>{report['total']['num_requests']}</td>" in page and "tswarm run" in page
    again = tswarm("report", "result.json", "--html", "again.html", "--markdown", "again.md", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert (tmp_path / "again.html").read_text() == page
    assert (tmp_path / "again.md").read_text() == (tmp_path / "summary.md").read_text()


LOCUST_JSON = '[{"name": "/", "method": "GET", "num_requests": 3, "num_failures": 0}]'


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("not json {", "is not JSON (line 1, column 1: Expecting value)"),
        (LOCUST_JSON, "is not a tswarm JSON report"),
        (
            '{"schema_version": 1, "run": {}}',
            "is not a valid tswarm JSON report: run.tswarm_version: missing (and 11 more problems)",
        ),
        (None, "has schema version 2, newer than this tswarm reads (1)"),
        ("", "is not JSON"),
    ],
    ids=["not-json", "locust-json", "invalid", "newer-schema", "empty"],
)
def test_report_refuses_bad_input_in_one_line(tmp_path: Path, content: str | None, message: str) -> None:
    if content is None:
        stats = RequestStats()
        stats.log_request("GET", "/", 1.0, 1)
        newer = report_of(stats)
        newer["schema_version"] = 2
        content = json.dumps(newer)
    (tmp_path / "in.json").write_text(content)
    result = tswarm("report", "in.json", "--html", "r.html", "--markdown", "r.md", cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("tswarm: error: in.json ")
    assert message in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.json"]  # nothing written, not even half


def test_report_writes_nothing_when_one_output_cannot_be_written(tmp_path: Path) -> None:
    stats = RequestStats()
    stats.log_request("GET", "/", 1.0, 1)
    (tmp_path / "in.json").write_text(json.dumps(report_of(stats)))
    result = tswarm("report", "in.json", "--markdown", "r.md", "--html", "missing/r.html", cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr == "tswarm: error: --html missing/r.html: the folder missing does not exist\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.json"]
    missing_input = tswarm("report", "nowhere.json", "--html", "r.html", cwd=tmp_path)
    assert missing_input.returncode == 1 and missing_input.stderr.startswith(
        "tswarm: error: cannot read nowhere.json"
    )
    nothing = tswarm("report", "in.json", cwd=tmp_path)
    assert nothing.returncode == 1 and "nothing to write" in nothing.stderr


def test_a_run_refuses_an_html_path_in_a_missing_folder_before_it_starts(tmp_path: Path) -> None:
    (tmp_path / "locustfile.py").write_text(textwrap.dedent(BOUNDED_USERS))
    result = tswarm("run", "--headless", "-t", "1s", "--html", "nowhere/r_{u}.html", cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == (
        "tswarm: error: --html nowhere/r_1.html: the folder nowhere does not exist"
    )


# -- the page in a real browser ------------------------------------------------------------------

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    assert CHROMIUM is not None
    return subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={tmp_path / 'chromium-profile'}",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )


@pytest.mark.skipif(CHROMIUM is None, reason="no chromium on this machine (apt-get install chromium)")
def test_the_page_in_a_headless_browser(run_with_reports: tuple[Path, Any, Any]) -> None:
    work, result, _ = run_with_reports
    report = json.loads((work / "out" / "result.json").read_text())
    report["checks"] = [
        {
            "check": "failures==0",
            "scope": "",
            "metric": "failures",
            "op": "==",
            "limit": 0,
            "observed": 10,
            "passed": False,
        }
    ]
    (work / "out" / "checked.json").write_text(json.dumps(report))
    rendered = tswarm("report", "out/checked.json", "--html", "out/checked.html", cwd=work)
    assert rendered.returncode == 0, rendered.stderr
    page = work / "out" / "checked.html"
    dom = chromium(work, "--dump-dom", page.as_uri())
    assert dom.returncode == 0, dom.stderr
    text = dom.stdout
    for heading in (
        "Run",
        "Checks",
        "Statistics",
        "Response time percentiles (ms)",
        "Charts",
        "Status codes",
        "Failures",
        "Workers",
    ):
        assert f"<h2>{heading}</h2>" in text
    assert "failures==0" in text and "FAIL" in text
    assert "/status/&lt;500&gt;" in text and "<script" not in text
    # requests/s and failures/s, p50, p95 and p99, users
    assert text.count("<polyline") == 6 and text.count("<svg") == 4
    shot = work / "report.png"
    taken = chromium(work, "--window-size=1280,2000", f"--screenshot={shot}", page.as_uri())
    assert taken.returncode == 0, taken.stderr
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 10_000
