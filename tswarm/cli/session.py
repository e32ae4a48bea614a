"""What every command that loads a test file does: logging, loading, custom options, the Environment.

Imports only ``cli.options`` and ``cli.locust_cli`` from the command line.
"""

from __future__ import annotations

import logging
import socket
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import typer

from tswarm.checks import CheckVerdict
from tswarm.cli.options import RunOptions, parse_test_options
from tswarm.env import Environment
from tswarm.loader import LoadedTest, load_testfiles


@dataclass
class Session:
    """A loaded test file and the Environment built for it."""

    loaded: LoadedTest
    environment: Environment


def setup_logging(options: RunOptions, *, node: str | None = None) -> None:
    """Log lines like ``[2026-11-26 10:00:00,123] host/INFO/tswarm.runner: message`` to stderr or --logfile."""
    handler: logging.Handler
    handler = logging.FileHandler(options.logfile) if options.logfile else logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        logging.Formatter(f"[%(asctime)s] {node or socket.gethostname()}/%(levelname)s/%(name)s: %(message)s")
    )
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(options.loglevel.upper())


def load_session(
    options: RunOptions, *, testfile_spec: str | None = None, events: Any = None, need_host: bool = False
) -> Session:
    """Load the test file(s), parse the custom options and build the Environment (no runner yet).

    ``events``: the Environment's own events instead of the module-level ones the test file listens to.
    ``need_host``: refuse an HTTP User class without a host (see :func:`check_user_classes`); the run
    mode decides (:mod:`tswarm.cli.modes`). A worker checks nothing: its master did.
    """
    loaded = load_testfiles(testfile_spec or options.locustfile)
    from tswarm.events import events as test_file_events

    parsed, class_names = parse_test_options(options, test_file_events)
    if options.list_classes:
        for name in sorted(loaded.user_classes):
            print(name)
        raise typer.Exit(0)
    user_classes = loaded.select_user_classes(class_names)
    if not class_names and any(cls.tasks for cls in user_classes):  # type: ignore[attr-defined]
        # a base class someone forgot to mark abstract: run the others, as Locust does
        for cls in [cls for cls in user_classes if not cls.tasks]:  # type: ignore[attr-defined]
            logging.getLogger("tswarm.main").warning(
                "%s has no tasks; it is not run (mark it abstract = True if it is a base class)", cls.__name__
            )
        user_classes = [cls for cls in user_classes if cls.tasks]  # type: ignore[attr-defined]
    shape = loaded.select_shape()
    environment = Environment(
        user_classes=user_classes,
        shape_class=shape,
        tags=options.tags or None,
        exclude_tags=options.exclude_tags or None,
        events=events or test_file_events,
        host=options.host,
        reset_stats=options.reset_stats,
        stop_timeout=options.stop_timeout or None,
        parsed_options=parsed,
        available_user_classes=loaded.user_classes,
        available_shape_classes=loaded.shape_classes,
    )
    _apply_locust_user_options(options, environment, loaded)
    if options.command != "worker":
        check_user_classes(environment, need_host=need_host)
    return Session(loaded, environment)


def _apply_locust_user_options(options: RunOptions, environment: Environment, loaded: LoadedTest) -> None:
    """Locust's --config-users and --equal-weights change the User classes (in every process that runs
    or dispatches them); --show-task-ratio[-json] prints their ratios and ends the command."""
    from tswarm.cli.locust_cli import (
        apply_config_users,
        assign_equal_weights,
        task_ratio_json,
        task_ratio_text,
    )

    apply_config_users(loaded.user_classes, options.config_users)
    if options.show_task_ratio or options.show_task_ratio_json:
        # Locust splits its default user count by weight: one user per unit of weight
        users = options.users if options.users_given else 0
        show = task_ratio_text if options.show_task_ratio else task_ratio_json  # Locust's order
        print(show(environment.user_classes, users), flush=True)
        raise typer.Exit(0)
    # after the ratios, as in Locust (whose --equal-weights acts at its init event, after them)
    if options.equal_weights:
        assign_equal_weights(environment.user_classes)


