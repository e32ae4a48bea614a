"""Idioms of real-world Locust files that once failed under tswarm (found by benchmarks/locustfile_corpus.py).

Each test is a minimal locustfile written for this suite, loaded by tswarm's loader or run by a real
``tswarm run`` process against the built-in target.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from conftest import repo_env

from tswarm.loader import load_testfiles

RUN_TIMEOUT = 60


def write(path: Path, source: str) -> Path:
    path.write_text(textwrap.dedent(source))
    return path


def run_headless(
    tmp_path: Path, target_url: str, *extra: str, run_time: str = "2s"
) -> tuple[subprocess.CompletedProcess[str], dict]:
    """``tswarm run`` of ``locustfile.py`` in ``tmp_path``: 2 users for ``run_time``; the JSON report."""
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "tswarm",
            "run",
            "-f",
            "locustfile.py",
            "--headless",
            "-H",
            target_url,
            "-u",
            "2",
            "-r",
            "20",
            "-t",
            run_time,
            "--json",
            "out.json",
            *extra,
        ],
        cwd=tmp_path,
        env=repo_env(),
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
        stdin=subprocess.DEVNULL,
    )
    report = json.loads((tmp_path / "out.json").read_text()) if (tmp_path / "out.json").exists() else {}
    return result, report


def test_several_shape_classes_use_the_first_as_locust_does(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Files keep alternative shapes side by side; Locust runs the first one defined, and so does tswarm."""
    write(
        tmp_path / "shapes_side_by_side.py",
        """
        from locust import LoadTestShape, User, task

        class Idle(User):
            @task
            def nothing(self):
                pass

        class Ramp(LoadTestShape):
            def tick(self):
                return (3, 1.0)

        class Spike(LoadTestShape):
            def tick(self):
                return (9, 9.0)
        """,
    )
    loaded = load_testfiles(str(tmp_path / "shapes_side_by_side.py"))
    with caplog.at_level(logging.WARNING, logger="tswarm.loader"):
        shape = loaded.select_shape()
    assert type(shape).__name__ == "Ramp"
    assert "using the first, Ramp (not Spike)" in caplog.text


def test_locust_log_helpers(tmp_path: Path, target_server) -> None:
    """``from locust import log``: setup_logging() with a log file, and greenlet_exception_logger() for
    helper greenlets a file spawns."""
    write(
        tmp_path / "locustfile.py",
        """
        import logging

        import gevent
        from locust import HttpUser, constant, log, task

        log.setup_logging("INFO", "mirror.log")
        helper_log = logging.getLogger("helper")

        def broken_helper():
            raise RuntimeError("the helper broke")

        class Visitor(HttpUser):
            wait_time = constant(0.1)

            def on_start(self):
                gevent.spawn(broken_helper).link_exception(log.greenlet_exception_logger(helper_log))

            @task
            def page(self):
                self.client.get("/fast")
                helper_log.info("visited")
        """,
    )
    result, report = run_headless(tmp_path, target_server.url)
    assert result.returncode == 0, result.stderr
    assert report["total"]["num_requests"] > 0
    mirrored = (tmp_path / "mirror.log").read_text()
    assert "helper: visited" in mirrored
    assert "Unhandled exception in greenlet" in mirrored and "RuntimeError: the helper broke" in mirrored


