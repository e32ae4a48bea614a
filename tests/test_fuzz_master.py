"""Random and malformed frames of every message type, thrown at a real master beside one real worker.

The master must stay up and answer, stay within a memory bound, and count exactly the requests the real
worker made (the target's own count). Hypothesis draws the frames (derandomized: the same frames on
every run, so the verdict does not depend on luck).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import msgpack
import pytest
from conftest import free_port
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_distributed import STEADY, master_args, procs, worker_args, write
from test_hostile_peers import PeakRss, RawPeer, one_request_delta, stats_frame

from tswarm.protocol import PROTOCOL_VERSION
from tswarm.protocol.payloads import PAYLOADS

__all__ = ["procs"]  # the fixture, imported for the test of this module

pytestmark = pytest.mark.timeout(120)

#: the fuzzing peer's node id
FUZZER = "fuzzer"
#: frames thrown; with derandomize, always the same ones
FRAMES = 600
MASTER_RSS_BOUND = 300 * 1024 * 1024

#: a valid data of each built-in type, to be broken in one place
VALID: dict[str, Any] = {
    "hello": {"protocol": PROTOCOL_VERSION, "version": "fuzz", "host": "fuzz", "pid": 7, "cpu_count": 1},
    "ack": {"index": 0, "protocol": PROTOCOL_VERSION},
    "refuse": {"reason": "no"},
    "heartbeat": {"timestamp": 1.0, "state": "running", "user_count": 1, "cpu": 1.0, "memory": 1},
    "spawn": {"user_classes_count": {"Steady": 1}, "host": None, "stop_timeout": None},
    "spawning": {"user_classes_count": {"Steady": 1}, "user_count": 1},
    "spawning_complete": {"user_classes_count": {"Steady": 1}, "user_count": 1},
    "stats": stats_frame(one_request_delta()),
    "stop": {},
    "stopped": {},
    "quit": {},
    "logs": {"lines": [[1.0, "INFO", "hello"]]},
    "cpu_warning": {"cpu": 95.0},
    "reset_stats": {},
    "testfile_request": {},
    "testfile": {"files": [{"name": "x.py", "content": b""}]},
    "reconnect": {},
    "custom": {"type": "stop", "data": {"any": [1, 2.5, "x"]}},
}
assert set(VALID) == set(PAYLOADS)

bad_numbers = st.sampled_from(
    [float("nan"), float("inf"), float("-inf"), -1, -0.5, 2**53 + 1, 2**64 - 1, True]
)
scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats()
    | bad_numbers
    | st.text(max_size=12)
    | st.binary(max_size=12)
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(
            st.text(max_size=8) | st.integers(min_value=-(2**63), max_value=2**64 - 1), inner, max_size=4
        )
    ),
    max_leaves=12,
)


def leaves(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """The path (keys and indexes) of every scalar in ``value``."""
    if isinstance(value, dict):
        return [p for key, item in value.items() for p in leaves(item, (*path, key))]
    if isinstance(value, list | tuple):
        return [p for i, item in enumerate(value) for p in leaves(item, (*path, i))]
    return [path]


#: every place a valid payload can be broken in: (message type, path of a scalar in its data)
PLACES = [(msg_type, path) for msg_type, data in VALID.items() for path in leaves(data) if path]


def broken(place: tuple[str, tuple[Any, ...]], value: Any) -> bytes:
    """A frame of VALID[type] with the scalar at ``path`` replaced by ``value``."""
    msg_type, path = place
    data = msgpack.unpackb(msgpack.packb(VALID[msg_type], use_bin_type=True), raw=False, strict_map_key=False)
    node = data
    for step in path[:-1]:
        node = node[step]
    node[path[-1]] = value
    return bytes(msgpack.packb([msg_type, data, FUZZER], use_bin_type=True))


types = st.sampled_from(sorted(PAYLOADS) + ["custom_thing", ""])
frames = st.one_of(
    st.binary(max_size=64),
    st.builds(lambda v: msgpack.packb(v, use_bin_type=True), values),
    st.builds(lambda t, d: msgpack.packb([t, d, FUZZER], use_bin_type=True), types, values),
    st.builds(broken, st.sampled_from(PLACES), bad_numbers | values),
)


def test_fuzzed_frames_beside_a_real_worker(tmp_path: Path, target: Any, procs: Any) -> None:
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
            "15s",
            "--stop-timeout",
            "3",
            "--json",
            "out.json",
        ),
        cwd=tmp_path,
    )
    procs(*worker_args(port), cwd=tmp_path)
    master.wait_for(lambda line: line.startswith("REPORT "))
    rss = PeakRss(master.proc.pid)
    peer = RawPeer(port, FUZZER)
    try:
        peer.hello()

        @settings(
            max_examples=FRAMES,
            derandomize=True,
            database=None,
            deadline=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(frame=frames)
        def throw(frame: bytes) -> None:
            peer.send_raw(frame)

        throw()
        peer.send_raw(b"\xc1")  # never valid msgpack: the last of the garbage
        peer.hello()  # the master still answers, after everything thrown before
        peer.send("quit", {})
    finally:
        peer.close()
    assert master.wait() == 0, master.output[-3000:]
    peak = rss.stop()
    assert peak < MASTER_RSS_BOUND, f"{peak / 1e6:.0f} MB"
    report = json.loads((tmp_path / "out.json").read_text())
    real = sum(e["num_requests"] for e in report["entries"] if e["name"] == "/fast")
    assert real == target.counts()["total"] > 0, report["entries"]
    assert "Traceback" not in master.output, master.output[-3000:]
