"""``tswarm compare``: relative checks in the checks grammar, the comparison of two reports (figures
recomputed from the histograms, endpoints of one run kept), its outputs, exit codes and bad input."""

from __future__ import annotations

import json
import random
import re
import typing
from pathlib import Path
from typing import Any

import pytest
from test_outputs import _doc_type

from tswarm.checks import CheckError, evaluate_checks, parse_check, parse_checks
from tswarm.cli.app import main
from tswarm.controller.compare import (
    CompareCheckReport,
    CompareReport,
    CompareRunReport,
    EndpointComparisonReport,
    MetricChangeReport,
    compare_reports,
    comparison_json,
    render_comparison_markdown,
    render_comparison_table,
)
from tswarm.controller.outputs import build_json_report, load_json_report
from tswarm.shapes import shape_checker, typed_dict_fields
from tswarm.stats import RequestStats

# -- the grammar ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "metric", "limit", "relative"),
    [
        ("p95<+10%", "p95", 10.0, "%"),
        ("rps>-5%", "rps", -5.0, "%"),
        ("fail_ratio<+0.5pp", "fail_ratio", 0.5, "pp"),
        ("fail_ratio<=0.5pp", "fail_ratio", 0.5, "pp"),
        ("GET /api/*: p99.9<=+20%", "p99.9", 20.0, "%"),
        ("p95<300ms", "p95", 300.0, None),  # absolute, judged on the candidate
    ],
)
def test_relative_limits_parse_and_print_back(
    expression: str, metric: str, limit: float, relative: str
) -> None:
    check = parse_check(expression, baseline=True)
    assert (check.metric, check.limit, check.relative) == (metric, limit, relative)
    again = parse_check(check.text(), baseline=True)
    assert (again.metric, again.op, again.limit, again.relative, again.scope) == (
        check.metric,
        check.op,
        check.limit,
        check.relative,
        check.scope,
    )


@pytest.mark.parametrize(
    ("expression", "baseline", "message"),
    [
        ("p95<+10%", False, "needs a baseline: give it to tswarm compare --check"),
        ("fail_ratio<+0.5pp", False, "needs a baseline"),
        ("p95<+10ms", True, "a change is in % of the baseline's value"),
        ("p95<10%", True, "p95 is a time"),  # unsigned: absolute, and a time is no percentage
        ("rps>+1pp", True, "pp (percentage points) is a change of fail_ratio"),
        ("latency<+10%", True, "unknown metric 'latency'"),
    ],
)
def test_bad_relative_limits_are_named(expression: str, baseline: bool, message: str) -> None:
    with pytest.raises(CheckError, match=re.escape(message)) as caught:
        parse_check(expression, baseline=baseline)
    assert expression in str(caught.value)


# -- the comparison -----------------------------------------------------------------------------------


def _report(seed: int, slow: float, names: list[str], fail_every: int = 0) -> Any:
    rng = random.Random(seed)
    stats = RequestStats(start_time=1000.0)
    for i in range(3000):
        name = names[i % len(names)]
        now = 1000.0 + i * 0.003
        stats.log_request("GET", name, rng.uniform(5, 50) * slow, 100, now)
        if fail_every and i % fail_every == 0:
            stats.log_error("GET", name, "boom", now)
    report = build_json_report(stats, None, run_meta={"command": "run", "end_time": 1010.0})
    return json.loads(json.dumps(report)), stats


def test_figures_are_the_runs_own_and_endpoints_of_one_run_are_kept() -> None:
    (base, base_stats), (cand, cand_stats) = (
        _report(1, 1.0, ["/a", "/old"]),
        _report(2, 1.5, ["/a", "/new"], 50),
    )
    comparison = compare_reports(base, cand)
    assert [(e.name, e.only_in) for e in comparison.endpoints] == [
        ("/a", None),
        ("/new", "candidate"),
        ("/old", "baseline"),
    ]
    a = {m.metric: m for m in comparison.endpoints[0].metrics}
    # recomputed from the histograms: exactly the percentiles of the runs' own statistics
    assert a["p95"].baseline == base_stats.get("/a", "GET").get_response_time_percentile(0.95)
    assert a["p99"].candidate == cand_stats.get("/a", "GET").get_response_time_percentile(0.99)
    assert a["p95"].change == pytest.approx((a["p95"].candidate / a["p95"].baseline - 1) * 100)
    assert a["p95"].worse and a["fail_ratio"].worse and a["fail_ratio"].unit == "pp"
    assert a["fail_ratio"].change == pytest.approx(cand_stats.get("/a", "GET").fail_ratio * 100)
    assert not a["rps"].worse  # same request count over the same time
    new = {m.metric: m for m in comparison.endpoints[1].metrics}
    assert new["p95"].baseline is None and new["p95"].change is None and not new["p95"].worse
    assert comparison.total.metrics[3].baseline == base_stats.total.get_response_time_percentile(0.95)
    assert not comparison.verdicts and not comparison.regression


