"""The MasterRunner against fake workers: asyncio tasks with plain zmq DEALER sockets, no gevent.

The fake workers speak docs/protocol.md themselves, so these tests also pin the master's side of it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import msgpack
import pytest
import zmq
import zmq.asyncio

from tswarm.controller.master import MasterRunner
from tswarm.controller.snapshot import RunState, WorkerState
from tswarm.env import Environment
from tswarm.events import Events
from tswarm.protocol import (
    CUSTOM_TYPE,
    PROTOCOL_VERSION,
    Message,
    ProtocolError,
    custom_payload,
    decode,
    encode,
    open_custom,
)
from tswarm.stats import RequestStats

HB_INTERVAL = 0.05
HB_TIMEOUT = 0.6


async def wait_for(condition: Callable[[], Any], timeout: float = 5.0, what: Any = "") -> None:
    """Poll ``condition`` until it is true; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(
                f"timed out after {timeout}s waiting for {(what() if callable(what) else what) or condition}"
            )
        await asyncio.sleep(0.01)


class Reader:
    weight = 2
    fixed_count = 0


class Writer:
    weight = 1
    fixed_count = 0


class FakeWorker:
    """A worker that answers the master as the real one does, without running any user."""

    def __init__(
        self, port: int, node_id: str, host: str = "host-a", protocol: int = PROTOCOL_VERSION
    ) -> None:
        self.node_id = node_id
        self.host = host
        self.protocol = protocol
        self.port = port
        self.context = zmq.asyncio.Context.instance()
        self.socket = self._socket(node_id)
        self.hb_socket = self._socket(node_id + "#hb")
        self.received: list[Message] = []
        self.users: dict[str, int] = {}
        self.spawns: list[dict[str, int]] = []
        self.stats = RequestStats()
        self.silent = False
        self.state = "ready"
        self.index: int | None = None
        self.heartbeats_from_master = 0
        self._tasks: list[asyncio.Task[None]] = []

    def _socket(self, identity: str) -> zmq.asyncio.Socket:
        sock = self.context.socket(zmq.DEALER)
        sock.setsockopt(zmq.IDENTITY, identity.encode())
        sock.setsockopt(zmq.LINGER, 0)
        sock.connect(f"tcp://127.0.0.1:{self.port}")
        return sock

    def send(self, msg_type: str, data: Any = None) -> None:
        self.socket.send(encode(msg_type, {} if data is None else data, self.node_id))

    def send_custom(self, name: str, data: Any = None) -> None:
        """``runner.send_message(name, data)`` as a worker sends it: in the ``custom`` envelope."""
        self.send(CUSTOM_TYPE, custom_payload(name, data))

    def custom_of(self, name: str) -> list[Message]:
        """The custom messages named ``name`` received so far, out of their envelope."""
        return [m for m in map(open_custom, self.of_type(CUSTOM_TYPE)) if m.type == name]

    def send_raw(self, *frames: bytes) -> None:
        self.socket.send_multipart(list(frames))

    async def connect(self, wait_ack: bool = True) -> None:
        self._tasks = [asyncio.create_task(self._receive()), asyncio.create_task(self._receive_hb())]
        self.send(
            "hello",
            {"protocol": self.protocol, "version": "test", "host": self.host, "pid": 1, "cpu_count": 1},
        )
        if wait_ack:
            await wait_for(lambda: self.index is not None, what=f"ack to {self.node_id}")
            # as a real worker, heartbeats start once the master has acknowledged
            self._tasks.append(asyncio.create_task(self._beat()))

    def of_type(self, msg_type: str) -> list[Message]:
        return [m for m in self.received if m.type == msg_type]

    def log_requests(self, n: int, name: str = "/a") -> None:
        for i in range(n):
            self.stats.log_request("GET", name, 10 + i % 50, 100)

    def flush(self) -> None:
        self.send(
            "stats",
            {
                "stats": self.stats.take_delta(),
                "user_count": sum(self.users.values()),
                "user_classes_count": dict(self.users),
                "extra": {},
            },
        )

    async def _receive(self) -> None:
        while True:
            msg = decode(await self.socket.recv())
            self.received.append(msg)
            if msg.type == "ack":
                self.index = msg.data["index"]
            elif msg.type == "spawn" and not self.silent:
                self.users = {k: v for k, v in msg.data["user_classes_count"].items() if v}
                self.spawns.append(dict(self.users))
                self.state = "running"
                counts = {"user_classes_count": dict(self.users), "user_count": sum(self.users.values())}
                self.send("spawning", counts)
                self.send("spawning_complete", counts)
            elif msg.type == "stop":
                self.users = {}
                self.flush()
                self.state = "stopped"
                self.send("stopped")
            elif msg.type == "quit":
                self.flush()
                self.send("quit")

    async def _receive_hb(self) -> None:
        while True:
            msg = decode(await self.hb_socket.recv())
            if msg.type == "heartbeat":
                self.heartbeats_from_master += 1

    async def _beat(self) -> None:
        while True:
            if not self.silent:
                data = {
                    "state": self.state,
                    "user_count": sum(self.users.values()),
                    "cpu": 1.5,
                    "memory": 1000,
                    "timestamp": time.time(),
                }
                self.hb_socket.send(encode("heartbeat", data, self.node_id))
            await asyncio.sleep(HB_INTERVAL)

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self.socket.close(linger=0)
        self.hb_socket.close(linger=0)


