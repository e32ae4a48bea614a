"""Failover with real processes: a killed worker is known in seconds and its users move; a rogue peer under
a worker's identity cannot take it over; a silent master stops its workers' users; junk connections are
summed up in one line."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import queue
import re
import resource
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
import pytest
import test_distributed
import zmq
from conftest import free_port, repo_env, stop_process
from test_distributed import master_args, worker_args, write

from tswarm.protocol import PROTOCOL_VERSION, decode, encode, heartbeat_identity

procs = test_distributed.procs  # the fixture

pytestmark = pytest.mark.timeout(60)

# Each worker requests a path of its own (its pid), so that the target's counts say which worker made
# which requests: a killed worker's last, unreported second is left out of the comparison.
PER_WORKER = """
    import os
    from locust import FastHttpUser, events, task, constant
    from tswarm.stats.entries import WIRE_ENTRY_FIELDS

    REQUESTS = WIRE_ENTRY_FIELDS.index("num_requests")

    @events.worker_report.add_listener
    def report(client_id, data, **kw):
        print(f"REPORT {client_id} {data['user_count']}", flush=True)
        if any(entry[REQUESTS] for entry in data["stats"]["entries"]):
            print(f"MEASURED {client_id}", flush=True)

    @events.init.add_listener
    def on_init(environment, **kw):
        print(f"PID {os.getpid()}", flush=True)

    class Steady(FastHttpUser):
        wait_time = constant(0.05)

        @task
        def fast(self):
            self.client.get(f"/items/{os.getpid()}")