def test_checks_judge_changes_and_the_candidate() -> None:
    (base, _), (cand, cand_stats) = _report(1, 1.0, ["/a", "/b"]), _report(2, 1.5, ["/a", "/b"], 50)
    checks = parse_checks(
        [
            "p95<+10%",  # +50%: breached
            "p95<+80%",
            "rps>-5%",
            "fail_ratio<+0.5pp",  # +2pp: breached
            "GET /*: p99<+80%",  # a glob merges both endpoints, as on a run
            "/gone: p95<+10%",  # nothing matched: breached
            "p99<1s",  # absolute: the candidate's value
        ],
        baseline=True,
    )
    comparison = compare_reports(base, cand, checks)
    assert [v.passed for v in comparison.verdicts] == [False, True, True, False, True, False, True]
    absolute = comparison.verdicts[-1]
    assert absolute.verdict == evaluate_checks(cand_stats, [checks[-1]])[0]
    assert comparison.verdicts[5].observed_text() == "no request matched in the baseline"
    assert comparison.verdicts[3].verdict.observed_text == "+2pp"
    assert comparison.regression
    doc = comparison_json(comparison)
    assert shape_checker(CompareReport, "compare").problems(json.loads(json.dumps(doc))) == []
    assert doc["regression"] and doc["checks"][0]["relative"] == "%" and doc["checks"][-1]["relative"] is None
    table = render_comparison_table(comparison, color=False)
    assert "\x1b" not in table and "REGRESSION" in table and "WORSE" in table
    assert "\x1b[" in render_comparison_table(comparison, color=True)
    markdown = render_comparison_markdown(comparison)
    assert "3 of 7 checks breached" in markdown and "❌ | p95\\<+10%" in markdown


def test_a_rise_from_zero_is_an_infinite_change() -> None:
    (base, _), (cand, _) = _report(1, 1.0, ["/a"]), _report(1, 1.0, ["/a"], 100)
    # one failure in 100 requests where the baseline had none
    comparison = compare_reports(
        base, cand, parse_checks(["failures<+10%", "fail_ratio<=+1pp"], baseline=True)
    )
    breached, held = comparison.verdicts
    assert not breached.passed and breached.verdict.observed_text == "+inf%" and held.passed
    assert comparison_json(comparison)["checks"][0]["observed"] is None  # JSON has no infinity


# -- the command ----------------------------------------------------------------------------------------


def _tswarm(*args: str) -> int:
    with pytest.raises(SystemExit) as exited:
        main(list(args))
    code = exited.value.code
    return code if isinstance(code, int) else 1


@pytest.fixture
def runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "base.json").write_text(json.dumps(_report(1, 1.0, ["/a", "/old"])[0]))
    (tmp_path / "cand.json").write_text(json.dumps(_report(2, 1.5, ["/a", "/new"], 50)[0]))
    return tmp_path


