"""A deterministic RunSnapshot and a fake RunController for the TUI's tests.

Everything here is computed from fixed numbers: no clocks, no randomness, so SVG snapshots are stable.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

from tswarm.controller.snapshot import (
    CheckRow,
    CheckStatus,
    EntryDetail,
    EntryRow,
    ExceptionRow,
    FailureRow,
    HistoryPoint,
    LogLine,
    RunSnapshot,
    RunState,
    WorkerRow,
    WorkerState,
)

#: 2024-05-01 12:00:00 UTC: every timestamp in the fixture counts from here
T0 = 1714564800.0
PERCENTILES = (0.5, 0.9, 0.95, 0.99)

#: (method, name, requests, failures, median, rps)
_ENDPOINTS = (
    ("GET", "/", 12840, 0, 42.0, 64.2),
    ("GET", "/api/products", 9650, 12, 88.0, 48.3),
    ("GET", "/api/products/[id]", 22310, 3, 35.0, 111.5),
    ("POST", "/api/cart", 4120, 0, 120.0, 20.6),
    ("DELETE", "/api/cart/[id]", 980, 0, 61.0, 4.9),
    ("GET", "/api/search?q=[term]", 7430, 611, 240.0, 37.1),
    ("POST", "/api/checkout", 1510, 97, 480.0, 7.5),
    ("GET", "/static/app.js", 15220, 0, 3.2, 76.1),
    ("GET", "/static/style.css", 15200, 0, 2.8, 76.0),
    ("PUT", "/api/profile", 640, 0, 150.0, 3.2),
    ("GET", "/api/recommendations/for-user/[id]", 5210, 1, 310.0, 26.1),
    ("POST", "/login", 1200, 0, 95.0, 6.0),
)


def report_paths(prefix: str) -> list[str]:
    """The files the fake controller says it wrote under ``prefix`` (as the real one names them)."""
    return [
        *(f"{prefix}_{kind}.csv" for kind in ("stats", "failures", "exceptions", "status_codes")),
        f"{prefix}.json",
        f"{prefix}.html",
    ]


#: the status code of each endpoint's failures (0: no response), to match the failures below
_FAILURE_STATUS = {
    "/api/products": 503,
    "/api/products/[id]": 404,
    "/api/search?q=[term]": 500,
    "/api/checkout": 409,
    "/api/recommendations/for-user/[id]": 0,
}


def _status_codes(name: str, requests: int, failures: int) -> tuple[tuple[int, int], ...]:
    codes = {200: requests - failures}
    if name == "/api/checkout":  # 90 conflicts and 7 connections reset
        codes.update({409: 90, 0: 7})
    elif failures:
        codes[_FAILURE_STATUS[name]] = failures
    return tuple(sorted(codes.items()))


def make_detail(entry: EntryRow) -> EntryDetail:
    """A fixed, bell-shaped (on a log scale) histogram and every percentile of ``entry``."""
    median = entry.median_response_time or 1.0
    buckets = []
    for step in range(-14, 22):
        weight = math.exp(-((step - 2) ** 2) / 40)
        count = int(entry.num_requests * weight / 9)
        if count:
            buckets.append((int(median * 1.15**step * 100) * 1000, count))
    percentiles = {
        0.5: median,
        0.66: round(median * 1.4, 1),
        0.75: round(median * 1.7, 1),
        0.8: round(median * 1.9, 1),
        0.9: round(median * 2.1, 1),
        0.95: round(median * 2.9, 1),
        0.98: round(median * 4.0, 1),
        0.99: round(median * 5.3, 1),
        0.999: round(median * 8.0, 1),
        0.9999: round(median * 9.0, 1),
        1.0: entry.max_response_time,
    }
    return EntryDetail(entry.method, entry.name, tuple(buckets), percentiles, median, round(median * 2.9, 1))


def _entry(method: str, name: str, requests: int, failures: int, median: float, rps: float) -> EntryRow:
    fail_rate = failures / requests if requests else 0.0
    return EntryRow(
        method=method,
        name=name,
        num_requests=requests,
        num_failures=failures,
        median_response_time=median,
        avg_response_time=round(median * 1.18, 1),
        min_response_time=round(median * 0.21, 1),
        max_response_time=round(median * 9.4, 1),
        avg_content_length=float((requests * 37) % 20000 + 120),
        current_rps=rps,
        current_fail_per_sec=round(rps * fail_rate, 2),
        total_rps=round(rps * 0.97, 1),
        percentiles={
            0.5: median,
            0.9: round(median * 2.1, 1),
            0.95: round(median * 2.9, 1),
            0.99: round(median * 5.3, 1),
        },
        status_codes=_status_codes(name, requests, failures),
    )


def _total(entries: list[EntryRow]) -> EntryRow:
    if not entries:
        return EntryRow("", "Aggregated", 0, 0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
    requests = sum(e.num_requests for e in entries)
    failures = sum(e.num_failures for e in entries)
    codes: dict[int, int] = {}
    for e in entries:
        for code, count in e.status_codes:
            codes[code] = codes.get(code, 0) + count
    rps = round(sum(e.current_rps for e in entries), 1)
    return EntryRow(
        method="",
        name="Aggregated",
        num_requests=requests,
        num_failures=failures,
        median_response_time=58.0,
        avg_response_time=97.3,
        min_response_time=0.6,
        max_response_time=4512.0,
        avg_content_length=5230.0,
        current_rps=rps,
        current_fail_per_sec=round(sum(e.current_fail_per_sec for e in entries), 2),
        total_rps=round(rps * 0.97, 1),
        percentiles={0.5: 58.0, 0.9: 260.0, 0.95: 410.0, 0.99: 1300.0},
        status_codes=tuple(sorted(codes.items())),
    )


_TRACEBACK_1 = """Traceback (most recent call last):
  File "/srv/tests/locustfile.py", line 41, in checkout
    order = response.json()["order"]
