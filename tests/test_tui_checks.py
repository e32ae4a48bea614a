"""The --check verdicts in the TUI: the snapshot's rows, the status bar's badge and the Checks view.

The rows come from :func:`tswarm.controller.snapshot_builder.check_rows` on real stats; the app is fed
the fake controller (a real local run with checks is in tests/test_tui_real.py).
"""

from __future__ import annotations

import contextlib
import io
import time
from pathlib import Path

from tui_fixtures import CHECK_ROWS, CHECK_ROWS_PASSING, FakeController

from tswarm.checks import evaluate_checks, parse_checks
from tswarm.cli.distributed import create_master
from tswarm.cli.frontend import build_master_tui
from tswarm.cli.options import RunOptions
from tswarm.controller.snapshot import CheckStatus, RunState
from tswarm.controller.snapshot_builder import check_rows
from tswarm.stats import RequestStats
from tswarm.tui import TswarmApp
from tswarm.tui.widgets.checks_view import NO_CHECKS_TEXT, ChecksView
from tswarm.tui.widgets.status_bar import StatusBar
from tswarm.tui.widgets.synced_table import SyncedTable

SIZE = (120, 40)


def _stats() -> RequestStats:
    stats = RequestStats()
    for ms in (10, 20, 30, 40, 400):
        stats.log_request("GET", "/fast", ms, 10)
    stats.log_request("GET", "/slow", 1000, 10)
    stats.log_error("GET", "/slow", "boom")
    return stats


def test_rows_say_holds_breached_and_waiting_and_a_missed_scope_breaches_at_the_end() -> None:
    checks = parse_checks(["max<2s", "GET /fast: p50<25", "GET /nowhere: max<1s", "fail_ratio<50%"])
    running = check_rows(_stats(), checks, ended=False)
    assert [(r.check, r.status) for r in running] == [
        ("max<2s", CheckStatus.PASSED),
        ("GET /fast: p50<25ms", CheckStatus.BREACHED),
        ("GET /nowhere: max<1s", CheckStatus.PENDING),
        ("fail_ratio<50%", CheckStatus.PASSED),
    ]
    median = evaluate_checks(_stats(), checks)[1].observed_text  # the histogram's 30 ms
    assert [(r.scope, r.metric, r.observed_text, r.limit_text) for r in running[:2]] == [
        ("Aggregated", "max", "1s", "< 2s"),
        ("GET /fast", "p50", median, "< 25ms"),
    ]
    assert median.startswith("30")
    assert running[2].observed is None and running[2].observed_text == "no request matched"
    ended = check_rows(_stats(), checks, ended=True)
    assert [r.status for r in ended] == [
        CheckStatus.PASSED,
        CheckStatus.BREACHED,
        CheckStatus.BREACHED,
        CheckStatus.PASSED,
    ]


def test_no_checks_cost_nothing_and_a_check_that_stopped_the_test_stays_breached() -> None:
    assert check_rows(_stats(), [], ended=False) == ()
    checks = parse_checks(["GET /fast: max<100ms"])
    stats = RequestStats()
    stats.log_request("GET", "/fast", 500, 1)
    at_abort = evaluate_checks(stats, checks)
    stats.reset_all()
    stats.log_request("GET", "/fast", 5, 1)
    assert check_rows(stats, checks, ended=True)[0].status is CheckStatus.PASSED
    kept = check_rows(stats, checks, at_abort, ended=True)[0]
    assert (kept.status, kept.observed_text) == (CheckStatus.BREACHED, "500ms")


def _bar(app: TswarmApp) -> str:
    return str(app.query_one(StatusBar).render())


async def test_status_bar_badge_counts_breaches_or_says_all_hold() -> None:
    controller = FakeController.running(checks=CHECK_ROWS)
    app = TswarmApp(controller)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert "checks ✗ 1 of 4 breached" in _bar(app)
        controller.checks = CHECK_ROWS_PASSING
        app.refresh_snapshot()
        await pilot.pause()
        assert "checks ✓ 4/4" in _bar(app)
        controller.checks = tuple(r for r in CHECK_ROWS if r.status is not CheckStatus.BREACHED)
        app.refresh_snapshot()
        await pilot.pause()
        assert "checks ✓ 2/3, 1 waiting" in _bar(app)
        assert "stopped by check" not in _bar(app)


