"""The master: drives the workers over ZeroMQ (docs/protocol.md), merges their stats, runs the test.

It runs on asyncio (``zmq.asyncio``) and is never monkey-patched. Two ways to run it:

* headless, as the main loop: ``exit_code = asyncio.run(runner.run_headless(users, rate, ...))``;
* behind the TUI: ``runner.start_in_thread()`` runs the loop in a thread, and the TUI uses the
  :class:`~tswarm.controller.api.RunController` methods (``snapshot``, ``start``, ``stop`` ...), which
  are safe to call from any thread.

Everything that touches the runner's state happens on its loop; calls from other threads are queued
into it with ``loop.call_soon_threadsafe``.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import threading
import time
import uuid
from argparse import Namespace
from collections import deque
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from tswarm.controller.outputs import entry_rows, exception_rows, failure_rows, history_points
from tswarm.controller.snapshot import (
    LogLine,
    RunSnapshot,
    RunState,
    WorkerState,
)
from tswarm.controller.workers import WorkerNode
from tswarm.dispatch import assign, class_counts, step_towards, worker_order
from tswarm.protocol import (
    MAX_FRAME_BYTES,
    PROTOCOL_VERSION,
    RESERVED_TYPES,
    Message,
    ProtocolError,
    decode,
    encode,
)
from tswarm.stats import StatsHistory

if TYPE_CHECKING:
    from tswarm.env import Environment

__all__ = ["MasterRunner", "WorkerNode"]

log = logging.getLogger("tswarm.master")
#: log lines forwarded by the workers are logged here, prefixed with the worker's node id
worker_log = logging.getLogger("tswarm.worker")

#: how often the per-worker targets move towards the goal while a test runs
DISPATCH_TICK = 0.2
#: how often the snapshot (and the history of the charts) is rebuilt
SNAPSHOT_INTERVAL = 1.0
#: after ``stop``, how long beyond the stop timeout the master waits for every worker's ``stopped``
STOP_MARGIN = 5.0
#: after ``quit``, how long the master waits for the workers to say ``quit``
QUIT_WAIT = 3.0
#: how often run_headless logs that it is still waiting for workers
WAITING_LOG_INTERVAL = 5.0
#: worker log lines kept for the TUI
LOG_LINES_KEPT = 500
#: peers whose bad frames are counted one by one (beyond that, only the total grows)
MAX_TRACKED_PEERS = 10_000
#: the master's name in the log lines of the snapshot
MASTER_SOURCE = "master"

_ACTIVE = (RunState.SPAWNING, RunState.RUNNING)


class MasterRunner:
    """Holds the test and drives its workers; the ``environment.runner`` of a master process.

    Args:
        environment: the test's Environment (user classes, events, stats, options).
        master_bind_host: interface to bind ("*" = all).
        master_bind_port: TCP port to bind (0 = a free one; see :attr:`bind_port`).
        heartbeat_interval: seconds between heartbeats to each worker (also sent to workers in ``ack``).
        heartbeat_timeout: a worker silent this long is marked missing and its users go to the others.
        testfiles: ``(name, content)`` pairs sent to workers that ask for the test file (``-f -``).
        percentiles: the percentiles of the snapshot's tables.
        outputs_writer: writes the --csv/--json files and returns their paths (``write_outputs``).

    The socket is bound here, so that a port in use fails at once.
    """

    def __init__(
        self,
        environment: Environment,
        master_bind_host: str = "*",
        master_bind_port: int = 5557,
        *,
        heartbeat_interval: float = 1.0,
        heartbeat_timeout: float = 60.0,
        testfiles: Iterable[tuple[str, bytes]] = (),
        percentiles: Iterable[float] = (0.5, 0.9, 0.95, 0.99),
        outputs_writer: Callable[[], list[str]] | None = None,
    ) -> None:
        import zmq

        self.environment = environment
        if environment.runner is None:
            environment.runner = self
        # the master only merges: keeping a delta of what it merged would be wasted work
        environment.stats.track_deltas = False
        self.master_bind_host = master_bind_host
        self.heartbeat_interval = float(heartbeat_interval)
        self.heartbeat_timeout = float(heartbeat_timeout)
        self.testfiles = [(str(name), bytes(content)) for name, content in testfiles]
        self.percentiles = tuple(percentiles)
        self.outputs_writer = outputs_writer
        #: new with every master process: a worker that sees another one knows its master restarted
        self.master_id = uuid.uuid4().hex
        self._reconnect_asked: dict[str, float] = {}

        self.state: RunState = RunState.READY
        self.workers: dict[str, WorkerNode] = {}
        self.custom_messages: dict[str, tuple[Callable[..., Any], bool]] = {}
        #: frames dropped because they were not valid messages (any peer), for tests and diagnostics
        self.protocol_errors = 0
        #: stats reports dropped because their delta was malformed
        self.malformed_reports = 0
        self.target_user_count = 0
        self.spawn_rate = 1.0
        self.started_at: float | None = None
        self.run_time: float | None = None
        self.history = StatsHistory()
        self.logs: deque[LogLine] = deque(maxlen=LOG_LINES_KEPT)
        self._log_collector = _LogCollector(self.logs)

        self._indexes: dict[str, int] = {}
        self._departed: dict[str, None] = {}
        self._peer_errors: dict[str, int] = {}
        self._unknown_types_logged: set[str] = set()
        self._refused_logged: set[str] = set()
        self._class_counts: dict[str, int] = {}
        self._targets: dict[str, dict[str, int]] = {}
        self._resend: set[str] = set()
        self._budget = 0.0
        self._test_id = ""
        self._spawning_complete_fired = True
        self._awaiting_stopped: set[str] = set()
        self._told_to_quit: set[str] = set()
        self._stop_task: asyncio.Task[None] | None = None
        self._quit_task: asyncio.Task[None] | None = None
        self._run_timer: asyncio.TimerHandle | None = None
        self._shape_task: asyncio.Task[None] | None = None
        self._pending_start: tuple[Any, ...] | None = None
        self._test_started_once = False

        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread_id: int | None = None
        self._pending_calls: list[tuple[Callable[..., Any], tuple[Any, ...]]] = []
        self._tasks: list[asyncio.Task[Any]] = []
        self._stop_requested: asyncio.Event | None = None
        self._finished: asyncio.Event | None = None
        self._thread: threading.Thread | None = None
        self._closed = False

        self._context = zmq.Context()
        self._sync_socket = self._context.socket(zmq.ROUTER)
        self._sync_socket.setsockopt(zmq.LINGER, 0)
        self._sync_socket.setsockopt(zmq.MAXMSGSIZE, MAX_FRAME_BYTES)
        self._sync_socket.setsockopt(zmq.ROUTER_HANDOVER, 1)
        address = f"tcp://{_bracket(master_bind_host)}"
        try:
            if master_bind_port == 0:
                self.bind_port = self._sync_socket.bind_to_random_port(address)
            else:
                self._sync_socket.bind(f"{address}:{master_bind_port}")
                self.bind_port = int(master_bind_port)
        except zmq.ZMQError as e:
            self._sync_socket.close(linger=0)
            self._context.term()
            raise OSError(f"cannot bind the master to {address}:{master_bind_port}: {e}") from None
        self.master_bind_port = self.bind_port
        self._socket: Any = None
        self._snapshot = self._build_snapshot()

    # -- the Locust-facing API -----------------------------------------------------------------------

    @property
    def stats(self) -> Any:
        return self.environment.stats

    @property
    def user_count(self) -> int:
        """Users running on all the workers that are not missing, as they last reported."""
        return sum(w.user_count for w in self.workers.values() if not w.missing)

    @property
    def worker_count(self) -> int:
        """Workers connected and not missing."""
        return sum(1 for w in self.workers.values() if not w.missing)

    @property
    def clients(self) -> dict[str, WorkerNode]:
        """Locust's name for :attr:`workers`."""
        return self.workers

    def register_message(self, msg_type: str, handler: Callable[..., Any], concurrent: bool = False) -> None:
        """Call ``handler(environment=..., msg=...)`` for each message of ``msg_type`` from a worker.

        Handlers run on the master's event loop, so they must be quick. With ``concurrent=True`` each
        call runs in a thread of the loop's default executor instead, so a slow handler does not hold up
        the messages behind it (it may call ``send_message``, which is thread-safe).

        Raises:
            ValueError: ``msg_type`` is one of tswarm's own message types.
        """
        if msg_type in RESERVED_TYPES:
            raise ValueError(f"{msg_type!r} is a message type of tswarm itself; choose another name")
        self.custom_messages[msg_type] = (handler, concurrent)

    def send_message(self, msg_type: str, data: Any = None, client_id: str | None = None) -> None:
        """Send a custom message to every worker that is not missing, or to the one named ``client_id``.

        Safe to call from any thread, and before the runner's loop runs (sent once it does).
        """
        self._call(self._send_custom, msg_type, data, client_id)

    def start(
        self,
        user_count: int,
        spawn_rate: float,
        host: str | None = None,
        run_time: float | None = None,
        user_classes: list[type] | None = None,
    ) -> None:
        """Start a test with ``user_count`` users at ``spawn_rate`` users/s, or change the running one.

        ``host`` overrides the users' host; ``run_time`` (seconds) stops the test that long after it
        started. Thread-safe; the change happens on the runner's loop.
        """
        if user_count < 0:
            raise ValueError("user_count must be >= 0")
        if spawn_rate <= 0:
            raise ValueError("spawn_rate must be > 0")
        self._call(self._start, int(user_count), float(spawn_rate), host, run_time, user_classes)

    def stop(self) -> None:
        """Stop the test: the workers stop their users and flush their stats. The numbers stay."""
        self._call(self._begin_stop)

    def quit(self) -> None:
        """Stop the test, tell the workers to quit, and end the run (``run_headless``/``serve`` return)."""
        self._call(self._begin_quit)

    def request_stop(self) -> None:
        """End the run as soon as possible (for SIGINT/SIGTERM handlers): same as :meth:`quit`."""
        self.quit()

    def reset_stats(self) -> None:
        """Zero the stats here and tell the workers to drop what they have not reported yet."""
        self._call(self._reset_stats)

    # -- RunController (the TUI) ------------------------------------------------------------------------

    def snapshot(self) -> RunSnapshot:
        """The newest picture of the run, rebuilt on the loop about once a second."""
        return self._snapshot

    def write_outputs(self) -> list[str]:
        """Write the --csv/--json files now (with the ``outputs_writer`` given); returns their paths."""
        if self.outputs_writer is None:
            return []
        if self._loop is None or self._in_loop() or not self._loop.is_running():
            return list(self.outputs_writer())

        async def write() -> list[str]:
            assert self.outputs_writer is not None
            return list(self.outputs_writer())

        return asyncio.run_coroutine_threadsafe(write(), self._loop).result(timeout=60)

    def start_in_thread(self, timeout: float = 10.0, reporter: Any = None) -> None:
        """Run the runner's loop in a daemon thread (for the TUI); returns once it serves.

        ``reporter.periodic()`` is called about once a second on that loop while a test runs.
        """
        ready = threading.Event()

        def main() -> None:
            asyncio.run(self.serve(ready, reporter))

        self._thread = threading.Thread(target=main, name="tswarm-master", daemon=True)
        self._thread.start()
        if not ready.wait(timeout):
            raise RuntimeError("the master's loop did not start")

    def shutdown(self, wait: bool = True) -> None:
        """Stop the test, tell the workers to quit and end the loop; with ``wait``, join its thread."""
        self.quit()
        thread = self._thread
        if wait and thread is not None and thread is not threading.current_thread():
            thread.join(timeout=(self.environment.stop_timeout or 0) + STOP_MARGIN + QUIT_WAIT + 5)

    # -- running ----------------------------------------------------------------------------------------

    async def serve(self, ready: threading.Event | None = None, reporter: Any = None) -> None:
        """Serve the workers until :meth:`quit`/:meth:`shutdown`; then the socket is closed."""
        self._attach()
        if ready is not None:
            ready.set()
        assert self._finished is not None
        reporting = asyncio.create_task(self._report_loop(reporter)) if reporter is not None else None
        try:
            await self._finished.wait()
        finally:
            if reporting is not None:
                reporting.cancel()
            await self._detach()

    async def _report_loop(self, reporter: Any) -> None:
        while True:
            await asyncio.sleep(1.0)
            if self.state in _ACTIVE:
                _safely(reporter.periodic)

    async def run_headless(
        self,
        user_count: int,
        spawn_rate: float,
        *,
        run_time: float | None = None,
        expect_workers: int = 1,
        expect_workers_max_wait: float = 0.0,
        reporter: Any = None,
    ) -> int:
        """Wait for the workers, run one test, stop it and tell the workers to quit.

        The test ends after ``run_time`` seconds, when the environment's shape says so, or on
        :meth:`stop`/:meth:`quit`/:meth:`request_stop`. ``reporter.periodic()`` is called every second
        and ``reporter.final()`` once the test stopped (before the workers are told to quit).

        Returns:
            0 after a run (the caller computes error exit codes from the stats), or 1 when
            ``expect_workers`` did not connect within ``expect_workers_max_wait`` seconds (0 = no limit).
        """
        self._attach()
        assert self._stop_requested is not None and self._finished is not None
        try:
            waited_since = time.monotonic()
            last_notice = float("-inf")
            while self.worker_count < expect_workers:
                if self._stop_requested.is_set() or self._finished.is_set():
                    return 0
                waited = time.monotonic() - waited_since
                if expect_workers_max_wait and waited >= expect_workers_max_wait:
                    message = (
                        f"Gave up waiting for workers: {self.worker_count} of {expect_workers} connected "
                        f"after {expect_workers_max_wait:g}s"
                    )
                    log.error(message)
                    self._note("ERROR", message)
                    return 1
                if waited - last_notice >= WAITING_LOG_INTERVAL:
                    last_notice = waited
                    log.info(
                        "Waiting for workers to be ready, %d of %d connected",
                        self.worker_count,
                        expect_workers,
                    )
                await asyncio.sleep(0.05)
            if self.environment.shape_class is not None:
                self._start_shape()
            else:
                self._start(int(user_count), float(spawn_rate), None, run_time, None)
            next_report = time.monotonic() + 1.0
            while not self._stop_requested.is_set() and self.state not in (
                RunState.STOPPING,
                RunState.STOPPED,
            ):
                await _wait_event(self._stop_requested, max(0.0, next_report - time.monotonic()))
                if time.monotonic() >= next_report:
                    next_report += 1.0
                    if reporter is not None:
                        _safely(reporter.periodic)
            self._begin_stop()
            if self._stop_task is not None:
                await asyncio.shield(self._stop_task)
            self._refresh_snapshot()
            if reporter is not None:
                _safely(reporter.final)
            return 0
        finally:
            await self._quit_workers()
            await self._detach()

    def close(self) -> None:
        """Close the socket (when the loop is not running; the run methods close it themselves)."""
        if self._closed:
            return
        self._closed = True
        # close through the owning socket: closing only the asyncio shadow would leave the owner to
        # close the same handle again when it is collected, by then maybe another socket's
        try:
            self._sync_socket.close(linger=0)
        finally:
            self._context.term()

    # -- the loop ---------------------------------------------------------------------------------------

    def _attach(self) -> None:
        import zmq.asyncio

        if self._closed:
            raise RuntimeError("this MasterRunner is closed")
        logging.getLogger().addHandler(self._log_collector)
        self._loop = asyncio.get_running_loop()
        self._loop_thread_id = threading.get_ident()
        self._stop_requested = asyncio.Event()
        self._finished = asyncio.Event()
        self._socket = zmq.asyncio.Socket.from_socket(self._sync_socket)
        self._tasks = [
            asyncio.create_task(self._receive_loop(), name="tswarm-master-receive"),
            asyncio.create_task(self._heartbeat_loop(), name="tswarm-master-heartbeat"),
            asyncio.create_task(self._dispatch_loop(), name="tswarm-master-dispatch"),
            asyncio.create_task(self._snapshot_loop(), name="tswarm-master-snapshot"),
        ]
        pending, self._pending_calls = self._pending_calls, []
        for fn, args in pending:
            fn(*args)

    async def _detach(self) -> None:
        for task in [*self._tasks, self._shape_task, self._stop_task, self._quit_task]:
            if task is not None and not task.done() and task is not asyncio.current_task():
                task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        if self._run_timer is not None:
            self._run_timer.cancel()
        self._refresh_snapshot()
        self._loop = None
        logging.getLogger().removeHandler(self._log_collector)
        self.close()

    def _in_loop(self) -> bool:
        return self._loop_thread_id == threading.get_ident()

    def _call(self, fn: Callable[..., Any], *args: Any) -> None:
        loop = self._loop
        if loop is None:
            self._pending_calls.append((fn, args))
        elif self._in_loop():
            fn(*args)
        else:
            loop.call_soon_threadsafe(fn, *args)

    async def _receive_loop(self) -> None:
        import zmq

        socket = self._socket
        while True:
            try:
                frames = await socket.recv_multipart()
            except zmq.ZMQError as e:
                if e.errno == zmq.ETERM or self._closed:
                    return
                log.warning("Receiving failed: %s", e)
                continue
            try:
                self._on_frames(frames)
            except Exception:
                log.exception("Failed to handle a message from %r", frames[0] if frames else None)

    async def _heartbeat_loop(self) -> None:
        while True:
            await asyncio.sleep(self.heartbeat_interval)
            self._heartbeat_tick()

    async def _dispatch_loop(self) -> None:
        last = time.monotonic()
        while True:
            await asyncio.sleep(DISPATCH_TICK)
            now = time.monotonic()
            self._dispatch_tick(now - last)
            last = now

    async def _snapshot_loop(self) -> None:
        while True:
            await asyncio.sleep(SNAPSHOT_INTERVAL)
            if self.state in _ACTIVE:
                self.history.record(self.environment.stats, self.user_count)
            self._refresh_snapshot()

    # -- sending -----------------------------------------------------------------------------------------

    def _send(self, identity: bytes, msg_type: str, data: Any) -> None:
        if self._socket is None:
            return
        future = self._socket.send_multipart([identity, encode(msg_type, data, MASTER_SOURCE)])
        if hasattr(future, "add_done_callback"):
            future.add_done_callback(_consume_exception)

    def _send_to(self, worker: WorkerNode, msg_type: str, data: Any = None) -> None:
        self._send(worker.identity, msg_type, {} if data is None else data)

    def _broadcast(self, msg_type: str, data: Any = None) -> list[WorkerNode]:
        live = [w for w in self.workers.values() if not w.missing]
        for worker in live:
            self._send_to(worker, msg_type, data)
        return live

    def _send_custom(self, msg_type: str, data: Any, client_id: str | None) -> None:
        if client_id is None:
            self._broadcast(msg_type, data)
            return
        worker = self.workers.get(client_id)
        if worker is None:
            log.warning("Cannot send a %r message to %s: no such worker", msg_type, client_id)
            return
        self._send_to(worker, msg_type, data)

    # -- receiving ---------------------------------------------------------------------------------------

    def _on_frames(self, frames: list[bytes]) -> None:
        identity = frames[0]
        peer = identity.decode("utf-8", "backslashreplace")
        if len(frames) != 2:
            self._bad_frame(peer, f"{len(frames) - 1} frames instead of 1")
            return
        try:
            msg = decode(frames[1])
        except ProtocolError as e:
            self._bad_frame(peer, str(e))
            return
        heartbeat_socket = peer.endswith("#hb")
        node_id = peer[:-3] if heartbeat_socket else peer
        if msg.type == "testfile_request":
            # a `-f -` worker fetches the test file before it can say hello (it has no classes yet)
            files = [{"name": name, "content": content} for name, content in self.testfiles]
            self._send(identity, "testfile", {"files": files})
            return
        if msg.type == "hello":
            if heartbeat_socket:
                self._bad_frame(peer, "hello from a heartbeat socket")
            else:
                self._on_hello(identity, node_id, msg.data)
            return
        worker = self.workers.get(node_id)
        if worker is None:
            if node_id not in self._departed:
                self._bad_frame(peer, f"a {msg.type!r} message before hello")
                self._ask_to_reconnect(node_id)
            return
        if heartbeat_socket and msg.type not in ("heartbeat", "cpu_warning"):
            self._bad_frame(peer, f"a {msg.type!r} message on the heartbeat socket")
            return
        self._alive(worker, msg)
        handler = self._handlers.get(msg.type)
        if handler is not None:
            handler(self, worker, msg.data)
        elif msg.type in RESERVED_TYPES:
            self._bad_frame(peer, f"a {msg.type!r} message, which only the master sends")
        else:
            self._on_custom(worker, msg)

    def _ask_to_reconnect(self, node_id: str) -> None:
        """A worker of a previous master process (or one we forgot) talks to us: ask it to say hello.

        At most once a second per node; ZeroMQ drops the message if no such peer is connected.
        """
        now = time.monotonic()
        if now - self._reconnect_asked.get(node_id, float("-inf")) < 1.0:
            return
        if len(self._reconnect_asked) >= MAX_TRACKED_PEERS:
            self._reconnect_asked.clear()
        self._reconnect_asked[node_id] = now
        self._send(node_id.encode(), "reconnect", {})

    def _bad_frame(self, peer: str, reason: str) -> None:
        self.protocol_errors += 1
        count = self._peer_errors.get(peer)
        if count is None:
            if len(self._peer_errors) >= MAX_TRACKED_PEERS:
                return
            self._peer_errors[peer] = 1
            log.warning(
                "Dropped a frame from %s: %s (further bad frames from this peer are only counted)",
                peer,
                reason,
            )
        else:
            self._peer_errors[peer] = count + 1

    def _alive(self, worker: WorkerNode, msg: Message) -> None:
        worker.last_seen = time.monotonic()
        if worker.missing:
            state = msg.data.get("state") if msg.type == "heartbeat" and isinstance(msg.data, dict) else None
            worker.state = _worker_state(state, WorkerState.READY)
            self._note("INFO", f"Worker {worker.node_id} is back (was missing)")
            if self.state in _ACTIVE:
                # it probably still runs the users it had: start from them, and correct it at once
                self._targets[worker.node_id] = dict(worker.user_classes_count)
                self._resend.add(worker.node_id)
            elif worker.user_count:
                self._send_to(worker, "stop")

    def _on_hello(self, identity: bytes, node_id: str, data: dict[str, Any]) -> None:
        if data["protocol"] != PROTOCOL_VERSION:
            reason = f"protocol version mismatch: master speaks {PROTOCOL_VERSION}, worker speaks {data['protocol']}"
            if node_id not in self._refused_logged and len(self._refused_logged) < MAX_TRACKED_PEERS:
                self._refused_logged.add(node_id)
                log.error("Refused worker %s (tswarm %s): %s", node_id, data.get("version", "?"), reason)
            self._send(identity, "refuse", {"reason": reason})
            return
        worker = self.workers.get(node_id)
        pid = data.get("pid", 0)
        if worker is not None and worker.pid != pid:
            # the same node id from a new process (ROUTER_HANDOVER let it in): it runs nothing yet
            self._note("INFO", f"Worker {node_id} restarted (pid {worker.pid} -> {pid})")
            worker.pid = pid
            worker.state = WorkerState.READY
            worker.user_count = 0
            worker.user_classes_count = {}
            self._targets.pop(node_id, None)
            worker.identity = identity
            self.environment.events.worker_connect.fire(client_id=node_id)
        elif worker is None:
            index = self._indexes.get(node_id)
            if index is None:
                index = self._indexes[node_id] = len(self._indexes)
            self._departed.pop(node_id, None)
            self._told_to_quit.discard(node_id)
            worker = WorkerNode(
                node_id=node_id,
                host=str(data["host"]),
                index=index,
                pid=pid,
                cpu_count=int(data.get("cpu_count") or 1),
                version=str(data["version"]),
                identity=identity,
            )
            self.workers[node_id] = worker
            self._note(
                "INFO",
                f"Worker {node_id} (index {index}, {worker.host}) connected; {self.worker_count} ready",
            )
            self.environment.events.worker_connect.fire(client_id=node_id)
        else:
            worker.last_seen = time.monotonic()
            if worker.missing:
                self._alive(worker, Message("hello", data, node_id))
        worker.last_heartbeat = time.monotonic()
        self._send_to(
            worker,
            "ack",
            {
                "index": worker.index,
                "protocol": PROTOCOL_VERSION,
                "heartbeat_interval": self.heartbeat_interval,
                "heartbeat_timeout": self.heartbeat_timeout,
                "worker_count": self.worker_count,
                "master_id": self.master_id,
            },
        )

    def _on_heartbeat(self, worker: WorkerNode, data: dict[str, Any]) -> None:
        worker.last_heartbeat = time.monotonic()
        worker.cpu = _number(data.get("cpu"), worker.cpu)
        worker.memory = int(_number(data.get("memory"), worker.memory))
        count = data.get("user_count")
        if isinstance(count, int):
            worker.user_count = count
        worker.state = _worker_state(data.get("state"), worker.state)
        self.environment.events.heartbeat_received.fire(client_id=worker.node_id, timestamp=data["timestamp"])

    def _on_spawning(self, worker: WorkerNode, data: dict[str, Any]) -> None:
        worker.state = WorkerState.SPAWNING
        worker.user_classes_count = _counts(data["user_classes_count"])

    def _on_spawning_complete(self, worker: WorkerNode, data: dict[str, Any]) -> None:
        worker.state = WorkerState.RUNNING
        worker.user_classes_count = _counts(data["user_classes_count"])
        worker.user_count = data["user_count"]
        self._check_spawning_complete()

    def _on_stats(self, worker: WorkerNode, data: dict[str, Any]) -> None:
        stats = self.environment.stats
        before = stats.total.num_requests
        try:
            stats.merge_delta(data["stats"], worker.node_id)
        except ValueError as e:
            self.malformed_reports += 1
            self._bad_frame(worker.node_id, f"a stats report that cannot be merged ({e})")
            return
        worker.add_requests(stats.total.num_requests - before)
        worker.user_count = data["user_count"]
        classes = data.get("user_classes_count")
        if isinstance(classes, dict):
            worker.user_classes_count = _counts(classes)
        self.environment.events.worker_report.fire(client_id=worker.node_id, data=data)

    def _on_stopped(self, worker: WorkerNode, data: dict[str, Any]) -> None:
        worker.state = WorkerState.STOPPED
        worker.user_count = 0
        worker.user_classes_count = {}
        self._awaiting_stopped.discard(worker.node_id)

    def _on_quit(self, worker: WorkerNode, data: dict[str, Any]) -> None:
        self._note("INFO", f"Worker {worker.node_id} quit")
        del self.workers[worker.node_id]
        self._departed[worker.node_id] = None
        while len(self._departed) > MAX_TRACKED_PEERS:
            del self._departed[next(iter(self._departed))]
        self._targets.pop(worker.node_id, None)
        self._awaiting_stopped.discard(worker.node_id)

    def _on_logs(self, worker: WorkerNode, data: dict[str, Any]) -> None:
        for line in data["lines"]:
            if not (isinstance(line, list | tuple) and len(line) == 3):
                self._bad_frame(worker.node_id, "a log line that is not [timestamp, level, message]")
                return
            timestamp, level, message = line
            level = str(level)
            self.logs.append(LogLine(_number(timestamp, time.time()), worker.node_id, level, str(message)))
            level_no = logging.getLevelName(level.upper())
            worker_log.log(
                level_no if isinstance(level_no, int) else logging.INFO, "[%s] %s", worker.node_id, message
            )

    def _on_cpu_warning(self, worker: WorkerNode, data: dict[str, Any]) -> None:
        worker.cpu_warning = True
        worker.cpu = _number(data["cpu"], worker.cpu)
        self._note(
            "WARNING",
            f"Worker {worker.node_id} is using {worker.cpu:.0f}% CPU: its request rate is capped and its "
            "response times are getting less reliable; add workers or make the users lighter",
        )

    _handlers: dict[str, Callable[[MasterRunner, WorkerNode, Any], None]] = {
        "heartbeat": _on_heartbeat,
        "spawning": _on_spawning,
        "spawning_complete": _on_spawning_complete,
        "stats": _on_stats,
        "stopped": _on_stopped,
        "quit": _on_quit,
        "logs": _on_logs,
        "cpu_warning": _on_cpu_warning,
    }

    def _on_custom(self, worker: WorkerNode, msg: Message) -> None:
        entry = self.custom_messages.get(msg.type)
        if entry is None:
            if (
                msg.type not in self._unknown_types_logged
                and len(self._unknown_types_logged) < MAX_TRACKED_PEERS
            ):
                self._unknown_types_logged.add(msg.type)
                log.warning(
                    "Ignored a message of type %r from %s: no handler is registered for it "
                    "(runner.register_message); further ones are ignored silently",
                    msg.type,
                    worker.node_id,
                )
            return
        handler, concurrent = entry
        call = functools.partial(_run_handler, handler, self.environment, msg)
        if concurrent and self._loop is not None:
            self._loop.run_in_executor(None, call)
        else:
            call()

    # -- heartbeats and missing workers ------------------------------------------------------------------

    def _heartbeat_tick(self) -> None:
        now = time.monotonic()
        timestamp = time.time()
        fire = self.environment.events.heartbeat_sent.fire
        for worker in list(self.workers.values()):
            self._send(
                worker.heartbeat_identity, "heartbeat", {"timestamp": timestamp, "master_id": self.master_id}
            )
            fire(client_id=worker.node_id, timestamp=timestamp)
            if not worker.missing and now - worker.last_seen > self.heartbeat_timeout:
                worker.state = WorkerState.MISSING
                self._targets.pop(worker.node_id, None)
                self._awaiting_stopped.discard(worker.node_id)
                self._note(
                    "WARNING",
                    f"Worker {worker.node_id} is missing: nothing heard for {now - worker.last_seen:.0f}s; "
                    + ("its users go to the other workers" if self.state in _ACTIVE else "it gets no users"),
                )

    # -- the test ---------------------------------------------------------------------------------------

    def _start(
        self, user_count: int, spawn_rate: float, host: str | None, run_time: float | None, user_classes: Any
    ) -> None:
        if self.state is RunState.STOPPING:
            # a new test as soon as the old one has stopped
            self._pending_start = (user_count, spawn_rate, host, run_time, user_classes)
            return
        if host:
            self.environment.host = host
        self.target_user_count = user_count  # already known to test_start listeners, as in Locust
        if self.state not in _ACTIVE:
            self._test_id = uuid.uuid4().hex
            self._targets = {}
            self._resend = set()
            self.environment.stats.reset_all()
            self.history.clear()
            self.started_at = time.time()
            self._test_started_once = True
            self.environment.events.test_start.fire(environment=self.environment)
        classes = user_classes or self.environment.user_classes
        self.spawn_rate = spawn_rate
        self._class_counts = class_counts(classes, user_count)
        self._budget = max(self._budget, 1.0)  # the first user starts at once
        self._spawning_complete_fired = False
        self.state = RunState.SPAWNING
        if run_time is not None:
            self.run_time = float(run_time)
            if self._run_timer is not None:
                self._run_timer.cancel()
            assert self._loop is not None and self.started_at is not None
            remaining = max(0.0, self.started_at + self.run_time - time.time())
            self._run_timer = self._loop.call_later(remaining, self._time_limit_reached)
        log.info(
            "Ramping to %d users at %g users/s: %s", user_count, spawn_rate, _describe(self._class_counts)
        )
        self._dispatch_tick(0.0)

    def _time_limit_reached(self) -> None:
        log.info("Run time limit reached, stopping the test")
        self._begin_stop()

    def _dispatch_tick(self, dt: float) -> None:
        if self.state not in _ACTIVE:
            return
        live = sorted((w for w in self.workers.values() if not w.missing), key=lambda w: w.index)
        order = worker_order([(w.node_id, w.host) for w in live])
        desired = assign(self._class_counts, order)
        current = {node: self._targets.get(node, {}) for node in order}
        self._budget = min(self._budget + dt * self.spawn_rate, max(1.0, self.spawn_rate))
        pending = _changes(current, desired)
        new = current
        if pending:
            steps = int(self._budget)
            if steps:
                new = step_towards(current, desired, steps)
                self._budget -= min(steps, pending)
        self._targets = {node: new[node] for node in order}
        if pending or self._resend:
            spawn = self._spawn_data()
            for node in order:
                if node in self._resend or _nonzero(new[node]) != _nonzero(current[node]):
                    spawn["user_classes_count"] = _nonzero(new[node])
                    self._send_to(self.workers[node], "spawn", spawn)
            self._resend.clear()
        self._desired = desired
        self._check_spawning_complete()

    def _spawn_data(self) -> dict[str, Any]:
        env = self.environment
        return {
            "user_classes_count": {},
            "host": env.host,
            "stop_timeout": env.stop_timeout,
            "test_id": self._test_id,
            "worker_count": self.worker_count,
            "parsed_options": _plain_options(env.parsed_options),
        }

    def _check_spawning_complete(self) -> None:
        if self._spawning_complete_fired or self.state is not RunState.SPAWNING:
            return
        live = [w for w in self.workers.values() if not w.missing]
        desired = getattr(self, "_desired", {})
        for w in live:
            target = _nonzero(self._targets.get(w.node_id, {}))
            if target != _nonzero(desired.get(w.node_id, {})) or target != _nonzero(w.user_classes_count):
                return
        if sum(sum(t.values()) for t in self._targets.values()) != sum(self._class_counts.values()):
            return
        self._spawning_complete_fired = True
        self.state = RunState.RUNNING
        log.info("All users spawned: %s (%d total)", _describe(self._class_counts), self.user_count)
        self.environment.events.spawning_complete.fire(user_count=self.user_count)
        if self.environment.reset_stats:
            log.info("Resetting stats (--reset-stats)")
            self._reset_stats()

    def _reset_stats(self) -> None:
        self.environment.stats.reset_all()
        self.history.clear()
        self._broadcast("reset_stats")
        self.environment.events.reset_stats.fire()

    def _begin_stop(self) -> None:
        if self.state in _ACTIVE and (self._stop_task is None or self._stop_task.done()):
            self._stop_task = asyncio.get_running_loop().create_task(self._stop())

    async def _stop(self) -> None:
        self.state = RunState.STOPPING
        if self._run_timer is not None:
            self._run_timer.cancel()
            self._run_timer = None
        if self._shape_task is not None and self._shape_task is not asyncio.current_task():
            self._shape_task.cancel()
        self.environment.events.test_stopping.fire(environment=self.environment)
        self._targets = {}
        self._class_counts = {}
        live = self._broadcast("stop")
        self._awaiting_stopped = {w.node_id for w in live}
        deadline = time.monotonic() + (self.environment.stop_timeout or 0) + STOP_MARGIN
        while self._awaiting_stopped and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        if self._awaiting_stopped:
            self._note(
                "WARNING",
                f"Stopped waiting for {len(self._awaiting_stopped)} worker(s) to report their final stats: "
                + ", ".join(sorted(self._awaiting_stopped)),
            )
            self._awaiting_stopped = set()
        self.state = RunState.STOPPED
        self.history.record(self.environment.stats, self.user_count, force=True)
        self.environment.events.test_stop.fire(environment=self.environment)
        self._refresh_snapshot()
        if self._pending_start is not None:
            args, self._pending_start = self._pending_start, None
            self._start(*args)

    def _begin_quit(self) -> None:
        if self._stop_requested is not None:
            self._stop_requested.set()
        if self._quit_task is None or self._quit_task.done():
            self._quit_task = asyncio.get_running_loop().create_task(self._quit())

    async def _quit(self) -> None:
        self._begin_stop()
        if self._stop_task is not None:
            await self._stop_task
        await self._quit_workers()
        assert self._finished is not None
        self._finished.set()

    async def _quit_workers(self) -> None:
        if self._socket is None or self._closed:
            return
        # quit() and the end of run_headless may both get here: tell each worker once
        told = [w for w in self.workers.values() if not w.missing and w.node_id not in self._told_to_quit]
        for worker in told:
            self._told_to_quit.add(worker.node_id)
            self._send_to(worker, "quit")
        if not told and not any(not w.missing for w in self.workers.values()):
            return
        deadline = time.monotonic() + QUIT_WAIT
        while any(not w.missing for w in self.workers.values()) and time.monotonic() < deadline:
            await asyncio.sleep(0.02)

    def _start_shape(self) -> None:
        shape: Any = self.environment.shape_class
        shape.runner = self
        shape.reset_time()
        self._shape_task = asyncio.get_running_loop().create_task(self._shape_loop(shape))

    async def _shape_loop(self, shape: Any) -> None:
        last: Any = None
        while True:
            figures = shape.tick()
            if figures is None:
                log.info("The load shape ended the test")
                self._begin_stop()
                if self._stop_requested is not None:
                    self._stop_requested.set()
                return
            if figures != last:
                last = figures
                user_count, spawn_rate, *rest = figures
                classes = rest[0] if rest and rest[0] else None
                self._start(int(user_count), float(spawn_rate), None, None, classes)
            await asyncio.sleep(1.0)

    # -- snapshots ---------------------------------------------------------------------------------------

    def _note(self, level: str, message: str) -> None:
        """Log ``message`` (the log collector keeps it among the lines the TUI shows)."""
        log.log(logging.getLevelName(level), message)

    def _refresh_snapshot(self) -> None:
        try:
            self._snapshot = self._build_snapshot()
        except Exception:
            log.exception("Failed to build the run's snapshot")

    def _build_snapshot(self) -> RunSnapshot:
        stats = self.environment.stats
        workers = sorted(self.workers.values(), key=lambda w: w.index)
        missing = sum(1 for w in workers if w.missing)
        state = self.state
        if state is RunState.READY and len(workers) == missing:
            state = RunState.WAITING
        elapsed = 0.0
        if self.started_at is not None:
            elapsed = max(0.0, (stats.total.last_request_timestamp or time.time()) - self.started_at)
            if state in (*_ACTIVE, RunState.STOPPING):
                elapsed = max(0.0, time.time() - self.started_at)
        entries, total = entry_rows(stats, self.percentiles)
        return RunSnapshot(
            host=self.environment.host or _class_host(self.environment.user_classes),
            state=state,
            user_count=self.user_count,
            target_user_count=self.target_user_count,
            spawn_rate=self.spawn_rate,
            workers_ready=len(workers) - missing,
            workers_total=len(workers),
            workers_missing=missing,
            started_at=self.started_at,
            elapsed=elapsed,
            run_time=self.run_time,
            entries=entries,
            total=total,
            workers=tuple(w.row() for w in workers),
            failures=failure_rows(stats),
            exceptions=exception_rows(stats),
            history=history_points(self.history),
            logs=tuple(self.logs),
            percentiles_to_show=self.percentiles,
        )


