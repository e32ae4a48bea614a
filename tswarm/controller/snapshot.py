"""Immutable pictures of a run, taken by the controller and drawn by the front-ends.

The TUI and the headless front-end never reach into live controller state: they ask for a
``RunSnapshot`` (about once a second) and draw it. Snapshots are plain data, cheap to copy across
threads and easy to build by hand for deterministic UI tests.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

# the states are the protocol's (a worker reports its own); re-exported for the front-ends
from tswarm.protocol.states import RunState, WorkerState

__all__ = [
    "EntryDetail",
    "CheckRow",
    "CheckStatus",
    "EntryRow",
    "ExceptionRow",
    "FailureRow",
    "HistoryPoint",
    "LogLine",
    "RunSnapshot",
    "RunState",
    "WorkerRow",
    "WorkerState",
]


@dataclass(frozen=True)
class EntryRow:
    """One line of the statistics table: a (method, name) pair, or the aggregate (method "")."""

    method: str
    name: str
    num_requests: int
    num_failures: int
    median_response_time: float
    avg_response_time: float
    min_response_time: float
    max_response_time: float
    avg_content_length: float
    #: requests/s and failures/s over the sliding window
    current_rps: float
    current_fail_per_sec: float
    #: total requests/s since the start of the test
    total_rps: float
    #: percentile (0.5, 0.9, ...) -> response time in ms, over the whole test
    percentiles: dict[float, float] = field(default_factory=dict)
    #: (HTTP status code, requests) by code; 0 = no response, -1 (tswarm.stats OTHER_STATUS) = other
    status_codes: tuple[tuple[int, int], ...] = ()

    @property
    def fail_ratio(self) -> float:
        return self.num_failures / self.num_requests if self.num_requests else 0.0

    @property
    def key(self) -> tuple[str, str]:
        """(method, name): what :meth:`~tswarm.controller.api.RunController.watch_entry` takes."""
        return (self.method, self.name)


@dataclass(frozen=True)
class EntryDetail:
    """What a drill-down shows beyond its :class:`EntryRow`: taken only for the aggregate and for the
    one entry a front-end watches, so that the snapshot of 1,000 entries stays cheap."""

    method: str
    name: str
    #: the whole-test response-time histogram: (bucket key, count) in ascending key order
    #: (tswarm.stats.histogram: a key is the bucket's lower bound in 10 ns units)
    histogram: tuple[tuple[int, int], ...]
    #: every reported percentile (0.5 ... 1.0) -> ms, over the whole test
    percentiles: dict[float, float]
    #: median and 95th percentile over the sliding window (about the last 10 s)
    current_p50: float
    current_p95: float


@dataclass(frozen=True)
class WorkerRow:
    node_id: str
    host: str
    index: int
    state: WorkerState
    user_count: int
    cpu_percent: float
    memory_bytes: int
    #: seconds since the last heartbeat from this worker (figures of a missing one are its last ones)
    heartbeat_age: float
    #: requests/s of this worker over the last reports
    rps: float

    @property
    def cpu_warning(self) -> bool:
        return self.cpu_percent > 90.0


@dataclass(frozen=True)
class FailureRow:
    method: str
    name: str
    error: str
    occurrences: int
    first_seen: float
    last_seen: float


@dataclass(frozen=True)
class ExceptionRow:
    count: int
    message: str
    traceback: str
    nodes: tuple[str, ...]


@dataclass(frozen=True)
class HistoryPoint:
    """One point of the charts (about one a second)."""

    timestamp: float
    user_count: int
    current_rps: float
    current_fail_per_sec: float
    p50: float
    p95: float
    #: current 99th percentile response time in ms
    p99: float = 0.0


@dataclass(frozen=True)
class LogLine:
    timestamp: float
    #: "master" or a worker's node id
    source: str
    level: str
    message: str


class CheckStatus(Enum):
    """Where a pass/fail check stands on the whole-test numbers so far."""

    PASSED = "passed"
    BREACHED = "breached"
    #: no request matched its scope yet (while the test runs; at the end that breaches it)
    PENDING = "pending"


@dataclass(frozen=True)
class CheckRow:
    """One ``--check`` and its verdict now (the JSON report's ``checks`` item, formatted to show)."""

    #: the check in its canonical form, e.g. ``GET /cart: p95<300ms``
    check: str
    #: ``Aggregated`` or the endpoint (pattern) it is scoped to
    scope: str
    metric: str
    #: the observed value in the check's unit (ms, fraction, count, requests/s); None: nothing matched
    observed: float | None
    #: the observed value with its unit, e.g. ``412ms``, or ``no request matched``
    observed_text: str
    #: the comparison and limit, e.g. ``< 300ms``
    limit_text: str
    status: CheckStatus


@dataclass(frozen=True)
class RunSnapshot:
    host: str
    state: RunState
    user_count: int
    target_user_count: int
    spawn_rate: float
    workers_ready: int
    workers_total: int
    workers_missing: int
    #: wall-clock time the test started (None before the first start)
    started_at: float | None
    #: seconds the test has run
    elapsed: float
    #: --run-time in seconds, None for no limit
    run_time: float | None
    entries: tuple[EntryRow, ...]
    total: EntryRow
    workers: tuple[WorkerRow, ...] = ()
    failures: tuple[FailureRow, ...] = ()
    exceptions: tuple[ExceptionRow, ...] = ()
    history: tuple[HistoryPoint, ...] = ()
    logs: tuple[LogLine, ...] = ()
    #: percentiles shown in the tables, e.g. (0.5, 0.95, 0.99)
    percentiles_to_show: tuple[float, ...] = (0.5, 0.9, 0.95, 0.99)
    #: seconds between a worker's heartbeats: an age past two of them is late
    heartbeat_interval: float = 1.0
    #: the aggregate's detail (the whole test's histogram), for the Distributions view; its current
    #: p50/p95 are left at 0 (the history has them)
    total_detail: EntryDetail | None = None
    #: the detail of the entry asked for with ``watch_entry`` (None when none is, or it has no requests yet)
    detail: EntryDetail | None = None
    #: the --check verdicts on the whole-test numbers so far, in the order given (empty: no checks)
    checks: tuple[CheckRow, ...] = ()
    #: the breached check that stopped the test under --check-abort, with what it observed, or None
    stopped_by_check: str | None = None

    @property
    def remaining(self) -> float | None:
        if self.run_time is None:
            return None
        return max(0.0, self.run_time - self.elapsed)