def check_user_classes(environment: Environment, *, need_host: bool) -> None:
    """Refuse, before any user starts, a User class that could not run: no tasks, or (``need_host``)
    an HTTP user with no host from its class or ``--host``."""
    from tswarm.exceptions import TestFileError
    from tswarm.runner.tasks import no_tasks_message
    from tswarm.runner.users import FastHttpUser, HttpUser, missing_host_message

    if not environment.user_classes and (environment.tags or environment.exclude_tags):
        raise TestFileError("no task of any User class is left to run with these --tags/--exclude-tags")
    for cls in environment.user_classes:
        if not cls.tasks:  # type: ignore[attr-defined]
            raise TestFileError(no_tasks_message(cls))
        if need_host and issubclass(cls, HttpUser | FastHttpUser) and not (cls.host or environment.host):
            raise TestFileError(missing_host_message(cls))


#: the exit code of a headless run that made no request at all: it measured nothing, so it cannot pass
#: (not 3: that code is kept for breached pass/fail checks, as planned in the pipelines issue)
NOTHING_MEASURED_EXIT_CODE = 4

#: the exit code of a run with --check whose checks did not all hold (with checks, they alone decide
#: between this and 0)
CHECKS_BREACHED_EXIT_CODE = 3

#: the exit code of a run whose results could not all be written at the end (a full disk, a folder
#: removed during the test): a pipeline must not read a pass from a run whose results are lost
OUTPUT_FAILED_EXIT_CODE = 5


def exit_code_of(
    environment: Environment,
    options: RunOptions,
    output_errors: Mapping[str, str] | None = None,
    check_verdicts: Sequence[CheckVerdict] | None = None,
) -> int:
    """The exit code of a finished run, with one line on stderr when it is not a plain pass or fail.

    In order: ``environment.process_exit_code`` if the test set it; :data:`OUTPUT_FAILED_EXIT_CODE`
    when an output in ``output_errors`` (path to reason) could not be written; --exit-code-on-error when
    a request failed or user code raised; for a headless run that made no request at all
    :data:`NOTHING_MEASURED_EXIT_CODE`, saying why (no worker joined, no user started, the target
    never answered); else 0. A run in the TUI that the user quits before any request ends 0: nobody
    asked it to measure.
    """
    if environment.process_exit_code is not None:
        return int(environment.process_exit_code)
    if output_errors:
        paths = ", ".join(output_errors)
        print(
            f"tswarm: the results were not all written ({paths}): exit code {OUTPUT_FAILED_EXIT_CODE}",
            file=sys.stderr,
        )
        return OUTPUT_FAILED_EXIT_CODE
    if options.checks:
        return _checks_exit_code(check_verdicts or [])
    stats = environment.stats
    exceptions = sum(group.count for group in stats.exceptions.values())
    if stats.num_failures or exceptions or environment.events.listener_errors():
        return options.exit_code_on_error
    if options.headless and not (stats.total.num_requests or stats.total.num_failures):
        print(
            f"tswarm: no request completed, so nothing was measured: {nothing_measured_reason(environment)} "
            f"(exit code {NOTHING_MEASURED_EXIT_CODE})",
            file=sys.stderr,
        )
        return NOTHING_MEASURED_EXIT_CODE
    return 0


def _checks_exit_code(verdicts: Sequence[CheckVerdict]) -> int:
    """3 when a check was breached (one line each for a scope no request matched), else 0."""
    for verdict in verdicts:
        if verdict.observed is None:
            print(
                f"tswarm: check {verdict.check.text()!r}: no request matched {verdict.check.scope!r}",
                file=sys.stderr,
            )
    breached = [v for v in verdicts if not v.passed]
    if breached:
        print(
            f"tswarm: {len(breached)} of {len(verdicts)} check(s) breached: exit code {CHECKS_BREACHED_EXIT_CODE}",
            file=sys.stderr,
        )
        return CHECKS_BREACHED_EXIT_CODE
    return 0


def nothing_measured_reason(environment: Environment) -> str:
    """Why a run made no request, as far as its runner can tell."""
    interrupted = environment.stats.interrupted
    if interrupted:
        return (
            f"the target never answered ({interrupted} request(s) were still waiting when the users stopped)"
        )
    workers = getattr(environment.runner, "workers", None)
    if workers is not None and not getattr(workers, "joined", 1):
        return "no worker joined"
    if not getattr(environment.runner, "peak_user_count", 1):
        return "the test stopped before any user started"
    return "the users made no request"