"""

CONNECTED = re.compile(r"Worker (\S+) \(index \d+")


def _per_worker_counts(report: dict[str, object]) -> dict[str, int]:
    entries = report["entries"]
    assert isinstance(entries, list)
    return {e["name"]: e["num_requests"] for e in entries}


def test_killed_worker_of_three_is_missing_in_seconds_and_its_users_move(
    tmp_path: Path, target, procs
) -> None:
    write(tmp_path / "locustfile.py", PER_WORKER)
    port = free_port()
    # the default --heartbeat-timeout: what users get
    master = procs(
        *master_args(port, "--expect-workers", "3", "-H", target.url, "-u", "6", "-r", "100", "-t", "10s"),
        "--stop-timeout",
        "3",
        "--json",
        "out.json",
        cwd=tmp_path,
    )
    workers = [procs(*worker_args(port), cwd=tmp_path) for _ in range(3)]
    master.wait_for(lambda _: sorted(test_distributed.reports(master).values()) == [2, 2, 2])
    # its requests have reached the master before it is killed (on a busy machine the first reports with
    # its users can come before their first requests)
    master.wait_for(lambda _: len({line for line in master.lines if line.startswith("MEASURED ")}) == 3)
    victim = workers[0]
    victim_pid = int(victim.wait_for(lambda line: line.startswith("PID ")).split()[1])
    os.kill(victim.proc.pid, signal.SIGKILL)
    killed_at = time.monotonic()
    line = master.wait_for(lambda line: "is missing" in line, timeout=8)
    noticed_after = time.monotonic() - killed_at
    assert "connection closed" in line, line
    # its two users go to the two others
    master.wait_for(lambda line: line.startswith("REPORT ") and line.split()[2] == "3", timeout=8)
    assert master.wait() == 0, master.output
    assert noticed_after < 5, noticed_after

    report = json.loads((tmp_path / "out.json").read_text())
    [outage] = report["run"]["missing_workers"]
    assert outage["reason"] == "connection closed" and outage["back_at"] is None
    assert 0 < outage["duration"] <= report["run"]["duration"]
    assert "Workers missing during the test: 1 time(s)" in master.output
    served = target.counts()["by_endpoint"]
    measured = _per_worker_counts(report)
    survivors = {f"/items/{w.wait_for(lambda line: line.startswith('PID ')).split()[1]}" for w in workers[1:]}
    for name in survivors:
        assert measured[name] == served[f"GET {name}"] > 0, (name, measured, served)
    assert f"/items/{victim_pid}" in measured


def test_killed_process_of_a_local_run_is_known_at_once(tmp_path: Path, target, procs) -> None:
    write(tmp_path / "locustfile.py", PER_WORKER)
    run = procs(
        "run",
        "--headless",
        "--processes",
        "2",
        "-H",
        target.url,
        "-u",
        "4",
        "-r",
        "100",
        "-t",
        "8s",
        "--heartbeat-timeout",
        "30",
        cwd=tmp_path,
    )
    run.wait_for(lambda _: sorted(test_distributed.reports(run).values()) == [2, 2])
    children = [p for p in psutil.Process(run.proc.pid).children(recursive=True) if "worker" in p.cmdline()]
    assert len(children) == 2, children
    os.kill(children[0].pid, signal.SIGKILL)
    # with a heartbeat timeout of 30 s, only the closed connection can tell this within the run
    line = run.wait_for(lambda line: "is missing" in line, timeout=6)
    assert "connection closed" in line
    run.wait_for(lambda line: f"(pid {children[0].pid}) was killed by signal 9" in line, timeout=6)
    run.wait_for(lambda line: line.startswith("REPORT ") and line.split()[2] == "4", timeout=8)
    run.wait(timeout=30)


@pytest.mark.parametrize("rogue_suffix", ["", "#hb"])
def test_rogue_peer_under_a_workers_identity_does_not_take_it_over(
    tmp_path: Path, target, procs, rogue_suffix: str
) -> None:
    write(tmp_path / "locustfile.py", test_distributed.STEADY)
    port = free_port()
    master = procs(
        *master_args(port, "--expect-workers", "1", "-H", target.url, "-u", "2", "-r", "100", "-t", "5s"),
        "--stop-timeout",
        "3",
        "--json",
        "out.json",
        cwd=tmp_path,
    )
    procs(*worker_args(port), cwd=tmp_path)
    node_id = CONNECTED.search(master.wait_for(lambda line: CONNECTED.search(line) is not None)).group(1)
    master.wait_for(lambda line: line.startswith("REPORT ") and line.split()[2] == "2")
    context = zmq.Context()
    rogue = context.socket(zmq.DEALER)
    identity = heartbeat_identity(node_id) if rogue_suffix else node_id.encode()
    rogue.setsockopt(zmq.IDENTITY, identity)
    rogue.setsockopt(zmq.LINGER, 0)
    try:
        rogue.connect(f"tcp://127.0.0.1:{port}")
        hello = {"protocol": PROTOCOL_VERSION, "version": "0", "host": "rogue", "pid": 1, "cpu_count": 1}
        heartbeat = {"state": "running", "user_count": 0, "cpu": 0.0, "memory": 0, "timestamp": time.time()}
        rogue.send(encode("heartbeat", heartbeat, node_id))
        rogue.send(encode("hello", hello, node_id))
        assert master.wait() == 0, master.output
        # nothing meant for the real worker (heartbeats, spawn, stop, quit) went to the rogue
        assert rogue.poll(200) == 0, decode(rogue.recv())
    finally:
        rogue.close(linger=0)
        context.term()
    report = json.loads((tmp_path / "out.json").read_text())
    assert report["total"]["num_requests"] == target.counts()["total"] > 0
    assert "is missing" not in master.output
    assert "restarted" not in master.output
    assert "missing_workers" not in report["run"]


def test_worker_stops_its_users_when_the_master_goes_silent(tmp_path: Path, target, procs) -> None:
    write(tmp_path / "locustfile.py", test_distributed.STEADY)
    port = free_port()
    master = procs(
        *master_args(port, "--expect-workers", "1", "-H", target.url, "-u", "2", "-r", "100", "-t", "30s"),
        cwd=tmp_path,
    )
    worker = procs(*worker_args(port, "--master-timeout", "8"), cwd=tmp_path)
    master.wait_for(lambda line: line.startswith("REPORT ") and line.split()[2] == "2")
    os.kill(master.proc.pid, signal.SIGKILL)
    worker.wait_for(lambda line: "stopping this worker's users" in line, timeout=8)
    worker.wait_for(lambda line: "Stopped this worker's users" in line, timeout=8)
    # the users are stopped well before --master-timeout: the target stops getting requests
    before = target.counts()["total"]
    worker.wait_for(lambda line: "Lost the master" in line, timeout=12)
    assert target.counts()["total"] == before
    assert worker.wait(timeout=10) == 1


def test_junk_connections_give_one_summary_line(tmp_path: Path, target, procs) -> None:
    write(tmp_path / "locustfile.py", test_distributed.STEADY)
    port = free_port()
    master = procs(
        *master_args(port, "--expect-workers", "1", "-H", target.url, "-u", "1", "-r", "100", "-t", "30s"),
        cwd=tmp_path,
    )
    master.wait_for(lambda line: "Waiting for workers" in line)
    for _ in range(300):
        with socket.create_connection(("127.0.0.1", port), timeout=5) as junk:
            junk.sendall(b"GET / HTTP/1.0\r\n\r\n")
    line = master.wait_for(lambda line: "ZeroMQ closed" in line, timeout=20)
    master.proc.send_signal(signal.SIGINT)
    master.wait(timeout=20)
    summaries = [line for line in master.lines if "ZeroMQ closed" in line]
    assert len(summaries) <= 2, summaries
    assert sum(int(re.search(r"closed (\d+)", s).group(1)) for s in summaries) == 300  # type: ignore[union-attr]
    assert "connection(s) that sent no valid message" in line


async def test_frame_over_the_size_cap_is_logged(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # ZeroMQ drops a frame over ZMQ_MAXMSGSIZE by closing its connection: the monitor sees that, and the
    # worker that sent it is marked missing with a line that names the cap (a small cap, so that the test
    # does not move 64 MiB)
    from test_master import FakeWorker, Reader, wait_for

    import tswarm.controller.link as link_module
    import tswarm.controller.worker_messages as worker_messages_module
    from tswarm.env import Environment
    from tswarm.events import Events

    monkeypatch.setattr(link_module, "MAX_FRAME_BYTES", 10_000)
    monkeypatch.setattr(worker_messages_module, "MAX_FRAME_BYTES", 10_000)
    caplog.set_level(logging.INFO, logger="tswarm.master")
    environment = Environment(user_classes=[Reader], events=Events())
    runner = environment.create_master_runner("127.0.0.1", 0, heartbeat_interval=0.2, heartbeat_timeout=30)
    serving = asyncio.create_task(runner.serve())
    worker = FakeWorker(runner.bind_port, "big")
    try:
        await wait_for(lambda: runner._bridge.loop is not None)
        await worker.connect()
        worker.send("logs", {"lines": [[time.time(), "INFO", "x" * 20_000]]})
        await wait_for(runner.worker_outages, what="the worker marked missing")
        assert any("frame over 10000 bytes" in r.getMessage() for r in caplog.records)
        # the worker reconnects on its own and is back at its next heartbeat
        await wait_for(lambda: runner.worker_outages()[0]["back_at"] is not None, what="the worker back")
        assert [o["reason"] for o in runner.worker_outages()] == ["connection closed"]
    finally:
        await worker.close()
        runner.quit()
        await asyncio.wait_for(serving, 15)


def test_running_out_of_file_descriptors_is_logged_with_the_limit_and_the_fix(tmp_path: Path) -> None:
    write(tmp_path / "locustfile.py", test_distributed.STEADY)
    port = free_port()

    def low_fd_limit() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))

    master = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tswarm",
            *master_args(port, "-H", "http://127.0.0.1:1", "-u", "1", "-t", "30s"),
        ],
        cwd=tmp_path,
        env=repo_env(),
        preexec_fn=low_fd_limit,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in master.stdout or ()], daemon=True).start()

    def line_with(text: str) -> str:
        while True:
            try:
                line = lines.get(timeout=20)
            except queue.Empty:
                pytest.fail(f"no line with {text!r} within 20 s")
            if text in line:
                return line

    held: list[socket.socket] = []
    try:
        line_with("Waiting for workers")  # it serves
        # a bounded number of idle connections, well past the limit of 64 descriptors
        for _ in range(100):
            held.append(socket.create_connection(("127.0.0.1", port), timeout=5))
        line = line_with("Out of file descriptors")
        assert "may open 64 (hard limit 64)" in line and "`ulimit -n 65536`" in line, line
    finally:
        for sock in held:
            sock.close()
        stop_process(master)
