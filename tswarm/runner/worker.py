"""The runner of a worker process: runs the users its master asks for and reports to it over ZeroMQ.

See docs/protocol.md. The main socket lives in gevent (zmq.green); heartbeats go through a second socket
driven by a native OS thread, so that users that keep the gevent loop busy cannot starve them.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import socket
import time
import uuid
from argparse import Namespace
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import gevent
import gevent.event
import psutil
import zmq
import zmq.green as zmq_green
from gevent import monkey
from zmq.utils.monitor import parse_monitor_message

from tswarm._version import __version__
from tswarm.exceptions import TestFileError
from tswarm.liveness import watch_liveness
from tswarm.protocol import (
    CUSTOM_TYPE,
    MAX_FRAME_BYTES,
    PROTOCOL_VERSION,
    Message,
    ProtocolError,
    RunState,
    custom_payload,
    decode,
    encode,
    fetch_identity,
    heartbeat_identity,
    open_custom,
)
from tswarm.runner.base import UserRunner
from tswarm.runner.local import LocalRunner

if TYPE_CHECKING:
    from tswarm.roles import RunEnvironment
    from tswarm.secret import CurveKeys

log = logging.getLogger("tswarm.worker")

#: how often a worker sends a stats delta while users run (the protocol asks for at least 1/s)
STATS_INTERVAL = 1.0
#: the heartbeat thread starts a CPU warning when the average of its readings over this long is too high
CPU_WARNING_WINDOW = 3.0
#: the shortest span a CPU reading may cover: over less, the percentage is noise (or thousands)
MIN_CPU_SPAN = 0.2
#: log lines a worker keeps for its master between two reports (the oldest go first)
LOG_LINES_KEPT = 1000
#: custom messages a worker keeps while its master has not acknowledged it yet (beyond: dropped, logged)
CUSTOM_MESSAGES_HELD = 1000
#: stats reports that may wait for the master's acknowledgement at once: with one more due, the worker
#: holds it (its delta accumulates, its ``report_to_master`` is not fired) until acknowledgements make
#: room, so that a master that falls behind gets fewer, bigger reports instead of more and more frames.
#: A master that keeps up (acknowledging in its heartbeats, once a second) never has more than 2 waiting
#: when the next report is due; one whose heartbeats are H s apart gets ceil(H) + 2 (see _on_ack)
STATS_IN_FLIGHT = 3
#: the kept stats reports are sent again when the master's acknowledgement has not moved for this long
#: (while the master is heard), as well as whenever the connection to the master is made again: a
#: report written into a connection that a network cut killed is otherwise lost with it. A master that
#: merely lags behind still has them queued, and one whose acknowledgement moves gets none again
STATS_RESEND_AFTER = 5.0
#: stats reports kept for sending again at most; past it the oldest is given up. Flow control keeps it to a
#: few, but each final report goes whatever waits (tests stopped while the master acknowledges nothing)
STATS_REPORTS_KEPT = 300
#: a stats report whose frame would be bigger goes in parts, each with some of the entries: ZeroMQ drops a
#: frame over MAX_FRAME_BYTES with its connection, and a report of many names with dense histograms, held
#: while the master was behind (up to 16 seconds of them each), can reach it
STATS_FRAME_BUDGET = MAX_FRAME_BYTES // 2
#: a connection to the master not made within this long is dropped and tried again (at most every 2 s,
#: RECONNECT_IVL_MAX): without it, a connect begun while the network was cut waits out TCP's SYN backoff
#: after the network is back (its next try up to half a minute later), and the worker can reach
#: --master-timeout and exit with its master in reach again
CONNECT_TIMEOUT_MS = 2000
#: options a worker keeps its own values of when the master sends its parsed options
_WORKER_OWN_OPTIONS = frozenset(
    {
        "command",
        "locustfile",
        "master_host",
        "master_port",
        "master_bind_host",
        "master_bind_port",
        "processes",
        "loglevel",
        "logfile",
        "headless",
        "heartbeat_interval",
        "heartbeat_timeout",
        "master_timeout",
        "linked_local",
        "config",
        "extra_args",
        "config_extra",
        "config_source",
    }
)


def make_node_id() -> str:
    return f"{socket.gethostname()}_{os.getpid()}_{uuid.uuid4().hex[:8]}"


class WorkerLogForwarder(logging.Handler):
    """Keeps log lines for the master; sent in batches by the worker's main loop."""

    def __init__(self) -> None:
        super().__init__(level=logging.INFO)
        self.lines: deque[list[Any]] = deque(maxlen=LOG_LINES_KEPT)

    def emit(self, record: logging.LogRecord) -> None:
        with contextlib.suppress(Exception):  # a log handler must never raise
            self.lines.append([record.created, record.levelname, self.format(record)])

    def take(self) -> list[list[Any]]:
        taken = []
        while self.lines:
            taken.append(self.lines.popleft())
        return taken


