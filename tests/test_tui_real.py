"""Drive the real TswarmApp with Textual's Pilot against REAL runs.

The pieces are the ones the command line builds (:func:`tswarm.cli.frontend.build_master_tui`): a
MasterRunner on its own thread, bound to 127.0.0.1 on a free port, and real ``tswarm worker``
processes (one ``--linked-local`` runner for ``tswarm run``; two plain workers for ``tswarm master``)
running FastHttpUsers against the built-in target server. Only Pilot replaces the terminal.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from conftest import TargetServer
from textual.pilot import Pilot
from textual.widgets import Input

from tswarm.cli.distributed import create_master, start_local_workers, stop_processes
from tswarm.cli.frontend import MasterTui, build_master_tui
from tswarm.cli.options import RunOptions
from tswarm.controller.snapshot import RunSnapshot, RunState, WorkerState
from tswarm.tui.bindings import VIEWS
from tswarm.tui.screens.quit import QuitScreen
from tswarm.tui.screens.spawn import SpawnScreen
from tswarm.tui.widgets.status_bar import StatusBar
from tswarm.tui.widgets.workers_view import WorkersView

SIZE = (120, 40)
#: how long any one condition may take to come true (users spawn, workers report once a second)
WAIT = 30.0

TEST_FILE = """
from tswarm import FastHttpUser, constant, task


class Visitor(FastHttpUser):
    wait_time = constant(0.05)

    @task(3)
    def fast(self):
        self.client.get("/fast")

    @task
    def item(self):
        self.client.get("/items/7", name="/items/[id]")
"""

pytestmark = pytest.mark.timeout(180)


@dataclass
class RealRun:
    """A master (with its app, not running yet) and the worker processes attached to it."""

    tui: MasterTui
    workers: list[subprocess.Popen[bytes]]
    log_dir: Path

    @property
    def app(self) -> Any:
        return self.tui.app

    def worker_logs(self) -> str:
        return "\n".join(p.read_text(errors="replace") for p in sorted(self.log_dir.glob("worker-*.log")))


def make_options(command: str, testfile: Path, target: TargetServer, **overrides: Any) -> RunOptions:
    options = RunOptions(
        command=command,
        locustfile=str(testfile),
        host=target.url,
        users=2,
        spawn_rate=20.0,
        # a graceful stop: users finish their request, so the server's count equals ours
        stop_timeout=5.0,
        heartbeat_interval=1.0,
        heartbeat_timeout=10.0,
        master_bind_host="127.0.0.1",
        master_bind_port=0,
    )
    for name, value in overrides.items():
        setattr(options, name, value)
    return options


def build_run(options: RunOptions, log_dir: Path, *, worker_count: int, linked_local: bool) -> RealRun:
    """What ``tswarm run`` (linked_local) or ``tswarm master`` + workers builds, minus the terminal:
    the master as :func:`tswarm.cli.distributed.create_master` makes it, then :func:`build_master_tui`,
    then the worker processes on the master's port."""
    master = create_master(options, private_events=linked_local)
    tui = build_master_tui(options, master)
    log_dir.mkdir(parents=True, exist_ok=True)
    workers = start_local_workers(options, master.bind_port, worker_count, log_dir, linked_local=linked_local)
    return RealRun(tui, workers, log_dir)


@pytest.fixture
def testfile(tmp_path: Path) -> Path:
    path = tmp_path / "visitor.py"
    path.write_text(TEST_FILE)
    return path


@pytest.fixture
def real_runs(tmp_path: Path) -> Iterator[Callable[..., RealRun]]:
    """Builds real runs; at the end shuts each master down and ends its worker processes."""
    runs: list[RealRun] = []

    def make(options: RunOptions, *, worker_count: int, linked_local: bool) -> RealRun:
        run = build_run(
            options, tmp_path / f"logs-{len(runs)}", worker_count=worker_count, linked_local=linked_local
        )
        runs.append(run)
        return run

    yield make
    for run in runs:
        run.tui.master.shutdown()
        stop_processes(run.workers, timeout=0)  # ours, by PID: SIGTERM the ones still running


