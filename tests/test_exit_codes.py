"""Outputs and exit codes that never lie: values that make no sense, output paths that cannot be written
and ports in use are one line and exit 1 before anything runs; a run that measured nothing does not
exit 0; the live table shows the busiest rows, not all of them."""

from __future__ import annotations

import io
import json
import signal
import socket
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import free_port, repo_env

from tswarm.cli.session import NOTHING_MEASURED_EXIT_CODE, OUTPUT_FAILED_EXIT_CODE
from tswarm.controller.formatting import format_count
from tswarm.controller.report import render_live_table, render_summary
from tswarm.headless.reporter import LIVE_TABLE_ROWS, live_table_rows
from tswarm.stats import RequestStats

RUN_TIMEOUT = 60

FAST_TEST = """
    from tswarm import FastHttpUser, task, constant

    class Web(FastHttpUser):
        wait_time = constant(0.05)

        @task
        def fast(self):
            self.client.get("/fast")
"""


def tswarm(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tswarm", *args],
        cwd=cwd,
        env=env or repo_env(),
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
        stdin=subprocess.DEVNULL,
    )


def one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    """The single ``tswarm: error:`` line of a run refused with exit code 1."""
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("tswarm: error: ")
    return lines[0]


@pytest.fixture
def testfile(tmp_path: Path) -> Path:
    path = tmp_path / "web.py"
    path.write_text(textwrap.dedent(FAST_TEST))
    return path


NONSENSE_VALUES = [
    (["-t", "0s"], "--run-time must be more than 0"),
    (["-t", "0"], "--run-time must be more than 0"),
    (["-r", "nan"], "--spawn-rate must be more than 0, not nan"),
    (["-r", "inf"], "--spawn-rate must be more than 0, not inf"),
    (["-r", "-2"], "--spawn-rate must be more than 0, not -2"),
    (["-u", "99999999999999999999"], "--users must be 0 or more, up to 10,000,000; not 99999999999999999999"),
    (["-u", "-1"], "--users must be 0 or more"),
    (["--heartbeat-timeout", "nan"], "--heartbeat-timeout must be more than 0, not nan"),
    (["--heartbeat-timeout", "inf"], "--heartbeat-timeout must be more than 0, not inf"),
    (["--heartbeat-interval", "-1"], "--heartbeat-interval must be more than 0, not -1"),
    (["--autoquit", "nan"], "--autoquit must be -1 (stay) or 0 or more, not nan"),
    (["--exit-code-on-error", "256"], "--exit-code-on-error must be from 0 to 255"),
    (["-u", "abc"], "invalid value for -u / --users:"),
]


@pytest.mark.parametrize(("args", "message"), NONSENSE_VALUES, ids=[" ".join(a) for a, _ in NONSENSE_VALUES])
def test_nonsense_values_are_one_line_and_exit_1(
    tmp_path: Path, testfile: Path, args: list[str], message: str
) -> None:
    line = one_error_line(
        tswarm("run", "--headless", "-f", testfile.name, "-H", "http://127.0.0.1:1", *args, cwd=tmp_path)
    )
    assert message in line
    assert "TSWARM_" not in line  # no variable was set: none is blamed


MASTER_NONSENSE = [
    (["--expect-workers-max-wait", "nan"], "--expect-workers-max-wait must be 0 (wait forever) or more"),
    (["--master-bind-port", "70000"], "--master-bind-port must be a port from 0 to 65535, not 70000"),
]


@pytest.mark.parametrize(("args", "message"), MASTER_NONSENSE, ids=[" ".join(a) for a, _ in MASTER_NONSENSE])
def test_nonsense_master_values(tmp_path: Path, testfile: Path, args: list[str], message: str) -> None:
    assert message in one_error_line(tswarm("master", "--headless", "-f", testfile.name, *args, cwd=tmp_path))


CONFIG_VALUES = [
    ('users = "abc"\n', "invalid users in tswarm.toml: "),
    ("spawn-rate = -3\n", "spawn-rate in tswarm.toml must be more than 0, not -3"),
    ('[run]\nrun-time = "0s"\n', "run-time in tswarm.toml must be more than 0"),
    ('run-time = "xx"\n', "invalid run-time in tswarm.toml 'xx'"),
    ('heartbeat-timeout = "nan"\n', "heartbeat-timeout in tswarm.toml must be more than 0, not nan"),
]


