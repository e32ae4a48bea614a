"""A shared secret between master and workers (issue 10, item 1): CURVE authentication both ways and
encryption, with real master and worker processes on loopback and the built-in target."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import zmq
from conftest import free_port, repo_env
from test_distributed import STEADY, master_args, procs, worker_args, write

from tswarm.exceptions import ConfigError
from tswarm.secret import MIN_SECRET_CHARS, SECRET_ENV, CurveKeys, read_secret

__all__ = ["procs"]  # the fixture, imported for the tests of this module

pytestmark = pytest.mark.timeout(120)

REFUSED_BY_MASTER = "Refused a connection from 127.0.0.1: authentication failed"


def tswarm(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tswarm", *args],
        cwd=cwd,
        env={**repo_env(), **(env or {})},
        capture_output=True,
        text=True,
        timeout=60,
    )


def make_secret(path: Path) -> Path:
    result = tswarm("secret", str(path), cwd=path.parent)
    assert result.returncode == 0, result.stderr
    return path


def test_secret_prints_a_new_random_secret_each_time(tmp_path: Path) -> None:
    first, second = (tswarm("secret", cwd=tmp_path).stdout.strip() for _ in range(2))
    assert first != second
    assert len(first) >= 40 and first.isprintable() and " " not in first


def test_secret_file_is_private_and_never_overwritten(tmp_path: Path) -> None:
    path = make_secret(tmp_path / "cluster.key")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    secret = path.read_text().strip()
    assert read_secret(str(path), {}) == secret
    again = tswarm("secret", str(path), cwd=tmp_path)
    assert again.returncode == 1
    assert again.stderr.strip() == f"tswarm: error: {path} exists: tswarm secret never overwrites a file"
    assert path.read_text().strip() == secret


def test_bad_secrets_are_one_line() -> None:
    with pytest.raises(ConfigError, match=f"at least {MIN_SECRET_CHARS}"):
        read_secret(None, {SECRET_ENV: "short"})
    with pytest.raises(ConfigError, match="spaces"):
        read_secret(None, {SECRET_ENV: "a secret with spaces in it"})
    with pytest.raises(ConfigError, match="cannot read --secret-file /nonexistent/key"):
        read_secret("/nonexistent/key", {})
    assert read_secret(None, {}) is None


def test_keys_come_from_the_secret_alone() -> None:
    one, same, other = (CurveKeys.from_secret(s) for s in ("x" * 20, "x" * 20, "y" * 20))
    assert one == same and one != other
    assert one.master_public != one.worker_public
    assert zmq.curve_public(one.master_secret) == one.master_public


def test_workers_with_the_secret_run_and_the_totals_equal_the_targets(
    tmp_path: Path, target: Any, procs: Any
) -> None:
    write(tmp_path / "locustfile.py", STEADY)
    key = make_secret(tmp_path / "cluster.key")
    port = free_port()
    master = procs(
        *master_args(port, "--secret-file", str(key), "--expect-workers", "2", "-H", target.url),
        *("-u", "4", "-r", "100", "-t", "3s", "--stop-timeout", "3", "--json", "out.json"),
        cwd=tmp_path,
    )
    procs(*worker_args(port, "--secret-file", str(key)), cwd=tmp_path)
    # the secret may come from the environment instead, and the test file over the encrypted link
    procs(*worker_args(port, "-f", "-"), cwd=tmp_path, env={SECRET_ENV: key.read_text().strip()})
    assert master.wait() == 0, master.output
    report = json.loads((tmp_path / "out.json").read_text())
    assert report["total"]["num_requests"] == target.counts()["total"] > 0
    assert "Refused" not in master.output


@pytest.mark.parametrize("worker_secret", ["none", "another"])
def test_a_worker_without_the_secret_is_refused_in_one_line(
    tmp_path: Path, procs: Any, worker_secret: str
) -> None:
    write(tmp_path / "locustfile.py", STEADY)
    key = make_secret(tmp_path / "cluster.key")
    port = free_port()
    master = procs(*master_args(port, "--secret-file", str(key), "-u", "1", "-t", "60s"), cwd=tmp_path)
    master.wait_for(lambda line: "Waiting for workers" in line)
    extra = ["--secret-file", str(make_secret(tmp_path / "other.key"))] if worker_secret == "another" else []
    worker = procs(*worker_args(port, "--master-timeout", "3", *extra), cwd=tmp_path)
    assert worker.wait() == 1, worker.output
    refusals = [line for line in worker.lines if "refused the connection: authentication failed" in line]
    assert len(refusals) == 1, worker.output
    assert (
        worker.lines[-1]
        .rstrip()
        .endswith("Gave up after 3s (--master-timeout): the master refused this worker")
    )
    assert "Traceback" not in worker.output
    # the worker tried again and again; the master names it once. On a busy machine ZeroMQ may close a
    # refused connection before the master reads its peer's address: that try is only counted, in the
    # summary of closed connections the master logs at the latest when it ends
    master.proc.send_signal(signal.SIGINT)
    master.wait()
    assert master.output.count("Refused a connection from") <= 1, master.output
    assert REFUSED_BY_MASTER in master.output or "connection(s) that sent no valid message" in master.output
    assert "connected;" not in master.output


def test_a_worker_with_a_secret_refuses_a_master_without_it(tmp_path: Path, procs: Any) -> None:
    """A rogue master (it has no secret) gets nothing from the worker: not even a hello."""
    write(tmp_path / "locustfile.py", STEADY)
    key = make_secret(tmp_path / "cluster.key")
    port = free_port()
    rogue = procs(*master_args(port, "-u", "1", "-t", "60s"), cwd=tmp_path)
    rogue.wait_for(lambda line: "Waiting for workers" in line)
    worker = procs(*worker_args(port, "--secret-file", str(key), "--master-timeout", "3"), cwd=tmp_path)
    assert worker.wait() == 1, worker.output
    assert "refused the connection: authentication failed" in worker.output
    # named when its address could be read before ZeroMQ closed the connection; counted otherwise
    rogue.proc.send_signal(signal.SIGINT)
    rogue.wait()
    assert (
        "it uses a secret, and this master has none" in rogue.output
        or "connection(s) that sent no valid message" in rogue.output
    ), rogue.output
    assert "connected;" not in rogue.output


def test_a_master_open_to_other_machines_without_a_secret_says_so(tmp_path: Path) -> None:
    write(tmp_path / "locustfile.py", STEADY)
    args = [
        "master",
        "--headless",
        "--expect-workers-max-wait",
        "0.5",
        "--master-bind-port",
        str(free_port()),
    ]
    everywhere = tswarm(*args, cwd=tmp_path)
    assert "The master listens on all interfaces without a secret" in everywhere.stderr
    assert "--secret-file" in everywhere.stderr
    loopback = tswarm(*args, "--master-bind-host", "127.0.0.1", cwd=tmp_path)
    assert "without a secret" not in loopback.stderr
    key = make_secret(tmp_path / "cluster.key")
    secured = tswarm(*args, "--secret-file", str(key), cwd=tmp_path)
    assert "without a secret" not in secured.stderr


def test_a_run_with_processes_gives_its_workers_a_one_off_secret(tmp_path: Path, target: Any) -> None:
    write(tmp_path / "locustfile.py", STEADY)
    env = {k: v for k, v in os.environ.items() if k != SECRET_ENV}
    result = tswarm(
        "run", "--headless", "-H", target.url, "-u", "2", "-r", "100", "-t", "2s", "--processes", "2",
        "--stop-timeout", "3", "--json", "out.json", cwd=tmp_path, env=env,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "a one-off secret" in result.stderr
    report = json.loads((tmp_path / "out.json").read_text())
    assert report["total"]["num_requests"] == target.counts()["total"] > 0
