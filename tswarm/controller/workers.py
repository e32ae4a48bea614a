"""The master's registry of workers: one :class:`WorkerNode` each, and live/ready/running/missing views.

What a worker reports (heartbeats, spawning, stats) is read into its node here, with every number
checked before it is kept. Plain Python; may import tswarm.protocol and controller.snapshot.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from tswarm.controller.snapshot import WorkerRow
from tswarm.protocol import HEARTBEAT_SUFFIX, WorkerState

__all__ = ["RPS_WINDOW", "ReportNumbers", "WorkerNode", "WorkerNodes", "WorkerOutage"]

#: seconds of stats reports a worker's requests/s is averaged over
RPS_WINDOW = 4.0
#: node ids of departed workers remembered (so that their late frames are not taken for strangers')
MAX_DEPARTED = 10_000
#: times a worker went missing that are kept for the summary and the JSON (the first ones)
MAX_OUTAGES = 1000
#: report numbers merged past a gap that a worker has not filled yet, at most; past it the gap is given up
MAX_REPORTS_AHEAD = 1000


class ReportNumbers:
    """Which of a worker's numbered stats reports were merged, so that one sent again is merged once.

    ``acked`` is the number up to which every report was merged (what the master acknowledges);
    numbers merged past a gap wait in a set until the gap is filled or the worker says, with its
    report's ``kept_from``, that it gave the missing ones up.
    """

    __slots__ = ("acked", "latest", "_ahead")

    def __init__(self) -> None:
        self.acked = 0
        #: the highest number merged: a report below it is an old one sent again
        self.latest = 0
        self._ahead: set[int] = set()

    def accept(self, number: int, kept_from: int) -> bool:
        """Whether report ``number`` is new (and so to be merged); notes it as merged."""
        if kept_from - 1 > self.acked:
            self._advance_to(min(kept_from, number + 1) - 1)
        if number <= self.acked or number in self._ahead:
            return False
        if number == self.acked + 1:
            self._advance_to(number)
        else:
            self._ahead.add(number)
            if len(self._ahead) > MAX_REPORTS_AHEAD:
                self._advance_to(min(self._ahead))
        self.latest = max(self.latest, number)
        return True

    def _advance_to(self, number: int) -> None:
        self.acked = max(self.acked, number)
        self._ahead = {n for n in self._ahead if n > self.acked}
        while self.acked + 1 in self._ahead:
            self.acked += 1
            self._ahead.discard(self.acked)


@dataclass(slots=True)
class WorkerOutage:
    """A time a worker went missing. Times are ``time.time()``."""

    node_id: str
    #: why it was marked missing: "connection closed" or "no heartbeat"
    reason: str
    missing_at: float
    #: when it was heard from again (None: it never was)
    back_at: float | None = None

    def duration(self, until: float) -> float:
        """Seconds it was missing, up to its return or ``until``."""
        end = self.back_at if self.back_at is not None else until
        return max(0.0, end - self.missing_at)


#: missing workers kept (with their index) for when they come back; past it, the longest silent are
#: forgotten when a new one registers, so that peers which say hello and are never heard from again
#: (junk connections, a flood of node ids) cannot grow the registry and the heartbeat loop without end
MAX_MISSING_KEPT = 1_000


@dataclass
class WorkerNode:
    """One worker, as last heard from. Times are ``time.monotonic()`` unless said otherwise."""

    node_id: str
    host: str
    index: int
    pid: int = 0
    cpu_count: int = 1
    state: WorkerState = WorkerState.READY
    #: users running there, as the worker last reported
    user_count: int = 0
    user_classes_count: dict[str, int] = field(default_factory=dict)
    #: CPU percent and resident memory in bytes, from its heartbeats
    cpu: float = 0.0
    memory: int = 0
    last_heartbeat: float = field(default_factory=time.monotonic)
    #: any message counts as a sign of life, not only heartbeats
    last_seen: float = field(default_factory=time.monotonic)
    cpu_warning: bool = False
    #: ZeroMQ identity of its main socket
    identity: bytes = b""
    #: the numbers of its stats reports merged so far (a new process starts from 1 again)
    report_numbers: ReportNumbers = field(default_factory=ReportNumbers)
    _reports: deque[tuple[float, int]] = field(default_factory=lambda: deque(maxlen=64), repr=False)

    @property
    def heartbeat_identity(self) -> bytes:
        """ZeroMQ identity of its heartbeat socket."""
        return self.identity + HEARTBEAT_SUFFIX.encode()

    @property
    def missing(self) -> bool:
        return self.state is WorkerState.MISSING

    def add_requests(self, count: int) -> None:
        """Note that a stats report of ``count`` requests arrived (for :attr:`rps`)."""
        self._reports.append((time.monotonic(), count))

    @property
    def rps(self) -> float:
        """Requests per second in this worker's reports over the last few seconds."""
        now = time.monotonic()
        recent = sum(n for t, n in self._reports if now - t <= RPS_WINDOW)
        return recent / RPS_WINDOW

    # -- what it reports -------------------------------------------------------------------------------

    def restarted(self, pid: int, identity: bytes) -> None:
        """The same node id said hello from a new process (or, with the same pid, one that stopped its
        users when it lost the master): it runs nothing yet."""
        if pid != self.pid:
            self.report_numbers = ReportNumbers()
        self.pid = pid
        self.identity = identity
        self.state = WorkerState.READY
        self.user_count = 0
        self.user_classes_count = {}

    def back(self, reported_state: Any) -> None:
        """A missing worker was heard from again; ``reported_state`` is its heartbeat's, if any."""
        self.state = _worker_state(reported_state, WorkerState.READY)
        if self.state in (WorkerState.READY, WorkerState.STOPPED):
            # it stopped its users when it lost us: it runs none of the ones it had
            self.user_count = 0
            self.user_classes_count = {}

    # The data below was checked against tswarm.protocol.payloads when its frame was decoded.

    def heartbeat(self, data: dict[str, Any]) -> None:
        """Read a heartbeat: state, users, CPU and memory."""
        self.last_heartbeat = time.monotonic()
        self.cpu = float(data.get("cpu", self.cpu))
        self.memory = data.get("memory", self.memory)
        self.user_count = data.get("user_count", self.user_count)
        self.state = _worker_state(data.get("state"), self.state)

    def spawning(self, data: dict[str, Any]) -> None:
        """It starts changing its users."""
        self.state = WorkerState.SPAWNING
        self.user_classes_count = dict(data["user_classes_count"])

    def spawning_complete(self, data: dict[str, Any]) -> None:
        """It reached the last target it was sent."""
        self.state = WorkerState.RUNNING
        self.user_classes_count = dict(data["user_classes_count"])
        self.user_count = data["user_count"]

    def reported(self, data: dict[str, Any], requests: int) -> None:
        """A stats report of ``requests`` requests was merged."""
        self.add_requests(requests)
        if data.get("seq", self.report_numbers.latest) < self.report_numbers.latest:
            return  # an old report sent again: its user counts are out of date
        self.user_count = data["user_count"]
        if "user_classes_count" in data:
            self.user_classes_count = dict(data["user_classes_count"])

    def stopped(self) -> None:
        """Its users stopped and its final stats arrived."""
        self.state = WorkerState.STOPPED
        self.user_count = 0
        self.user_classes_count = {}

    def cpu_warned(self, data: dict[str, Any]) -> None:
        """It says its CPU is too busy."""
        self.cpu_warning = True
        self.cpu = float(data["cpu"])

    def row(self) -> WorkerRow:
        return WorkerRow(
            node_id=self.node_id,
            host=self.host,
            index=self.index,
            state=self.state,
            user_count=self.user_count,
            cpu_percent=self.cpu,
            memory_bytes=self.memory,
            heartbeat_age=max(0.0, time.monotonic() - self.last_heartbeat),
            rps=self.rps,
        )