@pytest.mark.parametrize(("config", "message"), CONFIG_VALUES, ids=[m for _, m in CONFIG_VALUES])
def test_a_config_value_is_blamed_on_the_file_and_key(
    tmp_path: Path, testfile: Path, config: str, message: str
) -> None:
    (tmp_path / "tswarm.toml").write_text(config)
    line = one_error_line(
        tswarm("run", "--headless", "-f", testfile.name, "-H", "http://127.0.0.1:1", cwd=tmp_path)
    )
    assert message in line
    assert "TSWARM_" not in line and "env var" not in line


def test_an_environment_value_is_blamed_on_its_variable(tmp_path: Path, testfile: Path) -> None:
    env = repo_env(TSWARM_SPAWN_RATE="nan", TSWARM_USERS="many")
    line = one_error_line(tswarm("run", "--headless", "-f", testfile.name, cwd=tmp_path, env=env))
    assert "invalid TSWARM_USERS: " in line
    env = repo_env(TSWARM_SPAWN_RATE="nan")
    line = one_error_line(tswarm("run", "--headless", "-f", testfile.name, cwd=tmp_path, env=env))
    assert "TSWARM_SPAWN_RATE must be more than 0, not nan" in line


def _sys_is_unwritable() -> bool:
    """/sys refuses new files even to root: a folder that is not writable whoever runs the tests."""
    try:
        (Path("/sys") / "tswarm-probe").touch()
    except OSError:
        return Path("/sys").is_dir()
    return False


BAD_OUTPUTS = [
    (["--json", "nowhere/out.json"], "--json nowhere/out.json: the folder nowhere does not exist"),
    (["--json", "web.py/out.json"], "--json web.py/out.json: web.py is a file, not a folder"),
    (["--json", "."], "--json .: is a folder, not a file"),
    (["--csv", "nowhere/run"], "--csv nowhere/run_stats.csv: the folder nowhere does not exist"),
    (["--csv", "web.py/run"], "web.py is a file, not a folder"),
    (["--logfile", "web.py/deep/run.log"], "--logfile web.py/deep/run.log: web.py is a file, not a folder"),
    (["--logfile", "."], "--logfile .: is a folder, not a file"),
    (["--json", "out.json", "--processes", "1", "--csv", "nowhere/x"], "the folder nowhere does not exist"),
]


@pytest.mark.parametrize(("args", "message"), BAD_OUTPUTS, ids=[" ".join(a) for a, _ in BAD_OUTPUTS])
def test_unwritable_outputs_are_refused_before_the_test(
    tmp_path: Path, testfile: Path, target, args: list[str], message: str
) -> None:
    target.reset()
    line = one_error_line(
        tswarm("run", "--headless", "-f", testfile.name, "-H", target.url, "-t", "2s", *args, cwd=tmp_path)
    )
    assert message in line
    assert target.counts()["total"] == 0  # nothing ran
    assert not (tmp_path / "out.json").exists()


@pytest.mark.skipif(not _sys_is_unwritable(), reason="needs /sys, which refuses new files even to root")
def test_an_unwritable_folder_is_refused_even_for_root(tmp_path: Path, testfile: Path, target) -> None:
    target.reset()
    line = one_error_line(
        tswarm(
            "run",
            "--headless",
            "-f",
            testfile.name,
            "-H",
            target.url,
            "-t",
            "2s",
            "--json",
            "/sys/out.json",
            cwd=tmp_path,
        )
    )
    assert "--json /sys/out.json: the folder /sys is not writable" in line
    assert target.counts()["total"] == 0


def test_an_existing_output_file_is_left_as_it_was(tmp_path: Path, testfile: Path) -> None:
    """The check appends nothing to a file it may write later, and a refused run leaves it alone."""
    report = tmp_path / "out.json"
    report.write_text("old report\n")
    one_error_line(
        tswarm("run", "--headless", "-f", testfile.name, "-r", "nan", "--json", "out.json", cwd=tmp_path)
    )
    assert report.read_text() == "old report\n"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".tswarm-check-")] == []


