"""Locust's command lines under tswarm: no subcommand, Locust's --json flag and --json-file, the task
ratio tables, --equal-weights, --config-users and --profile. Mostly parsing; a few real short runs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from conftest import free_port, repo_env, stop_process

from tswarm.cli import app as cli_app
from tswarm.cli.locust_cli import (
    LOCUST_JSON_FLAG,
    apply_config_users,
    assign_equal_weights,
    parse_config_users,
    rewrite_json_flag,
    task_ratio_json,
    task_ratio_text,
    translate_locust_command_line,
)
from tswarm.cli.locust_config import read_locust_config
from tswarm.cli.options import RunOptions
from tswarm.controller.locust_stats import locust_response_time_key, locust_stats_list
from tswarm.exceptions import ConfigError
from tswarm.stats import RequestStats

RUN_TIMEOUT = 60
SUBCOMMANDS = ("run", "master", "worker", "demo", "secret", "report", "target")
WORKER_OPTIONS = ("-f", "--locustfile", "--master-host", "--master-port", "--processes", "--loglevel")


def translate(*args: str, role_from_config: str | None = None) -> tuple[list[str], list[str]]:
    line = translate_locust_command_line(
        list(args),
        subcommands=SUBCOMMANDS,
        worker_option_names=WORKER_OPTIONS,
        role_from_config=role_from_config,
    )
    return line.args, line.notices


# --- Locust's --json flag beside tswarm's --json FILE ------------------------------------------------


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--json"], [LOCUST_JSON_FLAG]),
        (["--json", "-u", "2", "-t", "10s"], [LOCUST_JSON_FLAG, "-u", "2", "-t", "10s"]),
        (["--json", "--headless"], [LOCUST_JSON_FLAG, "--headless"]),
        (["--json", "-"], ["--json", "-"]),
        (["--json", "out.json", "-u", "2"], ["--json", "out.json", "-u", "2"]),
        (["--json=-u"], ["--json=-u"]),
        (["-u", "2", "--", "--json"], ["-u", "2", "--", "--json"]),
    ],
)
def test_a_bare_json_is_locusts_flag(args: list[str], expected: list[str]) -> None:
    assert rewrite_json_flag(args) == expected


# --- a Locust command line with no subcommand --------------------------------------------------------


def test_no_subcommand_is_a_local_run() -> None:
    args, notices = translate("-f", "x.py", "--headless", "-u", "50", "-r", "5", "-t", "1m", "--json")
    assert args == ["run", "-f", "x.py", "--headless", "-u", "50", "-r", "5", "-t", "1m", LOCUST_JSON_FLAG]
    assert notices == []


def test_master_and_worker_flags_pick_the_command() -> None:
    assert translate("--master", "-f", "x.py", "--expect-workers", "2")[0] == [
        "master",
        "-f",
        "x.py",
        "--expect-workers",
        "2",
    ]
    args, notices = translate(
        "-f", "x.py", "--worker", "--master-host", "h", "--json", "--headless", "-u", "5"
    )
    # what only a master decides is left aside on a worker, and said once
    assert args == ["worker", "-f", "x.py", "--master-host", "h"]
    assert notices == ["a worker takes these from its master, ignoring: --json --headless -u 5"]
    assert translate("-f", "x.py", role_from_config="worker")[0] == ["worker", "-f", "x.py"]
    with pytest.raises(ConfigError, match="--master cannot be combined with --worker"):
        translate("--master", "--worker")


def test_web_ui_options_are_left_aside_with_one_notice() -> None:
    args, notices = translate(
        "-f", "x.py", "--web-port", "8090", "--web-host=0.0.0.0", "--class-picker", "-u", "3"
    )
    assert args == ["run", "-f", "x.py", "-u", "3"]
    assert notices == [
        "ignoring Locust's web-UI options (tswarm shows a TUI instead): --web-port 8090, --web-host=0.0.0.0,"
        " --class-picker"
    ]
    # what the TUI gives a meaning stays
    assert translate("-f", "x.py", "--autostart", "--autoquit", "5")[0] == [
        "run",
        "-f",
        "x.py",
        "--autostart",
        "--autoquit",
        "5",
    ]


def test_options_with_many_values_are_repeated() -> None:
    args, _ = translate("-f", "x.py", "-T", "cart", "search", "--exclude-tags", "slow", "-u", "2", "-E")
    assert args == [
        "run",
        "-f",
        "x.py",
        "-T",
        "cart",
        "-T",
        "search",
        "--exclude-tags",
        "slow",
        "-u",
        "2",
        "-E",
    ]


def test_unsupported_locust_options_are_refused() -> None:
    with pytest.raises(ConfigError, match=r"Locust's --otel .* is not supported by tswarm"):
        translate("-f", "x.py", "--headless", "--otel")


@pytest.mark.parametrize("args", [[], ["--help"], ["-V"], ["demo", "--json"], ["report", "r.json", "--json"]])
def test_tswarms_own_command_lines_are_left_alone(args: list[str]) -> None:
    assert translate(*args)[0] == args


def test_run_and_master_take_locusts_json_flag_too() -> None:
    assert translate("run", "--json", "-u", "2")[0] == ["run", LOCUST_JSON_FLAG, "-u", "2"]
    assert translate("master", "--json")[0] == ["master", LOCUST_JSON_FLAG]


# --- what the command line parses into (nothing runs: the launchers are replaced) ---------------------


@pytest.fixture
def parsed(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Any:
    """``parse(*args)``: the command's RunOptions and its exit code, from tswarm's real entry point."""
    import tswarm.cli.modes
    import tswarm.cli.worker

    monkeypatch.chdir(tmp_path)
    for name in list(os.environ):
        if name.startswith(("LOCUST_", "TSWARM_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("HOME", str(tmp_path))
    seen: list[RunOptions] = []

    def capture(options: RunOptions) -> int:
        seen.append(options)
        return 0

    monkeypatch.setattr(tswarm.cli.modes, "launch", capture)
    monkeypatch.setattr(tswarm.cli.worker, "run_worker", capture)

    def parse(*args: str) -> tuple[RunOptions | None, int]:
        with pytest.raises(SystemExit) as exited:
            cli_app.main(list(args))
        return (seen[-1] if seen else None), int(exited.value.code or 0)

    return parse


def test_locust_json_flag_and_json_file_parse(parsed: Any) -> None:
    options, code = parsed(
        "-f", "x.py", "--headless", "--json", "-u", "2", "-t", "10s", "--json-file", "out/s"
    )
    assert code == 0 and options is not None
    assert (options.command, options.locust_json, options.json, options.users) == ("run", True, None, 2)
    assert options.json_file == "out/s"
    options, _ = parsed("run", "--json", "-", "--headless")
    assert (options.locust_json, options.json) == (False, "-")


def test_both_json_documents_on_stdout_are_refused(parsed: Any, capsys: pytest.CaptureFixture[str]) -> None:
    options, code = parsed("-f", "x.py", "--json", "--json=-")
    assert (options, code) == (None, 1)
    assert "would both print on stdout" in capsys.readouterr().err


def test_master_and_worker_command_lines_parse(parsed: Any) -> None:
    options, _ = parsed(
        "-f", "x.py", "--master", "--headless", "--expect-workers", "2", "--profile", "nightly"
    )
    assert (options.command, options.expect_workers, options.profile) == ("master", 2, "nightly")
    options, _ = parsed("-f", "x.py", "--worker", "--master-host", "10.0.0.5", "--equal-weights")
    assert (options.command, options.master_host, options.equal_weights) == ("worker", "10.0.0.5", True)
    options, _ = parsed("-f", "x.py", "--headless", "-s", "5", "-T", "a", "b")
    assert (options.stop_timeout, options.tags) == (5.0, ["a", "b"])


def test_an_unknown_option_is_one_line(parsed: Any) -> None:
    from types import SimpleNamespace

    from tswarm.cli.options import parse_test_options
    from tswarm.exceptions import UsageError

    options, code = parsed("-f", "x.py", "--headless", "--web-prot", "1")
    assert code == 0  # what typer does not know is the test file's to claim, once it is loaded
    no_custom_options = SimpleNamespace(init_command_line_parser=SimpleNamespace(fire=lambda **kw: None))
    with pytest.raises(UsageError, match="^unknown option --web-prot"):
        parse_test_options(options, no_custom_options)


def test_no_arguments_shows_the_help(parsed: Any, capsys: pytest.CaptureFixture[str]) -> None:
    assert parsed() == (None, 0)
    assert "Usage: tswarm" in capsys.readouterr().out


def test_locusts_config_sources_give_the_same_options(parsed: Any, tmp_path: Path) -> None:
    (tmp_path / "locust.conf").write_text(
        "json = true\njson-file = out/stats\nprofile = nightly\nequal-weights = true\n"
        'config-users = [{"user_class_name": "Shop", "weight": 3}]\nmaster = true\n'
    )
    options, _ = parsed("-f", "x.py", "--headless")
    assert options.command == "master"  # master = true, and no subcommand: Locust's role
    assert (options.locust_json, options.json_file, options.profile, options.equal_weights) == (
        True,
        "out/stats",
        "nightly",
        True,
    )
    assert options.config_users == [{"user_class_name": "Shop", "weight": 3}]
    config = read_locust_config(
        explicit_config=None, environ={"LOCUST_CONFIG_USERS": '{"user_class_name": "A"}'}, home=tmp_path
    )
    assert config.values["config_users"] == ['{"user_class_name": "A"}']


# --- the User classes ---------------------------------------------------------------------------------


def ratio_classes() -> tuple[type, type]:
    from tswarm import HttpUser, TaskSet, constant, task

    class Browse(TaskSet):
        @task(3)
        def page(self) -> None: ...

        @task
        def leave(self) -> None: ...

    def checkout(user: Any) -> None: ...

    class Shopper(HttpUser):
        weight = 3
        wait_time = constant(1)
        tasks = {Browse: 2, checkout: 1}

    class Admin(HttpUser):
        wait_time = constant(1)

        @task
        def report(self) -> None: ...

    return Shopper, Admin


# as Locust 2.47 prints them for the classes above (`locust -f ratio.py --show-task-ratio`)
LOCUST_TASK_RATIO = """
 Task ratio per User class
