"""Locust's configuration under tswarm: ~/.locust.conf, ./locust.conf, [tool.locust], a Locust-format
--config and LOCUST_* variables, below tswarm's own sources. Real `tswarm` processes in a temporary
directory, HOME pointed at a temporary folder so that the real ~/.locust.conf is never read."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from conftest import STARTUP_TIMEOUT, free_port, repo_env, stop_process

from tswarm.cli.locust_config import parse_locust_conf, read_locust_config
from tswarm.exceptions import ConfigError

RUN_TIMEOUT = 60

#: a User that reports a made-up request now and then (a run that measured nothing exits with 4):
#: the run ends by its run time, and the JSON report shows the options it used
IDLE_USERS = """
    from locust import User, constant, task

    class Idle(User):
        wait_time = constant(0.2)

        @task
        def pretend(self):
            self.environment.events.request.fire(
                request_type="IDLE", name="pretend", response_time=1, response_length=0, exception=None, context={}
            )
"""

#: an HttpUser with no host of its own: it needs the host from the configuration
WEBSITE_USER = """
    from locust import HttpUser, constant, task

    class WebsiteUser(HttpUser):
        wait_time = constant(0.1)

        @task
        def fast(self):
            self.client.get("/fast")
"""


def clean_env(home: Path, **extra: str) -> dict[str, str]:
    """The repo's environment without any LOCUST_* or TSWARM_* variable of the machine, HOME = ``home``."""
    env = {k: v for k, v in repo_env().items() if not k.startswith(("LOCUST_", "TSWARM_"))}
    env["HOME"] = str(home)
    env.update(extra)
    return env


def tswarm(*args: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tswarm", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
        stdin=subprocess.DEVNULL,
    )


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip("\n"))
    return path


