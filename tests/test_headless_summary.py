"""The headless end-of-run summary's status codes: one compact line for the aggregate, wrapped to fit."""

from __future__ import annotations

import io

import pytest

from tswarm.cli.options import RunOptions
from tswarm.controller.report import STATUS_CODES_WIDTH, render_status_codes
from tswarm.env import Environment
from tswarm.headless.reporter import HeadlessReporter
from tswarm.stats import RequestStats
from tswarm.stats.entries import MAX_STATUS_CODES

T0 = 1_700_000_000.0


def _log(stats: RequestStats, name: str, status_code: int | None, times: int = 1) -> None:
    for _ in range(times):
        stats.log_request("GET", name, 5.0, 10, now=T0, status_code=status_code)


def test_the_codes_of_all_endpoints_most_requests_first() -> None:
    stats = RequestStats(start_time=T0)
    _log(stats, "/a", 200, 9812)
    _log(stats, "/b", 404, 12)
    _log(stats, "/b", 0, 3)  # no response
    _log(stats, "/c", 200, 5)
    _log(stats, "/c", 1234)  # not an HTTP code: counted as other
    _log(stats, "/d", None, 7)  # a request with no status code (a custom client) is in no count
    assert render_status_codes(stats) == "Status codes: 200 x 9817 · 404 x 12 · no response x 3 · other x 1\n"


def test_nothing_when_no_code_was_counted() -> None:
    stats = RequestStats(start_time=T0)
    assert render_status_codes(stats) == ""
    _log(stats, "/d", None, 3)
    assert render_status_codes(stats) == ""


@pytest.mark.parametrize("width", [None, 40, 80, 200])
def test_many_codes_wrap_between_codes_to_the_width(width: int | None) -> None:
    stats = RequestStats(start_time=T0)
    # as many distinct codes as an entry keeps, each with a different count
    codes = [200 + i for i in range(MAX_STATUS_CODES - 1)]
    for n, code in enumerate(codes):
        _log(stats, "/a", code, 1000 + n)
    text = render_status_codes(stats, width)
    lines = text.rstrip("\n").split("\n")
    limit = width or STATUS_CODES_WIDTH
    assert max(map(len, lines)) <= limit
    assert len(lines) > 1 or limit == 200
    # no code is cut: each appears whole, once, most requests first
    items = [item for line in lines for item in line.removeprefix("Status codes: ").strip().split(" · ")]
    assert items == [f"{code} x {1000 + n}" for n, code in reversed(list(enumerate(codes)))]
    # continuation lines line up under the first code
    assert all(line.startswith(" " * len("Status codes: ")) for line in lines[1:])


def _reporter(stats: RequestStats, stream: io.StringIO) -> HeadlessReporter:
    environment = Environment()
    environment.stats = stats
    return HeadlessReporter(
        environment, RunOptions(command="run"), user_count=lambda: 0, stream=stream, live_table=False
    )


def test_the_summary_ends_with_the_status_codes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    stats = RequestStats(start_time=T0)
    _log(stats, "/a", 200, 20)
    stats.log_request("GET", "/a", 5.0, 0, now=T0, status_code=503)
    stats.log_error("GET", "/a", "HTTPError('503 Server Error')", now=T0)
    out = io.StringIO()
    _reporter(stats, out).final()
    printed = out.getvalue()
    assert "Statistics (whole test)" in printed
    assert "\nStatus codes: 200 x 20 · 503 x 1\n" in printed
    assert printed.index("Failures") < printed.index("Status codes:")
    assert max(map(len, printed.splitlines()[-3:])) <= 80

    quiet = io.StringIO()
    plain = RequestStats(start_time=T0)
    _log(plain, "/d", None, 3)
    _reporter(plain, quiet).final()
    assert "Statistics (whole test)" in quiet.getvalue() and "Status codes" not in quiet.getvalue()