@pytest.fixture
def local_run(
    real_runs: Callable[..., RealRun], testfile: Path, target: TargetServer, tmp_path: Path
) -> RealRun:
    """``tswarm run -f visitor.py -H target --json run.json``: one linked local runner process."""
    options = make_options("run", testfile, target, json=str(tmp_path / "run.json"))
    return real_runs(options, worker_count=1, linked_local=True)


@pytest.fixture
def master_run(real_runs: Callable[..., RealRun], testfile: Path, target: TargetServer) -> RealRun:
    """``tswarm master`` with two ``tswarm worker`` processes."""
    return real_runs(make_options("master", testfile, target), worker_count=2, linked_local=False)


async def wait_until(
    pilot: Pilot[Any],
    condition: Callable[[RunSnapshot], bool],
    what: str,
    run: RealRun,
    timeout: float = WAIT,
) -> RunSnapshot:
    """Poll the snapshot the app shows (it refreshes once a second) until ``condition`` holds."""
    app = pilot.app
    deadline = time.monotonic() + timeout
    while True:
        snapshot = app.snapshot
        if snapshot is not None and condition(snapshot):
            return snapshot
        if time.monotonic() > deadline:
            pytest.fail(
                f"not within {timeout}s: {what}; last snapshot state={getattr(snapshot, 'state', None)} "
                f"total={getattr(getattr(snapshot, 'total', None), 'num_requests', None)}\n{run.worker_logs()}"
            )
        await pilot.pause(0.1)


async def start_from_dialog(pilot: Pilot[Any], users: int, rate: float) -> None:
    app = pilot.app
    if not isinstance(app.screen, SpawnScreen):
        await pilot.press("n")
    assert isinstance(app.screen, SpawnScreen)
    app.screen.query_one("#spawn-users", Input).value = ""
    await pilot.press(*str(users), "tab")
    app.screen.query_one("#spawn-rate", Input).value = ""
    await pilot.press(*str(rate), "enter")
    await pilot.pause()
    assert not isinstance(app.screen, SpawnScreen)


def requests(snapshot: RunSnapshot) -> int:
    return snapshot.total.num_requests


async def stop_and_check_totals(pilot: Pilot[Any], run: RealRun, target: TargetServer) -> RunSnapshot:
    """``x``, then the numbers the app shows equal the target server's own count, per endpoint too."""
    await pilot.press("x")
    await wait_until(
        pilot, lambda s: s.state is RunState.STOPPED and s.user_count == 0, "the test stopped", run
    )
    served = target.counts()
    snapshot = await wait_until(
        pilot, lambda s: requests(s) == served["total"], f"our total = the server's {served}", run
    )
    assert snapshot.total.num_failures == 0
    ours = {f"{e.method} {e.name}": e.num_requests for e in snapshot.entries}
    assert ours["GET /fast"] == served["by_endpoint"]["GET /fast"]
    assert ours["GET /items/[id]"] == served["by_endpoint"]["GET /items/7"]
    return snapshot


def record_notifications(app: Any) -> list[str]:
    """The messages of the notifications ``app`` shows from now on."""
    shown: list[str] = []
    notify = app.notify

    def recording(message: str, **kwargs: Any) -> None:
        shown.append(message)
        notify(message, **kwargs)

    app.notify = recording
    return shown


async def visit_every_view(pilot: Pilot[Any]) -> None:
    app = pilot.app
    for number, (pane, _title) in enumerate(VIEWS, start=1):
        await pilot.press(str(number))
        await pilot.pause()
        assert app.active_view == pane