@pytest.fixture
def environment() -> Environment:
    return Environment(user_classes=[Reader, Writer], events=Events())


@pytest.fixture
async def master(environment: Environment) -> AsyncIterator[MasterRunner]:
    runner = environment.create_master_runner(
        "127.0.0.1",
        0,
        heartbeat_interval=HB_INTERVAL,
        heartbeat_timeout=HB_TIMEOUT,
        testfiles=[("locustfile.py", b"print('hi')\n")],
    )
    task = asyncio.create_task(runner.serve())
    await wait_for(lambda: runner._bridge.loop is not None)
    yield runner
    runner.quit()
    with contextlib.suppress(asyncio.TimeoutError):
        await asyncio.wait_for(task, 15)


@pytest.fixture
async def make_worker(master: MasterRunner) -> AsyncIterator[Callable[..., Any]]:
    made: list[FakeWorker] = []

    async def make(node_id: str, host: str = "host-a", **kwargs: Any) -> FakeWorker:
        worker = FakeWorker(master.bind_port, node_id, host, **kwargs)
        made.append(worker)
        await worker.connect(wait_ack=kwargs.get("protocol", PROTOCOL_VERSION) == PROTOCOL_VERSION)
        return worker

    yield make
    for worker in made:
        await worker.close()


def live_total(workers: list[FakeWorker]) -> int:
    return sum(sum(w.users.values()) for w in workers)


async def test_hello_ack_with_increasing_index(master: MasterRunner, make_worker: Any) -> None:
    connected: list[str] = []
    master.environment.events.worker_connect.add_listener(lambda client_id: connected.append(client_id))
    a = await make_worker("a")
    b = await make_worker("b")
    assert (a.index, b.index) == (0, 1)
    assert connected == ["a", "b"]
    assert master.worker_count == 2 and master.workers["b"].index == 1
    ack = a.of_type("ack")[0].data
    assert ack["protocol"] == PROTOCOL_VERSION and ack["heartbeat_interval"] == HB_INTERVAL
    # a repeated hello (sent before the ack arrived) keeps the index and does not count twice
    a.send("hello", {"protocol": PROTOCOL_VERSION, "version": "t", "host": "host-a", "pid": 1})
    await wait_for(lambda: len(a.of_type("ack")) == 2)
    assert a.of_type("ack")[1].data["index"] == 0 and connected == ["a", "b"]
    # heartbeats both ways
    await wait_for(lambda: a.heartbeats_from_master >= 2)
    assert master.workers["a"].memory == 1000


async def test_protocol_mismatch_is_refused_naming_both_versions(
    master: MasterRunner, make_worker: Any, caplog: pytest.LogCaptureFixture
) -> None:
    old = await make_worker("old", protocol=PROTOCOL_VERSION + 1)
    await wait_for(lambda: old.of_type("refuse"))
    reason = old.of_type("refuse")[0].data["reason"]
    assert reason == (
        f"protocol version mismatch: master speaks {PROTOCOL_VERSION}, worker speaks {PROTOCOL_VERSION + 1}"
    )
    assert "old" not in master.workers
    assert any(reason in r.getMessage() for r in caplog.records)