def test_locust_stats_settings_load_and_are_named_when_they_have_no_effect(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Files tune Locust's statistics by assigning to ``locust.stats``; they load, and one warning says
    which settings tswarm does not read."""
    write(
        tmp_path / "tuned_stats.py",
        """
        import locust.stats
        from locust import HttpUser, stats, task
        from locust.stats import RequestStats, StatsEntry

        locust.stats.CONSOLE_STATS_INTERVAL_SEC = 15
        stats.PERCENTILES_TO_CHART = (0.5, 0.99)
        unchanged = stats.CSV_STATS_INTERVAL_SEC

        class Reader(HttpUser):
            @task
            def page(self):
                self.client.get("/fast")
        """,
    )
    with caplog.at_level(logging.WARNING, logger="tswarm.compat.stats"):
        loaded = load_testfiles(str(tmp_path / "tuned_stats.py"))
    stand_in = sys.modules["locust.stats"]
    try:
        module = loaded.modules[0]
        assert module.RequestStats.__module__.startswith("tswarm.stats")
        assert module.unchanged == 1
        warnings = [r.getMessage() for r in caplog.records if r.name == "tswarm.compat.stats"]
        assert len(warnings) == 1
        assert "locust.stats.CONSOLE_STATS_INTERVAL_SEC, locust.stats.PERCENTILES_TO_CHART" in warnings[0]
        assert "CSV_STATS_INTERVAL_SEC" not in warnings[0]
    finally:
        # the stand-in lives for the whole process: leave it as other tests expect it
        for name in ("CONSOLE_STATS_INTERVAL_SEC", "PERCENTILES_TO_CHART", "CSV_STATS_INTERVAL_SEC"):
            vars(stand_in).pop(name, None)


@pytest.mark.parametrize("stop_timeout", ["0", "2"])
def test_runner_quit_from_a_task_ends_the_run(tmp_path: Path, target_server, stop_timeout: str) -> None:
    """``self.environment.runner.quit()`` in a task ends the test (it used to hang the process: the
    user's greenlet tried to kill its own group and wait for it)."""
    write(
        tmp_path / "locustfile.py",
        """
        from locust import HttpUser, constant, events, task

        @events.quitting.add_listener
        def said_bye(environment, **kw):
            print("QUITTING after", environment.stats.total.num_requests)

        class Quitter(HttpUser):
            wait_time = constant(0.05)
            visits = 0

            @task
            def visit(self):
                self.client.get("/fast")
                Quitter.visits += 1
                if Quitter.visits == 6:
                    self.environment.runner.quit()
        """,
    )
    target_server.reset()
    # -t 60s: the run ends long before unless quit() works; the subprocess timeout bounds a failure
    result, report = run_headless(tmp_path, target_server.url, "--stop-timeout", stop_timeout, run_time="60s")
    assert result.returncode == 0, result.stderr
    assert report["run"]["run_time"] == 60 and report["run"]["duration"] < 30
    assert 6 <= report["total"]["num_requests"] == target_server.counts()["total"]
    assert "QUITTING after" in result.stdout


def test_runner_quit_from_a_checker_greenlet(tmp_path: Path, target_server) -> None:
    """The threshold checker Locust's docs show: a greenlet spawned at init watches the fail ratio and
    quits the runner, with the process exit code it chose."""
    write(
        tmp_path / "locustfile.py",
        """
        import gevent
        from locust import HttpUser, constant, events, task
        from locust.runners import STATE_CLEANUP, STATE_STOPPED, STATE_STOPPING, WorkerRunner

        def checker(environment):
            while environment.runner.state not in [STATE_STOPPING, STATE_STOPPED, STATE_CLEANUP]:
                gevent.sleep(0.1)
                if environment.runner.stats.total.fail_ratio > 0.2:
                    environment.process_exit_code = 3
                    environment.runner.quit()
                    return

        @events.init.add_listener
        def start_checker(environment, **kw):
            if not isinstance(environment.runner, WorkerRunner):
                gevent.spawn(checker, environment)

        class Failing(HttpUser):
            wait_time = constant(0.05)

            @task
            def broken(self):
                self.client.get("/status/500")
        """,
    )
    result, report = run_headless(tmp_path, target_server.url, run_time="60s")
    assert result.returncode == 3, result.stderr
    assert report["run"]["run_time"] == 60 and report["run"]["duration"] < 30
    assert report["total"]["num_failures"] > 0


def test_runner_quit_on_a_worker_leaves_the_master(tmp_path: Path, target_server) -> None:
    """On a worker, ``runner.quit()`` stops its users, reports and leaves (it was an AttributeError);
    when the last worker leaves, the master ends the test, as Locust's does."""
    write(
        tmp_path / "locustfile.py",
        """
        from locust import HttpUser, constant, task

        class Quitter(HttpUser):
            wait_time = constant(0.05)
            visits = 0

            @task
            def visit(self):
                self.client.get("/fast")
                Quitter.visits += 1
                if Quitter.visits == 6:
                    self.environment.runner.quit()
        """,
    )
    target_server.reset()
    result, report = run_headless(
        tmp_path, target_server.url, "--processes", "1", "--stop-timeout", "2", run_time="60s"
    )
    assert result.returncode == 0, result.stderr
    assert "AttributeError" not in result.stderr
    assert report["run"]["duration"] < 30
    assert 6 <= report["total"]["num_requests"] == target_server.counts()["total"]
