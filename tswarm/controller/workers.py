"""What the master knows about each worker: the registry entry behind ``MasterRunner.workers``."""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field

from tswarm.controller.snapshot import WorkerRow, WorkerState

#: seconds of stats reports a worker's requests/s is averaged over
RPS_WINDOW = 4.0


@dataclass
class WorkerNode:
    """One worker, as last heard from. Times are ``time.monotonic()`` unless said otherwise."""

    node_id: str
    host: str
    index: int
    pid: int = 0
    cpu_count: int = 1
    version: str = ""
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
    #: ZeroMQ identities of its main and heartbeat sockets
    identity: bytes = b""
    _reports: deque[tuple[float, int]] = field(default_factory=lambda: deque(maxlen=64), repr=False)

    @property
    def heartbeat_identity(self) -> bytes:
        return self.identity + b"#hb"

    @property
    def missing(self) -> bool:
        return self.state is WorkerState.MISSING

    def add_requests(self, count: int, now: float | None = None) -> None:
        """Note that a stats report of ``count`` requests arrived (for :attr:`rps`)."""
        self._reports.append((time.monotonic() if now is None else now, count))

    @property
    def rps(self) -> float:
        """Requests per second in this worker's reports over the last few seconds."""
        now = time.monotonic()
        recent = sum(n for t, n in self._reports if now - t <= RPS_WINDOW)
        return recent / RPS_WINDOW

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