# -- helpers ---------------------------------------------------------------------------------------------


class _LogCollector(logging.Handler):
    """Keeps this process's log lines (INFO and up) for the TUI's Logs view; thread-safe (deque)."""

    def __init__(self, lines: deque[LogLine]) -> None:
        super().__init__(level=logging.INFO)
        self.lines = lines

    def emit(self, record: logging.LogRecord) -> None:
        if record.name == worker_log.name:
            return  # worker lines are kept with their worker's id when they arrive
        with contextlib.suppress(Exception):
            self.lines.append(LogLine(record.created, MASTER_SOURCE, record.levelname, record.getMessage()))


def _run_handler(handler: Callable[..., Any], environment: Any, msg: Message) -> None:
    try:
        handler(environment=environment, msg=msg)
    except Exception:
        log.exception("The handler of %r messages raised", msg.type)


def _safely(fn: Callable[[], Any]) -> None:
    try:
        fn()
    except Exception:
        log.exception("The reporter raised")


async def _wait_event(event: asyncio.Event, timeout: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(event.wait(), timeout)


def _consume_exception(future: Any) -> None:
    if not future.cancelled() and future.exception() is not None:
        log.debug("Sending failed: %s", future.exception())


def _worker_state(value: Any, default: WorkerState) -> WorkerState:
    try:
        state = WorkerState(value)
    except ValueError:
        return default
    return default if state is WorkerState.MISSING else state


def _number(value: Any, default: float) -> float:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else default


def _counts(value: Any) -> dict[str, int]:
    if not isinstance(value, dict):
        return {}
    return {str(k): int(v) for k, v in value.items() if isinstance(v, int)}


def _nonzero(counts: dict[str, int]) -> dict[str, int]:
    return {cls: n for cls, n in counts.items() if n}


def _changes(a: dict[str, dict[str, int]], b: dict[str, dict[str, int]]) -> int:
    total = 0
    for node in a.keys() | b.keys():
        x, y = a.get(node, {}), b.get(node, {})
        total += sum(abs(x.get(cls, 0) - y.get(cls, 0)) for cls in x.keys() | y.keys())
    return total


def _describe(counts: dict[str, int]) -> str:
    return ", ".join(f"{cls}: {n}" for cls, n in counts.items()) or "no user classes"


def _plain_options(options: Namespace | None) -> dict[str, Any]:
    """The parsed options a worker can be sent: the ones whose value is a str, number, bool or None."""
    if options is None:
        return {}
    return {
        key: value
        for key, value in vars(options).items()
        if value is None or isinstance(value, str | int | float | bool)
    }


def _class_host(user_classes: list[type]) -> str:
    for cls in user_classes:
        host = getattr(cls, "host", None)
        if host:
            return str(host)
    return ""


def _bracket(host: str) -> str:
    return f"[{host}]" if ":" in host and not host.startswith("[") else host
