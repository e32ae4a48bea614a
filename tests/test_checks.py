"""Pass/fail checks: the grammar, evaluation on real stats, and real ``tswarm run`` processes whose
exit code, summary, JSON and JUnit the checks decide."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import xml.etree.ElementTree as ET
from decimal import Decimal
from pathlib import Path

import pytest
from conftest import TargetServer, repo_env
from hypothesis import given
from hypothesis import strategies as st

from tswarm.checks import CheckError, evaluate_checks, parse_check, split_check_list
from tswarm.controller.junit import render_junit, render_junit_report
from tswarm.controller.outputs import ReportFileError, build_json_report, check_record, validate_json_report
from tswarm.stats import RequestStats

RUN_TIMEOUT = 90


# -- the grammar --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "metric", "op", "limit"),
    [
        ("p95<300ms", "p95", "<", 300.0),
        ("p99.9<=1.5s", "p99.9", "<=", 1500.0),
        ("avg<120ms", "avg", "<", 120.0),
        ("median < 50", "median", "<", 50.0),
        ("max<2s", "max", "<", 2000.0),
        ("fail_ratio<1%", "fail_ratio", "<", 0.01),
        ("fail_ratio<0.02", "fail_ratio", "<", 0.02),
        ("failures==0", "failures", "==", 0.0),
        ("rps>=200", "rps", ">=", 200.0),
        ("requests>=10000", "requests", ">=", 10000.0),
    ],
)
def test_whole_test_checks_parse(expression: str, metric: str, op: str, limit: float) -> None:
    check = parse_check(expression)
    assert (check.metric, check.op, check.limit, check.name, check.method) == (metric, op, limit, None, None)
    assert check.scope == "Aggregated"


def test_scoped_checks_take_an_optional_method_and_the_last_colon() -> None:
    check = parse_check("GET /api/cart: p99<500ms")
    assert (check.method, check.name, check.metric, check.limit) == ("GET", "/api/cart", "p99", 500.0)
    named = parse_check("http://h:8080/x: avg<1s")
    assert (named.method, named.name) == (None, "http://h:8080/x")
    assert parse_check("/api/*: fail_ratio<1%").matches("POST", "/api/cart")
    assert not parse_check("GET /api/*: p95<1s").matches("POST", "/api/cart")
    assert not parse_check("/api/cart: p95<1s").matches("GET", "/api/cart/2")
    # Locust's names hold brackets: literal, never a character class
    assert parse_check("/items/[id]: p95<1s").matches("GET", "/items/[id]")
    assert not parse_check("/items/[id]: p95<1s").matches("GET", "/items/i")
    assert parse_check("/items/[id]?x=*: p95<1s").matches("GET", "/items/[id]?x=2")


@pytest.mark.parametrize(
    ("expression", "why"),
    [
        ("p95", "expected METRIC OP VALUE"),
        ("p95<fast", "expected METRIC OP VALUE"),
        ("latency<3ms", "unknown metric 'latency'"),
        ("p95<3%", "is a time"),
        ("rps>=2s", "plain number"),
        ("p0<1s", "percentile"),
        ("p101<1s", "percentile"),
        (": p95<1s", "empty"),
        ("fail_ratio<1ms", "ratio"),
    ],
)
def test_a_bad_check_names_itself_and_what_is_wrong(expression: str, why: str) -> None:
    with pytest.raises(CheckError) as caught:
        parse_check(expression)
    assert repr(expression) in str(caught.value) and why in str(caught.value)
    assert "\n" not in str(caught.value)


_metrics = st.sampled_from(["avg", "median", "min", "max", "p50", "p99.9", "fail_ratio", "failures", "rps"])


@given(
    metric=_metrics,
    op=st.sampled_from(["<", "<=", ">", ">=", "==", "!="]),
    value=st.decimals(min_value=0, max_value=10**6, places=3),
    scope=st.one_of(st.none(), st.from_regex(r"\A(GET |POST )?/[a-z0-9_/*,.-]{0,20}\Z")),
)
def test_a_check_prints_as_it_parses(metric: str, op: str, value: Decimal, scope: str | None) -> None:
    head = f"{scope}: " if scope is not None else ""
    unit = "%" if metric == "fail_ratio" else ("" if metric in ("failures", "rps") else "ms")
    check = parse_check(f"{head}{metric}{op}{value}{unit}")
    again = parse_check(check.text())
    assert (again.metric, again.op, again.limit, again.name, again.method) == (
        check.metric,
        check.op,
        check.limit,
        check.name,
        check.method,
    )
    # a list of them in TSWARM_CHECK comes back whole, commas in names included
    assert split_check_list(f"{check.text()},{check.text()}\nrps>1") == [check.text(), check.text(), "rps>1"]


def test_a_comma_in_a_scope_name_does_not_split_the_list() -> None:
    assert split_check_list("GET /a,b: p95<1s, failures==0") == ["GET /a,b: p95<1s", "failures==0"]


# -- evaluation on real stats ---------------------------------------------------------------------------


def _stats() -> RequestStats:
    stats = RequestStats()
    for ms in range(1, 101):  # 1..100 ms on /fast
        stats.log_request("GET", "/fast", ms, 10)
    for _ in range(10):
        stats.log_request("GET", "/slow", 1000, 10)
        stats.log_error("GET", "/slow", "boom")
    stats.log_request("POST", "/api/a", 5, 1)
    stats.log_request("POST", "/api/b", 7, 1)
    return stats


def test_checks_are_evaluated_on_whole_test_numbers() -> None:
    stats = _stats()
    expressions = [
        "GET /fast: p95<=100ms",  # the summary's percentile, 1% accurate
        "GET /fast: max==100",
        "GET /fast: failures==0",
        "/slow: fail_ratio<50%",  # 10 of 10 failed
        "requests==112",
        "failures==10",
        "/api/*: requests==2",  # a glob merges what it matches
        "/api/*: max<7ms",
        "DELETE /fast: p95<1s",  # nothing matched
    ]
    verdicts = evaluate_checks(stats, [parse_check(e) for e in expressions])
    assert [v.passed for v in verdicts] == [True, True, True, False, True, True, True, False, False]
    assert verdicts[0].observed == stats.get("/fast", "GET").get_response_time_percentile(0.95)
    assert verdicts[3].observed == 1.0 and verdicts[3].observed_text == "100%"
    assert verdicts[8].observed is None and verdicts[8].observed_text == "no request matched"
    # nothing measured at all: no check on the aggregate can hold
    assert not evaluate_checks(RequestStats(), [parse_check("failures==0")])[0].passed


def test_junit_has_a_case_per_check_and_per_failing_endpoint() -> None:
    stats = _stats()
    verdicts = evaluate_checks(stats, [parse_check("p95<2s"), parse_check("GET /slow: failures==0")])
    root = ET.fromstring(render_junit(stats, verdicts, {"duration": 2.5, "start_time": 1.0e9}))
    assert root.tag == "testsuites"
    (suite,) = root.findall("testsuite")
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors")) == ("3", "2", "0")
    cases = suite.findall("testcase")
    assert [c.get("name") for c in cases] == ["p95<2s", "GET /slow: failures==0", "GET /slow"]
    assert cases[0].find("failure") is None
    breach = cases[1].find("failure")
    assert breach is not None and "observed 10, limit == 0" in (breach.get("message") or "")
    endpoint = cases[2].find("failure")
    assert endpoint is not None and "10 x boom" in (endpoint.text or "")


def test_junit_of_a_report_equals_junit_of_the_run() -> None:
    stats = _stats()
    stats.log_error("GET", "/slow", "another", 1.0)  # one occurrence: listed after "boom"
    verdicts = evaluate_checks(stats, [parse_check("p95<2s"), parse_check("GET /slow: failures==0")])
    report = build_json_report(stats, None, run_meta={"start_time": 1.0e9, "end_time": 1.0e9 + 2.5})
    report["checks"] = [check_record(v) for v in verdicts]
    saved = json.loads(json.dumps(report))
    assert render_junit_report(saved) == render_junit(stats, verdicts, saved["run"])
    saved["checks"][0]["check"] = "p95 is fine"
    with pytest.raises(ReportFileError, match="p95 is fine"):
        render_junit_report(saved)


# -- real runs ------------------------------------------------------------------------------------------

MIXED_TEST = """
    from tswarm import FastHttpUser, task, constant

    class Web(FastHttpUser):
        wait_time = constant(0.05)

        @task
        def fast(self):
            self.client.get("/fast")

        @task
        def broken(self):
            self.client.get("/status/500")
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


