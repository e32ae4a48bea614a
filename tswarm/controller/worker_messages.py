"""What the master does with each message a worker sends: the handshake, liveness, reports and routing.

Messages come checked from the :class:`~tswarm.controller.link.MasterLink`; what a worker reports is
read into its :class:`~tswarm.controller.workers.WorkerNode`; what that means for the test (a worker is
back, went missing, reached its target ...) is told to the master through :class:`TestHooks`.
Plain asyncio; may import tswarm.protocol and the controller's link, workers, run_log and
custom_messages modules.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any, Protocol

from tswarm.controller.custom_messages import CustomMessages
from tswarm.controller.link import Incoming, MasterLink
from tswarm.controller.run_log import RunLog, printable
from tswarm.controller.workers import WorkerNode, WorkerNodes
from tswarm.protocol import (
    CUSTOM_TYPE,
    MASTER_NODE_ID,
    MAX_FRAME_BYTES,
    PROTOCOL_VERSION,
    RESERVED_TYPES,
    Message,
    encode,
    open_custom,
    split_identity,
)

__all__ = ["TestHooks", "WorkerMessages"]

log = logging.getLogger("tswarm.master")

#: the only messages a worker's heartbeat socket may send
_HEARTBEAT_SOCKET_TYPES = ("heartbeat", "cpu_warning")


class TestHooks(Protocol):
    """What the test (the master) hears about its workers."""

    def test_is_active(self) -> bool:
        """True while users are being spawned or run."""
        ...

    def worker_joined(self, node_id: str) -> None:
        """A worker said hello for the first time, or from a new process: it runs nothing of ours."""
        ...

    def worker_back(self, worker: WorkerNode) -> None:
        """A missing worker was heard from again."""
        ...

    def worker_spawned(self) -> None:
        """A worker reached the target it was sent."""
        ...

    def worker_stopped(self, node_id: str) -> None:
        """A worker stopped its users and sent its final stats."""
        ...

    def worker_gone(self, node_id: str) -> None:
        """A worker quit or went missing: it runs no users of the test any more."""
        ...

    def last_worker_quit(self) -> None:
        """The last worker of a running test quit (none is left, missing ones aside): the test ends."""
        ...


class WorkerMessages:
    """The master's handling of the workers' messages, and its heartbeats to them.

    Args:
        environment: the master's environment (events fired, stats merged into).
        workers: the registry of workers.
        link: the socket messages come from and answers go to.
        run_log: where the workers' log lines go.
        custom: the test file's own message types.
        hooks: the test, told what the workers' messages mean for it.
        loop: the master's loop, for custom handlers that run in its executor (None: not running).
        master_id: this master process's id, sent in ``ack`` and heartbeats.
        heartbeat_interval / heartbeat_timeout: sent in ``ack``; a worker silent longer than the
            timeout is marked missing.
        testfiles: ``(name, content)`` pairs sent to workers that ask for the test file.
    """

    def __init__(
        self,
        *,
        environment: Any,
        workers: WorkerNodes,
        link: MasterLink,
        run_log: RunLog,
        custom: CustomMessages,
        hooks: TestHooks,
        loop: Callable[[], asyncio.AbstractEventLoop | None],
        master_id: str,
        heartbeat_interval: float,
        heartbeat_timeout: float,
        testfiles: list[tuple[str, bytes]],
    ) -> None:
        self.environment = environment
        self.workers = workers
        self.link = link
        self.run_log = run_log
        self.custom = custom
        self.hooks = hooks
        self.loop = loop
        self.master_id = master_id
        self.heartbeat_interval = heartbeat_interval
        self.heartbeat_timeout = heartbeat_timeout
        self.testfiles = testfiles
        #: stats reports dropped because their delta was malformed
        self.malformed_reports = 0
        #: stats reports a worker sent again that had been merged already (dropped)
        self.reports_sent_again = 0
        link.on_disconnect = self.connection_closed
        # a close waits for the messages its connection sent before it to be read, at most as long as a
        # silent worker is waited for: a master whose socket stays full that long is that far behind
        # its workers anyway, and a dead worker is then known no later than its silence would tell
        link.close_wait_limit = heartbeat_timeout

    def on_message(self, incoming: Incoming) -> None:
        """Route one checked message to its handler (a worker must say hello first)."""
        msg, node_id, peer = incoming.msg, incoming.node_id, incoming.peer
        if msg.type == "testfile_request":
            # a `-f -` worker fetches the test file before it can say hello (it has no classes yet)
            files = [{"name": name, "content": content} for name, content in self.testfiles]
            self.link.send(incoming.identity, "testfile", {"files": files})
            return
        if msg.type == "hello":
            if incoming.heartbeat_socket:
                self.link.bad_frame(peer, "hello from a heartbeat socket")
            else:
                self._on_hello(incoming.identity, node_id, msg.data)
            return
        worker = self.workers.get(node_id)
        if worker is None:
            if not self.workers.departed(node_id):
                self.link.bad_frame(peer, f"a {msg.type!r} message before hello")
                self.link.ask_to_reconnect(node_id)
            return
        if incoming.heartbeat_socket and msg.type not in _HEARTBEAT_SOCKET_TYPES:
            self.link.bad_frame(peer, f"a {msg.type!r} message on the heartbeat socket")
            return
        self._alive(worker, msg)
        if msg.type == CUSTOM_TYPE:
            # the test file's own message: whatever its name, only the test file's handlers see it
            self.custom.route(open_custom(msg), self.environment, self.loop())
            return
        handler = self._handlers.get(msg.type)
        if handler is not None:
            handler(self, worker, msg.data)
        elif msg.type in RESERVED_TYPES:
            self.link.bad_frame(peer, f"a {msg.type!r} message, which only the master sends")
        else:
            self.link.bad_frame(peer, f"a message of unknown type {msg.type!r}")

    def heartbeat_tick(self) -> None:
        """Send every worker a heartbeat, and mark missing those silent for longer than the timeout."""
        now = time.monotonic()
        timestamp = time.time()
        fire = self.environment.events.heartbeat_sent.fire
        for worker in list(self.workers.values()):
            # its own frame: the number up to which its stats reports were merged is its own
            frame = encode(
                "heartbeat",
                {
                    "timestamp": timestamp,
                    "master_id": self.master_id,
                    "stats_acked": worker.report_numbers.acked,
                },
                MASTER_NODE_ID,
            )
            self.link.send_frame(worker.heartbeat_identity, frame)
            fire(client_id=worker.node_id, timestamp=timestamp)
            if not worker.missing and now - worker.last_seen > self.heartbeat_timeout:
                self._mark_missing(worker, "no heartbeat", f"nothing heard for {now - worker.last_seen:.0f}s")
        self.link.log_summaries()

    def connection_closed(self, identity: bytes) -> None:
        """ZeroMQ closed the connection of the peer ``identity`` (and the messages it sent before were
        handled): a worker whose process ended (or whose frame was over the size cap) is missing at once,
        not after the heartbeat timeout.

        Only the main connection tells: the heartbeat socket's close says nothing more (a worker's
        process ends both, and the kernel's keepalives close both of a lost host: tswarm.liveness), but
        its own connection does not carry the worker's last messages: a worker that sent ``quit`` and
        closed both could be taken for a dead one before its ``quit`` is read.
        """
        node_id, heartbeat_socket = split_identity(identity.decode("utf-8", "backslashreplace"))
        if heartbeat_socket:
            return
        worker = self.workers.get(node_id)
        if worker is None or worker.missing:
            return
        self._mark_missing(
            worker,
            "connection closed",
            f"its connection closed (the process ended, the network broke, or it sent a frame over "
            f"{MAX_FRAME_BYTES} bytes, which ZeroMQ drops)",
        )

    def _mark_missing(self, worker: WorkerNode, reason: str, detail: str) -> None:
        self.workers.mark_missing(worker, reason)
        self.hooks.worker_gone(worker.node_id)
        log.warning(
            "Worker %s is missing: %s; %s",
            worker.node_id,
            detail,
            "its users go to the other workers" if self.hooks.test_is_active() else "it gets no users",
        )

    def send_to(self, worker: WorkerNode, msg_type: str, data: Any = None) -> None:
        """One message to a worker's main socket."""
        self.link.send(worker.identity, msg_type, {} if data is None else data)

    # -- the handshake and liveness ------------------------------------------------------------------

    def _alive(self, worker: WorkerNode, msg: Message) -> None:
        worker.last_seen = time.monotonic()
        if worker.missing:
            state = msg.data.get("state") if msg.type == "heartbeat" and isinstance(msg.data, dict) else None
            worker.back(state)
            self.workers.mark_back(worker)
            log.info("Worker %s is back (was missing)", worker.node_id)
            self.hooks.worker_back(worker)

    def _on_hello(self, identity: bytes, node_id: str, data: dict[str, Any]) -> None:
        if data["protocol"] != PROTOCOL_VERSION:
            reason = f"protocol version mismatch: master speaks {PROTOCOL_VERSION}, worker speaks {data['protocol']}"
            self.link.refuse(identity, node_id, printable(str(data.get("version", "?"))), reason)
            return
        worker = self.workers.get(node_id)
        pid = data.get("pid", 0)
        if worker is not None and worker.pid != pid:
            # the same node id from a new process (once its old connection closed): it runs nothing yet
            log.info("Worker %s restarted (pid %s -> %s)", node_id, worker.pid, pid)
            worker.restarted(pid, identity)
            self.hooks.worker_joined(node_id)
            self.environment.events.worker_connect.fire(client_id=node_id)
        elif worker is None:
            worker = self.workers.add(
                node_id, printable(str(data["host"])), pid, int(data.get("cpu_count") or 1), identity
            )
            self.hooks.worker_joined(node_id)
            if log.isEnabledFor(logging.INFO):
                log.info(
                    "Worker %s (index %d, %s) connected; %d ready",
                    node_id,
                    worker.index,
                    worker.host,
                    self.workers.live_count,
                )
            self.environment.events.worker_connect.fire(client_id=node_id)
        else:
            worker.last_seen = time.monotonic()
            if worker.missing:
                self._alive(worker, Message("hello", data, node_id))
            elif self.hooks.test_is_active():
                # a worker that was acknowledged says hello again when it stopped its users because it
                # stopped hearing from us: it runs nothing now, and gets its share again
                log.info("Worker %s joined again (it had lost the master)", node_id)
                worker.restarted(pid, worker.identity)
                self.hooks.worker_joined(node_id)
        worker.last_heartbeat = time.monotonic()
        self.send_to(
            worker,
            "ack",
            {
                "index": worker.index,
                "protocol": PROTOCOL_VERSION,
                "heartbeat_interval": self.heartbeat_interval,
                "heartbeat_timeout": self.heartbeat_timeout,
                "worker_count": self.workers.live_count,
                "master_id": self.master_id,
            },
        )

    # -- one handler per type, in _handlers below ----------------------------------------------------

    def _on_heartbeat(self, worker: WorkerNode, data: dict[str, Any]) -> None:
        worker.heartbeat(data)
        self.environment.events.heartbeat_received.fire(client_id=worker.node_id, timestamp=data["timestamp"])

    def _on_spawning(self, worker: WorkerNode, data: dict[str, Any]) -> None:
        worker.spawning(data)

    def _on_spawning_complete(self, worker: WorkerNode, data: dict[str, Any]) -> None:
        worker.spawning_complete(data)
        self.hooks.worker_spawned()

    def _on_stats(self, worker: WorkerNode, data: dict[str, Any]) -> None:
        number = data.get("seq")
        if number is not None and not worker.report_numbers.accept(number, data.get("kept_from", number)):
            self.reports_sent_again += 1  # merged when it first came
            return
        stats = self.environment.stats
        before = stats.total.num_requests
        try:
            stats.merge_delta(data["stats"], worker.node_id)
        except ValueError as e:
            self.malformed_reports += 1
            self.link.bad_frame(worker.node_id, f"a stats report that cannot be merged ({e})")
            return
        worker.reported(data, stats.total.num_requests - before)
        self.environment.events.worker_report.fire(client_id=worker.node_id, data=data)

    def _on_stopped(self, worker: WorkerNode, data: dict[str, Any]) -> None:
        worker.stopped()
        self.hooks.worker_stopped(worker.node_id)

    def _on_quit(self, worker: WorkerNode, data: dict[str, Any]) -> None:
        log.info("Worker %s quit", worker.node_id)
        self.workers.remove(worker.node_id)
        self.hooks.worker_gone(worker.node_id)
        if self.hooks.test_is_active() and not self.workers.live_count:
            # as Locust's master does: a test nobody runs any more is over (a headless run ends)
            log.info("The last worker quit, stopping the test")
            self.hooks.last_worker_quit()

    def _on_logs(self, worker: WorkerNode, data: dict[str, Any]) -> None:
        self.run_log.add_worker_lines(worker.node_id, data["lines"])

    def _on_cpu_warning(self, worker: WorkerNode, data: dict[str, Any]) -> None:
        worker.cpu_warned(data)
        log.warning(
            "Worker %s is using %.0f%% CPU: its request rate is capped and its response times are getting "
            "less reliable; add workers or make the users lighter",
            worker.node_id,
            worker.cpu,
        )

    _handlers: dict[str, Callable[[WorkerMessages, WorkerNode, Any], None]] = {
        "heartbeat": _on_heartbeat,
        "spawning": _on_spawning,
        "spawning_complete": _on_spawning_complete,
        "stats": _on_stats,
        "stopped": _on_stopped,
        "quit": _on_quit,
        "logs": _on_logs,
        "cpu_warning": _on_cpu_warning,
    }
