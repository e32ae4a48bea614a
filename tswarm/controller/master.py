"""The master: drives the workers over ZeroMQ (docs/protocol.md), merges their stats, runs the test.

It runs on asyncio (``zmq.asyncio``) and is never monkey-patched. Two ways to run it:

* headless, as the main loop: ``exit_code = asyncio.run(runner.run_headless(users, rate, ...))``;
* behind the TUI: ``runner.start_in_thread()`` runs the loop in a thread, and the TUI uses the
  :class:`~tswarm.controller.api.RunController` methods (``snapshot``, ``start``, ``stop`` ...), which
  are safe to call from any thread.

:class:`MasterRunner` is the coordinator; its parts live in rooms of their own:

* :mod:`~tswarm.controller.link`: the ROUTER socket, frame checks and bad-frame counts;
* :mod:`~tswarm.controller.bridge`: calls from other threads, queued into the loop;
* :mod:`~tswarm.controller.workers`: the worker registry and what each worker reported;
* :mod:`~tswarm.controller.worker_messages`: the handshake, heartbeats and a handler per message type,
  which tell the master what they mean for the test (``worker_back``, ``worker_gone`` ...);
* :mod:`~tswarm.controller.distribution` (over :mod:`tswarm.ramp`, shared with the local runner): which
  users each worker runs, moved at the spawn rate; :class:`~tswarm.ramp.ShapeStepper` for load shapes;
* :mod:`~tswarm.controller.custom_messages`, :mod:`~tswarm.controller.run_log` and
  :mod:`~tswarm.controller.snapshot_builder`.

Everything that touches the runner's state happens on its loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
import uuid
from argparse import Namespace
from collections import deque
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from tswarm.controller.bridge import LoopBridge
from tswarm.controller.custom_messages import CustomMessages
from tswarm.controller.distribution import UserDistribution
from tswarm.controller.link import MasterLink
from tswarm.controller.run_log import RunLog
from tswarm.controller.snapshot import LogLine, RunSnapshot, RunState
from tswarm.controller.snapshot_builder import build_snapshot
from tswarm.controller.worker_messages import WorkerMessages
from tswarm.controller.workers import WorkerNode, WorkerNodes
from tswarm.dispatch import class_counts
from tswarm.protocol import CUSTOM_TYPE, MASTER_NODE_ID, custom_payload, encode
from tswarm.ramp import SHAPE_TICK, ShapeStepper, describe_counts
from tswarm.stats import StatsHistory

if TYPE_CHECKING:
    from tswarm.checks import Check, CheckVerdict
    from tswarm.roles import RunEnvironment
    from tswarm.secret import CurveKeys

__all__ = ["MasterRunner", "WorkerNode"]

log = logging.getLogger("tswarm.master")

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
#: how long start_in_thread waits for the loop to serve
LOOP_START_TIMEOUT = 10.0
#: how long write_outputs waits for the loop to write the files
WRITE_OUTPUTS_TIMEOUT = 60.0

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
        outputs_writer: writes the --csv/--json/... files, or with ``prefix=`` a set of reports under
            that prefix, and returns their paths (``write_outputs``).

    The socket is bound here, so that a port in use fails at once.
    """

    def __init__(
        self,
        environment: RunEnvironment,
        master_bind_host: str = "*",
        master_bind_port: int = 5557,
        *,
        heartbeat_interval: float = 1.0,
        heartbeat_timeout: float = 3.0,
        testfiles: Iterable[tuple[str, bytes]] = (),
        percentiles: Iterable[float] = (0.5, 0.9, 0.95, 0.99),
        outputs_writer: Callable[..., list[str]] | None = None,
        keys: CurveKeys | None = None,
    ) -> None:
        self.environment = environment
        if environment.runner is None:
            environment.runner = self
        # the master only merges: keeping a delta of what it merged would be wasted work
        environment.stats.track_deltas = False
        self.heartbeat_interval = float(heartbeat_interval)
        self.heartbeat_timeout = float(heartbeat_timeout)
        self.testfiles = [(str(name), bytes(content)) for name, content in testfiles]
        self.percentiles = tuple(percentiles)
        self.outputs_writer = outputs_writer
        #: new with every master process: a worker that sees another one knows its master restarted
        self.master_id = uuid.uuid4().hex

        self.state: RunState = RunState.READY
        self.workers = WorkerNodes()
        self.target_user_count = 0
        #: the most users the workers ran at once, as sampled each second (not per message: summing
        #: every worker's count on each of their messages would cost O(workers^2) a second)
        self.peak_user_count = 0
        self.started_at: float | None = None
        #: wall-clock time the last test stopped (None while one runs): the clock stands still after it
        self.stopped_at: float | None = None
        self.run_time: float | None = None
        self.history = StatsHistory()
        #: the --check list the snapshots evaluate (set by the front-end; empty: no checks)
        self.checks: tuple[Check, ...] = ()
        #: the checks' verdicts when --check-abort stopped the test (set by the front-end), or None
        self.checks_at_abort: list[CheckVerdict] | None = None

        # with keys, only workers that hold the same secret get in, and every frame is encrypted
        self.link = MasterLink(master_bind_host, master_bind_port, keys)
        #: Locust's names for where the master listens (the port bound, when 0 was asked for)
        self.master_bind_host = master_bind_host
        self.master_bind_port = self.bind_port = self.link.bind_port
        self._bridge = LoopBridge()
        self._distribution = UserDistribution()
        self._custom = CustomMessages()
        self._run_log = RunLog()
        self._messages = WorkerMessages(
            environment=environment,
            workers=self.workers,
            link=self.link,
            run_log=self._run_log,
            custom=self._custom,
            hooks=self,
            loop=lambda: self._bridge.loop,
            master_id=self.master_id,
            heartbeat_interval=self.heartbeat_interval,
            heartbeat_timeout=self.heartbeat_timeout,
            testfiles=self.testfiles,
        )

        self._test_id = ""
        self._spawning_complete_fired = True
        self._awaiting_stopped: set[str] = set()
        self._told_to_quit: set[str] = set()
        self._pending_start: tuple[Any, ...] | None = None
        self._stop_task: asyncio.Task[None] | None = None
        self._quit_task: asyncio.Task[None] | None = None
        self._shape_task: asyncio.Task[None] | None = None
        self._run_timer: asyncio.TimerHandle | None = None
        self._tasks: list[asyncio.Task[Any]] = []
        self._stop_requested: asyncio.Event | None = None
        self._finished: asyncio.Event | None = None
        self._thread: threading.Thread | None = None
        #: the entry whose detail the snapshots hold (a front-end's drill-down; set from its thread)
        self._watched_entry: tuple[str, str] | None = None
        self._snapshot = self._build_snapshot()

    # -- the Locust-facing API -----------------------------------------------------------------------

    @property
    def stats(self) -> Any:
        return self.environment.stats

    @property
    def user_count(self) -> int:
        """Users running on all the workers that are not missing, as they last reported."""
        return self.workers.user_count

    @property
    def worker_count(self) -> int:
        """Workers connected and not missing."""
        return self.workers.live_count

    @property
    def clients(self) -> WorkerNodes:
        """Locust's name for :attr:`workers`."""
        return self.workers

    @property
    def spawn_rate(self) -> float:
        """Users started or stopped per second, over all the workers."""
        return self._distribution.spawn_rate

    @property
    def custom_messages(self) -> dict[str, tuple[Callable[..., Any], bool]]:
        """Message type -> (handler, concurrent), as registered with :meth:`register_message`."""
        return self._custom.handlers

    @property
    def protocol_errors(self) -> int:
        """Frames dropped because they were not valid messages (any peer), for tests and diagnostics."""
        return self.link.protocol_errors

    @property
    def malformed_reports(self) -> int:
        """Stats reports dropped because their delta was malformed."""
        return self._messages.malformed_reports

    def worker_outages(self, until: float | None = None) -> list[dict[str, Any]]:
        """Each time a worker went missing (``run.missing_workers`` of the JSON report), oldest first;
        the durations of those not back yet run until ``until`` (default: now, ``time.time()``)."""
        end = time.time() if until is None else until
        return [
            {
                "node_id": o.node_id,
                "reason": o.reason,
                "missing_at": o.missing_at,
                "back_at": o.back_at,
                "duration": o.duration(end),
            }
            for o in self.workers.outages
        ]

    @property
    def logs(self) -> deque[LogLine]:
        """The newest log lines of the master and its workers, as the TUI shows them."""
        return self._run_log.lines

    def register_message(self, msg_type: str, handler: Callable[..., Any], concurrent: bool = False) -> None:
        """Call ``handler(environment=..., msg=...)`` for each message named ``msg_type`` from a worker.

        Any name is the test file's own, ``"stop"`` or ``"stats"`` included: custom messages travel
        in an envelope of their own. Handlers run on the master's event loop, so they must be quick.
        With ``concurrent=True`` each call runs in a thread of the loop's default executor instead, so a
        slow handler does not hold up the messages behind it (it may call ``send_message``, which is
        thread-safe).
        """
        self._custom.register(msg_type, handler, concurrent)

    def send_message(self, msg_type: str, data: Any = None, client_id: str | None = None) -> None:
        """Send a custom message named ``msg_type`` (any name) to every worker that is not missing, or
        to the one named ``client_id``.

        Safe to call from any thread, and before the runner's loop runs (sent once it does, to the
        workers connected then). Workers that join later do not get it; when none is connected, that
        is logged once per name.

        Raises:
            TypeError: ``msg_type`` is not a str, or ``data`` cannot be packed with msgpack (msgpack
                may raise another error for a value out of its range, such as an int past 64 bits).
        """
        payload = custom_payload(msg_type, data)
        encode(CUSTOM_TYPE, payload, MASTER_NODE_ID)  # raises here, in the caller, not on the loop
        self._bridge.call(self._send_custom, payload, client_id)

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
        self._bridge.call(self._start, int(user_count), float(spawn_rate), host, run_time, user_classes)

    def stop(self) -> None:
        """Stop the test: the workers stop their users and flush their stats. The numbers stay."""
        self._bridge.call(self._begin_stop)

    def quit(self) -> None:
        """Stop the test, tell the workers to quit, and end the run (``run_headless``/``serve`` return)."""
        self._bridge.call(self._begin_quit)

    def request_stop(self) -> None:
        """End the run as soon as possible (for SIGINT/SIGTERM handlers): same as :meth:`quit`."""
        self.quit()

    def reset_stats(self) -> None:
        """Zero the stats here and tell the workers to drop what they have not reported yet."""
        self._bridge.call(self._reset_stats)

    # -- RunController (the TUI) ------------------------------------------------------------------------

    def snapshot(self) -> RunSnapshot:
        """The newest picture of the run, rebuilt on the loop about once a second."""
        return self._snapshot

    def watch_entry(self, key: tuple[str, str] | None) -> None:
        """Put the detail of entry ``key`` (method, name) into the snapshots, at once and from now on."""
        self._watched_entry = key
        self._bridge.call(self._refresh_snapshot)

    def write_outputs(self, prefix: str | None = None) -> list[str]:
        """Write the --csv/--json files now, or with ``prefix`` the reports under that prefix (with the
        ``outputs_writer`` set); returns their paths."""
        writer = self.outputs_writer
        if writer is None:
            return []
        if prefix is None:
            return list(self._bridge.run(writer, WRITE_OUTPUTS_TIMEOUT))
        return list(self._bridge.run(lambda: writer(prefix=prefix), WRITE_OUTPUTS_TIMEOUT))

    def start_in_thread(self, reporter: Any = None) -> None:
        """Run the runner's loop in a daemon thread (for the TUI); returns once it serves.

        ``reporter.periodic()`` is called about once a second on that loop while a test runs.
        """
        ready = threading.Event()

        def main() -> None:
            asyncio.run(self.serve(ready, reporter))

        self._thread = threading.Thread(target=main, name="tswarm-master", daemon=True)
        self._thread.start()
        if not ready.wait(LOOP_START_TIMEOUT):
            raise RuntimeError("the master's loop did not start")

    def shutdown(self) -> None:
        """Stop the test, tell the workers to quit and end the loop; then join its thread."""
        self.quit()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
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
            gave_up = await self._wait_for_workers(expect_workers, expect_workers_max_wait)
            if gave_up is not None:
                return gave_up
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

    async def _wait_for_workers(self, expect_workers: int, max_wait: float) -> int | None:
        """Wait until ``expect_workers`` are connected: None then, else the exit code of a run that ends
        here (0: it was ended meanwhile; 1: ``max_wait`` seconds passed first, 0 = no limit)."""
        assert self._stop_requested is not None and self._finished is not None
        waited_since = time.monotonic()
        last_notice = float("-inf")
        while self.worker_count < expect_workers:
            if self._stop_requested.is_set() or self._finished.is_set():
                return 0
            waited = time.monotonic() - waited_since
            if max_wait and waited >= max_wait:
                log.error(
                    "Gave up waiting for workers: %d of %d connected after %gs",
                    self.worker_count,
                    expect_workers,
                    max_wait,
                )
                return 1
            if waited - last_notice >= WAITING_LOG_INTERVAL:
                last_notice = waited
                log.info(
                    "Waiting for workers to be ready, %d of %d connected", self.worker_count, expect_workers
                )
            await asyncio.sleep(0.05)
        return None

    def close(self) -> None:
        """Close the socket (when the loop is not running; the run methods close it themselves)."""
        self.link.close()

    # -- the loop ---------------------------------------------------------------------------------------

    def _attach(self) -> None:
        if self.link.closed:
            raise RuntimeError("this MasterRunner is closed")
        self._run_log.capture()
        self._stop_requested = asyncio.Event()
        self._finished = asyncio.Event()
        self.link.attach()
        self._tasks = [
            asyncio.create_task(
                self.link.receive_forever(self._messages.on_message), name="tswarm-master-receive"
            ),
            asyncio.create_task(self.link.watch_connections(), name="tswarm-master-connections"),
            asyncio.create_task(self._heartbeat_loop(), name="tswarm-master-heartbeat"),
            asyncio.create_task(self._dispatch_loop(), name="tswarm-master-dispatch"),
            asyncio.create_task(self._snapshot_loop(), name="tswarm-master-snapshot"),
        ]
        # last: the calls made before the loop ran (start, send_message ...) run now, in order
        self._bridge.attach()

    async def _detach(self) -> None:
        for task in [*self._tasks, self._shape_task, self._stop_task, self._quit_task]:
            if task is not None and not task.done() and task is not asyncio.current_task():
                task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        if self._run_timer is not None:
            self._run_timer.cancel()
        self._refresh_snapshot()
        self._bridge.detach()
        self._run_log.release()
        self.close()

    async def _heartbeat_loop(self) -> None:
        while True:
            await asyncio.sleep(self.heartbeat_interval)
            self._messages.heartbeat_tick()

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
                user_count = self.user_count
                self.peak_user_count = max(self.peak_user_count, user_count)
                self.history.record(self.environment.stats, user_count)
            self._refresh_snapshot()

    # -- sending -----------------------------------------------------------------------------------------

    def _broadcast(self, msg_type: str, data: Any = None) -> list[WorkerNode]:
        live = self.workers.live
        for worker in live:
            self._messages.send_to(worker, msg_type, data)
        return live

    def _send_custom(self, payload: Any, client_id: str | None) -> None:
        if client_id is None:
            if not self._broadcast(CUSTOM_TYPE, payload):
                self._custom.sent_to_nobody(payload["type"])
            return
        worker = self.workers.get(client_id)
        if worker is None:
            log.warning("Cannot send the custom message %r to %s: no such worker", payload["type"], client_id)
            return
        self._messages.send_to(worker, CUSTOM_TYPE, payload)

    # -- what the workers' messages mean for the test (TestHooks of WorkerMessages) --------------------

    def test_is_active(self) -> bool:
        return self.state in _ACTIVE

    def worker_joined(self, node_id: str) -> None:
        self._told_to_quit.discard(node_id)
        self._distribution.forget(node_id)

    def worker_back(self, worker: WorkerNode) -> None:
        if self.state in _ACTIVE:
            # it probably still runs the users it had: start from them, and correct it at once
            self._distribution.adopt(worker.node_id, worker.user_classes_count)
        elif worker.user_count:
            self._messages.send_to(worker, "stop")

    def worker_spawned(self) -> None:
        self._check_spawning_complete()

    def worker_stopped(self, node_id: str) -> None:
        self._awaiting_stopped.discard(node_id)

    def worker_gone(self, node_id: str) -> None:
        self._distribution.forget(node_id)
        self._awaiting_stopped.discard(node_id)

    def last_worker_quit(self) -> None:
        self._begin_stop()

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
            self._distribution.new_test()
            self.environment.stats.reset_all()
            self.history.clear()
            self.started_at = time.time()
            self.stopped_at = None
            self.environment.events.test_start.fire(environment=self.environment)
        classes = user_classes or self.environment.user_classes
        self._distribution.set_goal(class_counts(classes, user_count), spawn_rate)
        self._spawning_complete_fired = False
        self.state = RunState.SPAWNING
        if run_time is not None:
            self.run_time = float(run_time)
            if self._run_timer is not None:
                self._run_timer.cancel()
            assert self._bridge.loop is not None and self.started_at is not None
            remaining = max(0.0, self.started_at + self.run_time - time.time())
            self._run_timer = self._bridge.loop.call_later(remaining, self._time_limit_reached)
        log.info(
            "Ramping to %d users at %g users/s: %s",
            user_count,
            spawn_rate,
            describe_counts(self._distribution.class_counts),
        )
        self._dispatch_tick(0.0)

    def _time_limit_reached(self) -> None:
        log.info("Run time limit reached, stopping the test")
        self._begin_stop()

    def _dispatch_tick(self, elapsed: float) -> None:
        if self.state not in _ACTIVE:
            return
        changed = self._distribution.tick(elapsed, self.workers.live)
        if changed:
            spawn = self._spawn_data()
            for node_id, counts in changed.items():
                spawn["user_classes_count"] = counts
                self._messages.send_to(self.workers[node_id], "spawn", spawn)
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
        if not self._distribution.complete(self.workers.live):
            return
        self._spawning_complete_fired = True
        self.state = RunState.RUNNING
        log.info(
            "All users spawned: %s (%d total)",
            describe_counts(self._distribution.class_counts),
            self.user_count,
        )
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
        self._distribution.clear()
        live = self._broadcast("stop")
        self._awaiting_stopped = {w.node_id for w in live}
        deadline = time.monotonic() + (self.environment.stop_timeout or 0) + STOP_MARGIN
        while self._awaiting_stopped and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        if self._awaiting_stopped:
            log.warning(
                "Stopped waiting for %d worker(s) to report their final stats: %s",
                len(self._awaiting_stopped),
                ", ".join(sorted(self._awaiting_stopped)),
            )
            self._awaiting_stopped = set()
        self.state = RunState.STOPPED
        self.stopped_at = time.time()
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
        if self.link.closed:
            return
        # quit() and the end of run_headless may both get here: tell each worker once
        told = [w for w in self.workers.live if w.node_id not in self._told_to_quit]
        for worker in told:
            self._told_to_quit.add(worker.node_id)
            self._messages.send_to(worker, "quit")
        if not told and not self.workers.live_count:
            return
        deadline = time.monotonic() + QUIT_WAIT
        while self.workers.live_count and time.monotonic() < deadline:
            await asyncio.sleep(0.02)

    def _start_shape(self) -> None:
        stepper = ShapeStepper(self.environment.shape_class, self)
        self._shape_task = asyncio.get_running_loop().create_task(self._shape_loop(stepper))

    async def _shape_loop(self, stepper: ShapeStepper) -> None:
        while True:
            step = stepper.tick()
            if stepper.ended:
                log.info("The load shape ended the test")
                self._begin_stop()
                if self._stop_requested is not None:
                    self._stop_requested.set()
                return
            if step is not None:
                self._start(step.user_count, step.spawn_rate, None, None, step.user_classes)
            await asyncio.sleep(SHAPE_TICK)

    # -- snapshots ---------------------------------------------------------------------------------------

    def _refresh_snapshot(self) -> None:
        try:
            self._snapshot = self._build_snapshot()
        except Exception:
            log.exception("Failed to build the run's snapshot")

    def _build_snapshot(self) -> RunSnapshot:
        return build_snapshot(
            environment=self.environment,
            state=self.state,
            workers=self.workers,
            started_at=self.started_at,
            stopped_at=self.stopped_at,
            heartbeat_interval=self.heartbeat_interval,
            run_time=self.run_time,
            target_user_count=self.target_user_count,
            spawn_rate=self.spawn_rate,
            history=self.history,
            logs=self._run_log.lines,
            percentiles=self.percentiles,
            watched=self._watched_entry,
            checks=self.checks,
            checks_at_abort=self.checks_at_abort,
        )


def _safely(fn: Callable[[], Any]) -> None:
    try:
        fn()
    except Exception:
        log.exception("The reporter raised")


async def _wait_event(event: asyncio.Event, timeout: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(event.wait(), timeout)


def _plain_options(options: Namespace | None) -> dict[str, Any]:
    """The parsed options a worker can be sent: the ones whose value is a str, number, bool or None."""
    if options is None:
        return {}
    return {
        key: value
        for key, value in vars(options).items()
        if value is None or isinstance(value, str | int | float | bool)
    }
