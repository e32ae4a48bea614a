"""Custom messages under any name, with real processes: a master and two workers, ``run --processes``,
a local run headless and behind the TUI, and a peer of the previous protocol version.

Names that are also tswarm's own message types ("stop", "quit", "stats" ...) are the test file's: they
travel in the ``custom`` envelope, reach the test file's listeners both ways, and never tswarm's
handlers (a custom "stop" does not stop the test). Reuses the Proc/procs helpers of test_distributed.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import test_distributed
import zmq
from conftest import TargetServer, free_port
from test_distributed import Proc, master_args, worker_args

from tswarm.cli.distributed import create_master, start_local_workers, stop_processes
from tswarm.cli.options import RunOptions
from tswarm.protocol import (
    CUSTOM_TYPE,
    PROTOCOL_VERSION,
    RESERVED_TYPES,
    Message,
    custom_payload,
    decode,
    encode,
    open_custom,
)

procs = test_distributed.procs  # the fixture

pytestmark = pytest.mark.timeout(90)

#: every type tswarm has on the wire, the envelope's own name included: all of them are free for tests
NAMES = sorted(RESERVED_TYPES | {CUSTOM_TYPE})
#: the protocol version before custom messages had their envelope
OLD_PROTOCOL = 1

# On a worker, each name is printed and echoed back to the master; a local runner hears what it sends
# itself. The master waits for the echo of every name from both workers, then for a report from each
# worker that still runs its 2 users, and only then stops the test itself (-t is a bound, not the end).
TEST_FILE = """
from locust import FastHttpUser, constant, events, task
from locust.runners import MasterRunner, WorkerRunner

NAMES = __NAMES__
WORKERS = 2
state = {"env": None, "replies": {}, "all_replied": False, "still_running": set(), "sent": False}


def out(text):
    print(text, flush=True)


class Steady(FastHttpUser):
    wait_time = constant(0.05)

    @task
    def fast(self):
        self.client.get("/fast")


def on_worker_side(environment, msg, **kwargs):
    runner = environment.runner
    out(f"GOT {msg.type} {msg.data!r} from {msg.node_id}")
    if isinstance(runner, WorkerRunner):
        runner.send_message(msg.type, {"echo": msg.data, "index": runner.worker_index})


def on_master_side(environment, msg, **kwargs):
    out(f"MASTER GOT {msg.type} {msg.data!r} from {msg.node_id}")
    state["replies"].setdefault(msg.type, set()).add(msg.node_id)
    if all(len(state["replies"].get(name, ())) == WORKERS for name in NAMES):
        if not state["all_replied"]:
            out("ALL REPLIES")
        state["all_replied"] = True


@events.init.add_listener
def on_init(environment, runner, **kwargs):
    state["env"] = environment
    if isinstance(runner, MasterRunner):
        for name in NAMES:
            runner.register_message(name, on_master_side)
        runner.register_message("from_init", lambda environment, msg, **kw: out(f"FROM INIT {msg.data}"))
        runner.send_message("early", "before any worker joined")
    else:
        for name in NAMES:
            runner.register_message(name, on_worker_side)
        runner.register_message("early", on_worker_side)
        if isinstance(runner, WorkerRunner):
            runner.send_message("from_init", runner.node_id)


@events.test_start.add_listener
def on_test_start(environment, **kwargs):
    runner = environment.runner
    if not isinstance(runner, (MasterRunner, WorkerRunner)):
        for i, name in enumerate(NAMES):
            runner.send_message(name, i)
        runner.send_message("unheard", 1)
        runner.send_message("unheard", 2)
        out("LOCAL SENT ALL")


@events.spawning_complete.add_listener
def on_spawned(user_count, **kwargs):
    runner = state["env"].runner
    if isinstance(runner, MasterRunner) and not state["sent"]:
        state["sent"] = True
        for i, name in enumerate(NAMES):
            runner.send_message(name, i)
        runner.send_message("unheard", 0)


@events.worker_report.add_listener
def on_report(client_id, data, **kwargs):
    if state["all_replied"] and data["user_count"] == 2 and len(state["still_running"]) < WORKERS:
        state["still_running"].add(client_id)
        if len(state["still_running"]) == WORKERS:
            out("STILL RUNNING")
            state["env"].runner.stop()
