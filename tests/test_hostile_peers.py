"""A real master (and a real worker) against peers that send what no tswarm worker would.

Each test starts a real ``tswarm master`` process and speaks the protocol to it from a raw ZeroMQ
DEALER, beside a real ``tswarm worker`` where the totals matter: out-of-range numbers (issue 8, item 4),
frames that would take the master's memory (item 5), forged log lines (item 7).
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgpack
import psutil
import pytest
import zmq
from conftest import free_port
from test_distributed import STEADY, master_args, procs, worker_args, write

from tswarm.protocol import PROTOCOL_VERSION, ProtocolError, decode, encode
from tswarm.protocol.messages import MAX_FRAME_BYTES, MAX_FRAME_ITEMS
from tswarm.stats import RequestStats
from tswarm.stats.entries import (
    DELTA_VERSION,
    MAX_ERRORS,
    MAX_NAMES,
    OTHER_ERROR,
    OTHER_METHOD,
    OTHER_NAME,
    WIRE_ENTRY_FIELDS,
)

__all__ = ["procs"]  # the fixture, imported for the tests of this module

pytestmark = pytest.mark.timeout(120)


class RawPeer:
    """A DEALER that speaks the protocol by hand, as a hostile or broken peer would."""

    def __init__(self, port: int, node_id: str) -> None:
        self.node_id = node_id
        self.context = zmq.Context()
        self.socket = self.context.socket(zmq.DEALER)
        self.socket.setsockopt(zmq.IDENTITY, node_id.encode())
        self.socket.setsockopt(zmq.LINGER, 0)
        self.socket.connect(f"tcp://127.0.0.1:{port}")

    def send(self, msg_type: str, data: Any) -> None:
        self.socket.send(encode(msg_type, data, self.node_id))

    def send_raw(self, frame: bytes) -> None:
        self.socket.send(frame)

    def hello(self, timeout: float = 20.0) -> None:
        """Say hello (again every second, as a worker does) until the master acknowledges."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.send("hello", {"protocol": PROTOCOL_VERSION, "version": "raw", "host": "raw", "pid": 1})
            if self.socket.poll(1000) and decode(self.socket.recv()).type == "ack":
                return
        pytest.fail("the master never acknowledged the raw peer")

    def close(self) -> None:
        self.socket.close(linger=0)
        self.context.term()


def one_request_delta(**changes: Any) -> dict[str, Any]:
    """A valid stats delta of one request, with ``changes`` made to its entry."""
    stats = RequestStats()
    stats.log_request("GET", "/hostile", 12.0, 100)
    delta: dict[str, Any] = msgpack.unpackb(msgpack.packb(stats.take_delta()), strict_map_key=False)
    entry = delta["entries"][0]
    for name, value in changes.items():
        entry[WIRE_ENTRY_FIELDS.index(name)] = value
    return delta


def stats_frame(delta: dict[str, Any], user_count: Any = 0) -> dict[str, Any]:
    return {"stats": delta, "user_count": user_count}


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.05)


