"""Real `tswarm master` and `tswarm worker` processes on 127.0.0.1 against the real target server."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import msgpack
import pytest
from conftest import free_port, repo_env

from tswarm.protocol import PROTOCOL_VERSION

pytestmark = pytest.mark.timeout(120)

STEADY = """
    from locust import FastHttpUser, events, task, constant
    from locust.runners import MasterRunner

    @events.worker_report.add_listener
    def report(client_id, data, **kw):
        print(f"REPORT {client_id} {data['user_count']}", flush=True)

    class Steady(FastHttpUser):
        wait_time = constant(0.02)

        @task
        def fast(self):
            self.client.get("/fast")
"""


class Proc:
    """A tswarm process whose output lines are collected by a thread, so tests can wait on them."""

    def __init__(self, args: list[str], cwd: Path, env: dict[str, str] | None = None) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tswarm", *args],
            cwd=cwd,
            env={**repo_env(), **(env or {})},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: list[str] = []
        self._new: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line)
            self._new.put(line)

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def wait_for(self, predicate: Callable[[str], bool], timeout: float = 30.0) -> str:
        """The first output line (seen so far or to come) for which ``predicate`` holds."""
        for line in list(self.lines):
            if predicate(line):
                return line
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self._new.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                break
            if predicate(line):
                return line
        pytest.fail(f"no matching line within {timeout}s; output:\n{self.output[-3000:]}")

    def wait(self, timeout: float = 60.0) -> int:
        return self.proc.wait(timeout)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def procs() -> Iterator[Callable[..., Proc]]:
    started: list[Proc] = []

    def start(*args: str, cwd: Path, env: dict[str, str] | None = None) -> Proc:
        p = Proc(list(args), cwd, env)
        started.append(p)
        return p

    yield start
    for p in started:
        if p.proc.poll() is None:
            os.kill(p.proc.pid, signal.SIGCONT)
        p.stop()


def write(path: Path, source: str) -> Path:
    path.write_text(textwrap.dedent(source))
    return path


def master_args(port: int, *extra: str) -> list[str]:
    return [
        "master",
        "--headless",
        "--master-bind-host",
        "127.0.0.1",
        "--master-bind-port",
        str(port),
        *extra,
    ]


def worker_args(port: int, *extra: str) -> list[str]:
    return ["worker", "--master-host", "127.0.0.1", "--master-port", str(port), *extra]


def reports(proc: Proc) -> dict[str, int]:
    """The last user count each worker reported to the master."""
    last: dict[str, int] = {}
    for line in proc.lines:
        if line.startswith("REPORT "):
            _, node, users = line.split()
            last[node] = int(users)
    return last


def test_three_workers_and_totals_equal_the_servers(tmp_path: Path, target, procs) -> None:
    write(tmp_path / "locustfile.py", STEADY)
    port = free_port()
    master = procs(
        *master_args(
            port,
            "--expect-workers",
            "3",
            "-H",
            target.url,
            "-u",
            "6",
            "-r",
            "100",
            "-t",
            "4s",
            "--stop-timeout",
            "3",
            "--json",
            "out.json",
        ),
        cwd=tmp_path,
    )
    for _ in range(3):
        procs(*worker_args(port), cwd=tmp_path)
    assert master.wait() == 0, master.output
    report = json.loads((tmp_path / "out.json").read_text())
    assert report["total"]["num_requests"] == target.counts()["total"] > 0
    counts = reports(master)
    assert sorted(counts.values()) == [2, 2, 2] or sorted(counts.values()) == [0, 0, 0], master.output


def test_worker_joining_mid_test_gets_its_share(tmp_path: Path, target, procs) -> None:
    write(tmp_path / "locustfile.py", STEADY)
    port = free_port()
    master = procs(
        *master_args(
            port,
            "-H",
            target.url,
            "-u",
            "4",
            "-r",
            "100",
            "-t",
            "8s",
            "--stop-timeout",
            "3",
            "--json",
            "out.json",
        ),
        cwd=tmp_path,
    )
    procs(*worker_args(port), cwd=tmp_path)
    master.wait_for(lambda line: line.startswith("REPORT ") and line.split()[2] == "4")
    procs(*worker_args(port), cwd=tmp_path)
    master.wait_for(lambda _: sorted(reports(master).values()) == [2, 2], timeout=10)
    assert master.wait() == 0, master.output
    report = json.loads((tmp_path / "out.json").read_text())
    assert report["total"]["num_requests"] == target.counts()["total"]


def test_killed_worker_users_move_to_the_others(tmp_path: Path, target, procs) -> None:
    write(tmp_path / "locustfile.py", STEADY)
    port = free_port()
    master = procs(
        *master_args(
            port,
            "--expect-workers",
            "2",
            "-H",
            target.url,
            "-u",
            "4",
            "-r",
            "100",
            "-t",
            "12s",
            "--heartbeat-timeout",
            "2",
        ),
        cwd=tmp_path,
    )
    w1 = procs(*worker_args(port), cwd=tmp_path)
    procs(*worker_args(port), cwd=tmp_path)
    master.wait_for(lambda _: sorted(reports(master).values()) == [2, 2])
    os.kill(w1.proc.pid, signal.SIGKILL)
    master.wait_for(lambda line: "missing" in line.lower(), timeout=6)
    master.wait_for(lambda line: line.startswith("REPORT ") and line.split()[2] == "4", timeout=6)
    assert master.wait() in (0, 1)


def test_stopped_worker_is_missing_then_rejoins(tmp_path: Path, target, procs) -> None:
    write(tmp_path / "locustfile.py", STEADY)
    port = free_port()
    master = procs(
        *master_args(
            port,
            "--expect-workers",
            "2",
            "-H",
            target.url,
            "-u",
            "4",
            "-r",
            "100",
            "-t",
            "15s",
            "--heartbeat-timeout",
            "2",
            "--stop-timeout",
            "2",
        ),
        cwd=tmp_path,
    )
    w1 = procs(*worker_args(port), cwd=tmp_path)
    procs(*worker_args(port), cwd=tmp_path)
    master.wait_for(lambda _: sorted(reports(master).values()) == [2, 2])
    os.kill(w1.proc.pid, signal.SIGSTOP)
    master.wait_for(lambda line: "missing" in line.lower(), timeout=6)
    os.kill(w1.proc.pid, signal.SIGCONT)
    master.wait_for(lambda line: "rejoin" in line.lower() or "back" in line.lower(), timeout=8)
    assert master.wait() == 0, master.output


def test_workers_exit_when_the_master_is_gone(tmp_path: Path, target, procs) -> None:
    write(tmp_path / "locustfile.py", STEADY)
    port = free_port()
    master = procs(*master_args(port, "-H", target.url, "-u", "2", "-r", "100"), cwd=tmp_path)
    worker = procs(*worker_args(port, "--master-timeout", "3"), cwd=tmp_path)
    master.wait_for(lambda line: line.startswith("REPORT "))
    os.kill(master.proc.pid, signal.SIGKILL)
    assert worker.wait(timeout=15) == 1
    assert "Lost the master" in worker.output


def test_expect_workers_timeout(tmp_path: Path, procs) -> None:
    write(tmp_path / "locustfile.py", STEADY)
    master = procs(
        *master_args(free_port(), "--expect-workers", "2", "--expect-workers-max-wait", "1"), cwd=tmp_path
    )
    assert master.wait(timeout=20) == 1
    assert "0 of 2" in master.output


def test_incompatible_worker_is_refused(tmp_path: Path, target, procs) -> None:
    import zmq

    write(tmp_path / "locustfile.py", STEADY)
    port = free_port()
    master = procs(*master_args(port, "-H", target.url, "-u", "1", "-t", "30s"), cwd=tmp_path)
    ctx = zmq.Context()
    sock = ctx.socket(zmq.DEALER)
    sock.setsockopt(zmq.IDENTITY, b"old-worker")
    sock.setsockopt(zmq.LINGER, 0)
    sock.connect(f"tcp://127.0.0.1:{port}")
    hello = {"protocol": 999, "version": "9.9.9", "host": "h", "pid": 1, "cpu_count": 1}
    sock.send(msgpack.packb(["hello", hello, "old-worker"]))
    assert sock.poll(10000), master.output
    kind, data, _ = msgpack.unpackb(sock.recv(), raw=False)
    assert kind == "refuse"
    assert f"master speaks {PROTOCOL_VERSION}, worker speaks 999" in data["reason"]
    master.wait_for(lambda line: "999" in line)
    sock.close()
    ctx.term()


def test_garbage_frames_do_not_stop_the_master(tmp_path: Path, target, procs) -> None:
    import zmq

    write(tmp_path / "locustfile.py", STEADY)
    port = free_port()
    master = procs(
        *master_args(
            port,
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
        ),
        cwd=tmp_path,
    )
    ctx = zmq.Context()
    sock = ctx.socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.connect(f"tcp://127.0.0.1:{port}")
    for frame in (
        os.urandom(64),
        msgpack.packb({"not": "a list"}),
        msgpack.packb(["stats", [], "x"]),
        msgpack.packb(["no_such_type", {}, "x"]),
        b"",
    ):
        sock.send(frame)
    procs(*worker_args(port), cwd=tmp_path)
    assert master.wait() == 0, master.output
    report = json.loads((tmp_path / "out.json").read_text())
    assert report["total"]["num_requests"] == target.counts()["total"] > 0
    sock.close()
    ctx.term()


def test_test_file_is_shipped_to_workers(tmp_path: Path, target, procs) -> None:
    write(tmp_path / "locustfile.py", STEADY)
    elsewhere = tmp_path / "worker_dir"
    elsewhere.mkdir()
    port = free_port()
    master = procs(
        *master_args(
            port,
            "--expect-workers",
            "2",
            "-H",
            target.url,
            "-u",
            "2",
            "-r",
            "100",
            "-t",
            "3s",
            "--stop-timeout",
            "3",
            "--json",
            "out.json",
        ),
        cwd=tmp_path,
    )
    procs(*worker_args(port, "-f", "-"), cwd=elsewhere)
    procs(*worker_args(port, "-f", "-"), cwd=elsewhere)
    assert master.wait() == 0, master.output
    report = json.loads((tmp_path / "out.json").read_text())
    assert report["total"]["num_requests"] == target.counts()["total"] > 0
    assert list(elsewhere.iterdir()) == []


def test_gracefully_stopped_worker_loses_nothing(tmp_path: Path, target, procs) -> None:
    write(tmp_path / "locustfile.py", STEADY)
    port = free_port()
    master = procs(
        *master_args(
            port,
            "--expect-workers",
            "2",
            "-H",
            target.url,
            "-u",
            "4",
            "-r",
            "100",
            "-t",
            "6s",
            "--stop-timeout",
            "3",
            "--json",
            "out.json",
        ),
        cwd=tmp_path,
    )
    w1 = procs(*worker_args(port), cwd=tmp_path)
    procs(*worker_args(port), cwd=tmp_path)
    master.wait_for(lambda _: sorted(reports(master).values()) == [2, 2])
    w1.proc.send_signal(signal.SIGTERM)
    assert w1.wait(timeout=15) == 0
    assert master.wait() == 0, master.output
    report = json.loads((tmp_path / "out.json").read_text())
    assert report["total"]["num_requests"] == target.counts()["total"] > 0


SEED_EXAMPLE = Path(__file__).parents[1] / "examples" / "custom_messages.py"
DISTRIBUTED_EXAMPLE = Path(__file__).parents[1] / "examples" / "custom_messages_distributed.py"


def test_custom_messages_local(tmp_path: Path, target, procs) -> None:
    run = procs(
        "run", "-f", str(SEED_EXAMPLE), "--headless", "-H", target.url, "-u", "1", "-t", "1s", cwd=tmp_path
    )
    assert run.wait() == 0, run.output
    out = run.output
    assert (
        out.index("User User1 received")
        < out.index("User User3 received")
        < out.index("Thanks for the 3 users!")
    )


def test_custom_messages_distributed(tmp_path: Path, target, procs) -> None:
    port = free_port()
    master = procs(
        *master_args(
            port,
            "-f",
            str(DISTRIBUTED_EXAMPLE),
            "--expect-workers",
            "2",
            "-H",
            target.url,
            "-u",
            "2",
            "-r",
            "100",
            "-t",
            "2s",
        ),
        cwd=tmp_path,
    )
    workers = [procs(*worker_args(port, "-f", str(DISTRIBUTED_EXAMPLE)), cwd=tmp_path) for _ in range(2)]
    assert master.wait() == 0, master.output
    for w in workers:
        w.wait(timeout=15)
    assert master.output.count("acknowledged 3 accounts") == 2, master.output
    assert all("got 3 accounts" in w.output for w in workers)
    # the seed example as written: workers send 'test_users' to a master that has no handler for it
    port = free_port()
    master = procs(
        *master_args(port, "-f", str(SEED_EXAMPLE), "-H", target.url, "-u", "1", "-t", "2s"), cwd=tmp_path
    )
    procs(*worker_args(port, "-f", str(SEED_EXAMPLE)), cwd=tmp_path)
    assert master.wait() == 0, master.output
    line = master.wait_for(lambda line: "test_users" in line)
    assert "'test_users' from " in line and "no handler is registered" in line


STATUS_CODES = """
    import uuid
    from locust import FastHttpUser, HttpUser, task, constant

    KEY = uuid.uuid4().hex  # the first 5 requests of /fail/5/KEY get 503, the rest 200

    class Codes(FastHttpUser):
        wait_time = constant(0.02)

        @task
        def codes(self):
            self.client.get("/status/404")
            self.client.get("/status/201")
            self.client.get(f"/fail/5/{KEY}?status=503", name="/fail")
            # nothing listens there: no response, counted as status 0
            self.client.get("http://127.0.0.1:{closed}/", name="refused")

    class Plain(HttpUser):
        wait_time = constant(0.02)

        @task
        def fast(self):
            with self.client.get("/status/202", catch_response=True) as response:
                response.failure("a 202 marked failed still counts as a 202")
