"""`tswarm run --headless` as a real subprocess against the real target server."""

from __future__ import annotations

import ast
import csv
import json
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from conftest import REPO_ROOT, repo_env

from tswarm.cli.distributed import local_worker_command
from tswarm.cli.modes import RunMode, UsersRunIn, choose_run_mode
from tswarm.cli.options import RunOptions
from tswarm.cli.worker import worker_child_args
from tswarm.controller.outputs import validate_json_report

RUN_TIMEOUT = 60


def tswarm(
    *args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = RUN_TIMEOUT
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tswarm", *args],
        cwd=cwd,
        env=env or repo_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


def write(path: Path, source: str) -> Path:
    path.write_text(textwrap.dedent(source))
    return path


BOUNDED_USERS = """
    from locust import FastHttpUser, HttpUser, task, constant
    from locust.exception import StopUser

    class Browser(FastHttpUser):
        wait_time = constant(0)
        done = 0

        @task(3)
        def fast(self):
            self.client.get("/fast")

        @task(1)
        def item(self):
            self.client.get(f"/items/{self.done}", name="/items/[id]")
            self.done += 1
            if self.done >= 40:
                raise StopUser()
"""


def totals_by_endpoint(report: dict) -> dict[str, int]:
    return {f"{e['method']} {e['name']}": e["num_requests"] for e in report["entries"]}


def test_request_counts_equal_the_servers(tmp_path: Path, target) -> None:
    write(tmp_path / "locustfile.py", BOUNDED_USERS)
    result = tswarm(
        "run",
        "--headless",
        "-H",
        target.url,
        "-u",
        "5",
        "-r",
        "100",
        "-t",
        "3s",
        "--stop-timeout",
        "5",
        "--json",
        "out.json",
        "--csv",
        "res",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads((tmp_path / "out.json").read_text())
    assert validate_json_report(report) == []
    server = target.counts()
    assert report["total"]["num_requests"] == server["total"] > 0
    ours = totals_by_endpoint(report)
    assert ours["GET /items/[id]"] == sum(
        n for k, n in server["by_endpoint"].items() if k.startswith("GET /items/")
    )
    assert ours["GET /fast"] == server["by_endpoint"]["GET /fast"]
    # the final CSV agrees with the final JSON
    with open(tmp_path / "res_stats.csv", newline="") as f:
        rows = {row["Name"]: row for row in csv.DictReader(f)}
    assert int(rows["Aggregated"]["Request Count"]) == report["total"]["num_requests"]
    assert int(rows["/fast"]["Request Count"]) == ours["GET /fast"]
    assert "Aggregated" in result.stderr  # the summary table


def test_failures_give_the_error_exit_code(tmp_path: Path, target) -> None:
    write(
        tmp_path / "locustfile.py",
        """
        from tswarm import HttpUser, task, constant, StopUser

        class Failing(HttpUser):
            wait_time = constant(0)
            n = 0

            @task
            def boom(self):
                self.n += 1
                self.client.get("/status/500")
                if self.n == 3:
                    raise StopUser()
    """,
    )
    result = tswarm(
        "run", "--headless", "-H", target.url, "-u", "2", "-r", "10", "-t", "2s", "--json", "-", cwd=tmp_path
    )
    assert result.returncode == 1, result.stderr
    report = json.loads(result.stdout)
    assert report["total"]["num_failures"] == 6
    assert report["failures"][0]["occurrences"] == 6
    result = tswarm(
        "run",
        "--headless",
        "-H",
        target.url,
        "-u",
        "1",
        "-r",
        "10",
        "-t",
        "2s",
        "--exit-code-on-error",
        "7",
        cwd=tmp_path,
    )
    assert result.returncode == 7


def test_process_exit_code_wins(tmp_path: Path, target) -> None:
    write(
        tmp_path / "locustfile.py",
        """
        from locust import HttpUser, task, events
        from locust.exception import StopUser

        @events.quitting.add_listener
        def decide(environment, **kw):
            environment.process_exit_code = 3 if environment.stats.total.num_requests == 2 else 4

        class One(HttpUser):
            @task
            def once(self):
                self.client.get("/fast")
                self.client.get("/fast")
                raise StopUser()
    """,
    )
    result = tswarm("run", "--headless", "-H", target.url, "-u", "1", "-t", "3s", cwd=tmp_path)
    assert result.returncode == 3, result.stderr


def test_user_exceptions_are_grouped_and_the_user_goes_on(tmp_path: Path, target) -> None:
    write(
        tmp_path / "locustfile.py",
        """
        from tswarm import User, task, constant, StopUser

        class Buggy(User):
            wait_time = constant(0)
            n = 0

            @task
            def oops(self):
                self.n += 1
                if self.n > 5:
                    raise StopUser()
                raise ValueError("broken task")
    """,
    )
    result = tswarm("run", "--headless", "-u", "2", "-r", "10", "-t", "2s", "--json", "-", cwd=tmp_path)
    assert result.returncode == 1
    report = json.loads(result.stdout)
    assert len(report["exceptions"]) == 1
    assert report["exceptions"][0]["count"] == 10
    assert "ValueError" in report["exceptions"][0]["traceback"]


def test_sigterm_stops_gracefully_and_writes_outputs(tmp_path: Path, target) -> None:
    write(
        tmp_path / "locustfile.py",
        """
        from tswarm import FastHttpUser, task, constant

        class Steady(FastHttpUser):
            wait_time = constant(0.01)

            @task
            def fast(self):
                self.client.get("/fast")
    """,
    )
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tswarm",
            "run",
            "--headless",
            "-H",
            target.url,
            "-u",
            "3",
            "-r",
            "100",
            "--stop-timeout",
            "5",
            "--json",
            "out.json",
            "--csv",
            "res",
        ],
        cwd=tmp_path,
        env=repo_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stderr is not None
    for line in proc.stderr:  # wait until the first live table is out
        if "Aggregated" in line:
            break
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    report = json.loads((tmp_path / "out.json").read_text())
    assert report["total"]["num_requests"] == target.counts()["total"] > 0
    assert (tmp_path / "res_stats.csv").exists()


LOCUST_FILES = {
    "tasksets.py": """
        from locust import HttpUser, TaskSet, task, between
        from locust.exception import StopUser

        class Browse(TaskSet):
            @task(3)
            def page(self):
                self.client.get("/fast")

            @task(1)
            def leave(self):
                self.interrupt()

        class Visitor(HttpUser):
            wait_time = between(0, 0.01)
            tasks = {Browse: 2}
            count = 0

            @task
            def home(self):
                self.count += 1
                self.client.get("/")
                if self.count > 5:
                    raise StopUser()
    """,
    "sequential.py": """
        import locust
        from locust import SequentialTaskSet, task, constant
        from locust.contrib.fasthttp import FastHttpUser

        class Flow(SequentialTaskSet):
            @task
            def login(self):
                with self.client.post("/echo", json={"user": "a"}, name="/login", catch_response=True) as r:
                    if r.status_code != 200:
                        r.failure("login failed")

            @task
            def item(self):
                self.client.get("/items/1", name="/items/[id]")

            @task
            def stop(self):
                raise locust.exception.StopUser()

        class Shopper(FastHttpUser):
            wait_time = constant(0)
            tasks = [Flow]
    """,
    "shape.py": """
        from locust import HttpUser, LoadTestShape, task, constant

        class Pinger(HttpUser):
            wait_time = constant(0.05)

            @task
            def ping(self):
                self.client.get("/fast")

        class TwoSteps(LoadTestShape):
            def tick(self):
                t = self.get_run_time()
                if t < 1:
                    return (2, 10)
                if t < 2:
                    return (4, 10)
                return None
    """,
    "tags.py": """
        from locust import HttpUser, task, tag, constant
        from locust.exception import StopUser

        class Tagged(HttpUser):
            wait_time = constant(0)
            n = 0

            @tag("keep")
            @task
            def kept(self):
                self.n += 1
                self.client.get("/fast")
                if self.n >= 5:
                    raise StopUser()

            @tag("drop")
            @task
            def dropped(self):
                self.client.get("/json")
    """,
    "events.py": """
        from locust import HttpUser, task, constant, events
        from locust.exception import StopUser

        seen = []

        @events.init_command_line_parser.add_listener
        def options(parser):
            parser.add_argument("--greeting", default="hi", help="a custom option")

        @events.test_start.add_listener
        def start(environment, **kw):
            seen.append(("start", environment.parsed_options.greeting))

        @events.request.add_listener
        def on_request(request_type, name, response_time, response_length, exception, **kw):
            seen.append(("request", name))

        @events.test_stop.add_listener
        def stop(environment, **kw):
            print("EVENTS", seen[0], len([s for s in seen if s[0] == "request"]))

        class Once(HttpUser):
            wait_time = constant(0)

            @task
            def one(self):
                self.client.get("/fast")
                raise StopUser()
    """,
}


@pytest.mark.parametrize("name", sorted(LOCUST_FILES))
def test_locust_files_run_unchanged(tmp_path: Path, target, name: str) -> None:
    write(tmp_path / name, LOCUST_FILES[name])
    extra = {"tags.py": ["-T", "keep"], "events.py": ["--greeting", "hello"]}.get(name, [])
    result = tswarm(
        "run",
        "-f",
        name,
        "--headless",
        "-H",
        target.url,
        "-u",
        "2",
        "-r",
        "20",
        "-t",
        "3s",
        "--stop-timeout",
        "2",
        "--json",
        "out.json",
        *extra,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads((tmp_path / "out.json").read_text())
    assert report["total"]["num_requests"] == target.counts()["total"] > 0
    names = {e["name"] for e in report["entries"]}
    if name == "tags.py":
        assert names == {"/fast"} and report["total"]["num_requests"] == 10
    if name == "sequential.py":
        assert names == {"/login", "/items/[id]"}
    if name == "events.py":
        assert "EVENTS ('start', 'hello') 2" in result.stdout
    if name == "shape.py":
        assert report["run"]["user_count"] in (0, 4)


def test_rest_and_newer_locust_names(tmp_path: Path, target) -> None:
    """rest()/rest_() judge JSON answers in a with-block; poisson, run_single_user, the runner states and
    runner.stats import as in Locust."""
    write(
        tmp_path / "locustfile.py",
        """
        from locust import FastHttpUser, HttpUser, events, poisson, run_single_user, task
        from locust.contrib.fasthttp import RestResponseContextManager
        from locust.exception import StopUser
        from locust.runners import STATE_RUNNING, STATE_STOPPED, STATE_STOPPING

        @events.test_stop.add_listener
        def on_stop(environment, **kw):
            runner = environment.runner
            print("RUNNER", runner.state in (STATE_STOPPING, STATE_STOPPED), runner.stats is environment.stats)

        class Api(FastHttpUser):
            wait_time = poisson(100)

            @task
            def calls(self):
                with self.rest("POST", "/echo", json={"a": 1}) as response:
                    assert isinstance(response, RestResponseContextManager)
                    assert response.js["headers"]["content-type"] == "application/json"
                    assert response.js["headers"]["accept"] == "application/json"
                with self.rest("GET", "/fast"):
                    pass  # not JSON: a failure
                with self.rest_("GET", "/json") as response:
                    assert response.js.get("missing") == 1, "no missing key,"
                with self.rest("GET", "/json", name="/json-bug") as response:
                    response.js["missing"]
                raise StopUser()
    """,
    )
    result = tswarm(
        "run",
        "--headless",
        "-H",
        target.url,
        "-u",
        "2",
        "-r",
        "100",
        "-t",
        "3s",
        "--stop-timeout",
        "2",
        "--json",
        "-",
        cwd=tmp_path,
    )
    assert result.returncode == 1, result.stderr
    assert "RUNNER True True" in result.stdout
    report = json.loads(result.stdout[result.stdout.index("{") :])
    assert report["total"]["num_requests"] == target.counts()["total"] == 8
    assert report["exceptions"] == []  # every error in a rest() block is a failure of its request
    errors = {f["name"]: f["error"] for f in report["failures"]}
    assert set(errors) == {"/fast", "/json?_=...", "/json-bug"}
    assert "the response is not JSON" in errors["/fast"]
    assert 'no missing key, response was {"service"' in errors["/json?_=..."]
    assert "KeyError: " in errors["/json-bug"] and "missing" in errors["/json-bug"]
    assert f"at {tmp_path}" in errors["/json-bug"]  # where in the test file it was raised
    by_name = {e["name"]: e["num_requests"] for e in report["entries"]}
    assert by_name["/echo"] == 2


def test_run_single_user_for_debugging(tmp_path: Path, target) -> None:
    write(
        tmp_path / "debug_me.py",
        f"""
        from tswarm import HttpUser, constant, run_single_user, task
        from tswarm.exceptions import StopUser

        class Visitor(HttpUser):
            host = "{target.url}"
            wait_time = constant(0)
            count = 0

            @task
            def visit(self):
                self.count += 1
                if self.count > 3:
                    raise StopUser()
                self.client.get("/fast")

        if __name__ == "__main__":
            run_single_user(Visitor, include_length=True)
    """,
    )
    result = subprocess.run(
        [sys.executable, "debug_me.py"],
        cwd=tmp_path,
        env=repo_env(),
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
    )
    assert result.returncode == 0, result.stderr
    lines = [line.split() for line in result.stdout.splitlines()]
    assert [(line[0], line[1], line[3], line[4]) for line in lines] == [("GET", "/fast", "2", "ok")] * 3
    assert target.counts()["total"] == 3


BAD_INPUTS = [
    (["-f", "missing.py"], "test file missing.py not found"),
    (["-f", "syntax.py"], "syntax error in syntax.py:2"),
    (["-f", "importerror.py"], "error importing importerror.py:1: ModuleNotFoundError"),
    (["-f", "nousers.py"], "no User class found"),
    (["-f", "ok.py", "Nobody"], "unknown User class Nobody"),
    (["-f", "ok.py", "-t", "5x"], "invalid --run-time '5x'"),
    (["-f", "ok.py", "-u", "-3"], "--users must be 0 or more"),
    (["-f", "ok.py", "-r", "0"], "--spawn-rate must be more than 0"),
    (["-f", "ok.py", "--usres", "3"], "unknown option --usres (did you mean --users?)"),
    (["-f", "ok.py", "-H", "localhost:80"], "invalid --host 'localhost:80'"),
    (["-f", "ok.py", "--config", "nothere.toml"], "config file nothere.toml not found"),
    (["-f", "ok.py", "--config", "bad.toml"], "config file bad.toml is not valid TOML"),
    (["-f", "ok.py", "--config", "typo.toml"], "unknown option 'usrs' in typo.toml"),
    (["-f", "unsupported.py"], "locust.web is not supported by tswarm"),
    (
        ["-f", "renamed.py"],
        "'HttpLocust' from locust is not supported by tswarm (Locust renamed it HttpUser in 1.0)",
    ),
    (["-f", "nohost.py"], "Web has no host to test"),
    (["-f", "notasks.py"], "Idle has no tasks"),
    (["-f", "ok.py", "-T", "nothing-has-this"], "no task of any User class is left to run"),
    (["-f", "ok.py", "--percentiles", "50,101"], "invalid --percentiles '50,101'"),
    (["-f", "ok.py", "--percentiles", "p95"], "invalid --percentiles 'p95'"),
]


@pytest.mark.parametrize(("args", "message"), BAD_INPUTS, ids=[m for _, m in BAD_INPUTS])
def test_bad_input_gets_one_line_and_exit_code_1(tmp_path: Path, args: list[str], message: str) -> None:
    write(tmp_path / "syntax.py", "from tswarm import User\nclass (:\n")
    write(tmp_path / "importerror.py", "import no_such_module_here\n")
    write(tmp_path / "nousers.py", "X = 1\n")
    write(
        tmp_path / "ok.py",
        "from tswarm import User, task\nclass U(User):\n    @task\n    def t(self): pass\n",
    )
    write(tmp_path / "unsupported.py", "from locust.web import WebUI\n")
    write(tmp_path / "renamed.py", "from locust import HttpLocust\n")
    write(
        tmp_path / "nohost.py",
        "from locust import HttpUser, task\nclass Web(HttpUser):\n    @task\n    def t(self): pass\n",
    )
    write(tmp_path / "notasks.py", "from locust import User\nclass Idle(User):\n    pass\n")
    write(tmp_path / "bad.toml", "users = [\n")
    write(tmp_path / "typo.toml", "usrs = 3\n")
    result = tswarm("run", "--headless", "-t", "1s", *args, cwd=tmp_path)
    assert result.returncode == 1, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("tswarm: error: ")
    assert message in lines[0]
    assert "Traceback" not in result.stderr


def test_users_that_cannot_start_do_not_stop_the_others(tmp_path: Path, target) -> None:
    """A base class without tasks is left out (with a warning); a class whose users fail to start is
    reported once, counted as an exception (exit code), and the other classes run."""
    write(
        tmp_path / "locustfile.py",
        """
        from locust import FastHttpUser, User, task, constant

        class Base(User):
            wait_time = constant(0.05)

        class Broken(Base):
            def __init__(self, environment):
                super().__init__(environment)
                raise ValueError("no credentials left for this user")

            @task
            def nothing(self):
                pass

        class Visitor(FastHttpUser):
            wait_time = constant(0.05)

            @task
            def fast(self):
                self.client.get("/fast")
    """,
    )
    result = tswarm(
        "run",
        "--headless",
        "-H",
        target.url,
        "-u",
        "4",
        "-r",
        "100",
        "-t",
        "2s",
        "--stop-timeout",
        "2",
        "--json",
        "-",
        cwd=tmp_path,
    )
    assert result.returncode == 1, result.stderr
    assert "Base has no tasks; it is not run" in result.stderr
    assert result.stderr.count("Cannot start users of Broken") == 1, result.stderr
    report = json.loads(result.stdout)
    assert report["total"]["num_requests"] == target.counts()["total"] > 0
    (exception,) = report["exceptions"]
    assert "no credentials left for this user" in exception["message"]


def test_unreachable_host_gives_failures_not_a_crash(tmp_path: Path) -> None:
    from conftest import free_port

    write(tmp_path / "locustfile.py", BOUNDED_USERS)
    result = tswarm(
        "run",
        "--headless",
        "-H",
        f"http://127.0.0.1:{free_port()}",
        "-u",
        "1",
        "-t",
        "2s",
        "--json",
        "-",
        cwd=tmp_path,
    )
    assert result.returncode == 1
    report = json.loads(result.stdout)
    assert report["total"]["num_failures"] == report["total"]["num_requests"] > 0


def test_options_from_config_file_and_environment(tmp_path: Path, target) -> None:
    """file < environment < command line."""
    write(
        tmp_path / "locustfile.py",
        """
        from tswarm import User, task, events

        @events.test_start.add_listener
        def show(environment, **kw):
            o = environment.parsed_options
            print(f"OPTIONS users={o.users} rate={o.spawn_rate} run_time={o.run_time} percentiles={o.percentiles}")

        class U(User):
            @task
            def t(self):
                pass
    """,
    )
    write(
        tmp_path / "tswarm.toml",
        'users = 3\nspawn-rate = 2\nrun-time = "1s"\nheadless = true\npercentiles = [50, 99.9]\n',
    )
    result = tswarm("run", cwd=tmp_path)
    assert "OPTIONS users=3 rate=2.0 run_time=1.0 percentiles=(0.5, 0.999)" in result.stdout, result.stderr
    result = tswarm("run", cwd=tmp_path, env=repo_env(TSWARM_USERS="5"))
    assert "OPTIONS users=5 rate=2.0" in result.stdout, result.stderr
    result = tswarm("run", "-u", "7", cwd=tmp_path, env=repo_env(TSWARM_USERS="5"))
    assert "OPTIONS users=7 rate=2.0" in result.stdout, result.stderr
    result = tswarm("run", "--percentiles", "95, 99", cwd=tmp_path, env=repo_env(TSWARM_PERCENTILES="90"))
    assert "percentiles=(0.95, 0.99)" in result.stdout, result.stderr


def test_list_and_version(tmp_path: Path) -> None:
    write(tmp_path / "locustfile.py", BOUNDED_USERS)
    result = tswarm("run", "-l", cwd=tmp_path)
    assert result.returncode == 0 and result.stdout.split() == ["Browser"]
    result = tswarm("--version", cwd=tmp_path)
    assert result.returncode == 0 and result.stdout.startswith("tswarm ")


def test_import_tswarm_never_patches() -> None:
    code = (
        "import tswarm, gevent.monkey\n"
        "from tswarm import User, HttpUser, events\n"
        "from tswarm.loader import load_testfiles\n"
        f"load_testfiles({str(REPO_ROOT / 'examples' / 'custom_messages.py')!r})\n"
        "assert not gevent.monkey.is_anything_patched()\n"
        "print('clean')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], env=repo_env(), capture_output=True, text=True, timeout=60
    )
    assert result.stdout.strip() == "clean", result.stderr


def test_demo_runs_headless_against_its_own_target(tmp_path: Path) -> None:
    result = tswarm("demo", "--headless", "-t", "3s", "-u", "5", "-r", "50", "--json", "-", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert validate_json_report(report) == []
    names = {e["name"] for e in report["entries"]}
    assert {"/", "/items/[id]", "/json"} <= names
    assert report["run"]["host"].startswith("http://127.0.0.1:")


# The test file's own options, read in every process that runs users: each request is named after the
# values its process parsed, so the master's report shows what reached the workers.
OWN_OPTIONS = """
    from locust import HttpUser, task, constant, events
    from locust.exception import StopUser

    parsed_here = {}

    @events.init_command_line_parser.add_listener
    def own_options(parser):
        parser.add_argument("--my-option", default="unset")
        parser.add_argument("--my-flag", action="store_true")
        parser.add_argument("--my-number", type=int, default=0)
        parser.add_argument("--my-label", default="unset")

    @events.init.add_listener
    def remember(environment, **kw):
        # what this process parsed from its own command line and config, before the master sends its
        # options with the first spawn
        parsed_here.update(vars(environment.parsed_options))

    class Visitor(HttpUser):
        wait_time = constant(0)

        @task
        def visit(self):
            o = parsed_here
            self.client.get("/fast", name=f"{o['my_option']} {o['my_flag']} {o['my_number']} {o['my_label']}")
            raise StopUser()

    class Idle(HttpUser):
        wait_time = constant(1)

        @task
        def idle(self):
            self.client.get("/fast", name="idle")
"""

#: the test file's options as the two forms argparse takes; values that look like Python names (and
#: like the User class picked) and values that start with a dash
OWN_OPTION_FORMS = {
    "--opt value": ["--my-option", "some_name", "--my-flag", "--my-number", "-5", "--my-label", "Visitor"],
    "--opt=value": ["--my-option=some_name", "--my-flag", "--my-number=-5", "--my-label=-dash"],
}


@pytest.mark.parametrize("form", sorted(OWN_OPTION_FORMS))
def test_test_file_options_reach_the_process_workers(tmp_path: Path, target, form: str) -> None:
    write(tmp_path / "locustfile.py", OWN_OPTIONS)
    args = OWN_OPTION_FORMS[form]
    label = "Visitor" if form == "--opt value" else "-dash"
    result = tswarm(
        "run",
        "--processes",
        "2",
        "--headless",
        "-H",
        target.url,
        "-u",
        "2",
        "-r",
        "50",
        "-t",
        "3s",
        "--json",
        "-",
        "Visitor",
        *args,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    # two users, one request each, whichever worker ran them; only the Visitor class runs
    assert totals_by_endpoint(report) == {f"GET some_name True -5 {label}": 2}
    assert target.counts()["total"] == 2


def test_config_file_options_reach_the_process_workers(tmp_path: Path, target) -> None:
    """A config file with built-in options of other commands (users, run-time) and one of the test
    file's own options: the workers read the same file, skip what is not theirs, and take the rest."""
    write(tmp_path / "locustfile.py", OWN_OPTIONS)
    write(tmp_path / "tswarm.toml", 'users = 1\nrun-time = "3s"\nmy-option = "from_config"\n')
    result = tswarm(
        "run", "--processes", "1", "--headless", "-H", target.url, "--json", "-", "Visitor", cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    assert totals_by_endpoint(json.loads(result.stdout)) == {"GET from_config False 0 unset": 1}


def test_worker_processes_never_start_workers_of_their_own() -> None:
    """A TSWARM_PROCESSES or config ``processes`` is read again by every child: each child's command
    line says --processes 0, which beats both (checked on the command lines: a real run that got this
    wrong would start processes without end)."""
    options = RunOptions(command="run", processes=2, extra_args=["Visitor", "--my-option", "some_name"])
    command = local_worker_command(options, 5557)
    assert command[command.index("--processes") + 1] == "0"
    assert command[-3:] == ["Visitor", "--my-option", "some_name"]
    argv = ["worker", "--processes", "4", "-f", "x.py", "--processes=3", "--my-option", "v"]
    assert worker_child_args(argv) == ["worker", "-f", "x.py", "--my-option", "v", "--processes", "0"]


@pytest.mark.parametrize(
    ("command", "terminal", "options", "expected"),
    [
        ("run", False, {}, RunMode(UsersRunIn.THIS_PROCESS, tui=False, need_host=True)),
        ("run", True, {"headless": True}, RunMode(UsersRunIn.THIS_PROCESS, tui=False, need_host=True)),
        ("run", True, {}, RunMode(UsersRunIn.LOCAL_RUNNER, tui=True, need_host=False)),
        ("run", True, {"autostart": True}, RunMode(UsersRunIn.LOCAL_RUNNER, tui=True, need_host=True)),
        ("run", True, {"processes": 2}, RunMode(UsersRunIn.LOCAL_WORKERS, tui=True, need_host=False)),
        ("run", False, {"processes": 2}, RunMode(UsersRunIn.LOCAL_WORKERS, tui=False, need_host=True)),
        ("demo", True, {}, RunMode(UsersRunIn.LOCAL_RUNNER, tui=True, need_host=False)),
        ("demo", False, {"processes": 2}, RunMode(UsersRunIn.LOCAL_WORKERS, tui=False, need_host=True)),
        ("master", True, {}, RunMode(UsersRunIn.REMOTE_WORKERS, tui=True, need_host=False)),
        (
            "master",
            False,
            {"autostart": True},
            RunMode(UsersRunIn.REMOTE_WORKERS, tui=False, need_host=False),
        ),
    ],
)
def test_run_mode(command: str, terminal: bool, options: dict[str, object], expected: RunMode) -> None:
    """One function picks, for run, master and demo, the front-end and where the users run."""
    assert choose_run_mode(RunOptions(command=command, **options), terminal=terminal) == expected  # type: ignore[arg-type]


def cli_import_graph() -> dict[str, set[str]]:
    """Each module of tswarm/cli -> the cli modules it imports, at its top or inside a function."""
    folder = REPO_ROOT / "tswarm" / "cli"
    modules = {path.stem for path in folder.glob("*.py")}
    graph: dict[str, set[str]] = {}
    for name in modules:
        imported: set[str] = set()
        for node in ast.walk(ast.parse((folder / f"{name}.py").read_text())):
            if isinstance(node, ast.Import):
                dotted = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:  # relative to tswarm.cli (or above it)
                    package = ["tswarm", "cli"][: 3 - node.level]
                    base = ".".join([*package, *([node.module] if node.module else [])])
                else:
                    base = node.module or ""
                dotted = [base, *(f"{base}.{alias.name}" for alias in node.names)]
            else:
                continue
            for module in dotted:
                parts = module.split(".")
                if parts[:2] == ["tswarm", "cli"] and len(parts) > 2 and parts[2] in modules:
                    imported.add(parts[2])
        graph[name] = imported
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str]:
    """A path of imports that comes back to where it started, or [] when there is none."""
    done: set[str] = set()

    def visit(node: str, path: list[str]) -> list[str]:
        if node in path:
            return [*path[path.index(node) :], node]
        if node in done:
            return []
        for nxt in sorted(graph[node]):
            cycle = visit(nxt, [*path, node])
            if cycle:
                return cycle
        done.add(node)
        return []

    for start in sorted(graph):
        cycle = visit(start, [])
        if cycle:
            return cycle
    return []


def test_cli_modules_import_each_other_without_a_circle() -> None:
    graph = cli_import_graph()
    assert {"app", "modes", "options", "session"} <= set(graph)
    assert find_cycle(graph) == []
    # app is the top: nothing in cli/ reaches up to it
    assert [name for name, imported in graph.items() if "app" in imported] == []
    # imports inside functions count: modes reaches local only inside launch()
    assert "local" in graph["modes"]
    # and a circle is found where there is one
    assert find_cycle({**graph, "options": graph["options"] | {"app"}}) != []


def test_demo_with_processes_ends_by_itself_like_the_local_demo(tmp_path: Path) -> None:
    """The demo's defaults follow the front-end, whatever runs the users: headless, it stops after 15 s
    without -t (it ran until Ctrl+C with --processes)."""
    result = tswarm(
        "demo", "--headless", "--processes", "1", "-u", "2", "-r", "50", "--json", "-", cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["total"]["num_requests"] > 0