def test_out_of_range_numbers_are_dropped_and_the_outputs_survive(
    tmp_path: Path, target: Any, procs: Any
) -> None:
    """Item 4: inf, NaN, counts past 2^53, negative user counts and non-numbers never reach the stats.

    Before the bounds, one ``max_response_time=inf`` left no JSON, no CSV and no summary (the run still
    exited 0) and printed a traceback every second; a NaN made the JSON unwritable.
    """
    write(tmp_path / "locustfile.py", STEADY)
    port = free_port()
    master = procs(
        *master_args(
            port,
            "--expect-workers",
            "1",
            "-H",
            target.url,
            "-u",
            "2",
            "-r",
            "100",
            "-t",
            "4s",
            "--stop-timeout",
            "3",
            "--json",
            "out.json",
            "--csv",
            "out",
        ),
        cwd=tmp_path,
    )
    procs(*worker_args(port), cwd=tmp_path)
    master.wait_for(lambda line: line.startswith("REPORT "))
    peer = RawPeer(port, "hostile")
    try:
        peer.send("hello", {"protocol": PROTOCOL_VERSION, "version": "raw", "host": "raw", "pid": "x"})
        peer.hello()
        for bad in (
            {"max_response_time": float("inf")},
            {"total_response_time": float("nan")},
            {"min_response_time": -1.0},
            {"num_requests": 2**53 + 1, "unslotted": {1_200_000: 2**53 + 1}},
            {"last_request_timestamp": float("-inf")},
        ):
            peer.send("stats", stats_frame(one_request_delta(**bad)))
        peer.send("stats", stats_frame(one_request_delta(), user_count=-5))
        peer.send("heartbeat", {"timestamp": float("nan"), "user_count": 1})
        peer.send("heartbeat", {"timestamp": 1.0, "cpu": "lots"})
        peer.send("quit", {})
        master.wait_for(lambda line: "Worker hostile quit" in line)
    finally:
        peer.close()
    assert master.wait() == 0, master.output
    report = json.loads((tmp_path / "out.json").read_text())
    assert report["total"]["num_requests"] == target.counts()["total"] > 0
    assert all(e["name"] != "/hostile" for e in report["entries"]), report["entries"]
    assert (tmp_path / "out_stats.csv").exists()
    assert "Traceback" not in master.output
    # one line for the peer whose frames were dropped; the hello with a string pid came before its
    # node was known, under the same identity, so it is the line
    dropped = [line for line in master.lines if "Dropped a frame from hostile" in line]
    assert len(dropped) == 1, master.output


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -1.0, 2.0**53 + 2, -1, 2**53 + 1, True, "1"])
def test_a_bounded_number_rejects_nan_infinity_and_out_of_range(bad: Any) -> None:
    """The checker's fast loop (a list of plain numbers) used to let NaN through: it compares false."""
    from tswarm.shapes import Amount, Count, shape_checker

    numbers = shape_checker(list[Amount], "numbers")
    assert numbers.first_problem([1.0, 2, bad]) is not None
    if not isinstance(bad, float):
        assert shape_checker(list[Count], "counts").first_problem([1, bad]) is not None
    assert numbers.first_problem([0, 0.5, 2.0**53]) is None


def test_worker_log_lines_are_shown_as_text(tmp_path: Path, procs: Any) -> None:
    """Item 7: a worker's log line cannot clear the master's screen nor forge a master log line."""
    write(tmp_path / "locustfile.py", STEADY)
    port = free_port()
    master = procs(*master_args(port, "-u", "1", "-t", "60s"), cwd=tmp_path)
    peer = RawPeer(port, "chatty")
    try:
        peer.hello()
        lines = [
            [time.time(), "INFO", "clear\x1b[2J\x1b[Hscreen"],
            [time.time(), "WARNING\x1b[31m", "one\n[2026-01-01 00:00:00] master: forged\rline"],
            [time.time(), "INFO", "bidi \u202eevil\u202c done"],
        ]
        peer.send("logs", {"lines": lines})
        peer.send("quit", {})
        master.wait_for(lambda line: "Worker chatty quit" in line)
    finally:
        peer.close()
    output = master.output
    assert "\x1b" not in output and "\u202e" not in output and "\r" not in output
    assert "clear\\x1b[2J\\x1b[Hscreen" in output
    forged = [line for line in master.lines if "forged" in line]
    assert len(forged) == 1 and "one\\n[2026-01-01 00:00:00] master: forged\\rline" in forged[0], output
    assert "bidi \\u202eevil\\u202c done" in output


