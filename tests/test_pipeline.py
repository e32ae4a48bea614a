"""tswarm as a CI job runs it: a headless master with --expect-workers and workers started in the
background, a worker that dies mid-run, SIGTERM from the runner, ``--json -`` piped into another program
while the live table goes to stderr, plain text without a terminal or with NO_COLOR, and workers that
never come. What the other files cover already (the exit-code table, failover, the outputs' content)
is not repeated here."""

from __future__ import annotations

import io
import json
import os
import queue
import shlex
import signal
import subprocess
import sys
import textwrap
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

import pytest
import typer
import yaml
from conftest import TargetServer, free_port, repo_env

from tswarm.cli.app import app, main
from tswarm.controller.report import use_color

pytestmark = pytest.mark.timeout(120)

JOB_TEST = """
    from tswarm import FastHttpUser, task, constant

    class Shopper(FastHttpUser):
        wait_time = constant(0.05)

        @task
        def fast(self):
            self.client.get("/fast")

        @task
        def broken(self):
            self.client.get("/status/500")
"""

#: what a JSON consumer in a pipeline does with tswarm's stdout: parse it whole, keep it, print a line
CONSUMER = """
import json, sys
text = sys.stdin.read()
report = json.loads(text)
open("piped.json", "w").write(text)
print("requests", report["total"]["num_requests"], "checks", [c["passed"] for c in report["checks"]])
"""


class Lines:
    """Lines read from a process's stream by a thread, so that a test can wait on one."""

    def __init__(self, stream: IO[str]) -> None:
        self.lines: list[str] = []
        self._new: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._pump, args=(stream,), daemon=True).start()

    def _pump(self, stream: IO[str]) -> None:
        for line in stream:
            self.lines.append(line)
            self._new.put(line)
        self._new.put(None)

    @property
    def text(self) -> str:
        return "".join(self.lines)

    def wait_for(self, predicate: Callable[[str], bool], timeout: float = 30.0) -> str:
        for line in list(self.lines):
            if predicate(line):
                return line
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                line = self._new.get(timeout=left)
            except queue.Empty:
                break
            if line is None:
                break
            if predicate(line):
                return line
        pytest.fail(f"no matching line within {timeout}s; got:\n{self.text[-3000:]}")


@pytest.fixture
def started() -> Iterator[list[subprocess.Popen[str]]]:
    """Processes a test starts; each one still running at the end is killed by its PID."""
    procs: list[subprocess.Popen[str]] = []
    yield procs
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _tswarm(args: list[str], cwd: Path, env: dict[str, str], **kwargs: object) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "tswarm", *args],
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        text=True,
        **kwargs,  # type: ignore[call-overload]
    )