"""


@pytest.fixture
def testfile(tmp_path: Path) -> Path:
    path = tmp_path / "custom_names.py"
    path.write_text(TEST_FILE.replace("__NAMES__", repr(NAMES)))
    return path


def assert_master_heard_every_name_from_both_workers(master: Proc) -> None:
    out = master.output
    for i, name in enumerate(NAMES):
        for index in (0, 1):
            assert f"MASTER GOT {name} {{'echo': {i}, 'index': {index}}} from " in out, name
    # nothing a test file sent was taken for one of tswarm's own messages, nor dropped as a bad frame
    assert out.index("ALL REPLIES") < out.index("STILL RUNNING")
    assert "Dropped a" not in out
    assert not re.search(r"Worker \S+ quit", out[: out.index("STILL RUNNING")])  # only at the end
    # a message sent before any worker joined went nowhere, and said so once
    assert out.count("The custom message 'early' went to no worker: none is connected") == 1


def test_any_name_both_ways_master_and_two_workers(
    tmp_path: Path, testfile: Path, target: TargetServer, procs: Callable[..., Proc]
) -> None:
    port = free_port()
    args = ("-f", str(testfile), "--expect-workers", "2", "-H", target.url, "-u", "4", "-r", "100")
    # --stop-timeout: users finish the request they are in, so that the target's count is exact
    master = procs(
        *master_args(port, *args, "-t", "60s", "--stop-timeout", "5", "--json", "out.json"), cwd=tmp_path
    )
    workers = [procs(*worker_args(port, "-f", str(testfile)), cwd=tmp_path) for _ in range(2)]
    assert master.wait() == 0, master.output
    assert [w.wait(timeout=15) for w in workers] == [0, 0], [w.output for w in workers]
    assert_master_heard_every_name_from_both_workers(master)
    # what a worker sent from events.init, before the master acknowledged it, arrived after the ack
    assert master.output.count("FROM INIT ") == 2
    for worker in workers:
        out = worker.output
        for i, name in enumerate(NAMES):
            assert f"GOT {name} {i} from master" in out, (name, out)
        assert "GOT early" not in out
        # a name the worker has no listener for: one warning, and it goes on
        assert out.count("Ignored a custom message 'unheard' from master: no handler is registered") == 1
        assert "Dropped a" not in out and "joining it again" not in out and "refused" not in out
    # no custom "reset_stats" or "stop" lost a request: the totals are the target's
    report = json.loads((tmp_path / "out.json").read_text())
    assert report["total"]["num_requests"] == target.counts()["total"] > 0


def test_any_name_both_ways_with_local_processes(
    tmp_path: Path, testfile: Path, target: TargetServer, procs: Callable[..., Proc]
) -> None:
    run = procs(
        "run",
        "-f",
        str(testfile),
        "--processes",
        "2",
        "--headless",
        "-H",
        target.url,
        "-u",
        "4",
        "-r",
        "100",
        "-t",
        "60s",
        "--stop-timeout",
        "5",
        "--json",
        "out.json",
        cwd=tmp_path,
    )
    assert run.wait() == 0, run.output
    assert_master_heard_every_name_from_both_workers(run)
    assert run.output.count("FROM INIT ") == 2
    report = json.loads((tmp_path / "out.json").read_text())
    assert report["total"]["num_requests"] == target.counts()["total"] > 0


def test_any_name_in_a_local_run_is_handled_by_the_runner_itself(
    tmp_path: Path, testfile: Path, target: TargetServer, procs: Callable[..., Proc]
) -> None:
    run = procs(
        "run", "-f", str(testfile), "--headless", "-H", target.url, "-u", "2", "-r", "100", "-t", "3s",
        "--stop-timeout", "5", "--json", "out.json",
        cwd=tmp_path,
    )  # fmt: skip
    assert run.wait() == 0, run.output
    out = run.output
    for i, name in enumerate(NAMES):
        assert f"GOT {name} {i} from local" in out, name
    # handled at once, in order, by this runner; the custom "stop" and "quit" did not end the test
    assert out.index("GOT stop ") < out.index("LOCAL SENT ALL") < out.index("Run time limit reached")
    assert out.count("Ignored a custom message 'unheard' from local: no handler is registered") == 1
    report = json.loads((tmp_path / "out.json").read_text())
    assert report["total"]["num_requests"] == target.counts()["total"] > 0


def test_any_name_in_the_tuis_local_run(tmp_path: Path, testfile: Path, target: TargetServer) -> None:
    """``tswarm run`` with the TUI: the users run in a LinkedLocalRunner process, which is a LocalRunner
    to the test file and hears what it sends itself; the TUI's controller gets none of it."""
    options = RunOptions(
        command="run",
        locustfile=str(testfile),
        host=target.url,
        heartbeat_interval=1.0,
        heartbeat_timeout=10.0,
        master_bind_host="127.0.0.1",
        master_bind_port=0,
    )
    master = create_master(options, private_events=True)
    log_dir = tmp_path / "logs"
    log_dir.mkdir()
    runner = start_local_workers(options, master.bind_port, 1, log_dir, linked_local=True)
    log = log_dir / "worker-0.log"
    try:
        master.start_in_thread()
        master.start(2, 100)
        wait_until(lambda: "LOCAL SENT ALL" in log.read_text(), lambda: log.read_text())
        # the runner still runs its users after its custom "stop" and "quit"
        requests = master.stats.total.num_requests
        wait_until(
            lambda: master.user_count == 2 and master.stats.total.num_requests > requests,
            lambda: log.read_text(),
        )
    finally:
        master.shutdown()
        stop_processes(runner)
    out = log.read_text()
    for i, name in enumerate(NAMES):
        assert f"GOT {name} {i} from local" in out, name
    assert out.count("Ignored a custom message 'unheard' from local") == 1
    assert master.protocol_errors == 0
    assert runner[0].returncode == 0, out