class MasterLinkedRunner(UserRunner):
    """Connects to a master, runs the users it dispatches here, and reports their stats.

    The base of the WorkerRunner, and of the LocalRunner that runs behind the TUI of a local run.
    """

    def __init__(
        self,
        environment: RunEnvironment,
        master_host: str,
        master_port: int,
        *,
        heartbeat_interval: float = 1.0,
        master_timeout: float = 60.0,
        node_id: str | None = None,
        keys: CurveKeys | None = None,
    ) -> None:
        self.node_id = node_id or make_node_id()
        #: with keys, this worker talks only to a master that holds the same secret, encrypted
        self.keys = keys
        #: why the master refused the connection, once it did (cleared by a handshake that succeeds)
        self.refused: str | None = None
        super().__init__(environment)
        self.master_host = master_host
        self.master_port = master_port
        self.heartbeat_interval = heartbeat_interval
        self.master_timeout = master_timeout
        self.worker_index = -1
        self.worker_count = 0
        self.exit_code = 0
        self.connected = gevent.event.Event()
        self.finished = gevent.event.Event()
        self._last_master_message = time.monotonic()
        #: seconds of the master's silence after which this worker stops its users (from its ack)
        self.master_heartbeat_timeout = 3 * heartbeat_interval
        #: its users were stopped because the master went silent; it says hello when the master answers
        self._master_lost = False
        self._test_id: str | None = None
        self._stop_heartbeat = False
        self._quitting = False
        self._rejoining = False
        self._master_id: str | None = None
        self._bad_frames = 0
        #: custom messages sent before the master's ack (from ``events.init``), encoded, sent after it
        self._held_custom: list[bytes] = []
        self._held_custom_overflowed = False
        self._log_forwarder = WorkerLogForwarder()
        self._log_forwarder.setFormatter(logging.Formatter("%(name)s: %(message)s"))
        self.endpoint = f"tcp://{_bracket(master_host)}:{master_port}"
        self._context = zmq_green.Context()
        self._socket = self._context.socket(zmq.DEALER)
        self._socket.setsockopt(zmq.IDENTITY, self.node_id.encode())
        self._socket.setsockopt(zmq.LINGER, 2000)
        self._socket.setsockopt(zmq.RECONNECT_IVL_MAX, 2000)
        watch_liveness(self._socket)
        _retry_slow_connects(self._socket)
        if keys is not None:
            keys.secure_worker(self._socket)
        self._handshakes = self._socket.get_monitor_socket(_HANDSHAKE_EVENTS)
        self._socket.connect(self.endpoint)
        self._greenlets: list[gevent.Greenlet] = []
        # Filled by the heartbeat thread, drained (and turned into events) by the gevent side.
        self.heartbeats_sent: deque[float] = deque(maxlen=100)
        self.heartbeats_received: deque[bytes] = deque(maxlen=100)
        #: CPU warnings the heartbeat thread sent to the master, to be logged and fired on the gevent side
        self.cpu_warnings: deque[float] = deque(maxlen=100)
        #: this worker's share of the users
        self.target_user_count: int = 0
        #: stats reports sent and not yet acknowledged, to send again after a cut (see UnackedReports)
        self._reports = UnackedReports(STATS_REPORTS_KEPT)
        #: the connection to the master was made (again) since the kept reports were last sent again
        self._connection_made = False
        #: since when this worker holds its reports because its master acknowledged none of the last
        #: few (None: it does not)
        self._holding_since: float | None = None

    # -- sending -----------------------------------------------------------------------------------

    def _send(self, msg_type: str, data: Any = None) -> None:
        self._socket.send(encode(msg_type, data if data is not None else {}, self.node_id))

    def send_message(self, msg_type: str, data: Any = None, client_id: str | None = None) -> None:
        """Send a custom message named ``msg_type`` (any name) to the master; ``client_id`` is ignored
        on a worker.

        One sent before the master acknowledged this worker (``events.init`` runs before that) is
        kept, and sent right after the acknowledgement: the master drops what comes before a hello.

        Raises:
            TypeError: ``msg_type`` is not a str, or ``data`` cannot be packed with msgpack (msgpack
                may raise another error for a value out of its range, such as an int past 64 bits).
        """
        frame = encode(CUSTOM_TYPE, custom_payload(msg_type, data), self.node_id)
        if self.connected.is_set():
            self._socket.send(frame)
        elif len(self._held_custom) < CUSTOM_MESSAGES_HELD:
            self._held_custom.append(frame)
        elif not self._held_custom_overflowed:
            self._held_custom_overflowed = True
            log.warning(
                "Dropping custom messages: %d are waiting for the master to acknowledge this worker",
                CUSTOM_MESSAGES_HELD,
            )

    def _hello(self) -> dict[str, Any]:
        return {
            "protocol": PROTOCOL_VERSION,
            "version": __version__,
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "cpu_count": os.cpu_count() or 1,
        }

    # -- life --------------------------------------------------------------------------------------

    def connect(self, timeout: float | None = None) -> bool:
        """Say hello until the master acknowledges; returns False if ``timeout`` passes first."""
        self._greenlets.append(gevent.spawn(self._receive_loop))
        self._greenlets.append(gevent.spawn(self._watch_handshakes))
        started = time.monotonic()
        last_notice = 0.0
        while not self.connected.is_set():
            if self.exit_code:
                return False
            # never blocks: while no handshake succeeded (no master yet, or one that refuses us) the
            # socket has nowhere to queue it, and the wait below must still end at ``timeout``
            with contextlib.suppress(zmq.Again):
                self._socket.send(encode("hello", self._hello(), self.node_id), zmq.NOBLOCK)
            waited = time.monotonic() - started
            if waited - last_notice >= 5.0 or last_notice == 0.0:
                last_notice = max(waited, 0.001)
                log.info("Waiting for the master at %s ...", self.endpoint)
            if timeout is not None and waited > timeout:
                return False
            self.connected.wait(timeout=self.heartbeat_interval)
        return True

    def run(self) -> int:
        """Serve the master until it says quit or is gone; returns the process exit code."""
        logging.getLogger().addHandler(self._log_forwarder)
        self._last_master_message = time.monotonic()
        self._greenlets += [
            gevent.spawn(self._report_loop),
            gevent.spawn(self._watch_master),
        ]
        # A real OS thread: threading.Thread is patched into a greenlet here, and a greenlet would
        # share the very loop that busy users can starve.
        self._heartbeat_running = monkey.get_original("_thread", "allocate_lock")()
        self._heartbeat_running.acquire()
        monkey.get_original("_thread", "start_new_thread")(self._heartbeat_thread, ())
        self.finished.wait()
        self._stop_heartbeat = True
        logging.getLogger().removeHandler(self._log_forwarder)
        for greenlet in self._greenlets:
            if greenlet is not gevent.getcurrent():
                greenlet.kill(block=False)
        self._heartbeat_running.acquire(timeout=2 * self.heartbeat_interval + 1)
        with contextlib.suppress(zmq.ZMQError):
            self._socket.disable_monitor()
        self._handshakes.close(linger=0)
        self._socket.close(linger=1000)
        self.close()
        return self.exit_code

    def _finish(self, exit_code: int) -> None:
        self.exit_code = exit_code
        self.finished.set()

    # -- receiving ---------------------------------------------------------------------------------

    def _watch_handshakes(self) -> None:
        """Tell the user, once, when the master refuses this worker for want of the same secret."""
        while True:
            try:
                event = parse_monitor_message(self._handshakes.recv_multipart())["event"]
            except zmq.ZMQError:
                return
            if event == zmq.EVENT_HANDSHAKE_SUCCEEDED:
                self.refused = None
                # what was written into the connection before (if there was one) may be lost with it
                self._connection_made = True
                continue
            # a master that cannot decrypt our hello (another secret) just closes: no detail here
            if event == zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL and self.keys is None:
                continue
            if self.refused is None:
                self.refused = (
                    "authentication failed (this worker's secret is not the master's, or the master has none)"
                    if self.keys is not None
                    else "authentication failed (the master wants a secret: --secret-file or TSWARM_SECRET)"
                )
                log.error("The master at %s refused the connection: %s", self.endpoint, self.refused)

    def _receive_loop(self) -> None:
        while True:
            frame = self._socket.recv()
            self._last_master_message = time.monotonic()
            try:
                msg = decode(frame)
            except ProtocolError as e:
                self._bad_frames += 1
                if self._bad_frames == 1:
                    log.warning("Dropped a frame from the master that is not a tswarm message: %s", e)
                continue
            try:
                self._handle(msg)
            except Exception:
                log.exception("Failed to handle a %r message from the master", msg.type)

    def _handle(self, msg: Message) -> None:
        if msg.type != "heartbeat":
            log.debug("Got %r from the master", msg.type)
        if msg.type == CUSTOM_TYPE:
            # the test file's own message: whatever its name, it goes to the test file's handlers only
            self._handle_custom_message(open_custom(msg))
            return
        handler = self._handlers.get(msg.type)
        if handler is not None:
            handler(self, msg.data)
        else:
            # a type tswarm does not know (test files' names travel inside ``custom``): a bad frame
            self._bad_frames += 1
            if self._bad_frames == 1:
                log.warning("Dropped a %r message from the master: a master sends no such type", msg.type)

    # The handlers of the master's messages, in _handlers below. Those that start or stop users run
    # in a greenlet of their own, so that the receive loop goes on meanwhile.

    def _on_ack(self, data: dict[str, Any]) -> None:
        master_id = data.get("master_id")
        if self._master_id is not None and master_id != self._master_id:
            log.info("Connected to a new master process at %s", self.endpoint)
            self._reports.clear()  # numbers of the old master's test
        self._master_id = master_id
        self._rejoining = False
        self.worker_index = data["index"]
        self.worker_count = data.get("worker_count", self.worker_count)
        timeout = data.get("heartbeat_timeout")
        if isinstance(timeout, int | float) and timeout > 0:
            self.master_heartbeat_timeout = float(timeout)
        interval = data.get("heartbeat_interval")
        if isinstance(interval, int | float) and 0 < interval < 3600:
            # its acknowledgements come with its heartbeats: slower ones leave more reports waiting
            self._reports.in_flight = max(STATS_IN_FLIGHT, math.ceil(interval / STATS_INTERVAL) + 2)
        if not self.connected.is_set():
            log.info("Connected to the master at %s as worker %d", self.endpoint, self.worker_index)
        self.connected.set()
        held, self._held_custom = self._held_custom, []
        for frame in held:
            self._socket.send(frame)

    def _on_refuse(self, data: dict[str, Any]) -> None:
        log.error("The master refused this worker: %s", data["reason"])
        self._finish(1)

    def _on_heartbeat(self, data: dict[str, Any]) -> None:
        """Heartbeats go to the heartbeat socket; one here only shows that the master is alive."""

    def _on_reconnect(self, data: dict[str, Any]) -> None:
        gevent.spawn(self._rejoin)

    def _on_spawn(self, data: dict[str, Any]) -> None:
        gevent.spawn(self._spawn, data)

    def _on_stop(self, data: dict[str, Any]) -> None:
        gevent.spawn(self._stop_test)

    def _on_quit(self, data: dict[str, Any]) -> None:
        gevent.spawn(self._quit)

    def _on_reset_stats(self, data: dict[str, Any]) -> None:
        self.environment.stats.reset_all()
        self.environment.stats.take_delta()
        self._reports.clear()  # sent before the reset: not to be merged after it
        self.environment.events.reset_stats.fire()

    _handlers: dict[str, Callable[[MasterLinkedRunner, Any], None]] = {
        "ack": _on_ack,
        "refuse": _on_refuse,
        "heartbeat": _on_heartbeat,
        "reconnect": _on_reconnect,
        "spawn": _on_spawn,
        "stop": _on_stop,
        "quit": _on_quit,
        "reset_stats": _on_reset_stats,
    }

    # -- what the handlers start ---------------------------------------------------------------------

    def _spawn(self, data: dict[str, Any]) -> None:
        test_id = data.get("test_id")
        if isinstance(data.get("worker_count"), int):
            self.worker_count = data["worker_count"]
        if self.state in (RunState.READY, RunState.STOPPED) or test_id != self._test_id:
            self._test_id = test_id
            if data.get("host"):
                self.environment.host = data["host"]
            if "stop_timeout" in data:
                self.environment.stop_timeout = data["stop_timeout"]
            self._adopt_options(data.get("parsed_options"))
        target = {str(k): int(v) for k, v in data["user_classes_count"].items()}
        self.target_user_count = sum(target.values())
        if self.state in (RunState.READY, RunState.STOPPED):
            self.environment.events.test_start.fire(environment=self.environment)
        self.state = RunState.SPAWNING
        self._send("spawning", {"user_classes_count": target, "user_count": sum(target.values())})
        self.set_users(target)
        self.state = RunState.RUNNING
        counts = dict(self.assigned)
        self._send("spawning_complete", {"user_classes_count": counts, "user_count": sum(counts.values())})

    def _adopt_options(self, options: Any) -> None:
        """The master's options (custom ones included) become this worker's ``parsed_options``, as in
        Locust, except those that say how this process connects and logs."""
        if not isinstance(options, dict):
            return
        if self.environment.parsed_options is None:
            self.environment.parsed_options = Namespace()
        for key, value in options.items():
            if isinstance(key, str) and key not in _WORKER_OWN_OPTIONS:
                setattr(self.environment.parsed_options, key, value)

    def _rejoin(self) -> None:
        """The master does not know us (it restarted): whatever test we ran is gone; say hello again."""
        if self._rejoining or self._quitting:
            return
        self._rejoining = True
        log.warning(
            "The master at %s does not know this worker (did it restart?); joining it again", self.endpoint
        )
        if self.state not in (RunState.READY, RunState.STOPPED):
            self.state = RunState.STOPPING
            self.stop_all_users()
            self.environment.stats.take_delta()  # numbers of the old master's test
            self._reports.clear()
            self.state = RunState.READY
            self.environment.events.test_stop.fire(environment=self.environment)
        while self._rejoining and not self._quitting:
            self._send("hello", self._hello())
            gevent.sleep(self.heartbeat_interval)

    def _stop_test(self) -> None:
        if self.state == RunState.STOPPING:
            return
        was_running = self.state not in (RunState.READY, RunState.STOPPED)
        self.state = RunState.STOPPING
        if was_running:
            self.environment.events.test_stopping.fire(environment=self.environment)
        self.stop_all_users()
        # reports probably lost go again before the final one, so that the master's numbers are whole
        # when it hears "stopped" (it merges each report once); the others are ahead of it in the
        # same connection
        self._send_lost_reports_again()
        self._flush_stats()
        self.state = RunState.STOPPED
        self._send("stopped", {})
        if was_running:
            self.environment.events.test_stop.fire(environment=self.environment)

    def _quit(self) -> None:
        if self._quitting:
            return
        self._quitting = True
        self._stop_test()
        self._send("quit", {})
        self._finish(self.exit_code)

    def leave(self) -> None:
        """Stop gracefully on our own (SIGTERM/SIGINT): stop users, flush stats, tell the master."""
        gevent.spawn(self._quit)

    def request_test_stop(self) -> None:
        """A user raised StopTest: in distributed mode only this worker's users stop."""
        log.info("A user raised StopTest; stopping this worker's users")
        gevent.spawn(self._stop_test)

    # -- background work -----------------------------------------------------------------------------

    def _stats_message(self) -> dict[str, Any]:
        data = {
            "stats": self.environment.stats.take_delta(),
            "user_count": self.user_count,
            "user_classes_count": self.user_classes_count,
            "extra": {},
        }
        self.environment.events.report_to_master.fire(client_id=self.node_id, data=data)
        return data

    def _flush_stats(self) -> None:
        for data in report_parts(self._stats_message(), self.node_id):
            data["seq"], data["kept_from"] = self._reports.number_next()
            frame = encode("stats", data, self.node_id)
            self._socket.send(frame)
            self._reports.sent(data["seq"], frame, time.monotonic())

    def _report_if_room(self) -> None:
        """Send this interval's stats report, or hold it while the master acknowledged none of the last
        ``STATS_IN_FLIGHT``: the delta (and what ``report_to_master`` listeners gather) accumulates, and
        the next report that goes carries all of it."""
        if self._reports.has_room():
            if self._holding_since is not None:
                log.info(
                    "The master at %s acknowledges this worker's stats reports again; this one carries "
                    "the last %.0fs",
                    self.endpoint,
                    time.monotonic() - self._holding_since,
                )
                self._holding_since = None
            self._flush_stats()
            return
        if self._holding_since is None:
            self._holding_since = time.monotonic()
            log.info(
                "The master at %s has not acknowledged this worker's last %d stats reports (it is behind, "
                "or out of reach); holding the next until it does: the numbers accumulate, none is lost",
                self.endpoint,
                len(self._reports),
            )

    def _send_reports_again(self, after: float, why: str) -> None:
        """Send again every kept stats report if the master's acknowledgement has not moved for ``after``
        seconds since they were last sent (all of them at once with ``after`` 0); ``why`` is logged."""
        frames = self._reports.due(time.monotonic(), after)
        if frames:
            log.info("Sending %d stats report(s) again: %s", len(frames), why)
        for frame in frames:
            self._socket.send(frame)

    def _send_lost_reports_again(self) -> None:
        """Send again the kept stats reports that were probably lost: all of them when the connection to
        the master was made again since (what was written into the old one may be lost with it), or
        when its acknowledgement has not moved for STATS_RESEND_AFTER while it is heard. Never to a
        master that merely lags behind: it still has them queued, and a copy would double its work."""
        if not self.connected.is_set() or self._rejoining:
            return
        if self._connection_made:
            self._connection_made = False
            self._send_reports_again(after=0.0, why="the connection to the master was made again")
        elif time.monotonic() - self._last_master_message < self.master_heartbeat_timeout:
            # not while the master is silent: the frames would only pile up in the socket's queue
            self._send_reports_again(
                after=STATS_RESEND_AFTER,
                why=f"the master's acknowledgement has not moved for {STATS_RESEND_AFTER:.0f}s",
            )

    def _report_loop(self) -> None:
        while True:
            gevent.sleep(STATS_INTERVAL)
            # the acknowledgements first: they decide whether this interval's report may go
            self._fire_heartbeat_events()
            self._send_lost_reports_again()
            if self.state != RunState.READY:
                self._report_if_room()
            lines = self._log_forwarder.take()
            if lines:
                self._send("logs", {"lines": lines})

    def _fire_heartbeat_events(self) -> None:
        events = self.environment.events
        while self.cpu_warnings:
            self.warn_cpu(self.cpu_warnings.popleft())
        while self.heartbeats_sent:
            events.heartbeat_sent.fire(client_id=self.node_id, timestamp=self.heartbeats_sent.popleft())
        while self.heartbeats_received:
            frame = self.heartbeats_received.popleft()
            try:
                data = decode(frame).data
                timestamp = data.get("timestamp")
            except (ProtocolError, AttributeError):
                continue
            acked = data.get("stats_acked")
            if isinstance(acked, int) and data.get("master_id") == self._master_id:
                self._reports.acknowledged(acked, time.monotonic())
            events.heartbeat_received.fire(client_id=self.node_id, timestamp=timestamp)

    def _watch_master(self) -> None:
        while True:
            gevent.sleep(min(0.5, self.master_heartbeat_timeout / 4, self.master_timeout / 4))
            silent = time.monotonic() - self._last_master_message
            if silent > self.master_timeout:
                log.error(
                    "Lost the master at %s: nothing heard for %.0fs (--master-timeout); stopping",
                    self.endpoint,
                    silent,
                )
                self.stop_all_users()
                self._finish(1)
                return
            if silent > self.master_heartbeat_timeout and not self._master_lost and not self._quitting:
                # the master has marked us missing by now and given our users to the others: running
                # them on would load the target beyond the test (their stats are kept for its return)
                self._master_lost = True
                log.warning(
                    "Nothing heard from the master at %s for %.0fs; stopping this worker's users "
                    "(it exits after %.0fs of silence, --master-timeout)",
                    self.endpoint,
                    silent,
                    self.master_timeout,
                )
                gevent.spawn(self._stop_for_master_loss)
            elif silent <= self.master_heartbeat_timeout and self._master_lost:
                self._master_lost = False
                log.info("The master at %s answers again; joining it again", self.endpoint)
                self._send("hello", self._hello())

    def _stop_for_master_loss(self) -> None:
        if self.state in (RunState.READY, RunState.STOPPED, RunState.STOPPING):
            return
        self.state = RunState.STOPPING
        self.environment.events.test_stopping.fire(environment=self.environment)
        self.stop_all_users()
        self.state = RunState.STOPPED
        log.info("Stopped this worker's users; waiting for the master")
        self.environment.events.test_stop.fire(environment=self.environment)

    def sample_usage(self) -> None:
        """Fire ``usage_monitor`` with the heartbeat thread's readings.

        That thread measures CPU and memory, and starts the CPU warnings: a greenlet could not, while the
        users keep the gevent loop busy.
        """
        self.environment.events.usage_monitor.fire(
            environment=self.environment, cpu_usage=self.cpu_usage, memory_usage=self.memory_usage
        )

    def _heartbeat_thread(self) -> None:
        # A native thread with its own (non-green) context and socket: it runs even when greenlets hog
        # the gevent loop, so a busy worker is never taken for a dead one.
        context = zmq.Context()
        hb = context.socket(zmq.DEALER)
        hb.setsockopt(zmq.IDENTITY, heartbeat_identity(self.node_id))
        hb.setsockopt(zmq.LINGER, 0)
        watch_liveness(hb)
        _retry_slow_connects(hb)
        if self.keys is not None:
            self.keys.secure_worker(hb)
        hb.connect(self.endpoint)
        poller = zmq.Poller()
        poller.register(hb, zmq.POLLIN)
        process = psutil.Process()  # its own, so that its CPU readings do not disturb the monitor's
        process.cpu_percent()
        measured_since = time.monotonic()
        readings: deque[float] = deque(maxlen=max(1, round(CPU_WARNING_WINDOW / self.heartbeat_interval)))
        next_beat = time.monotonic()
        try:
            while not self._stop_heartbeat:
                now = time.monotonic()
                if now >= next_beat:
                    next_beat = now + self.heartbeat_interval
                    timestamp = time.time()
                    cpu = self.cpu_usage
                    if now - measured_since >= MIN_CPU_SPAN:
                        # a reading over a few microseconds (the first beat, right after the priming
                        # call) divides by almost nothing: thousands of percent
                        cpu = process.cpu_percent()
                        measured_since = now
                        readings.append(cpu)
                    memory = process.memory_info().rss
                    self.cpu_usage, self.memory_usage = cpu, memory
                    data = {
                        "state": str(self.state),
                        "user_count": self.user_count,
                        "cpu": cpu,
                        "memory": memory,
                        "timestamp": timestamp,
                    }
                    hb.send(encode("heartbeat", data, self.node_id))
                    self.heartbeats_sent.append(timestamp)
                    average = sum(readings) / len(readings) if readings else 0.0
                    if len(readings) == readings.maxlen and self.cpu_episode_starts(average):
                        # told from here, so that the master hears it even while the gevent loop is blocked
                        hb.send(encode("cpu_warning", {"cpu": average}, self.node_id))
                        self.cpu_warnings.append(average)
                timeout_ms = max(1, int((next_beat - time.monotonic()) * 1000))
                if poller.poll(timeout_ms):
                    frame = hb.recv()
                    self._last_master_message = time.monotonic()
                    self.heartbeats_received.append(frame)
        finally:
            hb.close(linger=0)
            context.term()
            self._heartbeat_running.release()