def report_of(result: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    assert result.returncode == 0, result.stderr
    run: dict[str, Any] = json.loads(result.stdout)["run"]
    return run


@pytest.fixture
def project(tmp_path: Path) -> tuple[Path, Path]:
    """A working directory and an empty home folder beside it."""
    work, home = tmp_path / "work", tmp_path / "home"
    work.mkdir()
    home.mkdir()
    return work, home


# --- the issue's two cases: a directory Locust runs from, and LOCUST_HOST -------------------------


def test_a_locust_conf_that_locust_runs_from_runs_under_tswarm(project: tuple[Path, Path], target) -> None:
    work, home = project
    write(work / "tests" / "website.py", WEBSITE_USER)
    write(
        work / "locust.conf",
        f"""
        # the file Locust's documentation shows, pointed at the built-in target
        locustfile = tests/website.py
        headless = true
        host = {target.url}
        users = 3
        spawn-rate = 30
        run-time = 2s
        json = true
        """,
    )
    result = tswarm("run", "--json", "report.json", cwd=work, env=clean_env(home))
    assert result.returncode == 0, result.stderr
    # json = true is Locust's flag: its statistics list on stdout; tswarm's report went to --json FILE
    assert [(e["method"], e["name"]) for e in json.loads(result.stdout)] == [("GET", "/fast")]
    run = json.loads((work / "report.json").read_text())["run"]
    assert run["host"] == target.url
    assert run["target_user_count"] == 3
    assert run["spawn_rate"] == 30
    assert run["run_time"] == 2
    assert run["locustfile"] == "tests/website.py"
    assert target.counts()["by_endpoint"].get("GET /fast", 0) > 0
    assert "has no host" not in result.stderr


def test_locust_environment_variables_alone(project: tuple[Path, Path], target) -> None:
    """What Locust's Helm chart and CI jobs set: no file at all."""
    work, home = project
    write(work / "locustfile.py", WEBSITE_USER)
    env = clean_env(
        home,
        LOCUST_HOST=target.url,
        LOCUST_USERS="2",
        LOCUST_SPAWN_RATE="20",
        LOCUST_RUN_TIME="2s",
        LOCUST_HEADLESS="true",
        LOCUST_STOP_TIMEOUT="5",
    )
    result = tswarm("run", "--json", "-", cwd=work, env=env)
    run = report_of(result)
    assert (run["host"], run["target_user_count"], run["spawn_rate"], run["run_time"]) == (
        target.url,
        2,
        20,
        2,
    )
    assert target.counts()["total"] > 0


def test_home_locust_conf_and_pyproject_tool_locust(project: tuple[Path, Path], target) -> None:
    work, home = project
    write(work / "locustfile.py", WEBSITE_USER)
    write(home / ".locust.conf", f"host = {target.url}\nusers = 9\nrun-time = 2s\n")
    write(
        work / "pyproject.toml",
        """
        [project]
        name = "load-tests"

        [tool.locust]
        users = 2
        spawn-rate = 10
        headless = true
        json-file = "out/report"
        """,
    )
    (work / "out").mkdir()
    result = tswarm("run", "--json", "out/tswarm.json", cwd=work, env=clean_env(home))
    assert result.returncode == 0, result.stderr
    # Locust's json-file is a prefix: it writes Locust's statistics list to out/report.json
    locust_list = json.loads((work / "out" / "report.json").read_text())
    assert [(e["method"], e["name"]) for e in locust_list] == [("GET", "/fast")]
    run = json.loads((work / "out" / "tswarm.json").read_text())["run"]
    assert (run["host"], run["target_user_count"], run["spawn_rate"], run["run_time"]) == (
        target.url,
        2,
        10,
        2,
    )


# --- precedence -------------------------------------------------------------------------------------

#: every source of a value, lowest first; the test sets ``users`` to the level's number in each source
#: up to one level and expects that level's number
LEVELS = (
    "~/.locust.conf",
    "./locust.conf",
    "[tool.locust] in ./pyproject.toml",
    "[tool.locust] in the --config file",
    "LOCUST_USERS",
    "[tool.tswarm] in the --config file",
    "TSWARM_USERS",
    "-u on the command line",
)


@pytest.mark.parametrize("top", range(1, len(LEVELS) + 1), ids=[f"{i + 1}-{n}" for i, n in enumerate(LEVELS)])
def test_precedence_table(project: tuple[Path, Path], top: int) -> None:
    work, home = project
    write(work / "locustfile.py", IDLE_USERS)
    env = clean_env(home)
    args = ["run", "--headless", "-t", "1s", "-r", "100", "--json", "-"]
    config = {"locust": "", "tswarm": ""}
    for level in range(1, top + 1):
        if level == 1:
            write(home / ".locust.conf", "users = 1\n")
        elif level == 2:
            write(work / "locust.conf", "users = 2\n")
        elif level == 3:
            write(work / "pyproject.toml", "[tool.locust]\nusers = 3\n")
        elif level == 4:
            config["locust"] = "[tool.locust]\nusers = 4\n"
        elif level == 5:
            env["LOCUST_USERS"] = "5"
        elif level == 6:
            config["tswarm"] = "[tool.tswarm]\nusers = 6\n"
        elif level == 7:
            env["TSWARM_USERS"] = "7"
        else:
            args += ["-u", "8"]
    if config["locust"] or config["tswarm"]:
        write(work / "settings" / "load.toml", config["tswarm"] + config["locust"])
        args += ["--config", "settings/load.toml"]
    assert report_of(tswarm(*args, cwd=work, env=env))["target_user_count"] == top


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        # tswarm's own file (found by default) outranks every Locust source, LOCUST_* included
        ({"tswarm.toml": "users = 6\n", "locust.conf": "users = 2\n"}, 6),
        ({"pyproject.toml": "[tool.tswarm]\nusers = 6\n[tool.locust]\nusers = 3\n"}, 6),
        # a --config file that is not TOML is Locust's --config: above Locust's files, below LOCUST_*
        ({"locust.conf": "users = 2\n", "staging.conf": "users = 4\n"}, 4),
    ],
    ids=["tswarm.toml", "pyproject-both-tables", "locust-format-config"],
)
def test_tswarm_files_and_a_locust_format_config(
    project: tuple[Path, Path], files: dict[str, str], expected: int
) -> None:
    work, home = project
    write(work / "locustfile.py", IDLE_USERS)
    for name, text in files.items():
        write(work / name, text)
    args = ["run", "--headless", "-t", "1s", "--json", "-"]
    if "staging.conf" in files:
        args += ["--config", "staging.conf"]
        # LOCUST_* outranks it (as in Locust), so give the variable another option to prove it is read
        env = clean_env(home, LOCUST_SPAWN_RATE="50")
    else:
        env = clean_env(home, LOCUST_USERS="5")
    run = report_of(tswarm(*args, cwd=work, env=env))
    assert run["target_user_count"] == expected
    if "staging.conf" in files:
        assert run["spawn_rate"] == 50