def wait_until(condition: Callable[[], bool], what: Callable[[], str], timeout: float = 30.0) -> None:
    """Poll ``condition`` until it holds; fail with ``what()`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"not within {timeout}s; {what()[-3000:]}")
        time.sleep(0.05)


def test_a_worker_of_the_previous_protocol_is_refused_naming_both_versions(
    tmp_path: Path, testfile: Path, procs: Callable[..., Proc]
) -> None:
    port = free_port()
    master = procs(
        *master_args(port, "-f", str(testfile), "-t", "60s", "--expect-workers", "1"), cwd=tmp_path
    )
    master.wait_for(lambda line: "Waiting for workers" in line)
    context = zmq.Context()
    old = context.socket(zmq.DEALER)
    old.setsockopt(zmq.IDENTITY, b"old-worker")
    old.setsockopt(zmq.LINGER, 0)
    old.setsockopt(zmq.RCVTIMEO, 20_000)
    try:
        old.connect(f"tcp://127.0.0.1:{port}")
        hello = {"protocol": OLD_PROTOCOL, "version": "0.1", "host": "old", "pid": 1, "cpu_count": 1}
        old.send(encode("hello", hello, "old-worker"))
        answer = decode(old.recv())
    finally:
        old.close()
        context.term()
    reason = f"protocol version mismatch: master speaks {PROTOCOL_VERSION}, worker speaks {OLD_PROTOCOL}"
    assert (answer.type, answer.data) == ("refuse", {"reason": reason})
    master.wait_for(lambda line: "Refused worker old-worker" in line and reason in line)


def test_protocol_version_is_that_of_the_envelope() -> None:
    # the bump that goes with the envelope: a peer of version 1 sends custom messages under their names
    assert PROTOCOL_VERSION >= 2 and OLD_PROTOCOL < PROTOCOL_VERSION


def test_a_worker_drops_a_name_sent_as_a_message_type(
    tmp_path: Path, testfile: Path, procs: Callable[..., Proc]
) -> None:
    """A master of protocol version 1 sent custom messages under their names: a worker of version 2
    drops such a frame (logged once) and never hands it to the test file, nor to its own handlers."""
    context = zmq.Context()
    router = context.socket(zmq.ROUTER)
    router.setsockopt(zmq.LINGER, 0)
    router.setsockopt(zmq.RCVTIMEO, 20_000)
    port = router.bind_to_random_port("tcp://127.0.0.1")
    try:
        worker = procs(*worker_args(port, "-f", str(testfile)), cwd=tmp_path)
        identity, frame = router.recv_multipart()
        hello = decode(frame)
        assert hello.type == "hello" and hello.data["protocol"] == PROTOCOL_VERSION

        def send(msg_type: str, data: object) -> None:
            router.send_multipart([identity, encode(msg_type, data, "master")])

        def next_custom() -> Message:
            while True:  # heartbeats and logs come in between
                ident, frame = router.recv_multipart()
                msg = decode(frame)
                if ident == identity and msg.type == CUSTOM_TYPE:
                    return open_custom(msg)

        send("ack", {"index": 0, "protocol": PROTOCOL_VERSION, "master_id": "m"})
        assert next_custom() == Message("from_init", hello.node_id, hello.node_id)
        # tswarm's own stop, a custom message the version-1 way, then the test file's "stop"
        send("stop", {})
        send("test_users", [{"name": "User1"}])
        send(CUSTOM_TYPE, custom_payload("stop", "yours"))
        assert next_custom() == Message("stop", {"echo": "yours", "index": 0}, hello.node_id)
        worker.wait_for(lambda line: "Dropped a 'test_users' message from the master" in line)
        send("quit", {})
        assert worker.wait(timeout=15) == 0, worker.output
    finally:
        router.close()
        context.term()
    assert "GOT stop 'yours' from master" in worker.output
    assert "GOT test_users" not in worker.output and worker.output.count("Dropped a") == 1