KeyError: 'order'"""

_TRACEBACK_2 = """Traceback (most recent call last):
  File "/srv/tests/locustfile.py", line 63, in search
    self.client.get(f"/api/search?q={random_term()}", name="/api/search?q=[term]")
  File "/srv/tests/locustfile.py", line 12, in random_term
    return TERMS[index]
IndexError: list index out of range"""


def make_snapshot(
    *,
    state: RunState = RunState.RUNNING,
    user_count: int = 120,
    target_user_count: int = 150,
    spawn_rate: float = 10.0,
    host: str = "https://shop.example.test",
    elapsed: float = 95.0,
    run_time: float | None = 600.0,
    empty: bool = False,
    **overrides: Any,
) -> RunSnapshot:
    """A fixed picture of a busy run (or, with ``empty``, of one with no requests yet)."""
    entries = [] if empty else [_entry(*row) for row in _ENDPOINTS]
    total = _total(entries)
    workers = (
        WorkerRow(
            "worker-a1", "loadgen-1.internal", 0, WorkerState.RUNNING, 60, 42.5, 182 * 2**20, 0.4, 251.3
        ),
        WorkerRow(
            "worker-b2", "loadgen-2.internal", 1, WorkerState.RUNNING, 60, 95.2, 240 * 2**20, 0.7, 226.2
        ),
        WorkerRow("worker-c3", "loadgen-3.internal", 2, WorkerState.MISSING, 0, 0.0, 150 * 2**20, 12.6, 0.0),
    )
    failures = (
        ()
        if empty
        else (
            FailureRow(
                "GET",
                "/api/search?q=[term]",
                "HTTPError('500 Server Error: Internal Server Error')",
                611,
                T0 + 12,
                T0 + 94,
            ),
            FailureRow(
                "POST", "/api/checkout", "HTTPError('409 Client Error: Conflict')", 90, T0 + 30, T0 + 93
            ),
            FailureRow(
                "POST",
                "/api/checkout",
                "ConnectionResetError(104, 'Connection reset by peer')",
                7,
                T0 + 51,
                T0 + 88,
            ),
            FailureRow(
                "GET",
                "/api/products",
                "HTTPError('503 Server Error: Service Unavailable')",
                12,
                T0 + 70,
                T0 + 71,
            ),
            FailureRow(
                "GET", "/api/products/[id]", "HTTPError('404 Client Error: Not Found')", 3, T0 + 5, T0 + 60
            ),
            FailureRow(
                "GET", "/api/recommendations/for-user/[id]", "Timeout('read timed out')", 1, T0 + 80, T0 + 80
            ),
        )
    )
    exceptions = (
        ()
        if empty
        else (
            ExceptionRow(14, "KeyError: 'order'", _TRACEBACK_1, ("worker-a1", "worker-b2")),
            ExceptionRow(3, "IndexError: list index out of range", _TRACEBACK_2, ("worker-b2",)),
        )
    )
    history = (
        ()
        if empty
        else tuple(
            HistoryPoint(
                timestamp=T0 + 35 + i,
                user_count=min(150, 10 * (i + 1)) if i < 15 else 120,
                current_rps=round(min(i, 15) * 32.0 + 20 * math.sin(i / 3), 1),
                current_fail_per_sec=round(max(0.0, 5 * math.sin(i / 5)), 2),
                p50=round(40 + 15 * math.sin(i / 7) + i * 0.3, 1),
                p95=round(300 + 120 * math.sin(i / 6) + i * 2, 1),
                p99=round(900 + 350 * math.sin(i / 4) + i * 6, 1),
            )
            for i in range(60)
        )
    )
    levels = ("INFO", "INFO", "INFO", "WARNING", "INFO", "ERROR", "INFO")
    sources = ("master", "worker-a1", "worker-b2", "worker-c3")
    logs = tuple(
        LogLine(
            timestamp=T0 + 4 * i,
            source=sources[i % len(sources)],
            level=levels[i % len(levels)],
            message=f"log line {i + 1}: "
            + ("spawned users" if i % 3 == 0 else "report sent" if i % 3 == 1 else "heartbeat late by 2.1 s"),
        )
        for i in range(20)
    )
    snapshot = RunSnapshot(
        host=host,
        state=state,
        user_count=user_count,
        target_user_count=target_user_count,
        spawn_rate=spawn_rate,
        workers_ready=2,
        workers_total=3,
        workers_missing=1,
        started_at=None if empty else T0,
        elapsed=0.0 if empty else elapsed,
        run_time=run_time,
        entries=tuple(entries),
        total=total,
        workers=workers,
        failures=failures,
        exceptions=exceptions,
        history=history,
        logs=logs,
        percentiles_to_show=PERCENTILES,
        total_detail=None if empty else make_detail(total),
    )
    return dataclasses.replace(snapshot, **overrides) if overrides else snapshot


@dataclass
class FakeController:
    """A RunController whose snapshot follows start/stop/reset like a real one would, instantly.

    States: READY --start--> RUNNING --stop--> STOPPED --start--> RUNNING; reset empties the stats.
    ``calls`` records every call as ``(method name, args...)``.
    """

    state: RunState = RunState.READY
    user_count: int = 0
    spawn_rate: float = 1.0
    host: str = "https://shop.example.test"
    run_time: float | None = None
    has_stats: bool = False
    output_paths: list[str] = field(default_factory=lambda: ["/tmp/tswarm_stats.csv", "/tmp/tswarm.json"])
    calls: list[tuple[Any, ...]] = field(default_factory=list)
    #: the (method, name) asked for with watch_entry
    watched: tuple[str, str] | None = None
    #: the snapshot's --check verdicts (see CHECK_ROWS) and the check that stopped the test, if any
    checks: tuple[CheckRow, ...] = ()
    stopped_by_check: str | None = None

    @classmethod
    def running(cls, **kwargs: Any) -> FakeController:
        """A controller in the middle of the fixture's busy run."""
        defaults: dict[str, Any] = dict(
            state=RunState.RUNNING, user_count=150, spawn_rate=10.0, run_time=600.0, has_stats=True
        )
        defaults.update(kwargs)
        return cls(**defaults)

    def snapshot(self) -> RunSnapshot:
        snapshot = make_snapshot(
            state=self.state,
            user_count=self.user_count if self.state is RunState.RUNNING else 0,
            target_user_count=self.user_count,
            spawn_rate=self.spawn_rate,
            host=self.host,
            run_time=self.run_time,
            empty=not self.has_stats,
            checks=self.checks,
            stopped_by_check=self.stopped_by_check,
        )
        watched = next(
            (e for e in (*snapshot.entries, snapshot.total) if e.key == self.watched and e.num_requests), None
        )
        return dataclasses.replace(snapshot, detail=make_detail(watched)) if watched else snapshot

    def watch_entry(self, key: tuple[str, str] | None) -> None:
        self.calls.append(("watch_entry", key))
        self.watched = key

    def start(
        self, user_count: int, spawn_rate: float, host: str | None = None, run_time: float | None = None
    ) -> None:
        self.calls.append(("start", user_count, spawn_rate, host, run_time))
        self.state = RunState.RUNNING
        self.user_count = user_count
        self.spawn_rate = spawn_rate
        if host:
            self.host = host
        self.run_time = run_time
        self.has_stats = True

    def stop(self) -> None:
        self.calls.append(("stop",))
        self.state = RunState.STOPPED

    def reset_stats(self) -> None:
        self.calls.append(("reset_stats",))
        self.has_stats = False

    def write_outputs(self, prefix: str | None = None) -> list[str]:
        if prefix is not None:
            self.calls.append(("write_outputs", prefix))
            return report_paths(prefix)
        self.calls.append(("write_outputs",))
        return list(self.output_paths)

    def shutdown(self) -> None:
        self.calls.append(("shutdown",))
        self.state = RunState.STOPPED

    def names(self) -> list[str]:
        """The names of the methods called, in order."""
        return [call[0] for call in self.calls]


#: four checks on the fixture's run: one breached, one waiting for its endpoint, two that hold
CHECK_ROWS = (
    CheckRow("p95<500ms", "Aggregated", "p95", 410.0, "410ms", "< 500ms", CheckStatus.PASSED),
    CheckRow("fail_ratio<1%", "Aggregated", "fail_ratio", 0.0064, "0.64%", "< 1%", CheckStatus.PASSED),
    CheckRow(
        "POST /api/checkout: p99<1s",
        "POST /api/checkout",
        "p99",
        2544.0,
        "2544ms",
        "< 1s",
        CheckStatus.BREACHED,
    ),
    CheckRow(
        "GET /api/orders: max<2s",
        "GET /api/orders",
        "max",
        None,
        "no request matched",
        "< 2s",
        CheckStatus.PENDING,
    ),
)
#: the same four checks, all holding
CHECK_ROWS_PASSING = tuple(dataclasses.replace(row, status=CheckStatus.PASSED) for row in CHECK_ROWS)