@pytest.fixture
def taken_port() -> Iterator[int]:
    """A port that a listening socket of this test holds."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        yield int(sock.getsockname()[1])


def test_a_master_port_in_use_is_one_line(tmp_path: Path, testfile: Path, taken_port: int) -> None:
    line = one_error_line(
        tswarm(
            "master", "--headless", "-f", testfile.name,
            "--master-bind-host", "127.0.0.1", "--master-bind-port", str(taken_port),
            cwd=tmp_path,
        )
    )  # fmt: skip
    assert f"cannot bind the master to tcp://127.0.0.1:{taken_port}" in line
    assert "Address already in use" in line


def test_a_target_port_in_use_is_one_line(tmp_path: Path, taken_port: int) -> None:
    line = one_error_line(tswarm("target", "--host", "127.0.0.1", "--port", str(taken_port), cwd=tmp_path))
    assert f"cannot listen on 127.0.0.1:{taken_port}" in line
    assert "address already in use" in line.lower()


@pytest.mark.parametrize("processes", [[], ["--processes", "1"]], ids=["local", "distributed"])
def test_a_target_that_never_answers_is_not_a_pass(
    tmp_path: Path, testfile: Path, processes: list[str]
) -> None:
    """Connections are accepted (by the kernel, on the backlog) and nothing is ever answered: the
    run ends with requests in flight and none measured (a worker reports its cut-off requests)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(64)
        host = f"http://127.0.0.1:{silent.getsockname()[1]}"
        result = tswarm(
            "run",
            "--headless",
            "-f",
            testfile.name,
            "-H",
            host,
            "-u",
            "2",
            "-r",
            "10",
            "-t",
            "2s",
            "--json",
            "out.json",
            *processes,
            cwd=tmp_path,
        )
    assert result.returncode == NOTHING_MEASURED_EXIT_CODE, result.stderr
    assert (
        "tswarm: no request completed, so nothing was measured: the target never answered "
        "(2 request(s) were still waiting when the users stopped) (exit code 4)"
    ) in result.stderr
    assert "Traceback" not in result.stderr
    assert "Statistics (whole test)" in result.stderr  # the summary is still there
    # the requests cut off by the stop are counted as such, in the summary and the JSON
    assert "2 requests were still waiting for a response when the users stopped" in result.stderr
    assert json.loads((tmp_path / "out.json").read_text())["run"]["interrupted_requests"] == 2