def test_control_characters_in_identities_and_hellos_are_escaped(tmp_path: Path, procs: Any) -> None:
    """Item 7, from the other side: what a peer names itself and its host cannot reach the terminal raw."""
    write(tmp_path / "locustfile.py", STEADY)
    port = free_port()
    master = procs(*master_args(port, "-u", "1", "-t", "60s"), cwd=tmp_path)
    screen_clearer = RawPeer(port, "evil\x1b[2J\nforged")
    odd_host = RawPeer(port, "oddhost")
    try:
        screen_clearer.send("heartbeat", {"state": "ready"})
        master.wait_for(lambda line: "an identity with control characters" in line)
        hello = {"protocol": PROTOCOL_VERSION, "version": "v\x1b[31m", "host": "h\x1b[2J\rx", "pid": 1}
        odd_host.send("hello", hello)
        master.wait_for(lambda line: "Worker oddhost (index" in line)
        odd_host.send("hello", {**hello, "protocol": PROTOCOL_VERSION + 1})
        odd_host.send("quit", {})
        master.wait_for(lambda line: "Worker oddhost quit" in line)
    finally:
        screen_clearer.close()
        odd_host.close()
    output = master.output
    assert "\x1b" not in output and "\r" not in output
    assert "Dropped a frame from evil\\x1b[2J\\nforged: an identity with control characters" in output
    assert "h\\x1b[2J\\rx" in output
    assert not any(line.startswith("forged") for line in master.lines)


@pytest.mark.parametrize("name", ["..", "", ".", "/tmp/evil.py", "sub/locustfile.py", "..\\x.py"])
def test_a_malformed_test_file_name_is_refused_in_one_line(tmp_path: Path, procs: Any, name: str) -> None:
    """Item 8: a `-f -` worker refuses a name that is not a plain file name (IsADirectoryError before)."""
    context = zmq.Context()
    router = context.socket(zmq.ROUTER)
    router.setsockopt(zmq.LINGER, 0)
    port = router.bind_to_random_port("tcp://127.0.0.1")
    try:
        worker = procs(*worker_args(port, "-f", "-", "--master-timeout", "10"), cwd=tmp_path)
        assert router.poll(20_000), worker.output
        identity, frame = router.recv_multipart()
        assert decode(frame).type == "testfile_request"
        files = [{"name": name, "content": b"from locust import User\n"}]
        router.send_multipart([identity, encode("testfile", {"files": files}, "master")])
        assert worker.wait(30) == 1, worker.output
    finally:
        router.close(linger=0)
        context.term()
    assert "Traceback" not in worker.output
    errors = [line for line in worker.lines if line.startswith("tswarm: error:")]
    assert len(errors) == 1 and "not a plain file name" in errors[0], worker.output
    assert list(tmp_path.iterdir()) == []


class PeakRss:
    """The highest resident memory of a process, sampled every 20 ms by a thread until stopped."""

    def __init__(self, pid: int) -> None:
        self.process = psutil.Process(pid)
        self.peak = self.process.memory_info().rss
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        while not self._stop.wait(0.02):
            with contextlib.suppress(psutil.Error):
                self.peak = max(self.peak, self.process.memory_info().rss)

    def stop(self) -> int:
        self._stop.set()
        self._thread.join()
        return self.peak


def wire_entry(name: str) -> list[Any]:
    """One entry of a stats delta, of one request, built by hand (a RequestStats would cap the names)."""
    return ["GET", name, 1, 0, 1.0, 1.0, 1.0, 1, 1.0, [], {}, {100_000: 1}]