async def test_local_run_start_grow_stop_reset_views_quit(local_run: RealRun, target: TargetServer) -> None:
    app = local_run.app
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        # READY: the start dialog opens by itself
        await wait_until(pilot, lambda s: s.state is RunState.READY, "the master is ready", local_run)
        await start_from_dialog(pilot, 2, 20)
        first = await wait_until(pilot, lambda s: requests(s) > 0, "requests appear", local_run)
        await wait_until(pilot, lambda s: requests(s) > requests(first), "requests grow", local_run)
        assert target.counts()["total"] > 0

        await pilot.press("right_square_bracket", "plus")  # +10, +1
        grown = await wait_until(
            pilot, lambda s: s.target_user_count == 13 and s.user_count == 13, "13 users run", local_run
        )
        assert grown.state is RunState.RUNNING
        await wait_until(
            pilot,
            lambda s: len(s.workers) == 1 and s.workers[0].user_count == 13,
            "the runner has them",
            local_run,
        )

        stopped = await stop_and_check_totals(pilot, local_run, target)

        # ``w`` writes the JSON through the master's loop from a worker thread, and says where
        shown = record_notifications(app)
        await pilot.press("w")
        await app.workers.wait_for_complete()
        await pilot.pause()
        report_path = Path(local_run.tui.options.json)
        assert shown == ["Wrote\n" + str(report_path)]
        assert json.loads(report_path.read_text())["total"]["num_requests"] == requests(stopped)

        await pilot.press("r")
        await wait_until(
            pilot,
            lambda s: requests(s) == 0 and all(e.num_requests == 0 for e in s.entries),
            "the stats are reset",
            local_run,
        )

        await visit_every_view(pilot)
        await pilot.press("q")  # stopped: no question asked
        await wait_until_exited(pilot)
    assert app.return_code in (0, None)
    assert local_run.tui.finish() == 0
    # the master told its runner to quit: the process ends by itself, cleanly
    assert local_run.workers[0].wait(WAIT) == 0


async def wait_until_exited(pilot: Pilot[Any], timeout: float = WAIT) -> None:
    deadline = time.monotonic() + timeout
    while pilot.app.is_running and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    assert not pilot.app.is_running, "the app did not exit"


async def test_master_with_two_workers_lists_both(master_run: RealRun, target: TargetServer) -> None:
    app = master_run.app
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await wait_until(pilot, lambda s: s.workers_ready == 2, "two workers are connected", master_run)
        await start_from_dialog(pilot, 4, 20)
        running = await wait_until(
            pilot,
            lambda s: s.user_count == 4 and all(w.user_count == 2 for w in s.workers),
            "2 users each",
            master_run,
        )
        await pilot.press("3")
        await wait_until(pilot, lambda s: requests(s) > requests(running), "requests grow", master_run)
        await pilot.pause(1.2)  # one redraw tick (REFRESH_INTERVAL), so the visible table is current
        table = app.query_one(WorkersView)
        node_ids = {w.node_id for w in app.snapshot.workers}
        assert len(node_ids) == 2
        assert set(table.row_keys_shown) == node_ids
        shown = {str(table.get_row_at(i)[0]) for i in range(table.row_count)}
        assert shown == node_ids

        await pilot.press("left_square_bracket")  # -10 users: never below zero
        await wait_until(
            pilot, lambda s: s.target_user_count == 0 and s.user_count == 0, "users removed", master_run
        )
        await pilot.press("right_square_bracket")  # +10 from 0
        await wait_until(
            pilot,
            lambda s: s.user_count == 10 and all(w.user_count == 5 for w in s.workers),
            "5 users each",
            master_run,
        )

        # quitting while a test runs asks first
        await pilot.press("q")
        await pilot.pause()
        assert isinstance(app.screen, QuitScreen)
        await pilot.press("n")
        await pilot.pause()
        assert not isinstance(app.screen, QuitScreen)
        snapshot = await stop_and_check_totals(pilot, master_run, target)
        assert {w.node_id for w in snapshot.workers} == node_ids
        await pilot.press("q")
        await wait_until_exited(pilot)
    assert master_run.tui.finish() == 0
    for worker in master_run.workers:
        assert worker.wait(WAIT) == 0