#: what the worker's monitor reads: how each handshake with the master went
_HANDSHAKE_EVENTS = (
    zmq.EVENT_HANDSHAKE_SUCCEEDED
    | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL
    | zmq.EVENT_HANDSHAKE_FAILED_AUTH
    | zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL
)


def _retry_slow_connects(sock: Any) -> None:
    """A new connection that TCP has not made within CONNECT_TIMEOUT_MS starts over (see there)."""
    sock.setsockopt(zmq.CONNECT_TIMEOUT, CONNECT_TIMEOUT_MS)


def _bracket(host: str) -> str:
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


def fetch_testfiles(
    master_host: str, master_port: int, node_id: str, timeout: float, keys: CurveKeys | None = None
) -> list[dict[str, Any]]:
    """Ask the master for its test file(s) (``-f -``), on a socket of its own that never says hello."""
    context = zmq_green.Context()
    sock = context.socket(zmq.DEALER)
    sock.setsockopt(zmq.IDENTITY, fetch_identity(node_id))
    sock.setsockopt(zmq.LINGER, 0)
    _retry_slow_connects(sock)
    if keys is not None:
        keys.secure_worker(sock)
    endpoint = f"tcp://{_bracket(master_host)}:{master_port}"
    sock.connect(endpoint)
    deadline = time.monotonic() + timeout
    try:
        log.info("Asking the master at %s for the test file ...", endpoint)
        while time.monotonic() < deadline:
            sock.send(encode("testfile_request", {}, node_id))
            if sock.poll(2000):
                try:
                    msg = decode(sock.recv())
                except ProtocolError:
                    continue
                if msg.type == "testfile":
                    files: list[dict[str, Any]] = msg.data["files"]
                    for item in files:
                        if not _plain_file_name(item["name"]):
                            raise TestFileError(
                                f"the master at {endpoint} sent a test file named {item['name']!r}, "
                                "which is not a plain file name; nothing was written"
                            )
                    return files
        raise TestFileError(f"the master at {endpoint} sent no test file within {timeout:.0f}s")
    finally:
        sock.close(linger=0)
        context.term()


