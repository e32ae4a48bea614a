"""How ``run``, ``master`` and ``demo`` run: the one place that picks the front-end (the TUI or headless)
and where the users run, and starts what that needs.

Imports ``cli.options``, ``cli.session``, ``cli.local``, ``cli.distributed`` and ``cli.frontend``; of
the command line only ``cli.app`` and ``cli.demo`` import it.
"""

from __future__ import annotations

import logging
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

from tswarm.cli.options import RunOptions


class UsersRunIn(Enum):
    """Where the users of a test run."""

    #: ``run``/``demo`` headless: a LocalRunner under gevent in this process
    THIS_PROCESS = "this process"
    #: ``run``/``demo`` in the TUI: one LocalRunner process behind the TUI, which never runs users
    LOCAL_RUNNER = "one local runner process"
    #: ``--processes N``: a master here and N local worker processes
    LOCAL_WORKERS = "local worker processes"
    #: ``master``: workers that connect from anywhere
    REMOTE_WORKERS = "workers that connect to this master"


@dataclass(frozen=True)
class RunMode:
    """How a command runs its test; :func:`choose_run_mode` makes it."""

    users_run_in: UsersRunIn
    #: the TUI on this terminal, else headless (a live table on stderr and a summary)
    tui: bool
    #: refuse an HTTP User class without a host before the test: not when the TUI's start dialog
    #: asks for one, nor on a master, whose workers may have a -H of their own
    need_host: bool


def on_a_terminal() -> bool:
    """Both stdin and stdout are terminals, as the TUI needs."""
    return sys.stdin.isatty() and sys.stdout.isatty()


def choose_run_mode(options: RunOptions, *, terminal: bool | None = None) -> RunMode:
    """The run mode of ``options`` (a ``run``, ``master`` or ``demo`` command).

    ``terminal``: whether stdin and stdout are a terminal; None asks them.
    """
    if terminal is None:
        terminal = on_a_terminal()
    tui = terminal and not options.headless
    if options.command == "master":
        users_run_in = UsersRunIn.REMOTE_WORKERS
    elif options.processes:
        users_run_in = UsersRunIn.LOCAL_WORKERS
    elif tui:
        users_run_in = UsersRunIn.LOCAL_RUNNER
    else:
        users_run_in = UsersRunIn.THIS_PROCESS
    need_host = users_run_in is not UsersRunIn.REMOTE_WORKERS and (options.autostart or not tui)
    return RunMode(users_run_in, tui, need_host)


def launch(options: RunOptions) -> int:
    """Run the test of a ``run``, ``master`` or ``demo`` command in its run mode; returns the exit code."""
    mode = choose_run_mode(options)
    # from here on, "headless" says what this run is, however it was chosen (--headless, or no terminal)
    options.headless = not mode.tui
    if mode.users_run_in is UsersRunIn.THIS_PROCESS:
        from tswarm.cli.local import run_local_headless

        return run_local_headless(options)
    return _run_with_master_here(options, mode)


def _run_with_master_here(options: RunOptions, mode: RunMode) -> int:
    """A master in this process (asyncio, never patched), in the TUI or headless; for a local run, it
    starts the worker processes (or the one local runner) that run the users, and ends them after."""
    from tswarm.cli.distributed import create_master, run_master_headless, start_local_workers, stop_processes
    from tswarm.cli.session import setup_logging

    local = mode.users_run_in in (UsersRunIn.LOCAL_RUNNER, UsersRunIn.LOCAL_WORKERS)
    linked_local = mode.users_run_in is UsersRunIn.LOCAL_RUNNER
    if local:
        # our own workers reach the master on loopback, at a port the system picks when it binds
        options.master_bind_host = "127.0.0.1"
        options.master_bind_port = 0
    if mode.users_run_in is UsersRunIn.LOCAL_WORKERS:
        options.expect_workers = options.processes
        if not options.expect_workers_max_wait:
            options.expect_workers_max_wait = 60.0
    if mode.tui:
        _log_to_file_under_tui(options)
    setup_logging(options, node="master")
    _choose_secret(options, local=local)
    # loaded and bound before any worker starts: a mistake in the test file or its arguments is one
    # line from the master, not also a failure of every worker
    try:
        master = create_master(options, private_events=linked_local, need_host=mode.need_host)
    except OSError as e:
        # the master's port is taken or its address is not this machine's: the user's to fix, and the
        # one OSError here (the test file's own errors arrive as TestFileError)
        from tswarm.exceptions import ConfigError

        raise ConfigError(f"{e} (another master on that port? pick another --master-bind-port)") from None
    workers: list[subprocess.Popen[bytes]] = []
    log_dir = Path(tempfile.mkdtemp(prefix="tswarm-run-")) if local else Path()
    try:
        if local:
            count = 1 if linked_local else options.processes
            workers = start_local_workers(
                options, master.bind_port, count, log_dir, linked_local=linked_local
            )
        if mode.tui:
            from tswarm.cli.frontend import run_master_tui

            return run_master_tui(options, master)
        return run_master_headless(options, master)
    finally:
        stop_processes(workers)
        _report_failed_workers(workers, log_dir, linked_local=linked_local)


def _choose_secret(options: RunOptions, *, local: bool) -> None:
    """The master's secret: --secret-file or TSWARM_SECRET; for a run's own workers a new one each time;
    without one, a master reachable from other machines says what that lets anyone do."""
    from tswarm.secret import new_secret, read_secret

    log = logging.getLogger("tswarm.main")
    options.secret = read_secret(options.secret_file)
    if options.secret is not None:
        log.info("Workers must hold the secret: each side authenticates the other, every frame is encrypted")
    elif local:
        # nobody else on this machine can join our workers' master, or read what they send
        options.secret = new_secret()
        log.info("This run's workers get a one-off secret: nobody else can join them or read their frames")
    if options.secret is None and not is_loopback(options.master_bind_host):
        log.warning(
            "The master listens on %s without a secret: anyone who can reach port %d can join as a "
            "worker, get the test file (and any credential in it) and send numbers into the results. "
            "Give master and workers the same secret: `tswarm secret FILE`, then --secret-file FILE",
            "all interfaces"
            if options.master_bind_host in ("*", "0.0.0.0", "::")
            else options.master_bind_host,
            options.master_bind_port,
        )


def is_loopback(host: str) -> bool:
    """True for an address (or name) only this machine can reach."""
    import ipaddress

    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _log_to_file_under_tui(options: RunOptions) -> None:
    """The TUI owns the terminal: log lines go to its Logs view and to --logfile (or a temp file)."""
    if not options.logfile:
        options.logfile = str(Path(tempfile.mkdtemp(prefix="tswarm-")) / "tswarm.log")


def _report_failed_workers(
    workers: list[subprocess.Popen[bytes]], log_dir: Path, *, linked_local: bool
) -> None:
    """Print the last lines of the log of each local worker that failed (their log lines reach the
    master over the protocol only once they are connected)."""
    for i, worker in enumerate(workers):
        if linked_local:
            failed = worker.returncode not in (0, None)
            what = "the local runner"
        else:
            # stop_processes ends a worker that outlives its master with SIGTERM: not a failure
            failed = worker.returncode not in (0, None, -signal.SIGTERM)
            what = f"worker {i}"
        if failed:
            tail = (log_dir / f"worker-{i}.log").read_text(errors="replace").strip().splitlines()[-5:]
            print(f"tswarm: {what} exited with code {worker.returncode}:", *tail, sep="\n  ", file=sys.stderr)
