"""The master's side of a test: ``tswarm master`` and the master of a local run, headless, and the local
worker processes a local run starts.

Imports ``cli.options`` and ``cli.session`` from the command line; which of these a command uses is
decided in :mod:`tswarm.cli.modes`.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

from tswarm.cli.options import RunOptions

log = logging.getLogger("tswarm.master")


def create_master(options: RunOptions, *, private_events: bool = False, need_host: bool = False) -> Any:
    """Load the test file and bind the master of ``options`` (its loop not started yet); fires ``init``.

    ``private_events``: this process is only the front-end of a local run; the test file's listeners
    belong to the local runner process, so the controller fires events of its own that nobody hears.
    ``need_host``: see :func:`tswarm.cli.session.load_session`.
    """
    from tswarm.cli.session import load_session
    from tswarm.events import Events
    from tswarm.secret import CurveKeys

    session = load_session(options, events=Events() if private_events else None, need_host=need_host)
    environment = session.environment
    master = environment.create_master_runner(
        options.master_bind_host,
        options.master_bind_port,
        heartbeat_interval=options.heartbeat_interval,
        heartbeat_timeout=options.heartbeat_timeout,
        testfiles=[(p.name, p.read_bytes()) for p in session.loaded.paths],
        percentiles=options.percentiles,
        keys=CurveKeys.from_secret(options.secret) if options.secret else None,
    )
    environment.events.init.fire(environment=environment, runner=master, web_ui=None)
    return master


def run_master_headless(options: RunOptions, master: Any) -> int:
    """Run ``master``'s test on this thread's asyncio loop (never patched), with the live table on
    stderr and the summary at the end; returns the exit code."""
    import asyncio

    from tswarm.cli.session import exit_code_of
    from tswarm.headless.reporter import HeadlessReporter

    environment = master.environment
    reporter = HeadlessReporter(
        environment, options, user_count=lambda: master.user_count, stop_test=master.request_stop
    )

    async def main() -> int:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, master.request_stop)
        code: int = await master.run_headless(
            options.users,
            options.spawn_rate,
            run_time=options.run_time,
            expect_workers=options.expect_workers,
            expect_workers_max_wait=options.expect_workers_max_wait,
            reporter=reporter,
        )
        return code

    code = asyncio.run(main())
    if code:
        return code
    environment.events.quitting.fire(environment=environment)
    code = exit_code_of(environment, options, reporter.output_errors, reporter.check_verdicts)
    environment.events.quit.fire(exit_code=code)
    return code


def local_worker_command(options: RunOptions, port: int, *, linked_local: bool = False) -> list[str]:
    """The command line of a ``tswarm worker`` that serves the local master at 127.0.0.1:port with
    the test file, config and test-file arguments of ``options``."""
    locustfile = ",".join(str(Path(p).resolve()) for p in options.locustfile.split(","))
    return [
        sys.executable,
        "-m",
        "tswarm",
        "worker",
        "-f",
        locustfile,
        "--master-host",
        "127.0.0.1",
        "--master-port",
        str(port),
        "--loglevel",
        options.loglevel,
        "--heartbeat-interval",
        str(options.heartbeat_interval),
        "--master-timeout",
        str(max(options.heartbeat_timeout, 10.0)),
        # a TSWARM_PROCESSES or config value must not make each worker start workers of its own
        "--processes",
        "0",
        *(["--config", options.config_path] if options.config_path else []),
        *(["--linked-local"] if linked_local else []),
        # Locust's options that change the User classes act in every process that runs them
        *(["--equal-weights"] if options.equal_weights else []),
        *(["--config-users", json.dumps(options.config_users)] if options.config_users else []),
        # USER_CLASS names and the test file's own options exactly as given: the worker parses them
        # with the same parser as this process, so "--opt value" and "--opt=value" both arrive
        *options.extra_args,
    ]


def start_local_workers(
    options: RunOptions, port: int, count: int, log_dir: Path, *, linked_local: bool = False
) -> list[subprocess.Popen[bytes]]:
    """Start ``count`` worker processes connected to 127.0.0.1:port; their own output goes to log files
    (their log lines reach the master over the protocol)."""
    from tswarm.secret import SECRET_ENV

    command = local_worker_command(options, port, linked_local=linked_local)
    # the secret goes by the environment: a command line is visible to every user of the machine
    env = {**os.environ, SECRET_ENV: options.secret} if options.secret else None
    workers = []
    for i in range(count):
        log_file = open(log_dir / f"worker-{i}.log", "wb")  # noqa: SIM115 - the child keeps it
        worker = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=log_file, stderr=log_file, env=env
        )
        log_file.close()
        workers.append(worker)
        threading.Thread(
            target=_report_exit, args=(worker, i, log_dir), name=f"tswarm-local-worker-{i}", daemon=True
        ).start()
    return workers


def _report_exit(worker: subprocess.Popen[bytes], index: int, log_dir: Path) -> None:
    # the master marks the worker missing as soon as its connection closes; this says why it closed
    code = worker.wait()
    # SIGTERM is stop_processes ending a worker that outlived its master: not news
    if code and code != -signal.SIGTERM:
        how = f"was killed by signal {-code}" if code < 0 else f"exited with code {code}"
        log.warning(
            "Local worker process %d (pid %d) %s; its log: %s",
            index,
            worker.pid,
            how,
            log_dir / f"worker-{index}.log",
        )


def stop_processes(processes: list[subprocess.Popen[Any]], timeout: float = 15.0) -> None:
    """Wait for our child processes to end; SIGTERM, then SIGKILL, the ones that do not."""
    for proc in processes:
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