def empty_maps_frame(count: int, per_array: int = 200_000) -> bytes:
    """A stats message whose data is arrays of empty maps: 1 byte each on the wire, ~70 in memory."""
    arrays = msgpack.packb([[{}] * per_array] * (count // per_array))
    return msgpack.packb("stats").join([b"\x93", arrays + msgpack.packb("hostile")])


#: the master's resident memory may not pass this, whatever a peer sends (it starts at ~50 MB and peaks at ~270 MB here)
MASTER_RSS_BOUND = 400 * 1024 * 1024


def test_hostile_frames_leave_the_master_bounded(tmp_path: Path, procs: Any) -> None:
    """Item 5: before the caps, 60 MB of empty maps took the master to 4.4 GB, 1 M names to 2.9 GB."""
    write(tmp_path / "locustfile.py", STEADY)
    port = free_port()
    master = procs(*master_args(port, "-u", "1", "-t", "60s"), cwd=tmp_path)
    peer = RawPeer(port, "hostile")
    try:
        peer.hello()
        rss = PeakRss(master.proc.pid)
        # the largest frame ZeroMQ lets through, of empty maps, a few times over
        for _ in range(4):
            peer.send_raw(empty_maps_frame(MAX_FRAME_BYTES - 1024))
        # a million distinct names over 25 frames
        for frame in range(25):
            entries = [wire_entry(f"/{frame}/{i}") for i in range(40_000)]
            delta = {"version": DELTA_VERSION, "entries": entries, "errors": [], "exceptions": []}
            peer.send("stats", stats_frame(delta))
        peer.send("quit", {})
        master.wait_for(lambda line: "Worker hostile quit" in line, timeout=60)
        peak = rss.stop()
    finally:
        peer.close()
    print(f"master peak RSS {peak / 1e6:.0f} MB")
    assert peak < MASTER_RSS_BOUND, f"{peak / 1e6:.0f} MB"
    assert master.proc.poll() is None
    warnings = [line for line in master.lines if f"More than {MAX_NAMES} distinct request names" in line]
    assert len(warnings) == 1, master.output


def test_a_frame_of_too_many_values_is_refused_before_it_is_built() -> None:
    too_many = msgpack.packb(["stats", [[0] * 200_000] * (MAX_FRAME_ITEMS // 200_000 + 1), "x"])
    with pytest.raises(ProtocolError, match="values"):
        decode(too_many)
    declared = b"\x93\xa5stats\xdd" + (10**9).to_bytes(4, "big") + b"\xa1x"
    with pytest.raises(ProtocolError):
        decode(declared)


def test_distinct_names_are_capped_with_an_other_bucket(caplog: pytest.LogCaptureFixture) -> None:
    """Locally (the runner's own stats) and where the master merges: at most MAX_NAMES entries."""
    local = RequestStats()
    for i in range(MAX_NAMES + 500):
        local.log_request("GET", f"/item/{i}", 5.0, 10)
        local.log_error("GET", f"/item/{i}", f"error {i}")
    assert len(local.entries) == MAX_NAMES + 1
    other = local.entries[(OTHER_NAME, OTHER_METHOD)]
    assert other.num_requests == other.num_failures == 500
    assert local.total.num_requests == MAX_NAMES + 500
    assert len(local.errors) == MAX_ERRORS + 1
    assert local.errors[(OTHER_METHOD, OTHER_NAME, OTHER_ERROR)].occurrences == 500
    master = RequestStats(track_deltas=False)
    master.merge_delta(local.take_delta())
    assert len(master.entries) == MAX_NAMES + 1
    assert master.total.num_requests == MAX_NAMES + 500
    assert master.entries[(OTHER_NAME, OTHER_METHOD)].num_requests == 500
    warned = [r for r in caplog.records if "distinct request names" in r.getMessage()]
    assert len(warned) == 2  # once for each RequestStats


def test_workers_never_heard_from_again_are_not_kept_without_end() -> None:
    """Item 5: peers that say hello and go silent (a flood of node ids) are forgotten past a cap."""
    from tswarm.controller.snapshot import WorkerState
    from tswarm.controller.workers import MAX_MISSING_KEPT, WorkerNodes

    workers = WorkerNodes()
    real = workers.add("real", "h", 1, 1, b"real")
    for i in range(MAX_MISSING_KEPT + 500):
        node = workers.add(f"junk{i}", "h", 1, 1, f"junk{i}".encode())
        node.state = WorkerState.MISSING
        node.last_seen = i
    assert len(workers) <= MAX_MISSING_KEPT + 1
    assert workers["real"] is real and real.index == 0
    assert "junk0" not in workers and f"junk{MAX_MISSING_KEPT + 499}" in workers
    indexes = [w.index for w in workers.all]
    assert len(set(indexes)) == len(indexes)