"""


def test_status_codes_equal_what_the_target_answered(tmp_path: Path, target, procs) -> None:
    """Codes counted on a worker, sent in its deltas and merged by the master, per endpoint."""
    write(tmp_path / "locustfile.py", STATUS_CODES.replace("{closed}", str(free_port())))
    port = free_port()
    # the stop timeout lets each user finish its task: no request is cut off after the target answered it
    args = [
        "--expect-workers",
        "1",
        "-H",
        target.url,
        "-u",
        "2",
        "-r",
        "100",
        "-t",
        "2s",
        "--stop-timeout",
        "3",
    ]
    master = procs(*master_args(port, *args, "--json", "out.json", "--csv", "out"), cwd=tmp_path)
    procs(*worker_args(port), cwd=tmp_path)
    assert master.wait() in (0, 1), master.output  # 1: the run had failures
    report = json.loads((tmp_path / "out.json").read_text())
    served = target.counts()["by_endpoint"]
    codes = {entry["name"]: entry["status_codes"] for entry in report["entries"]}
    assert codes["/status/404"] == {"404": served["GET /status/404"]}
    assert codes["/status/201"] == {"201": served["GET /status/201"]}
    fail_requests = sum(n for endpoint, n in served.items() if endpoint.startswith("GET /fail/5/"))
    assert codes["/fail"] == {"200": fail_requests - 5, "503": 5}
    assert codes["/status/202"] == {"202": served["GET /status/202"]}
    refused = next(e for e in report["entries"] if e["name"] == "refused")
    assert codes["refused"] == {"0": refused["num_requests"]} and refused["num_requests"] > 0
    total = report["total"]["status_codes"]
    assert (
        sum(total.values())
        == report["total"]["num_requests"]
        == target.counts()["total"] + refused["num_requests"]
    )
    csv_rows = (tmp_path / "out_status_codes.csv").read_text().splitlines()
    assert csv_rows[0] == "Type,Name,Status Code,Count"
    assert f"GET,/status/404,404,{served['GET /status/404']}" in csv_rows
