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
}
assert set(VALID) == set(PAYLOADS)

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats()
    | st.sampled_from([float("nan"), float("inf"), -1, 2**53 + 1, -(2**63)])
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


def broken(msg_type: str, where: list[Any], value: Any) -> Any:
    """VALID[msg_type] with the value at ``where`` (keys, then indexes, as far as they go) replaced."""
    data = msgpack.unpackb(msgpack.packb(VALID[msg_type], use_bin_type=True), raw=False, strict_map_key=False)
    node = data
    for step in where[:-1]:
        child = _child(node, step)
        if child is None:
            break
        node = child
    if isinstance(node, dict):
        keys = sorted(node, key=str)
        node[keys[where[-1] % len(keys)] if keys else "x"] = value
    elif isinstance(node, list) and node:
        node[where[-1] % len(node)] = value
    return data


def _child(node: Any, step: int) -> Any:
    if isinstance(node, dict) and node:
        child = node[sorted(node, key=str)[step % len(node)]]
    elif isinstance(node, list) and node:
        child = node[step % len(node)]
    else:
        return None
    return child if isinstance(child, dict | list) else None


types = st.sampled_from(sorted(PAYLOADS) + ["custom_thing", ""])
frames = st.one_of(
    st.binary(max_size=64),
    st.builds(lambda v: msgpack.packb(v, use_bin_type=True), values),
    st.builds(lambda t, d: msgpack.packb([t, d, FUZZER], use_bin_type=True), types, values),
    st.builds(
        lambda t, where, v: msgpack.packb([t, broken(t, where, v), FUZZER], use_bin_type=True),
        st.sampled_from(sorted(VALID)),
        st.lists(st.integers(min_value=0, max_value=20), min_size=1, max_size=5),
        values,
    ),
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