def test_a_ci_job_master_workers_a_dead_worker_and_sigterm(
    tmp_path: Path,
    target: TargetServer,
    started: list[subprocess.Popen[str]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """One master run as a job script would do it: three workers in the background, the JSON piped
    into another program, one worker killed mid-run, then the runner's SIGTERM (its timeout, a
    cancelled job). Every output is written, the exit code is the checks', no escape codes anywhere."""
    (tmp_path / "locustfile.py").write_text(textwrap.dedent(JOB_TEST))
    env = repo_env(NO_COLOR="1")
    port = free_port()
    master = _tswarm(
        [
            "master", "--headless", "--master-bind-host", "127.0.0.1", "--master-bind-port", str(port),
            "--expect-workers", "3", "--expect-workers-max-wait", "30", "-H", target.url,
            "-u", "6", "-r", "100", "-t", "60s", "--heartbeat-timeout", "2",
            "--check", "GET /status/500: failures==0", "--check", "GET /fast: fail_ratio<1%",
            "--json", "-", "--junit", "junit.xml", "--html", "report.html", "--markdown", "summary.md",
        ],
        tmp_path, env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    started.append(master)
    consumer = subprocess.Popen(
        [sys.executable, "-c", CONSUMER], cwd=tmp_path, stdin=master.stdout, stdout=subprocess.PIPE, text=True
    )
    started.append(consumer)
    assert master.stdout is not None and master.stderr is not None
    master.stdout.close()  # the consumer holds the pipe's read end now
    stderr = Lines(master.stderr)
    workers = [
        _tswarm(
            ["worker", "--master-host", "127.0.0.1", "--master-port", str(port)],
            tmp_path,
            env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        for _ in range(3)
    ]
    started.extend(workers)
    worker_output = [Lines(w.stdout) for w in workers if w.stdout is not None]
    stderr.wait_for(lambda line: "All users spawned" in line)
    # the live table goes to stderr while stdout stays the JSON's: requests were made on both endpoints
    for name in ("/fast", "/status/500"):
        stderr.wait_for(lambda line, name=name: line.split()[:2] == ["GET", name] and line.split()[2] != "0")
    workers[0].kill()
    stderr.wait_for(lambda line: "is missing" in line, timeout=15)
    master.send_signal(signal.SIGTERM)
    assert master.wait(timeout=60) == 3, stderr.text[-3000:]
    out, _ = consumer.communicate(timeout=30)
    assert out.startswith("requests ") and out.rstrip().endswith("checks [False, True]"), out
    report = json.loads((tmp_path / "piped.json").read_text())
    # the killed worker's last second never reached the master; the others' requests all did
    assert 0 < report["total"]["num_requests"] <= target.counts()["total"]
    assert [m["reason"] for m in report["run"]["missing_workers"]] == ["connection closed"]
    suite = ET.parse(tmp_path / "junit.xml").getroot().find("testsuite")
    assert suite is not None and (suite.get("tests"), suite.get("failures")) == ("3", "2")
    assert "Checks" in (tmp_path / "report.html").read_text()
    assert "1 of 2 checks breached" in (tmp_path / "summary.md").read_text()
    assert stderr.text.rstrip().splitlines()[-1] == "tswarm: 1 of 2 check(s) breached: exit code 3"
    for surviving in workers[1:]:
        assert surviving.wait(timeout=30) == 0
    for text in [stderr.text, out, *(w.text for w in worker_output)]:
        assert "\x1b" not in text  # NO_COLOR and no terminal: plain text for the CI log
    # later, in the same job: the JUnit of the saved JSON is the run's, and the run compared with itself
    # holds any check on changes
    monkeypatch.chdir(tmp_path)
    assert _main(["report", "piped.json", "--junit", "again.xml"]) == 0
    assert (tmp_path / "again.xml").read_text() == (tmp_path / "junit.xml").read_text()
    assert _main(["compare", "piped.json", "piped.json", "--check", "p95<+1%", "--check", "rps>-1%"]) == 0


def _main(args: list[str]) -> int:
    with pytest.raises(SystemExit) as exited:
        main(args)
    return exited.value.code if isinstance(exited.value.code, int) else 1


def test_workers_that_never_come_are_one_line_and_exit_1(
    tmp_path: Path, started: list[subprocess.Popen[str]]
) -> None:
    (tmp_path / "locustfile.py").write_text(textwrap.dedent(JOB_TEST))
    master = _tswarm(
        [
            "master", "--headless", "--master-bind-host", "127.0.0.1", "--master-bind-port", str(free_port()),
            "--expect-workers", "3", "--expect-workers-max-wait", "1", "-H", "http://127.0.0.1:9",
            "--check", "failures==0", "--json", "out.json", "--junit", "junit.xml",
        ],
        tmp_path, repo_env(NO_COLOR="1"), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    started.append(master)
    out, err = master.communicate(timeout=60)
    assert master.returncode == 1, err
    errors = [line for line in err.splitlines() if "ERROR" in line or "error:" in line]
    assert len(errors) == 1 and "0 of 3 connected after 1s" in errors[0], err
    assert out == ""
    # no test ran: no report pretends one did
    assert sorted(p.name for p in tmp_path.iterdir()) == ["locustfile.py"]


def test_colour_only_on_a_terminal_and_never_with_no_color(monkeypatch: pytest.MonkeyPatch) -> None:
    leader, follower = os.openpty()
    try:
        with open(follower, "w", closefd=False) as terminal:
            monkeypatch.delenv("NO_COLOR", raising=False)
            assert use_color(terminal)
            assert not use_color(io.StringIO())  # a pipe or a file: the CI log
            monkeypatch.setenv("NO_COLOR", "1")
            assert not use_color(terminal)
    finally:
        os.close(leader)
        os.close(follower)


# -- the CI example: README's "Use in CI" and examples/ci/github-actions.yml ----------------------------

REPO = Path(__file__).parent.parent
WORKFLOW = REPO / "examples" / "ci" / "github-actions.yml"
#: where a shell command line ends and the next begins, or its output goes elsewhere
SHELL_BREAKS = {"&", "&&", "||", ";", "|", ">", ">>", "2>&1"}


def _tswarm_command_lines(script: str) -> list[list[str]]:
    """The tswarm command lines of a step's shell script, as argument lists (without ``tswarm``)."""
    commands = []
    for line in script.replace("\\\n", " ").splitlines():
        words = shlex.split(line, comments=True)
        for i, word in enumerate(words):
            if word == "tswarm" and (i == 0 or words[i - 1] in SHELL_BREAKS | {"nohup", "do", "then"}):
                rest = words[i + 1 :]
                end = next((j for j, w in enumerate(rest) if w in SHELL_BREAKS), len(rest))
                commands.append(rest[:end])
    return commands


def test_the_example_workflow_runs_tswarm_command_lines_that_parse() -> None:
    workflow = yaml.safe_load(WORKFLOW.read_text())
    (job,) = workflow["jobs"].values()
    scripts = [step["run"] for step in job["steps"] if "run" in step]
    commands = [c for script in scripts for c in _tswarm_command_lines(script)]
    assert [c[0] for c in commands] == ["worker", "master", "compare"]
    subcommands: dict[str, Any] = getattr(typer.main.get_command(app), "commands")  # noqa: B009
    for args in commands:
        command = subcommands[args[0]]
        # click's own parsing: every value converts, nothing required is missing; nothing runs
        context = command.make_context(args[0], list(args[1:]))
        assert context.args == [], (args, "left over: a test file's own option or a misspelt one")
        known = {opt for param in command.params for opt in getattr(param, "opts", [])}
        named = {a.split("=", 1)[0] for a in args[1:] if a.startswith("-") and a != "-"}
        assert named <= known, (args[0], named - known)
    worker, master, compare = commands
    # the job as the README says: three background workers for --expect-workers 3, the reports kept
    assert "for i in 1 2 3" in scripts[2] and worker[-1] != "&"
    assert master[master.index("--expect-workers") + 1] == "3"
    assert {"--check", "--junit", "--html", "--json"} <= set(master)
    assert compare[1:3] == ["baseline/result.json", "result.json"] and "--check" in compare
    uploaded = next(s for s in job["steps"] if s.get("uses", "").startswith("actions/upload-artifact"))
    assert {"result.json", "report.html", "junit.xml"} <= set(uploaded["with"]["path"].split())
    assert uploaded["with"]["name"] == "tswarm-result" and "--name tswarm-result" in scripts[4]


def test_the_readme_shows_the_example_workflow() -> None:
    readme = (REPO / "README.md").read_text()
    assert "## Use in CI" in readme
    assert f"```yaml\n{WORKFLOW.read_text()}```" in readme