@pytest.fixture
def testfile(tmp_path: Path) -> Path:
    path = tmp_path / "locustfile.py"
    path.write_text(textwrap.dedent(MIXED_TEST))
    return path


def _run(
    testfile: Path, host: str, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return tswarm(
        "run", "-f", str(testfile), "--host", host, "--headless", "-u", "2", "-r", "10", "-t", "2s",
        "--only-summary", *args, cwd=testfile.parent, env=env,
    )  # fmt: skip


def test_holding_checks_pass_a_run_with_failed_requests(testfile: Path, target: TargetServer) -> None:
    host = target.url
    report, junit = testfile.parent / "r.json", testfile.parent / "j.xml"
    result = _run(
        testfile, host, "--check", "GET /fast: failures==0", "--check", "requests>=1",
        "--json", str(report), "--junit", str(junit),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "Checks (2 of 2 held)" in result.stderr
    doc = json.loads(report.read_text())
    assert validate_json_report(doc) == []
    assert [(c["check"], c["passed"]) for c in doc["checks"]] == [
        ("GET /fast: failures==0", True),
        ("requests>=1", True),
    ]
    suite = ET.parse(junit).getroot().find("testsuite")
    assert suite is not None
    names = [c.get("name") for c in suite.findall("testcase")]
    assert names == ["GET /fast: failures==0", "requests>=1", "GET /status/500"]
    # `tswarm report --junit` writes the same document from the JSON later
    again = tswarm("report", str(report), "--junit", "-", cwd=testfile.parent)
    assert again.returncode == 0, again.stderr
    assert again.stdout == junit.read_text()


def test_a_breached_check_exits_3(testfile: Path, target: TargetServer) -> None:
    result = _run(testfile, target.url, "--check", "fail_ratio<1%", "--check", "DELETE /x: p95<1s")
    assert result.returncode == 3, result.stderr
    assert "BREACHED" in result.stderr and "Checks (0 of 2 held)" in result.stderr
    assert "no request matched 'DELETE /x'" in result.stderr


def test_check_abort_stops_at_the_first_breach(testfile: Path, target: TargetServer) -> None:
    result = tswarm(
        "run", "-f", str(testfile), "--host", target.url, "--headless", "-u", "2", "-r", "10",
        "-t", "60s", "--only-summary", "--check", "failures==0", "--check-abort", "--check-grace", "0s",
        cwd=testfile.parent,
    )  # fmt: skip
    assert result.returncode == 3, result.stderr
    assert "check breached, stopping the test (--check-abort): failures==0" in result.stderr


def test_checks_in_a_distributed_run(testfile: Path, target: TargetServer) -> None:
    result = _run(testfile, target.url, "--processes", "1", "--check", "GET /status/500: failures>=1")
    assert result.returncode == 0, result.stderr
    assert "Checks (1 of 1 held)" in result.stderr


def test_checks_from_the_config_file_and_tswarm_check(testfile: Path, target: TargetServer) -> None:
    config = testfile.parent / "checks.toml"
    config.write_text('check = ["failures==0"]\n')
    from_file = _run(testfile, target.url, "--config", str(config))
    assert from_file.returncode == 3, from_file.stderr
    env = {**repo_env(), "TSWARM_CHECK": "GET /fast: failures==0, requests>=1"}
    # the variable outranks the config file
    from_env = _run(testfile, target.url, "--config", str(config), env=env)
    assert from_env.returncode == 0, from_env.stderr
    assert "Checks (2 of 2 held)" in from_env.stderr


def test_the_example_checks_file_parses(tmp_path: Path) -> None:
    example = Path(__file__).parent.parent / "examples" / "checks.toml"
    import tomllib

    for expression in tomllib.loads(example.read_text())["check"]:
        parse_check(expression)


@pytest.mark.parametrize("source", ["option", "env"])
def test_a_bad_check_is_one_line_and_exit_1_before_the_test(testfile: Path, source: str) -> None:
    args = ["--check", "p95<fast"] if source == "option" else []
    env = {**repo_env(), "TSWARM_CHECK": "p95<fast"} if source == "env" else None
    result = tswarm(
        "run", "-f", str(testfile), "--host", "http://127.0.0.1:9", "--headless", "-t", "1s", *args,
        cwd=testfile.parent, env=env,
    )  # fmt: skip
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "p95<fast" in lines[0] and ("--check" in lines[0] or "TSWARM_CHECK" in lines[0])


def test_check_abort_stops_a_distributed_run(testfile: Path, target: TargetServer) -> None:
    config = testfile.parent / "tswarm.toml"
    # the config file goes to the local worker too: its checks must not trouble it
    config.write_text('check = ["GET /status/500: failures==0"]\ncheck-abort = true\ncheck-grace = "0s"\n')
    result = tswarm(
        "run", "-f", str(testfile), "--host", target.url, "--headless", "-u", "2", "-r", "10",
        "-t", "60s", "--only-summary", "--processes", "1", "--config", str(config),
        cwd=testfile.parent,
    )  # fmt: skip
    assert result.returncode == 3, result.stderr
    assert "stopping the test (--check-abort): GET /status/500: failures==0" in result.stderr
    assert "BREACHED" in result.stderr


def test_a_junit_path_that_cannot_be_written_is_refused_before_the_test(testfile: Path) -> None:
    result = tswarm(
        "run", "-f", str(testfile), "--host", "http://127.0.0.1:9", "--headless", "-t", "1s",
        "--check", "failures==0", "--junit", str(testfile.parent / "missing" / "j.xml"),
        cwd=testfile.parent,
    )  # fmt: skip
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "--junit" in lines[0] and "does not exist" in lines[0], result.stderr


def test_the_test_files_own_exit_code_outranks_the_checks(testfile: Path, target: TargetServer) -> None:
    testfile.write_text(
        testfile.read_text()
        + textwrap.dedent(
            """
            from tswarm import events

            @events.quitting.add_listener
            def _(environment, **kwargs):
                environment.process_exit_code = 7
            """
        )
    )
    result = _run(testfile, target.url, "--check", "requests>=1")
    assert result.returncode == 7, result.stderr
    assert "Checks (1 of 1 held)" in result.stderr
