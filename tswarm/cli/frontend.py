"""The TUI in front of a test: ``tswarm master`` on a terminal, ``tswarm run`` and ``tswarm demo``.

The TUI process never runs users. It holds the controller (a MasterRunner on its own thread and
asyncio loop); users run in worker processes, or, for ``tswarm run``, in one local runner process
that is a LocalRunner to the test file.

:func:`build_master_tui` builds what :func:`run_master_tui` runs, so that tests (and the screenshot
script) drive exactly the app the command line shows, with Textual's Pilot instead of a terminal.

Imports ``cli.options`` and ``cli.session`` from the command line; :mod:`tswarm.cli.modes` decides when
the TUI is shown.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tswarm.cli.options import RunOptions

if TYPE_CHECKING:
    from tswarm.headless.reporter import HeadlessReporter
    from tswarm.tui.app import TswarmApp


@dataclass
class MasterTui:
    """A master serving on its own thread, the reporter that writes its outputs, and the app in front."""

    options: RunOptions
    master: Any
    reporter: HeadlessReporter
    app: TswarmApp

    def run(self) -> int:
        """Show the app on this terminal until the user quits; then :meth:`finish`."""
        try:
            self.app.run()
        finally:
            self.master.shutdown()
        return self.finish()

    def finish(self) -> int:
        """After the app ended: shut the master down, print the summary, write the outputs, fire
        ``quitting`` and ``quit``; returns the exit code."""
        from tswarm.cli.session import exit_code_of

        self.master.shutdown()
        environment = self.master.environment
        self.reporter.final()
        environment.events.quitting.fire(environment=environment)
        code = exit_code_of(
            environment, self.options, self.reporter.output_errors, self.reporter.check_verdicts
        )
        environment.events.quit.fire(exit_code=code)
        return code


def build_master_tui(options: RunOptions, master: Any) -> MasterTui:
    """Start ``master``'s loop on its own thread and build the app in front of it (not run yet)."""
    from tswarm.headless.reporter import HeadlessReporter
    from tswarm.tui.app import TswarmApp
    from tswarm.tui.screens.spawn import SpawnRequest
    from tswarm.tui.settings import settings_path

    environment = master.environment
    reporter = HeadlessReporter(
        environment,
        options,
        user_count=lambda: master.user_count,
        live_table=False,
        stop_test=lambda: _stop_on_breach(master, reporter),
        stream=_CurrentStderr(),
    )
    master.outputs_writer = reporter.write_outputs
    # the snapshots carry the checks' verdicts, for the status bar's badge and the Checks view
    master.checks = tuple(options.checks)
    environment.events.test_start.add_listener(lambda **_: _judge_afresh(master, reporter))
    master.start_in_thread(reporter=reporter)
    app = TswarmApp(
        master,
        autostart=(options.users, options.spawn_rate) if options.autostart else None,
        autoquit=options.autoquit,
        title=f"tswarm {options.command}",
        defaults=SpawnRequest(options.users, options.spawn_rate, options.host, options.run_time),
        settings_file=settings_path(),
    )
    return MasterTui(options, master, reporter, app)


class _CurrentStderr:
    """``sys.stderr`` as it is when written to: while the app runs, Textual's capture (the --check-abort
    line would otherwise land in the middle of the screen; the status bar says it instead), after it
    the terminal again, for the summary."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()

    def isatty(self) -> bool:
        return sys.stderr.isatty()

    def fileno(self) -> int:
        return sys.stderr.fileno()


def _stop_on_breach(master: Any, reporter: HeadlessReporter) -> None:
    """--check-abort under the TUI: stop the test (the app stays, showing why) on the master's loop."""
    master.checks_at_abort = reporter.abort_verdicts
    master.stop()


def _judge_afresh(master: Any, reporter: HeadlessReporter) -> None:
    """A new test in the TUI (its stats start from zero): --check-grace counts from its start, and an
    abort of an earlier test no longer stops or marks it."""
    reporter.started_at = time.time()
    reporter.abort_verdicts = None
    master.checks_at_abort = None


def run_master_tui(options: RunOptions, master: Any) -> int:
    """Show ``master`` in the TUI until the user quits; then write the outputs and print the summary."""
    return build_master_tui(options, master).run()