--------------------------------------------------------------------------------
 75.0       Shopper                                           
   66.7       Browse                                          
     75.0       page                                          
     25.0       leave                                         
   33.3       checkout                                        
 25.0       Admin                                             
   100.0      report                                          

 Total task ratio
--------------------------------------------------------------------------------
 75.0       Shopper                                           
   50.0       Browse                                          
     37.5       page                                          
     12.5       leave                                         
   25.0       checkout                                        
 25.0       Admin                                             
   25.0       report                                          """  # noqa: W291


def test_task_ratio_tables_are_locusts() -> None:
    classes = list(ratio_classes())
    assert task_ratio_text(classes, 0) == LOCUST_TASK_RATIO
    document = json.loads(task_ratio_json(classes, 4))
    assert document["per_class"]["Shopper"]["tasks"]["Browse"]["tasks"]["page"] == {"ratio": 0.75}
    assert document["total"]["Admin"] == {"ratio": 0.25, "tasks": {"report": {"ratio": 0.25}}}
    assert task_ratio_json(classes, 4).startswith('{\n    "per_class": {\n        "Shopper": {\n')


def test_show_task_ratio_prints_and_exits_without_running(tmp_path: Path) -> None:
    (tmp_path / "locustfile.py").write_text(
        "from locust import User, task, constant\n"
        "class Quiet(User):\n    wait_time = constant(1)\n    @task\n    def nap(self): pass\n"
    )
    result = subprocess.run(
        [sys.executable, "-m", "tswarm", "-f", "locustfile.py", "--show-task-ratio-json"],
        cwd=tmp_path,
        env=repo_env(),
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["total"] == {"Quiet": {"ratio": 1.0, "tasks": {"nap": {"ratio": 1.0}}}}


def test_equal_weights_flatten_tasksets() -> None:
    shopper, admin = ratio_classes()
    assign_equal_weights([shopper, admin])
    assert shopper.weight == admin.weight == 1  # type: ignore[attr-defined]
    assert sorted(t.__name__ for t in shopper.tasks) == ["checkout", "leave", "page"]  # type: ignore[attr-defined]


def test_config_users_set_class_attributes(tmp_path: Path) -> None:
    shopper, admin = ratio_classes()
    (tmp_path / "users.json").write_text(json.dumps([{"user_class_name": "Admin", "weight": 7, "host": "h"}]))
    settings = parse_config_users(
        [str(tmp_path / "users.json"), '{"user_class_name": "Shopper", "tasks": ["checkout"]}']
    )
    apply_config_users({"Shopper": shopper, "Admin": admin}, settings)
    assert (admin.weight, admin.host) == (7, "h")  # type: ignore[attr-defined]
    assert [t.__name__ for t in shopper.tasks] == ["checkout"]  # type: ignore[attr-defined]
    with pytest.raises(ConfigError, match="'Ghost'"):
        apply_config_users({"Admin": admin}, [{"user_class_name": "Ghost"}])
    with pytest.raises(ConfigError, match="user_class_name"):
        parse_config_users(['{"weight": 2}'])
    with pytest.raises(ConfigError, match="no JSON"):
        parse_config_users(["{nope"])


def test_local_workers_get_the_user_class_options() -> None:
    from tswarm.cli.distributed import local_worker_command

    setting = {"user_class_name": "Shop", "weight": 2}
    options = RunOptions(command="run", equal_weights=True, config_users=[setting])
    command = local_worker_command(options, 5557)
    assert "--equal-weights" in command
    assert json.loads(command[command.index("--config-users") + 1]) == [setting]


# --- Locust's statistics list -------------------------------------------------------------------------

#: Locust 2.47's fields of one entry, in its order (StatsEntryDict)
LOCUST_FIELDS = [
    "name",
    "method",
    "last_request_timestamp",
    "start_time",
    "num_requests",
    "num_none_requests",
    "num_failures",
    "total_response_time",
    "max_response_time",
    "min_response_time",
    "total_content_length",
    "response_times",
    "num_reqs_per_sec",
    "num_fail_per_sec",
]


def test_locust_stats_list_has_locusts_fields() -> None:
    stats = RequestStats()
    stats.log_request("GET", "/a", 12.3, 10)
    stats.log_request("GET", "/a", 147.0, 10)
    stats.log_error("POST", "/b", RuntimeError("x"))
    stats.get("/never", "GET")
    entries = locust_stats_list(stats)
    assert [(e["method"], e["name"]) for e in entries] == [("GET", "/a"), ("POST", "/b")]
    assert list(entries[0]) == LOCUST_FIELDS
    assert (entries[0]["num_requests"], entries[0]["total_content_length"]) == (2, 20)
    assert sum(entries[0]["response_times"].values()) == 2
    assert sum(entries[0]["num_reqs_per_sec"].values()) == 2
    assert entries[1]["num_failures"] == 1 and sum(entries[1]["num_fail_per_sec"].values()) == 1
    assert [locust_response_time_key(v) for v in (12.4, 147, 3432, 58760)] == [12, 150, 3400, 59000]


def test_profile_is_in_the_json_report_and_the_rendered_ones() -> None:
    from tswarm.controller.html_report import render_html_report
    from tswarm.controller.markdown_report import render_markdown_report
    from tswarm.controller.outputs import build_json_report, validate_json_report

    stats = RequestStats()
    stats.log_request("GET", "/a", 5.0, 1)
    report = build_json_report(stats, None, run_meta={"command": "run", "profile": "nightly-eu"})
    assert validate_json_report(report) == []
    assert report["run"]["profile"] == "nightly-eu"
    assert "<th>Profile</th><td>nightly-eu</td>" in render_html_report(report)
    assert "profile nightly-eu" in render_markdown_report(report)


# --- real runs ----------------------------------------------------------------------------------------

BOUNDED = """
    from locust import FastHttpUser, task, constant
    from locust.exception import StopUser

    class Browser(FastHttpUser):
        wait_time = constant(0)
        done = 0

        @task
        def fast(self):
            self.client.get("/fast")
            self.done += 1
            if self.done >= 20:
                raise StopUser()