async def test_three_workers_even_share_at_spawn_rate(master: MasterRunner, make_worker: Any) -> None:
    completes: list[int] = []
    starts: list[bool] = []
    master.environment.events.spawning_complete.add_listener(lambda user_count: completes.append(user_count))
    master.environment.events.test_start.add_listener(lambda environment: starts.append(True))
    workers = [await make_worker("w1", "h1"), await make_worker("w2", "h1"), await make_worker("w3", "h2")]
    began = time.monotonic()
    master.start(30, 20)
    await asyncio.sleep(0.5)
    early = live_total(workers)
    assert 1 <= early <= 1 + 20 * (time.monotonic() - began) + 5, early
    await wait_for(lambda: master.state is RunState.RUNNING, what="spawning complete")
    took = time.monotonic() - began
    assert 1.2 <= took <= 3.5, took  # 29 users after the first at 20/s
    assert [sum(w.users.values()) for w in workers] == [10, 10, 10]
    assert sum(w.users.get("Reader", 0) for w in workers) == 20
    assert completes == [30] and starts == [True]
    assert master.user_count == 30
    # ramp down at the spawn rate too, and the spawn messages carry the test's settings
    master.start(3, 50)
    await wait_for(lambda: live_total(workers) == 3)
    assert [sum(w.users.values()) for w in workers] == [1, 1, 1]
    spawn = workers[0].of_type("spawn")[-1].data
    assert {"host", "stop_timeout", "test_id", "parsed_options"} <= set(spawn)


async def test_missing_worker_users_move_and_it_rejoins(
    master: MasterRunner, make_worker: Any, caplog: pytest.LogCaptureFixture
) -> None:
    workers = [await make_worker("w1", "h1"), await make_worker("w2", "h2"), await make_worker("w3", "h3")]
    master.start(12, 100)
    await wait_for(lambda: master.state is RunState.RUNNING)
    silent = workers[2]
    silent.silent = True
    went_silent = time.monotonic()
    await wait_for(lambda: master.workers["w3"].state is WorkerState.MISSING, timeout=HB_TIMEOUT + 2)
    assert time.monotonic() - went_silent <= HB_TIMEOUT + 2 * HB_INTERVAL + 0.3
    assert any("w3 is missing" in r.getMessage() for r in caplog.records)
    await wait_for(lambda: sum(workers[0].users.values()) + sum(workers[1].users.values()) == 12)
    assert master.worker_count == 2
    # it speaks again: back, with its share
    silent.silent = False
    silent.users = {}
    await wait_for(lambda: master.workers["w3"].state is not WorkerState.MISSING)
    await wait_for(lambda: [sum(w.users.values()) for w in workers] == [4, 4, 4])
    assert master.workers["w3"].index == 2


async def test_worker_joining_mid_test_gets_its_share(master: MasterRunner, make_worker: Any) -> None:
    first = await make_worker("w1")
    master.start(6, 100)
    await wait_for(lambda: sum(first.users.values()) == 6)
    second = await make_worker("w2")
    await wait_for(lambda: sum(first.users.values()) == 3 and sum(second.users.values()) == 3)


async def test_stats_deltas_merge_to_the_sum_and_stop_waits_for_final_flush(
    master: MasterRunner, make_worker: Any
) -> None:
    reports: list[str] = []
    stops: list[int] = []
    master.environment.events.worker_report.add_listener(lambda client_id, data: reports.append(client_id))
    master.environment.events.test_stop.add_listener(
        lambda environment: stops.append(environment.stats.total.num_requests)
    )
    workers = [await make_worker(f"w{i}") for i in range(3)]
    master.start(3, 100)
    await wait_for(lambda: master.state is RunState.RUNNING)
    for i, w in enumerate(workers):
        w.log_requests(10 * (i + 1), "/a")
        w.stats.log_request("POST", "/b", 5, 10)
        w.stats.log_error("POST", "/b", "boom")
        w.flush()
    await wait_for(lambda: len(reports) == 3)
    assert master.stats.total.num_requests == 63
    # requests made after the last periodic report reach the master in the final flush, before test_stop
    for w in workers:
        w.log_requests(7, "/c")
    master.stop()
    await wait_for(lambda: master.state is RunState.STOPPED)
    assert stops == [63 + 21]
    assert master.stats.get("/c", "GET").num_requests == 21
    assert master.stats.get("/b", "POST").num_failures == 3
    assert master.snapshot().failures[0].occurrences == 3
    assert all(w.state is WorkerState.STOPPED for w in master.workers.values())