async def test_killed_worker_is_shown_missing_within_seconds_and_left_out_of_the_counts(
    master_run: RealRun, target: TargetServer
) -> None:
    """kill -9 of one of two workers: within seconds the header counts only the live one, the users are
    the live worker's, and its row reads missing (issue 11)."""
    app = master_run.app
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await wait_until(pilot, lambda s: s.workers_ready == 2, "two workers are connected", master_run)
        await start_from_dialog(pilot, 4, 20)
        await wait_until(
            pilot, lambda s: all(w.user_count == 2 for w in s.workers), "2 users each", master_run
        )
        victim = master_run.workers[0]
        os.kill(victim.pid, signal.SIGKILL)
        killed_at = time.monotonic()
        snapshot = await wait_until(
            pilot, lambda s: s.workers_missing == 1, "one worker missing", master_run, 8
        )
        assert time.monotonic() - killed_at < 8
        live = [w for w in snapshot.workers if w.state is not WorkerState.MISSING]
        assert len(live) == 1 and snapshot.workers_ready == 1
        assert snapshot.user_count == live[0].user_count  # the missing worker's users are not counted
        await pilot.pause(1.2)  # one redraw tick
        status = app.query_one(StatusBar).render().plain
        assert "(1 missing)" in status and "/1 (1 missing)" in status, status
        await pilot.press("3")
        await pilot.pause()
        table = app.query_one(WorkersView)
        missing = next(w for w in snapshot.workers if w.state is WorkerState.MISSING)
        assert str(table.get_row(missing.node_id)[2]) == "missing"
        await pilot.press("x")
        await wait_until(pilot, lambda s: s.state is RunState.STOPPED, "the test stopped", master_run)
        await pilot.press("q")
        await wait_until_exited(pilot)
    assert master_run.tui.finish() == 0


async def test_local_run_with_checks_shows_their_verdicts_and_the_abort(
    real_runs: Callable[..., RealRun], testfile: Path, target: TargetServer, tmp_path: Path
) -> None:
    """``tswarm run --check ... --check-abort --check-grace 0``: the snapshots carry the checks, the
    breach stops the test and the status bar says so, and at the end the snapshot's verdicts are the
    JSON report's."""
    from tswarm.checks import parse_checks
    from tswarm.controller.snapshot import CheckStatus
    from tswarm.tui.widgets.checks_view import ChecksView
    from tswarm.tui.widgets.status_bar import StatusBar

    report_path = tmp_path / "run.json"
    checks = parse_checks(["p95<60s", "GET /fast: requests<5", "GET /nowhere: max<1s"])
    options = make_options(
        "run", testfile, target, json=str(report_path), checks=checks, check_abort=True, check_grace=0.0
    )
    run = real_runs(options, worker_count=1, linked_local=True)
    app = run.app
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await wait_until(pilot, lambda s: s.state is RunState.READY, "the master is ready", run)
        assert [c.status for c in app.snapshot.checks] == [CheckStatus.PENDING] * 3
        await start_from_dialog(pilot, 2, 20)
        stopped = await wait_until(
            pilot,
            lambda s: s.state is RunState.STOPPED and s.stopped_by_check is not None,
            "the breached check stopped the test",
            run,
        )
        assert stopped.stopped_by_check.startswith("GET /fast: requests<5 (observed ")
        served = target.counts()["total"]
        final = await wait_until(pilot, lambda s: requests(s) == served, "every request is counted", run)
        assert [c.status for c in final.checks] == [
            CheckStatus.PASSED,
            CheckStatus.BREACHED,
            CheckStatus.BREACHED,  # nothing matched its scope, and the test ended
        ]
        await pilot.pause(1.2)  # one redraw tick
        bar = str(app.query_one(StatusBar).render())
        assert "checks ✗ 2 of 3 breached" in bar
        assert "stopped by check GET /fast: requests<5" in bar
        await pilot.press("8")
        await pilot.pause()
        view = app.query_one(ChecksView)
        assert [view._by_key[key].check for key in view.query_one("#checks-table").row_keys_shown] == [
            "GET /fast: requests<5",
            "GET /nowhere: max<1s",
            "p95<60s",
        ]
        await pilot.press("q")
        await wait_until_exited(pilot)
    assert run.tui.finish() == 3
    recorded = json.loads(report_path.read_text())["checks"]
    last = run.tui.master.snapshot()
    assert [(c["check"], c["passed"], c["observed"]) for c in recorded] == [
        (c.check, c.status is CheckStatus.PASSED, c.observed) for c in last.checks
    ]
    assert run.workers[0].wait(WAIT) == 0