def test_compare_exits_3_on_a_regression_and_writes_its_outputs(
    runs: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = _tswarm(
        "compare",
        "base.json",
        "cand.json",
        "--check",
        "p95<+10%",
        "--check",
        "rps>-5%",
        "--markdown",
        "c.md",
        "--json",
        "c.json",
    )
    out, err = capsys.readouterr()
    assert code == 3
    assert err.splitlines()[-1] == "tswarm: regression: 1 of 2 checks breached"
    # no terminal here: plain text, no escape codes; every endpoint of either run listed
    assert "\x1b" not in out and "only in baseline" in out and "only in candidate" in out
    doc = json.loads((runs / "c.json").read_text())
    assert [e["name"] for e in doc["endpoints"]] == ["/a", "/new", "/old"] and doc["regression"]
    assert (runs / "c.md").read_text().startswith("## tswarm compare: cand.json against base.json")
    assert _tswarm("compare", "base.json", "cand.json", "--check", "p95<+80%") == 0
    assert _tswarm("compare", "base.json", "cand.json") == 0  # no check: nothing can regress


def test_json_to_stdout_leaves_the_table_to_stderr(runs: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _tswarm("compare", "base.json", "cand.json", "--json", "-") == 0
    out, err = capsys.readouterr()
    assert json.loads(out)["schema_version"] == 1
    assert "Comparison: base.json (baseline) -> cand.json (candidate)" in err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--check", "p95<+10ms", "--json", "c.json"), "check 'p95<+10ms': a change is in %"),
        (("--check", "p95<<1"), "check 'p95<<1': expected METRIC OP VALUE"),
        (
            ("--markdown", "c.md", "--json", "missing/c.json"),
            "--json missing/c.json: the folder missing does not",
        ),
        (("--json", "-", "--markdown", "-"), "cannot both write to stdout"),
    ],
)
def test_bad_checks_and_outputs_get_one_line(
    runs: Path, capsys: pytest.CaptureFixture[str], args: tuple[str, ...], message: str
) -> None:
    assert _tswarm("compare", "base.json", "cand.json", *args) == 1
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and err.startswith("tswarm: error: ") and message in err
    assert sorted(p.name for p in runs.iterdir()) == ["base.json", "cand.json"]  # nothing written


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("not json", "other.json is not JSON"),
        ('[{"name": "/", "num_requests": 1}]', "other.json is not a tswarm JSON report"),
        (None, "other.json: a report without histograms"),
    ],
)
def test_bad_reports_get_one_line(
    runs: Path, capsys: pytest.CaptureFixture[str], content: str | None, message: str
) -> None:
    if content is None:
        doc = json.loads((runs / "base.json").read_text())
        for entry in doc["entries"]:
            del entry["histogram"]
        del doc["total"]["histogram"]
        content = json.dumps(doc)
    (runs / "other.json").write_text(content)
    assert _tswarm("compare", "base.json", "other.json", "--json", "c.json") == 1
    _, err = capsys.readouterr()
    assert err.count("\n") == 1 and message in err, err
    assert _tswarm("compare", "base.json", "nowhere.json") == 1
    assert "cannot read nowhere.json" in capsys.readouterr().err
    assert not (runs / "c.json").exists()
    load_json_report(str(runs / "base.json"))  # the good one stays good


# -- docs/compare.md against the declaration --------------------------------------------------------------

COMPARE_DOC = Path(__file__).parent.parent / "docs" / "compare.md"
DOC_TABLES: dict[str, Any] = {
    "Top level": CompareReport,
    "`baseline` and `candidate`": CompareRunReport,
    "Endpoint (`total` and each item of `endpoints`)": EndpointComparisonReport,
    "Figure (each value of `metrics`)": MetricChangeReport,
    "`checks` items": CompareCheckReport,
}


def test_compare_doc_tables_match_the_declaration() -> None:
    tables: dict[str, dict[str, str]] = {}
    heading = ""
    for line in COMPARE_DOC.read_text().splitlines():
        if line.startswith("## "):
            heading = line[3:].strip()
        elif line.startswith("| `") and heading in DOC_TABLES:
            names, type_text, _ = (cell.strip() for cell in line.strip("|").split("|", 2))
            for name in re.findall(r"`([a-z_0-9]+)`", names):
                tables.setdefault(heading, {})[name] = type_text
    assert set(tables) == set(DOC_TABLES)
    for heading, declaration in DOC_TABLES.items():
        declared = typed_dict_fields(declaration)
        assert set(tables[heading]) == set(declared), heading
        for name, (hint, _) in declared.items():
            assert tables[heading][name] == _doc_type(hint), (heading, name)
    assert typing.get_args(typing.get_type_hints(CompareReport)["schema_version"]) == (1,)