def _plain_file_name(name: str) -> bool:
    """True for a name that can only mean a file in the worker's own folder: no folder, no ``..``."""
    forbidden = ("/", "\\", "\x00")
    return name not in ("", ".", "..") and not any(c in name for c in forbidden) and len(name) <= 255


class WorkerRunner(MasterLinkedRunner):
    """The runner of a ``tswarm worker`` process (``isinstance(environment.runner, WorkerRunner)``)."""

    def stop(self) -> None:
        """Locust's ``runner.stop()`` on a worker: stop this worker's users, which stays connected and
        takes part in the master's next test. Safe to call from a user's own task."""
        gevent.spawn(self._stop_test)

    def quit(self) -> None:
        """Locust's ``runner.quit()`` on a worker: stop the users, report, leave the master and end the
        process (its users go to the other workers). Safe to call from a user's own task."""
        self.leave()


class LinkedLocalRunner(MasterLinkedRunner, LocalRunner):
    """The runner of a local run shown in the TUI.

    It runs the users and reports to the TUI's controller over the protocol, like a worker, but to
    the test file it is a LocalRunner: custom messages it sends are handled right here.
    """

    send_message = LocalRunner.send_message


def report_parts(
    data: dict[str, Any], node_id: str, budget: int = STATS_FRAME_BUDGET
) -> list[dict[str, Any]]:
    """A stats message as one report, or as several whose frames each stay under ``budget`` bytes.

    The delta's entries are shared out (halved until each part fits, or holds a single entry); the
    first part keeps the errors, exceptions, interrupted requests and what ``report_to_master``
    listeners added, the others carry only their entries and the user counts. The master merges
    each part as a report of its own: together they add up to the whole.
    """
    entries = data["stats"]["entries"]
    if len(entries) <= 1 or len(encode("stats", data, node_id)) <= budget:
        return [data]
    half = len(entries) // 2
    first = {**data, "stats": {**data["stats"], "entries": entries[:half]}}
    rest = {
        "stats": {
            "version": data["stats"]["version"],
            "entries": entries[half:],
            "errors": [],
            "exceptions": [],
        },
        "user_count": data["user_count"],
        "user_classes_count": data["user_classes_count"],
        "extra": {},
    }
    return report_parts(first, node_id, budget) + report_parts(rest, node_id, budget)