async def test_status_bar_has_no_badge_without_checks() -> None:
    app = TswarmApp(FakeController.running())
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert "checks" not in _bar(app)


async def test_status_bar_says_which_check_stopped_the_test() -> None:
    controller = FakeController.running(
        checks=CHECK_ROWS,
        state=RunState.STOPPED,
        stopped_by_check="POST /api/checkout: p99<1s (observed 2544ms)",
    )
    app = TswarmApp(controller)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert "stopped by check POST /api/checkout: p99<1s (observed 2544ms)" in _bar(app)
        await pilot.press("8")
        await pilot.pause()
        detail = str(app.query_one("#checks-detail").render())
        assert "stopped by check POST /api/checkout: p99<1s (observed 2544ms) (--check-abort)" in detail


async def test_checks_view_lists_breached_first_with_observed_value_and_limit() -> None:
    app = TswarmApp(FakeController.running(checks=CHECK_ROWS))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("8")
        await pilot.pause()
        assert app.active_view == "checks"
        table = app.query_one(ChecksView).query_one(SyncedTable)
        rows = [[str(cell) for cell in table.get_row_at(i)] for i in range(table.row_count)]
        assert rows == [
            ["✗ breached", "POST /api/checkout: p99<1s", "2544ms", "< 1s"],
            ["… waiting", "GET /api/orders: max<2s", "no request matched", "< 2s"],
            ["✓ holds", "p95<500ms", "410ms", "< 500ms"],
            ["✓ holds", "fail_ratio<1%", "0.64%", "< 1%"],
        ]
        detail = str(app.query_one("#checks-detail").render())
        assert detail == "POST /api/checkout: p99<1s: observed 2544ms, limit < 1s: breached"


async def test_checks_view_without_checks_says_how_to_add_them() -> None:
    app = TswarmApp(FakeController.running())
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("8")
        await pilot.pause()
        view = app.query_one(ChecksView)
        assert not view.query_one(SyncedTable).display
        detail = str(view.query_one("#checks-detail").render())
        assert detail == NO_CHECKS_TEXT
        assert "--check 'p95<300ms'" in detail and 'check = ["p95<300ms"' in detail


def test_each_test_in_the_tui_is_judged_afresh(tmp_path: Path) -> None:
    """--check-grace counts from the start of each test, not from when the TUI opened, and the abort
    of an earlier test is forgotten (the master's ``test_start`` event, fired on every start)."""
    testfile = tmp_path / "t.py"
    testfile.write_text(
        "from tswarm import User, task\n\nclass U(User):\n    @task\n    def t(self):\n        pass\n"
    )
    options = RunOptions(
        command="run",
        locustfile=str(testfile),
        checks=parse_checks(["p95<1s"]),
        check_abort=True,
        master_bind_host="127.0.0.1",
        master_bind_port=0,
    )
    master = create_master(options)
    tui = build_master_tui(options, master)
    try:
        tui.reporter.started_at -= 60  # the TUI opened a minute ago
        tui.reporter.abort_verdicts = evaluate_checks(master.environment.stats, options.checks)
        master.checks_at_abort = tui.reporter.abort_verdicts
        before = time.time()
        master.environment.events.test_start.fire(environment=master.environment)
        assert tui.reporter.started_at >= before
        assert tui.reporter.abort_verdicts is None and master.checks_at_abort is None
        assert master.checks == tuple(options.checks)
        # the abort's line goes where stderr is when it is printed: Textual's capture while the app runs
        capture = io.StringIO()
        with contextlib.redirect_stderr(capture):
            tui.reporter._print("tswarm: check breached")
        assert capture.getvalue() == "tswarm: check breached\n"
    finally:
        master.shutdown()