async def test_malformed_stats_report_is_dropped(master: MasterRunner, make_worker: Any) -> None:
    w = await make_worker("w")
    w.send("stats", {"stats": {"version": 1, "entries": [{"oops": 1}]}, "user_count": 0})
    await wait_for(lambda: master.malformed_reports == 1)
    w.log_requests(4)
    w.flush()
    await wait_for(lambda: master.stats.total.num_requests == 4)


async def test_custom_messages_both_ways(
    master: MasterRunner, make_worker: Any, caplog: pytest.LogCaptureFixture
) -> None:
    got: list[tuple[str, Any]] = []
    threaded: list[Any] = []

    def on_ack(environment: Environment, msg: Message) -> None:
        assert environment is master.environment
        got.append((msg.node_id, msg.data))
        environment.runner.send_message("thanks", msg.data, client_id=msg.node_id)

    master.register_message("acknowledge_users", on_ack)
    master.register_message("slow", lambda environment, msg: threaded.append(msg.data), concurrent=True)
    # a name of one of tswarm's own types is the test file's too (it was refused with a ValueError)
    master.register_message("stats", on_ack)
    a, b = await make_worker("a"), await make_worker("b")
    a.send_custom("acknowledge_users", "Thanks for the 3 users!")
    await wait_for(lambda: a.custom_of("thanks"))
    assert got == [("a", "Thanks for the 3 users!")] and not b.custom_of("thanks")
    a.send_custom("slow", [1, 2])
    await wait_for(lambda: threaded == [[1, 2]])
    master.send_message("test_users", [{"name": "User1"}])
    await wait_for(lambda: a.custom_of("test_users") and b.custom_of("test_users"))
    assert a.custom_of("test_users")[0].data == [{"name": "User1"}]
    b.send_custom("stats", "not a report")
    await wait_for(lambda: ("b", "not a report") in got)
    assert master.malformed_reports == 0 and master.protocol_errors == 0
    # unregistered: logged once per name, with its name and its sender
    for _ in range(3):
        b.send_custom("nobody_listens", 1)
    a.send_custom("acknowledge_users", "still working")
    await wait_for(lambda: len(got) == 3)
    warnings = [r.getMessage() for r in caplog.records if "nobody_listens" in r.getMessage()]
    assert len(warnings) == 1 and " b" in warnings[0]


async def test_custom_names_of_builtin_types_never_reach_the_masters_handlers(
    master: MasterRunner, make_worker: Any
) -> None:
    got: list[tuple[str, Any]] = []
    names = ["quit", "stopped", "stats", "hello", "spawning_complete", "logs", "heartbeat", "custom"]
    for name in names:
        master.register_message(name, lambda environment, msg: got.append((msg.type, msg.data)))
    a, b = await make_worker("a"), await make_worker("b")
    master.start(4, 100)
    await wait_for(lambda: master.state is RunState.RUNNING)
    for name in names:
        a.send_custom(name, {"mine": name})
    await wait_for(lambda: len(got) == len(names))
    assert got == [(name, {"mine": name}) for name in names]
    # "a" is still a worker of the test, running its share: no quit, no stop, no restart
    assert master.workers["a"].state is WorkerState.RUNNING and master.worker_count == 2
    assert master.protocol_errors == 0 and master.malformed_reports == 0
    # a name sent as a message type (protocol version 1's way) is an unknown type: dropped, counted
    b.send("quit_when_done", {"mine": 1})
    await wait_for(lambda: master.protocol_errors == 1)
    assert master.link.peer_errors == {"b": 1} and len(got) == len(names)
    master.register_message("quit_when_done", lambda environment, msg: got.append((msg.type, msg.data)))
    b.send_custom("quit_when_done", None)
    await wait_for(lambda: got[-1] == ("quit_when_done", None))
    with pytest.raises(TypeError):
        master.send_message(7, "a name must be a str")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        master.send_message("data", object())


async def test_a_custom_message_sent_to_no_worker_is_logged_once(
    master: MasterRunner, make_worker: Any, caplog: pytest.LogCaptureFixture
) -> None:
    master.send_message("early", 1)
    master.send_message("early", 2)
    master.send_message("to_one", 3, client_id="nobody")
    await wait_for(lambda: any("'to_one'" in r.getMessage() for r in caplog.records))
    warnings = [r.getMessage() for r in caplog.records if "'early'" in r.getMessage()]
    assert len(warnings) == 1 and "went to no worker: none is connected" in warnings[0]
    a = await make_worker("a")
    master.send_message("late", 4)
    await wait_for(lambda: a.custom_of("late"))
    assert not a.custom_of("early")  # not kept for a worker that joins later


