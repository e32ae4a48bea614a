"""The headless front-end: a live table on stderr, CSV files while running, and the final outputs.

Plain Python, driven by whoever holds the loop: the local runner's greenlet or the master's asyncio
loop call ``periodic()`` about once a second and ``final()`` once the test has stopped.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from tswarm._version import __version__
from tswarm.checks import CheckVerdict, evaluate_checks
from tswarm.controller.html_report import render_html_report
from tswarm.controller.junit import render_junit
from tswarm.controller.locust_stats import locust_stats_text, write_locust_stats_file
from tswarm.controller.markdown_report import render_markdown_report
from tswarm.controller.outputs import (
    CsvHistoryWriter,
    build_json_report,
    check_record,
    write_csv_stats,
    write_json,
    write_text_file,
)
from tswarm.controller.report import (
    render_check_table,
    render_live_table,
    render_missing_workers,
    render_status_codes,
    render_summary,
    terminal_width,
    use_color,
)
from tswarm.dispatch import class_counts
from tswarm.stats import StatsHistory

if TYPE_CHECKING:
    from tswarm.cli.options import RunOptions
    from tswarm.env import Environment

#: seconds between two live tables (Locust prints every 2 s too)
LIVE_TABLE_INTERVAL = 2.0
#: entries in the live table when stderr is no terminal (a CI log keeps every table: 20 rows every 2 s
#: stay readable where 20,000 would bury the log); the final summary lists every entry
LIVE_TABLE_ROWS = 20
#: lines of a live table besides its entries: title, header, rules, Aggregated, "... more", a log line
_LIVE_TABLE_CHROME = 8
#: never fewer entries than this on a small terminal
_MIN_LIVE_TABLE_ROWS = 5


def live_table_rows(stream: Any) -> int:
    """How many entries the live table shows on ``stream``: as many as fit a terminal's height (like
    the TUI's Statistics view, which shows what fits and scrolls), else :data:`LIVE_TABLE_ROWS`."""
    isatty = getattr(stream, "isatty", None)
    if isatty is not None and isatty():
        try:
            height = os.get_terminal_size(stream.fileno()).lines
        except (OSError, ValueError, AttributeError):
            return LIVE_TABLE_ROWS
        return max(_MIN_LIVE_TABLE_ROWS, height - _LIVE_TABLE_CHROME)
    return LIVE_TABLE_ROWS