def test_locust_sources_among_themselves(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Locust 2.47's order, lowest first: ~/.locust.conf, locust.conf, [tool.locust] in pyproject.toml,
    --config, LOCUST_*. (Its documentation puts locust.conf above pyproject.toml; its parser, which
    lists the files in that order and lets the later win, does not: the parser is what runs.)"""
    home = tmp_path / "home"
    write(
        home / ".locust.conf",
        "host = http://home\nusers = 1\nspawn-rate = 1\nrun-time = 1s\nloglevel = DEBUG\n",
    )
    write(tmp_path / "locust.conf", "host = http://conf\nusers = 2\nspawn-rate = 2\nrun-time = 2s\n")
    write(
        tmp_path / "pyproject.toml", '[tool.locust]\nhost = "http://pyproject"\nusers = 3\nspawn-rate = 3\n'
    )
    write(tmp_path / "extra.conf", "host = http://extra\nusers = 4\n")
    monkeypatch.chdir(tmp_path)
    config = read_locust_config(
        explicit_config=Path("extra.conf"), environ={"LOCUST_HOST": "http://env", "PATH": "/bin"}, home=home
    )
    assert config.values == {
        "host": "http://env",
        "users": "4",
        "spawn_rate": "3",
        "run_time": "2s",
        "loglevel": "DEBUG",
    }
    assert {k: s.label() for k, s in config.origins.items()} == {
        "host": "LOCUST_HOST",
        "users": "users in extra.conf",
        "spawn_rate": "spawn-rate in [tool.locust] in pyproject.toml",
        "run_time": "run-time in locust.conf",
        "loglevel": "loglevel in ~/.locust.conf",
    }


# --- the file format ---------------------------------------------------------------------------------


def test_locust_conf_format() -> None:
    """configargparse's format, as Locust reads it; two lines more kindly than it: a bare flag with a
    comment after it (configargparse takes the comment for the value, and Locust refuses it), and
    quotes inside an unquoted list (configargparse keeps them in the item)."""
    text = """
        # a comment
        ; another
        [section headers are comments]
        ---
        host: http://example.com/#anchor  # a comment after a blank
        users 4
        headless
        reset-stats  # a flag, then a comment
        tags = [checkout, "search"]
        exclude-tags = ["slow"]
        run-time = "1m"
        --spawn-rate=3
        csv =
        """
    settings = {s.key: s.value for s in parse_locust_conf(textwrap.dedent(text), "locust.conf")}
    assert settings == {
        "host": "http://example.com/#anchor",
        "users": "4",
        "headless": "true",
        "reset-stats": "true",
        "tags": ["checkout", "search"],
        "exclude-tags": ["slow"],
        "run-time": "1m",
        "spawn-rate": "3",
    }


def test_flags_take_locust_boolean_words(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "locust.conf", "headless = yes\nreset-stats = off\nonly-summary = 1\njson = false\n")
    config = read_locust_config(
        explicit_config=None, environ={"LOCUST_CSV_FULL_HISTORY": "True"}, home=tmp_path
    )
    assert config.values == {
        "headless": True,
        "reset_stats": False,
        "only_summary": True,
        "locust_json": False,  # Locust's --json is a flag like the others
        "csv_full_history": True,
    }
    write(tmp_path / "locust.conf", "headless = maybe\n")
    with pytest.raises(ConfigError, match=r"^invalid headless in locust.conf 'maybe': use true or false$"):
        read_locust_config(explicit_config=None, environ={}, home=tmp_path)


def test_unreadable_line_names_the_file_and_line() -> None:
    with pytest.raises(ConfigError, match=r"^locust.conf line 2: cannot read '= 5'"):
        parse_locust_conf("users = 1\n= 5\n", "locust.conf")


# --- mistakes: one line, the source named, exit code 1 -------------------------------------------------


@pytest.mark.parametrize(
    ("conf", "env", "message"),
    [
        ("hots = http://x\n", {}, "unknown option 'hots' in locust.conf (did you mean --host?)"),
        ("spawn-rat = 5\n", {}, "unknown option 'spawn-rat' in locust.conf (did you mean --spawn-rate?)"),
        ("users = many\n", {}, "invalid users in locust.conf:"),
        ("spawn-rate = -1\n", {}, "spawn-rate in locust.conf must be more than 0"),
        ("run-time = soon\n", {}, "run-time in locust.conf"),
        ("host = example.com\n", {}, "invalid host in locust.conf 'example.com'"),
        ("headless = maybe\n", {}, "invalid headless in locust.conf 'maybe': use true or false"),
        ("", {"LOCUST_SPAWN_RATE": "0"}, "LOCUST_SPAWN_RATE must be more than 0"),
        ("", {"LOCUST_EXPECT_WORKERS": "x"}, None),  # not an option of `run`: left aside
        ("", {"LOCUST_PROCESSES": "many"}, "invalid LOCUST_PROCESSES 'many'"),
        ("", {"LOCUST_HOST": "localhost:8089"}, "invalid LOCUST_HOST 'localhost:8089'"),
    ],
)
def test_mistakes_blame_their_source(
    project: tuple[Path, Path], conf: str, env: dict[str, str], message: str | None
) -> None:
    work, home = project
    write(work / "locustfile.py", IDLE_USERS)
    if conf:
        write(work / "locust.conf", conf)
    args = ["run", "--headless"]
    # the command line outranks the mistake: give only what it leaves alone
    if "run-time" not in conf:
        args += ["-t", "1s"]
    if "spawn-rate" not in conf and "LOCUST_SPAWN_RATE" not in env:
        args += ["-r", "100"]
    result = tswarm(*args, cwd=work, env=clean_env(home, **env))
    if message is None:
        assert result.returncode == 0, result.stderr
        return
    assert result.returncode == 1, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("tswarm: error:")]
    assert len(errors) == 1 and message in errors[0], result.stderr
    assert "Traceback" not in result.stderr


def test_test_file_options_from_locust_conf_and_its_variable(project: tuple[Path, Path], target) -> None:
    """A key no built-in option has may be the test file's own option, as in Locust; its env_var
    outranks the file, as in Locust."""
    work, home = project
    write(
        work / "locustfile.py",
        """
        from locust import HttpUser, constant, events, task
        from locust.exception import StopUser

        @events.init_command_line_parser.add_listener
        def _(parser):
            parser.add_argument("--product", default="none", env_var="LOCUST_PRODUCT")

        class Shopper(HttpUser):
            wait_time = constant(0)

            @task
            def buy(self):
                self.client.get("/fast", name=f"buy {self.environment.parsed_options.product}")
                raise StopUser()
        """,
    )
    write(work / "locust.conf", f"host = {target.url}\nproduct = socks\nheadless = true\nrun-time = 2s\n")
    result = tswarm("run", "--json", "-", cwd=work, env=clean_env(home))
    assert result.returncode == 0, result.stderr
    assert [e["name"] for e in json.loads(result.stdout)["entries"]] == ["buy socks"]
    result = tswarm("run", "--json", "-", cwd=work, env=clean_env(home, LOCUST_PRODUCT="shoes"))
    assert result.returncode == 0, result.stderr
    assert [e["name"] for e in json.loads(result.stdout)["entries"]] == ["buy shoes"]
    # local worker processes read the same sources: the user runs there
    result = tswarm("run", "--processes", "1", "--json", "-", cwd=work, env=clean_env(home))
    assert result.returncode == 0, result.stderr
    assert [e["name"] for e in json.loads(result.stdout)["entries"]] == ["buy socks"]


# --- what tswarm leaves aside, said once ---------------------------------------------------------------


def test_options_without_an_equivalent_get_one_notice(project: tuple[Path, Path]) -> None:
    work, home = project
    write(work / "locustfile.py", IDLE_USERS)
    write(
        work / "locust.conf",
        "web-port = 8090\nweb-host = 0.0.0.0\nhtml = report.html\nmaster = true\nexpect-workers = 3\n",
    )
    env = clean_env(home, LOCUST_ENABLE_OPENTELEMETRY="true")
    result = tswarm("run", "--headless", "-t", "1s", "-r", "100", cwd=work, env=env)
    assert result.returncode == 0, result.stderr
    # Locust's html setting is tswarm's --html now
    assert "<!DOCTYPE html>" in (work / "report.html").read_text()
    notes = [line for line in result.stderr.splitlines() if line.startswith("tswarm: note:")]
    assert notes == [
        "tswarm: note: master = true in locust.conf asks Locust for a master; tswarm's command picks the role"
        " (`tswarm master`), so this `tswarm run` leaves it aside",
        "tswarm: note: ignoring Locust's web-UI options (tswarm shows a TUI instead): web-port in locust.conf,"
        " web-host in locust.conf",
        "tswarm: note: ignoring Locust options tswarm does not have: LOCUST_ENABLE_OPENTELEMETRY",
    ]


def test_autostart_and_autoquit_are_the_tuis(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "locust.conf", "autostart = true\nautoquit = 10\nprocesses = -1\n")
    config = read_locust_config(explicit_config=None, environ={}, home=tmp_path)
    assert config.values == {"autostart": True, "autoquit": "10", "processes": "auto"}
    assert not config.notices("run")


# --- a distributed test configured the way Locust's Helm chart does it -----------------------------------


def test_master_and_worker_from_locust_variables(project: tuple[Path, Path], target) -> None:
    work, home = project
    write(work / "locustfile.py", WEBSITE_USER)
    port = free_port()
    master_env = clean_env(
        home,
        LOCUST_MODE_MASTER="true",
        LOCUST_HOST=target.url,
        LOCUST_USERS="2",
        LOCUST_SPAWN_RATE="20",
        LOCUST_RUN_TIME="2s",
        LOCUST_HEADLESS="true",
        LOCUST_EXPECT_WORKERS="1",
        LOCUST_MASTER_BIND_HOST="127.0.0.1",
        LOCUST_MASTER_BIND_PORT=str(port),
        LOCUST_STOP_TIMEOUT="5",
    )
    worker_env = clean_env(
        home,
        LOCUST_MODE_WORKER="true",
        LOCUST_MASTER_NODE_HOST="127.0.0.1",
        LOCUST_MASTER_NODE_PORT=str(port),
    )
    master = subprocess.Popen(
        [sys.executable, "-m", "tswarm", "master", "--json", "-"],
        cwd=work,
        env=master_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    worker = subprocess.Popen(
        [sys.executable, "-m", "tswarm", "worker"],
        cwd=work,
        env=worker_env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        out, err = master.communicate(timeout=RUN_TIMEOUT + STARTUP_TIMEOUT)
        assert master.returncode == 0, err
        run = json.loads(out)["run"]
        assert (run["command"], run["target_user_count"], run["host"]) == ("master", 2, target.url)
        assert target.counts()["total"] > 0
        assert "tswarm: note:" not in err  # master = true under `tswarm master` is what was asked
    finally:
        stop_process(master)
        stop_process(worker)


def test_locust_user_classes_picks_the_classes(project: tuple[Path, Path]) -> None:
    work, home = project
    write(work / "locustfile.py", IDLE_USERS + "\n    class Other(Idle):\n        pass\n")
    env = clean_env(home, LOCUST_USER_CLASSES="Other")
    run = report_of(
        tswarm("run", "--headless", "-t", "1s", "-u", "2", "-r", "100", "--json", "-", cwd=work, env=env)
    )
    assert run["user_classes"] == {"Other": 2}
    # the command line's names win
    run = report_of(
        tswarm(
            "run", "--headless", "-t", "1s", "-u", "2", "-r", "100", "--json", "-", "Idle", cwd=work, env=env
        )
    )
    assert run["user_classes"] == {"Idle": 2}


def test_help_is_shown_whatever_the_configuration_says(project: tuple[Path, Path]) -> None:
    work, home = project
    write(work / "locust.conf", "headless = maybe\n")
    result = tswarm("run", "--help", cwd=work, env=clean_env(home))
    assert result.returncode == 0 and "--locustfile" in result.stdout, result.stderr


def test_variables_of_other_names_are_left_alone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Locust reads only its options' variables; a chart sets others (LOCUST_VERSION, ...) too."""
    monkeypatch.chdir(tmp_path)
    environ = {"LOCUST_VERSION": "2.47", "LOCUST_USERS": "", "LOCUST_USER_CLASSES": "A B", **os.environ}
    environ.pop("LOCUST_HOST", None)
    config = read_locust_config(explicit_config=None, environ=environ, home=tmp_path)
    assert "users" not in config.values and not config.extras