async def test_garbage_is_counted_and_the_master_keeps_working(
    master: MasterRunner, make_worker: Any
) -> None:
    stranger = FakeWorker(master.bind_port, "stranger")
    try:
        stranger.send_raw(b"\xff\x00random bytes")
        stranger.send_raw(msgpack.packb({"a": 1}))
        stranger.send_raw(msgpack.packb(["hello", "not a map", "stranger"]))
        stranger.send_raw(b"one", b"two")
        stranger.send("stats", {"stats": {}, "user_count": 0})  # before hello
        await wait_for(lambda: master.protocol_errors == 5, what=lambda: master.link.peer_errors)
        w = await make_worker("good")
        w.send("spawn", {"user_classes_count": {}})  # a type only the master sends
        w.send("heartbeat", {"no timestamp": 1})
        await wait_for(lambda: master.protocol_errors == 7, what=lambda: master.link.peer_errors)
        assert master.link.peer_errors == {"stranger": 5, "good": 2}
        master.start(2, 100)
        await wait_for(lambda: sum(w.users.values()) == 2)
    finally:
        await stranger.close()


async def test_testfile_request_is_answered(master: MasterRunner, make_worker: Any) -> None:
    w = await make_worker("w")
    w.send("testfile_request")
    await wait_for(lambda: w.of_type("testfile"))
    assert w.of_type("testfile")[0].data == {
        "files": [{"name": "locustfile.py", "content": b"print('hi')\n"}]
    }


async def test_logs_and_cpu_warning(
    master: MasterRunner, make_worker: Any, caplog: pytest.LogCaptureFixture
) -> None:
    w = await make_worker("w")
    caplog.set_level(logging.INFO)
    w.send("logs", {"lines": [[time.time(), "INFO", "hello from the worker"]]})
    w.send("cpu_warning", {"cpu": 97.0})
    await wait_for(lambda: master.workers["w"].cpu_warning and len(master.logs) >= 2)
    assert any(line.source == "w" and line.message == "hello from the worker" for line in master.logs)
    assert any("[w] hello from the worker" in r.getMessage() for r in caplog.records)
    assert any("w is using 97% CPU" in r.getMessage() for r in caplog.records)


async def test_cpu_warning_on_the_heartbeat_socket(master: MasterRunner, make_worker: Any) -> None:
    # the worker's native heartbeat thread sends it, so that it arrives while the gevent loop is blocked
    w = await make_worker("w")
    errors = master.protocol_errors
    w.hb_socket.send(encode("cpu_warning", {"cpu": 95.0}, "w"))
    await wait_for(lambda: master.workers["w"].cpu_warning)
    assert master.protocol_errors == errors


async def test_spawn_tells_the_worker_count(master: MasterRunner, make_worker: Any) -> None:
    a, b = await make_worker("a"), await make_worker("b")
    master.start(2, 100)
    await wait_for(lambda: a.of_type("spawn") and b.of_type("spawn"))
    assert a.of_type("spawn")[-1].data["worker_count"] == 2


async def test_expect_workers_timeout(environment: Environment, caplog: pytest.LogCaptureFixture) -> None:
    runner = environment.create_master_runner("127.0.0.1", 0, heartbeat_interval=HB_INTERVAL)
    began = time.monotonic()
    code = await runner.run_headless(10, 5, expect_workers=3, expect_workers_max_wait=0.5)
    assert code == 1
    assert time.monotonic() - began < 3
    assert "Gave up waiting for workers: 0 of 3 connected after 0.5s" in caplog.text
    # said once (it used to be logged twice, so the TUI's Logs view showed it twice)
    gave_up = [line for line in runner.logs if line.message.startswith("Gave up waiting for workers")]
    assert len(gave_up) == 1 and gave_up[0].source == "master" and gave_up[0].level == "ERROR"


