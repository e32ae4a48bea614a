"""Builds the :class:`~tswarm.controller.snapshot.RunSnapshot` the front-ends draw, from the master's state.

Plain Python; may import the controller's snapshot, outputs and workers modules and tswarm.stats.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from tswarm.controller.outputs import entry_detail, entry_rows, exception_rows, failure_rows, history_points
from tswarm.controller.snapshot import LogLine, RunSnapshot, RunState
from tswarm.controller.workers import WorkerNodes
from tswarm.stats import StatsHistory

__all__ = ["build_snapshot"]

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
) -> RunSnapshot:
    """The picture of the run now: ``state`` reads "waiting for workers" while a ready master has none.

    Missing workers are left out of ``user_count`` and ``workers_ready``; after a stop (``stopped_at``)
    the elapsed time stands still, also when the statistics are reset. ``watched``: the (method, name)
    whose :class:`~tswarm.controller.snapshot.EntryDetail` goes in too.
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
    )


def _class_host(user_classes: list[type]) -> str:
    for cls in user_classes:
        host = getattr(cls, "host", None)
        if host:
            return str(host)
    return ""