def test_a_master_stopped_before_any_worker_joined_is_not_a_pass(tmp_path: Path, testfile: Path) -> None:
    proc = subprocess.Popen(
        [
            sys.executable, "-m", "tswarm", "master", "--headless", "-f", testfile.name,
            "--master-bind-host", "127.0.0.1", "--master-bind-port", str(free_port()),
        ],
        cwd=tmp_path, env=repo_env(), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert proc.stderr is not None
        seen = []
        for line in proc.stderr:  # the master says it waits as soon as it does
            seen.append(line)
            if "Waiting for workers" in line:
                break
        else:
            pytest.fail(f"the master ended without waiting: {''.join(seen)}")
        proc.send_signal(signal.SIGINT)
        rest = proc.stderr.read()
        code = proc.wait(timeout=RUN_TIMEOUT)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert code == NOTHING_MEASURED_EXIT_CODE, rest
    assert "nothing was measured: no worker joined (exit code 4)" in rest
    assert "Traceback" not in rest


def test_a_measured_run_still_exits_0(tmp_path: Path, testfile: Path, target) -> None:
    result = tswarm(
        "run",
        "--headless",
        "-f",
        testfile.name,
        "-H",
        target.url,
        "-u",
        "2",
        "-r",
        "10",
        "-t",
        "1s",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert "nothing was measured" not in result.stderr


def test_users_that_make_no_request_are_named_as_the_reason(tmp_path: Path) -> None:
    (tmp_path / "idle.py").write_text(
        textwrap.dedent(
            """
            from locust import User, task, constant

            class Idle(User):
                wait_time = constant(0.1)

                @task
                def nothing(self):
                    pass
            """
        )
    )
    result = tswarm("run", "--headless", "-f", "idle.py", "-u", "1", "-r", "10", "-t", "1s", cwd=tmp_path)
    assert result.returncode == NOTHING_MEASURED_EXIT_CODE, result.stderr
    assert "nothing was measured: the users made no request (exit code 4)" in result.stderr


def _many_entries(count: int) -> RequestStats:
    stats = RequestStats()
    for i in range(count):
        for _ in range(i % 7 + 1):
            stats.log_request("GET", f"/page/{i:03d}", 10.0, 100)
    stats.log_request("GET", "/busy", 10.0, 100)
    for _ in range(50):
        stats.log_request("GET", "/busy", 10.0, 100)
    return stats


def test_the_live_table_shows_the_busiest_rows_and_says_how_many_more() -> None:
    stats = _many_entries(300)
    table = render_live_table(stats, 5, color=False, max_rows=LIVE_TABLE_ROWS)
    rows = [line for line in table.splitlines() if line.startswith("GET ")]
    assert len(rows) == LIVE_TABLE_ROWS
    assert any("/busy" in row for row in rows)  # the busiest is always shown
    # every row shown has at least as many requests as any row left out: 7 each, /busy 51
    assert all(row.split()[2] in ("7", "51") for row in rows)
    assert table.splitlines()[-1] == "... and 281 more with fewer requests (the final summary lists all)"
    assert "Aggregated" in table and format_count(stats.total.num_requests) in table
    # the final summary keeps every row, as a CI log wants
    summary = render_summary(stats, color=False)
    assert sum(1 for line in summary.splitlines() if line.startswith("GET ")) == 2 * 301


def test_a_live_table_that_fits_shows_every_row_in_name_order() -> None:
    stats = _many_entries(3)
    table = render_live_table(stats, 1, color=False, max_rows=LIVE_TABLE_ROWS)
    names = [line.split()[1] for line in table.splitlines() if line.startswith("GET ")]
    assert names == ["/busy", "/page/000", "/page/001", "/page/002"]
    assert "more with fewer requests" not in table
    assert live_table_rows(io.StringIO()) == LIVE_TABLE_ROWS  # not a terminal: the fixed limit


def test_an_output_that_fails_at_the_end_is_one_line_and_the_summary_stays(tmp_path: Path, target) -> None:
    """Checked writable before the test, the folder can still go away during it: one line, no
    traceback, and the summary is printed all the same."""
    (tmp_path / "out").mkdir()
    (tmp_path / "gone.py").write_text(
        textwrap.dedent(
            FAST_TEST
            + """
    import shutil
    from tswarm import events

    @events.test_stop.add_listener
    def remove_the_output_folder(environment, **kw):
        shutil.rmtree("out")
    """
        )
    )
    result = tswarm(
        "run", "--headless", "-f", "gone.py", "-H", target.url, "-u", "1", "-r", "10", "-t", "1s",
        "--json", "out/report.json", cwd=tmp_path,
    )  # fmt: skip
    assert "Traceback" not in result.stderr
    assert "tswarm: error: cannot write --json out/report.json: No such file or directory" in result.stderr
    assert "Statistics (whole test)" in result.stderr
    # a pipeline must not read a pass from a run whose results are lost
    assert result.returncode == OUTPUT_FAILED_EXIT_CODE
    assert "the results were not all written (out/report.json): exit code 5" in result.stderr


def test_the_target_module_with_its_port_in_use_is_one_line(tmp_path: Path, taken_port: int) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "tswarm.target", "--port", str(taken_port)],
        cwd=tmp_path, env=repo_env(), capture_output=True, text=True, timeout=RUN_TIMEOUT,
    )  # fmt: skip
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith(f"tswarm target: error: cannot listen on 127.0.0.1:{taken_port}")


def test_on_a_terminal_the_live_table_fits_its_height() -> None:
    import fcntl
    import os
    import struct
    import termios

    leader, follower = os.openpty()
    try:
        with open(follower, "w", closefd=False) as terminal:
            for height, rows in ((50, 42), (24, 16), (8, 5)):
                fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", height, 120, 0, 0))
                assert live_table_rows(terminal) == rows
    finally:
        os.close(leader)
        os.close(follower)