class HeadlessReporter:
    def __init__(
        self,
        environment: Environment,
        options: RunOptions,
        *,
        user_count: Callable[[], int],
        stream: Any = None,
        live_table: bool = True,
        stop_test: Callable[[], None] | None = None,
    ) -> None:
        self.environment = environment
        self.options = options
        self.user_count = user_count
        self.stream = stream or sys.stderr
        self.color = use_color(self.stream)
        self.history = StatsHistory()
        self.started_at = time.time()
        self._last_table = 0.0
        self._csv_history = CsvHistoryWriter(options.csv, options.csv_full_history) if options.csv else None
        self._finished = False
        #: the latest JSON report and the time it was built for (see json_report)
        self._report: tuple[float, dict[str, Any]] | None = None
        #: output path -> why it could not be written (each reported once)
        self.output_errors: dict[str, str] = {}
        #: print the live table (not under the TUI, which owns the screen)
        self.live_table = live_table and not options.only_summary
        #: stops the test (--check-abort): the runner's stop, called on the loop that calls periodic()
        self.stop_test = stop_test
        #: the checks' verdicts at the end of the test (empty without checks or before the end): what a
        #: front-end shows and what decides the exit code
        self.check_verdicts: list[CheckVerdict] = []
        self._verdicts: list[CheckVerdict] = []
        #: the verdicts that stopped the test under --check-abort, or None
        self.abort_verdicts: list[CheckVerdict] | None = None

    def periodic(self) -> None:
        """Sample the history, rewrite the CSV files, and print the live table when it is due."""
        stats = self.environment.stats
        users = self.user_count()
        now = time.time()
        self.history.record(stats, users, now)
        if self.options.csv and self._csv_history is not None:
            try:
                write_csv_stats(self.options.csv, stats)
                self._csv_history.write_row(stats, users, now)
            except OSError as e:
                self._output_failed("--csv", self.options.csv, e)
        if self.live_table and now - self._last_table >= LIVE_TABLE_INTERVAL:
            self._last_table = now
            rows = live_table_rows(self.stream)
            self._print(render_live_table(stats, users, color=self.color, max_rows=rows))
        self._abort_on_breach(now)

    def _abort_on_breach(self, now: float) -> None:
        """--check-abort: once the grace is over, the first breach (on the whole-test numbers so far)
        stops the test. A scope that matched nothing yet is no breach before the end."""
        if not (self.options.check_abort and self.options.checks) or self.abort_verdicts is not None:
            return
        if now - self.started_at < self.options.check_grace:
            return
        verdicts = evaluate_checks(self.environment.stats, self.options.checks)
        breached = [v for v in verdicts if not v.passed and v.observed is not None]
        if not breached:
            return
        self.abort_verdicts = verdicts
        first = breached[0]
        self._print(
            f"tswarm: check breached, stopping the test (--check-abort): {first.check.text()} "
            f"(observed {first.observed_text})"
        )
        if self.stop_test is not None:
            self.stop_test()

    def evaluate_final_checks(self) -> list[CheckVerdict]:
        """The verdicts on the final numbers; a check that stopped the test stays breached."""
        verdicts = evaluate_checks(self.environment.stats, self.options.checks)
        if self.abort_verdicts is not None:
            verdicts = [
                early if (final.passed and not early.passed) else final
                for final, early in zip(verdicts, self.abort_verdicts, strict=True)
            ]
        return verdicts

    def final(self) -> list[str]:
        """Write the final CSV and JSON and print the summary; returns the paths written."""
        if self._finished:
            return []
        self._finished = True
        return self.write_outputs(final=True)

    def write_outputs(self, *, final: bool = False, prefix: str | None = None) -> list[str]:
        """Write the outputs the options ask for (and at the end the summary); returns their paths.

        ``prefix``: write the CSV files, the JSON and the HTML report under it instead, whatever the
        options say (the TUI's write key when none were given); an OSError is raised, not reported.
        """
        if prefix is not None:
            return self._write_under_prefix(prefix)
        stats = self.environment.stats
        users = self.user_count()
        now = time.time()
        self.history.record(stats, users, now, force=True)
        written: list[str] = []
        verdicts = self.evaluate_final_checks() if self.options.checks else []
        # what json_report puts in the report's ``checks`` (and so --json, --html and --markdown show)
        self._verdicts = verdicts
        if final:
            self.check_verdicts = verdicts
        if self.options.csv:
            try:
                write_csv_stats(self.options.csv, stats)
                written += [
                    f"{self.options.csv}_{kind}.csv"
                    for kind in ("stats", "failures", "exceptions", "status_codes")
                ]
                if final and self._csv_history is not None:
                    self._csv_history.write_row(stats, users, now)
                    self._csv_history.close()
                written.append(f"{self.options.csv}_stats_history.csv")
            except OSError as e:
                if not final:
                    raise  # written on demand (the TUI's write key): the caller tells the user
                self._output_failed("--csv", self.options.csv, e)
        if self.options.json:
            report = self.json_report(now)
            try:
                write_json(self.options.json, report)
                written.append(self.options.json)
            except OSError as e:
                if not final:
                    raise  # written on demand (the TUI's write key): the caller tells the user
                self._output_failed("--json", self.options.json, e)
        if final:
            written += self._write_locust_stats()
        written += self._write_rendered_reports(now, final=final)
        if self.options.junit:
            try:
                write_text_file(self.options.junit, render_junit(stats, verdicts, self.run_meta(now)))
                written.append(self.options.junit)
            except OSError as e:
                if not final:
                    raise
                self._output_failed("--junit", self.options.junit, e)
        if final:
            # fitted to the terminal the summary is printed on (natural width into a file or a pipe)
            width = terminal_width(self.stream)
            self._print(render_summary(stats, color=self.color, width=width))
            status_codes = render_status_codes(stats, width)
            if status_codes:
                self._print(status_codes)
            if verdicts:
                self._print(render_check_table(verdicts, color=self.color, width=width))
            missing = render_missing_workers(self._worker_outages(now), width)
            if missing:
                self._print(missing)
        return written

    def _write_locust_stats(self) -> list[str]:
        """Locust's statistics list: on stdout for its --json flag, to NAME.json for --json-file NAME."""
        stats = self.environment.stats
        if self.options.locust_json:
            print(locust_stats_text(stats), flush=True)
        if not self.options.json_file:
            return []
        try:
            return [write_locust_stats_file(self.options.json_file, stats)]
        except OSError as e:
            self._output_failed("--json-file", f"{self.options.json_file}.json", e)
            return []

    def _write_under_prefix(self, prefix: str) -> list[str]:
        stats = self.environment.stats
        now = time.time()
        self.history.record(stats, self.user_count(), now, force=True)
        self._verdicts = self.evaluate_final_checks() if self.options.checks else []
        written = write_csv_stats(prefix, stats)
        report = self.json_report(now)
        write_json(f"{prefix}.json", report)
        written.append(f"{prefix}.json")
        write_text_file(f"{prefix}.html", render_html_report(report))
        written.append(f"{prefix}.html")
        return written

    def json_report(self, now: float) -> dict[str, Any]:
        """The JSON report of the run at ``now``: what --json writes and --html and --markdown render
        (built once per ``now``, so that all three show the very same figures)."""
        if self._report is None or self._report[0] != now:
            report = build_json_report(self.environment.stats, self.history, run_meta=self.run_meta(now))
            if self.options.checks:
                report["checks"] = [check_record(v) for v in self._verdicts]
            self._report = (now, report)
        return self._report[1]

    def _write_rendered_reports(self, now: float, *, final: bool) -> list[str]:
        """Write --html and --markdown, each rendered from the JSON report (as `tswarm report` does)."""
        renderers = [
            ("--html", self.options.html, render_html_report),
            ("--markdown", self.options.markdown, render_markdown_report),
        ]
        wanted = [(option, path, render) for option, path, render in renderers if path]
        if not wanted:
            return []
        report = self.json_report(now)
        written: list[str] = []
        for option, path, render in wanted:
            assert path is not None
            try:
                write_text_file(path, render(report))
                written.append(path)
            except OSError as e:
                if not final:
                    raise  # written on demand (the TUI's write key): the caller tells the user
                self._output_failed(option, path, e)
        return written

    def run_meta(self, now: float) -> dict[str, Any]:
        env = self.environment
        return {
            "tswarm_version": __version__,
            "command": self.options.command,
            "locustfile": self.options.locustfile,
            "host": env.host or _class_hosts(env),
            "start_time": self.started_at,
            "end_time": now,
            "duration": now - self.started_at,
            "user_count": self.user_count(),
            "target_user_count": self.options.users,
            "spawn_rate": self.options.spawn_rate,
            "run_time": self.options.run_time,
            **({"profile": self.options.profile} if self.options.profile else {}),
            # the split of the target user count over the classes (all users have stopped by the end)
            "user_classes": class_counts(env.user_classes, self.options.users),
            **({"missing_workers": outages} if (outages := self._worker_outages(now)) else {}),
        }

    def _worker_outages(self, now: float) -> list[dict[str, Any]]:
        # a master's runner knows when its workers went missing; a local runner has none
        outages = getattr(self.environment.runner, "worker_outages", None)
        return list(outages(now)) if callable(outages) else []

    def _output_failed(self, option: str, path: str, error: OSError) -> None:
        """One line for an output that could not be written (checked writable before the test, it
        can still fail: a full disk, a folder removed meanwhile); the test and the summary go on."""
        if path not in self.output_errors:
            self.output_errors[path] = error.strerror or str(error)
            self._print(f"tswarm: error: cannot write {option} {path}: {self.output_errors[path]}")

    def _print(self, text: str) -> None:
        print(text, file=self.stream, flush=True)


def _class_hosts(environment: Environment) -> str | None:
    hosts = {str(getattr(c, "host", "")) for c in environment.user_classes} - {"", "None"}
    return ", ".join(sorted(hosts)) if hosts else None
