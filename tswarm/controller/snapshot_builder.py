"""Builds the :class:`~tswarm.controller.snapshot.RunSnapshot` the front-ends draw, from the master's state.

Plain Python; may import the controller's snapshot, outputs and workers modules, tswarm.checks and
tswarm.stats.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from typing import Any

from tswarm.checks import Check, CheckVerdict, evaluate_checks
from tswarm.controller.outputs import entry_detail, entry_rows, exception_rows, failure_rows, history_points
from tswarm.controller.snapshot import CheckRow, CheckStatus, LogLine, RunSnapshot, RunState
from tswarm.controller.workers import WorkerNodes
from tswarm.stats import StatsHistory

__all__ = ["build_snapshot", "check_rows"]

_ACTIVE = (RunState.SPAWNING, RunState.RUNNING)


def build_snapshot(
    *,
    environment: Any,
    state: RunState,
    workers: WorkerNodes,
    started_at: float | None,
    run_time: float | None,
    target_user_count: int,
    spawn_rate: float,
    history: StatsHistory,
    logs: Iterable[LogLine],
    percentiles: tuple[float, ...],
    stopped_at: float | None = None,
    heartbeat_interval: float = 1.0,
    watched: tuple[str, str] | None = None,
    checks: Sequence[Check] = (),
    checks_at_abort: Sequence[CheckVerdict] | None = None,
) -> RunSnapshot:
    """The picture of the run now: ``state`` reads "waiting for workers" while a ready master has none.

    Missing workers are left out of ``user_count`` and ``workers_ready``; after a stop (``stopped_at``)
    the elapsed time stands still, also when the statistics are reset. ``watched``: the (method, name)
    whose :class:`~tswarm.controller.snapshot.EntryDetail` goes in too. ``checks`` are evaluated here
    (once, and only when there are some); ``checks_at_abort`` are their verdicts when --check-abort
    stopped the test (see :func:`check_rows`).
    """
    stats = environment.stats
    in_order = workers.in_order()
    missing = sum(1 for w in in_order if w.missing)
    if state is RunState.READY and len(in_order) == missing:
        state = RunState.WAITING
    elapsed = 0.0
    if started_at is not None:
        elapsed = max(0.0, (stats.total.last_request_timestamp or time.time()) - started_at)
        if state in (*_ACTIVE, RunState.STOPPING):
            elapsed = max(0.0, time.time() - started_at)
        elif stopped_at is not None:
            elapsed = max(0.0, stopped_at - started_at)
    entries, total = entry_rows(stats, percentiles)
    detail = None
    if watched is not None:
        method, name = watched
        watched_entry = stats.total if method == "" else stats.entries.get((name, method))
        if watched_entry is not None:
            detail = entry_detail(watched_entry)
    return RunSnapshot(
        host=environment.host or _class_host(environment.user_classes),
        state=state,
        user_count=workers.user_count,
        target_user_count=target_user_count,
        spawn_rate=spawn_rate,
        workers_ready=len(in_order) - missing,
        workers_total=len(in_order),
        workers_missing=missing,
        started_at=started_at,
        elapsed=elapsed,
        run_time=run_time,
        entries=entries,
        total=total,
        workers=tuple(w.row() for w in in_order),
        failures=failure_rows(stats),
        exceptions=exception_rows(stats),
        history=history_points(history),
        logs=tuple(logs),
        percentiles_to_show=percentiles,
        heartbeat_interval=heartbeat_interval,
        # without current percentiles: the Distributions view draws the histogram (1-2 ms a second)
        total_detail=entry_detail(stats.total, current=False),
        detail=detail,
        checks=check_rows(stats, checks, checks_at_abort, ended=state is RunState.STOPPED),
        stopped_by_check=_stopped_by(checks_at_abort),
    )


def check_rows(
    stats: Any,
    checks: Sequence[Check],
    checks_at_abort: Sequence[CheckVerdict] | None = None,
    *,
    ended: bool,
) -> tuple[CheckRow, ...]:
    """Each check's verdict on the whole-test numbers of ``stats`` so far, as the JSON report would
    give it: a check that stopped the test (``checks_at_abort``) stays breached, and a scope no request
    matched is pending until the test ``ended``, breached after."""
    if not checks:
        return ()
    verdicts = evaluate_checks(stats, checks)
    if checks_at_abort is not None and len(checks_at_abort) == len(verdicts):
        verdicts = [
            early if (now.passed and not early.passed) else now
            for now, early in zip(verdicts, checks_at_abort, strict=True)
        ]
    rows = []
    for verdict in verdicts:
        if verdict.passed:
            status = CheckStatus.PASSED
        elif verdict.observed is None and not ended:
            status = CheckStatus.PENDING
        else:
            status = CheckStatus.BREACHED
        check = verdict.check
        rows.append(
            CheckRow(
                check=check.text(),
                scope=check.scope,
                metric=check.metric,
                observed=verdict.observed,
                observed_text=verdict.observed_text,
                limit_text=verdict.limit_text,
                status=status,
            )
        )
    return tuple(rows)


def _stopped_by(checks_at_abort: Sequence[CheckVerdict] | None) -> str | None:
    """The first check breached when --check-abort stopped the test, and what it observed."""
    for verdict in checks_at_abort or ():
        if not verdict.passed and verdict.observed is not None:
            return f"{verdict.check.text()} (observed {verdict.observed_text})"
    return None


def _class_host(user_classes: list[type]) -> str:
    for cls in user_classes:
        host = getattr(cls, "host", None)
        if host:
            return str(host)
    return ""