"""


def counts_by_endpoint(entries: list[dict[str, Any]]) -> dict[str, int]:
    return {f"{e['method']} {e['name']}": e["num_requests"] for e in entries}


def test_locust_json_and_json_file_equal_the_servers_counts(tmp_path: Path, target) -> None:
    (tmp_path / "locustfile.py").write_text(textwrap.dedent(BOUNDED))
    result = subprocess.run(
        [sys.executable, "-m", "tswarm", "-f", "locustfile.py", "--headless", "-u", "2", "-r", "100",
         "-t", "1s", "--stop-timeout", "5", "-H", target.url, "--json", "--json-file", "out/stats"],
        cwd=tmp_path, env=repo_env(), capture_output=True, text=True, timeout=RUN_TIMEOUT,
        stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    printed = json.loads(result.stdout)  # stdout holds the list alone
    assert counts_by_endpoint(printed) == {"GET /fast": 40} == target.counts()["by_endpoint"]
    assert json.loads((tmp_path / "out" / "stats.json").read_text()) == printed


def test_locust_master_and_worker_command_lines(tmp_path: Path, target) -> None:
    (tmp_path / "locustfile.py").write_text(textwrap.dedent(BOUNDED))
    port = free_port()
    env = repo_env()
    master = subprocess.Popen(
        [sys.executable, "-m", "tswarm", "-f", "locustfile.py", "--master", "--headless", "-u", "2",
         "-r", "100", "-t", "2s", "--stop-timeout", "5", "-H", target.url, "--master-bind-host", "127.0.0.1",
         "--master-bind-port", str(port), "--expect-workers", "1", "--json", "--profile", "ci"],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        stdin=subprocess.DEVNULL,
    )  # fmt: skip
    worker = subprocess.Popen(
        [sys.executable, "-m", "tswarm", "-f", "locustfile.py", "--worker", "--master-host", "127.0.0.1",
         "--master-port", str(port), "--headless"],
        cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        stdin=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        out, err = master.communicate(timeout=RUN_TIMEOUT)
    finally:
        stop_process(master)
        worker_code = stop_process(worker)
    assert master.returncode == 0, err
    assert counts_by_endpoint(json.loads(out)) == {"GET /fast": 40} == target.counts()["by_endpoint"]
    assert worker_code in (0, -15)
    assert worker.stderr is not None
    assert "a worker takes these from its master, ignoring: --headless" in worker.stderr.read()