async def test_run_headless_runs_and_quits_workers(environment: Environment) -> None:
    runner = environment.create_master_runner("127.0.0.1", 0, heartbeat_interval=HB_INTERVAL)

    class Reporter:
        periodic_calls = 0
        final_total: int | None = None

        def periodic(self) -> None:
            self.periodic_calls += 1

        def final(self) -> None:
            self.final_total = runner.stats.total.num_requests

    reporter = Reporter()
    run = asyncio.create_task(runner.run_headless(4, 100, run_time=1.6, expect_workers=2, reporter=reporter))
    workers = [FakeWorker(runner.bind_port, f"w{i}") for i in range(2)]
    try:
        for w in workers:
            await w.connect()
        await wait_for(lambda: live_total(workers) == 4)
        workers[0].log_requests(5)
        assert await asyncio.wait_for(run, 10) == 0
        assert reporter.periodic_calls >= 1 and reporter.final_total == 5
        assert all(w.of_type("quit") for w in workers)
    finally:
        for w in workers:
            await w.close()


def test_thread_mode_for_the_tui(environment: Environment) -> None:
    runner = environment.create_master_runner(
        "127.0.0.1",
        0,
        heartbeat_interval=HB_INTERVAL,
        outputs_writer=lambda prefix=None: [f"{prefix}.json"] if prefix else ["out.csv"],
    )
    runner.start_in_thread()
    try:
        assert runner.snapshot().state is RunState.WAITING
        runner.start(5, 10, host="http://example.test", run_time=60)
        deadline = time.monotonic() + 5
        while runner.snapshot().state is not RunState.SPAWNING and time.monotonic() < deadline:
            time.sleep(0.05)
        snap = runner.snapshot()
        assert snap.state is RunState.SPAWNING and snap.target_user_count == 5 and snap.run_time == 60
        assert snap.host == "http://example.test"
        assert runner.write_outputs() == ["out.csv"]
        assert runner.write_outputs("reports/run1") == ["reports/run1.json"]
        runner.stop()
        while runner.snapshot().state is not RunState.STOPPED and time.monotonic() < deadline:
            time.sleep(0.05)
        assert runner.snapshot().state is RunState.STOPPED
    finally:
        runner.shutdown()
    assert runner._thread is not None and not runner._thread.is_alive()


async def test_run_headless_follows_a_load_shape(environment: Environment) -> None:
    from tswarm.runner.shape import LoadTestShape

    class TwoSteps(LoadTestShape):
        def tick(self) -> Any:
            t = self.get_run_time()
            if t < 0.6:
                return (2, 100)
            if t < 1.6:
                return (4, 100)
            return None

    environment.shape_class = TwoSteps()
    runner = environment.create_master_runner("127.0.0.1", 0, heartbeat_interval=HB_INTERVAL)
    run = asyncio.create_task(runner.run_headless(0, 1, expect_workers=1))
    worker = FakeWorker(runner.bind_port, "w")
    try:
        await worker.connect()
        assert await asyncio.wait_for(run, 10) == 0
        sizes = [sum(s.values()) for s in worker.spawns]
        assert 2 in sizes and max(sizes) == 4 and sizes.index(2) < sizes.index(4)
        assert worker.of_type("stop") and worker.of_type("quit")
    finally:
        await worker.close()


def test_worker_registry_views_and_indexes() -> None:
    from tswarm.controller.workers import WorkerNodes

    workers = WorkerNodes()
    a = workers.add("a", "h1", 10, 4, b"a")
    b = workers.add("b", "h2", 11, 2, b"b")
    c = workers.add("c", "h1", 12, 1, b"c")
    assert [w.index for w in (a, b, c)] == [0, 1, 2] and len(workers) == 3 and "b" in workers
    assert a.heartbeat_identity == b"a#hb"
    b.spawning({"user_classes_count": {"U": 2}})
    c.state = WorkerState.MISSING
    assert [w.node_id for w in workers.live] == ["a", "b"]
    assert [w.node_id for w in workers.ready] == ["a"]
    assert [w.node_id for w in workers.spawning] == ["b"] and workers.running == []
    assert [w.node_id for w in workers.all] == ["a", "b", "c"]
    assert [w.node_id for w in workers.missing] == ["c"]
    b.heartbeat({"user_count": 2, "state": "running", "cpu": 12.5, "memory": 1000, "timestamp": 1.0})
    c.user_count = 7  # a missing worker's users do not count
    assert workers.live_count == 2 and workers.user_count == 2 and b.cpu == 12.5
    # numbers of the wrong type never reach a node: the frame is refused when it is decoded
    bad = {"state": "running", "cpu": True, "memory": "lots", "user_count": 2.5, "timestamp": 2.0}
    with pytest.raises(ProtocolError, match="heartbeat"):
        decode(encode("heartbeat", bad, "b"))
    # a worker may not report itself missing; what it leaves out is kept
    b.heartbeat({"state": "missing", "timestamp": 2.0})
    assert b.state is WorkerState.RUNNING and b.cpu == 12.5 and b.memory == 1000 and b.user_count == 2
    assert [w.node_id for w in workers.running] == ["b"]
    # a worker that quits and comes back keeps its index; until then it is remembered as departed
    workers.remove("a")
    assert "a" not in workers and workers.departed("a")
    again = workers.add("a", "h1", 13, 4, b"a")
    assert again.index == 0 and not workers.departed("a")
    assert [w.node_id for w in workers.in_order()] == ["a", "b", "c"]