class WorkerNodes(Mapping[str, WorkerNode]):
    """The workers that said hello and have not quit, by node id (``MasterRunner.workers``).

    A worker keeps its index for the life of the master, also when it quits and comes back; the views
    (:attr:`all`, :attr:`live`, :attr:`ready`, :attr:`spawning`, :attr:`running`, :attr:`missing`, as
    in Locust's ``runner.clients``) are lists in index order.
    """

    def __init__(self) -> None:
        self._nodes: dict[str, WorkerNode] = {}
        self._indexes: dict[str, int] = {}
        #: the highest index in _indexes (-1: none), kept so that a new worker's is not a scan of all
        self._top_index = -1
        #: workers that said quit, oldest first (a dict as an ordered set)
        self._departed: dict[str, None] = {}
        #: workers that said hello during this master's life (a worker that came back counts once)
        self.joined = 0
        #: the times workers went missing, oldest first (at most MAX_OUTAGES)
        self.outages: list[WorkerOutage] = []
        self._open_outages: dict[str, WorkerOutage] = {}

    def __getitem__(self, node_id: str) -> WorkerNode:
        return self._nodes[node_id]

    def __iter__(self) -> Iterator[str]:
        return iter(self._nodes)

    def __len__(self) -> int:
        return len(self._nodes)

    def add(self, node_id: str, host: str, pid: int, cpu_count: int, identity: bytes) -> WorkerNode:
        """Register a worker that said hello (with the index it had, if it was here before)."""
        if node_id not in self._indexes:
            self.joined += 1
        # (fewer workers than the cap cannot hold as many missing ones: no need to look at each)
        if node_id not in self._nodes and len(self._nodes) >= MAX_MISSING_KEPT:
            missing = [n for n in self._nodes.values() if n.missing]
            if len(missing) >= MAX_MISSING_KEPT:
                missing.sort(key=lambda n: n.last_seen)
                for forgotten in missing[: len(missing) - MAX_MISSING_KEPT + 1]:
                    del self._nodes[forgotten.node_id]
                    del self._indexes[forgotten.node_id]
                self._top_index = max(self._indexes.values(), default=-1)
        # one past the highest index, not the count: forgotten workers leave gaps
        index = self._indexes.get(node_id)
        if index is None:
            index = self._indexes[node_id] = self._top_index + 1
            self._top_index = index
        self._departed.pop(node_id, None)
        node = WorkerNode(
            node_id=node_id, host=host, index=index, pid=pid, cpu_count=cpu_count, identity=identity
        )
        self._nodes[node_id] = node
        return node

    def remove(self, node_id: str) -> None:
        """The worker said quit: forget it, and remember that it left."""
        del self._nodes[node_id]
        self._departed[node_id] = None
        while len(self._departed) > MAX_DEPARTED:
            del self._departed[next(iter(self._departed))]

    def mark_missing(self, worker: WorkerNode, reason: str) -> None:
        """The master gave up on ``worker`` (its connection closed, or it stopped beating)."""
        worker.state = WorkerState.MISSING
        outage = WorkerOutage(worker.node_id, reason, time.time())
        self._open_outages[worker.node_id] = outage
        if len(self.outages) < MAX_OUTAGES:
            self.outages.append(outage)

    def mark_back(self, worker: WorkerNode) -> None:
        """A missing worker was heard from again (its state is set by :meth:`WorkerNode.back`)."""
        outage = self._open_outages.pop(worker.node_id, None)
        if outage is not None:
            outage.back_at = time.time()

    def departed(self, node_id: str) -> bool:
        """True for a worker that said quit and did not come back."""
        return node_id in self._departed

    def in_order(self) -> list[WorkerNode]:
        """All the workers, by index."""
        return sorted(self._nodes.values(), key=lambda w: w.index)

    @property
    def all(self) -> list[WorkerNode]:
        """All the workers, by index."""
        return self.in_order()

    @property
    def live(self) -> list[WorkerNode]:
        """The workers that are not missing, by index: those that get users."""
        return [w for w in self.in_order() if not w.missing]

    @property
    def ready(self) -> list[WorkerNode]:
        """The workers waiting for users (ready or stopped), by index."""
        return [w for w in self.in_order() if w.state in (WorkerState.READY, WorkerState.STOPPED)]

    @property
    def spawning(self) -> list[WorkerNode]:
        """The workers starting or stopping users, by index."""
        return [w for w in self.in_order() if w.state is WorkerState.SPAWNING]

    @property
    def running(self) -> list[WorkerNode]:
        """The workers that reached their share of the users, by index."""
        return [w for w in self.in_order() if w.state is WorkerState.RUNNING]

    @property
    def missing(self) -> list[WorkerNode]:
        """The workers not heard from for longer than the heartbeat timeout, by index."""
        return [w for w in self.in_order() if w.missing]

    @property
    def live_count(self) -> int:
        """How many workers are not missing."""
        # counted from a list of states (asked on every hello: a scan of thousands of properties
        # would cost more than the hello)
        states = [w.state for w in self._nodes.values()]
        return len(states) - states.count(WorkerState.MISSING)

    @property
    def user_count(self) -> int:
        """Users on the workers that are not missing, as they last reported."""
        return sum(w.user_count for w in self._nodes.values() if not w.missing)


def _worker_state(value: Any, default: WorkerState) -> WorkerState:
    # a worker reports a runner state; "missing" is the master's verdict, never the worker's
    try:
        state = WorkerState(value)
    except ValueError:
        return default
    return default if state is WorkerState.MISSING else state