class UnackedReports:
    """The stats reports a worker sent that its master has not acknowledged yet.

    Reports are numbered from 1. The master merges each number once and says in its heartbeats up to
    which number it has merged them all. At most ``in_flight`` wait for that at once (``has_room``: the
    worker holds its next report meanwhile); they are sent again when the connection was made again (a
    cut connection loses what was written into it), or when the acknowledgement has not moved for a
    while (``due``). Each report also says the lowest number still kept (``kept_from``), so that the
    master stops waiting for one given up (past ``limit``, or cleared because the stats were reset or
    the master is a new one).
    """

    def __init__(self, limit: int, in_flight: int = STATS_IN_FLIGHT) -> None:
        self.limit = limit
        #: reports that may wait for the acknowledgement before the next is held
        self.in_flight = in_flight
        self._last = 0
        #: (number, encoded frame, when it was last sent), oldest first
        self._kept: deque[tuple[int, bytes, float]] = deque()
        self._gave_up = False
        #: when the acknowledgement last moved (took kept reports off)
        self._moved_at = -math.inf

    def number_next(self) -> tuple[int, int]:
        """The number of the next report, and the lowest number kept once it is sent."""
        self._last += 1
        return self._last, self._kept[0][0] if self._kept else self._last

    def has_room(self) -> bool:
        """Whether the next report may go: fewer than ``in_flight`` wait for the acknowledgement."""
        return len(self._kept) < self.in_flight

    def sent(self, number: int, frame: bytes, now: float) -> None:
        """Report ``number`` was sent as ``frame``: keep it until it is acknowledged."""
        self._kept.append((number, frame, now))
        if len(self._kept) > self.limit:
            self._kept.popleft()
            if not self._gave_up:
                self._gave_up = True
                log.warning(
                    "The master acknowledged none of the last %d stats reports; the oldest are given up",
                    self.limit,
                )

    def acknowledged(self, number: int, now: float) -> None:
        """The master merged every report up to ``number`` (heard at ``now``)."""
        while self._kept and self._kept[0][0] <= number:
            self._kept.popleft()
            self._moved_at = now
        self._gave_up = False

    def due(self, now: float, after: float) -> list[bytes]:
        """Every kept frame, marked as sent now, if the acknowledgement has not moved for ``after``
        seconds since they were last sent; else none. With ``after`` 0: every kept frame."""
        if not self._kept:
            return []
        # a master that acknowledges, however late, is working through its queue: what it has not
        # acknowledged yet is in that queue, and a second copy would only add to its work
        waiting_since = max(self._moved_at, self._kept[0][2])  # the oldest: sent first, or with all
        if now - waiting_since < after:
            return []
        frames = [frame for _, frame, _ in self._kept]
        self._kept = deque((number, frame, now) for number, frame, _ in self._kept)
        return frames

    def clear(self) -> None:
        """Give up every kept report (the next report says so with its ``kept_from``)."""
        self._kept.clear()

    def __len__(self) -> int:
        return len(self._kept)