async def test_watch_entry_puts_that_entrys_detail_into_the_snapshot(
    master: MasterRunner, make_worker: Any
) -> None:
    w = await make_worker("w")
    w.stats.log_request("GET", "/a", 12.0, 10, status_code=200)
    w.stats.log_request("GET", "/a", 80.0, 10, status_code=503)
    w.stats.log_request("GET", "/b", 5.0, 10, status_code=0)
    w.flush()
    await wait_for(lambda: master.stats.total.num_requests == 3)
    master.watch_entry(("GET", "/a"))
    await wait_for(lambda: master.snapshot().detail is not None)
    snapshot = master.snapshot()
    detail = snapshot.detail
    assert detail is not None and (detail.method, detail.name) == ("GET", "/a")
    assert sum(count for _, count in detail.histogram) == 2
    assert detail.percentiles[1.0] == 80.0
    row = next(e for e in snapshot.entries if e.key == ("GET", "/a"))
    assert row.status_codes == ((200, 1), (503, 1))
    # the whole test's histogram and codes are always there, for the Distributions view
    assert snapshot.total_detail is not None and sum(n for _, n in snapshot.total_detail.histogram) == 3
    assert snapshot.total.status_codes == ((0, 1), (200, 1), (503, 1))
    master.watch_entry(None)
    await wait_for(lambda: master.snapshot().detail is None)


class _Frame:
    """A received ZeroMQ frame, as the link reads it."""

    def __init__(self, data: bytes) -> None:
        self.bytes = data

    def get(self, option: int) -> int:
        raise zmq.ZMQError(zmq.EINVAL)


class _SteadyFlow:
    """Both faces of a socket that has a message queued each time it is asked, ``limit`` times."""

    def __init__(self, frame: bytes, limit: int) -> None:
        self.frames = [_Frame(b"flood"), _Frame(frame)]
        self.given = 0
        self.limit = limit

    async def recv_multipart(self, copy: bool = True) -> list[_Frame]:
        # as zmq.asyncio does when a message is there already: no turn of the loop
        if self.given >= self.limit:
            await asyncio.Future()
        self.given += 1
        return self.frames

    def recv_sync(self, flags: int = 0, copy: bool = True) -> list[_Frame]:
        if self.given >= self.limit:
            raise zmq.Again
        self.given += 1
        return self.frames


async def test_a_steady_flow_of_messages_does_not_starve_the_loop() -> None:
    # awaiting a message that is queued already does not yield to the loop: without a turn per batch,
    # a master under a steady flow never sent its heartbeats nor ran its signal handlers
    from tswarm.controller.link import RECEIVE_BATCH, MasterLink

    link = MasterLink("127.0.0.1", 0)
    flow = _SteadyFlow(encode("heartbeat", {"timestamp": 1.0}, "flood"), 4 * RECEIVE_BATCH)
    real_socket, real_sync_socket = link._socket, link._sync_socket
    fake_sync = type("SyncFace", (), {"recv_multipart": staticmethod(flow.recv_sync)})()
    link._socket, link._sync_socket = flow, fake_sync
    handled = 0
    handled_when_other_ran: list[int] = []

    def on_message(incoming: Any) -> None:
        nonlocal handled
        handled += 1

    async def other_task() -> None:
        handled_when_other_ran.append(handled)

    receiving = asyncio.create_task(link.receive_forever(on_message))
    other = asyncio.create_task(other_task())  # scheduled after the receiving task's first run
    try:
        await other
        await wait_for(lambda: flow.given >= flow.limit)
    finally:
        receiving.cancel()
        link._socket, link._sync_socket = real_socket, real_sync_socket
        link.close()
    assert handled == flow.limit
    # the other task ran within the first batch, not once the flow had dried up
    assert handled_when_other_ran and handled_when_other_ran[0] <= RECEIVE_BATCH + 1
