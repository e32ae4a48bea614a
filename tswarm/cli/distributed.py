"""``tswarm master``, ``tswarm worker`` and ``tswarm run --processes N``."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from tswarm.cli.options import RunOptions


def create_master(options: RunOptions, *, private_events: bool = False) -> Any:
    """Load the test file and bind the master of ``options`` (its loop not started yet); fires ``init``.

    ``private_events``: the Environment gets events of its own (see :func:`run_master`).
    """
    from tswarm.cli.session import load_session
    from tswarm.events import Events

    session = load_session(options, events=Events() if private_events else None)
    environment = session.environment
    master = environment.create_master_runner(
        options.master_bind_host,
        options.master_bind_port,
        heartbeat_interval=options.heartbeat_interval,
        heartbeat_timeout=options.heartbeat_timeout,
        testfiles=[(p.name, p.read_bytes()) for p in session.loaded.paths],
        percentiles=options.percentiles,
    )
    environment.events.init.fire(environment=environment, runner=master, web_ui=None)
    return master


def run_master(
    options: RunOptions,
    *,
    local_workers: list[subprocess.Popen[bytes]] | None = None,
    tui: bool | None = None,
    private_events: bool = False,
) -> int:
    """Hold the test (asyncio, never patched): the TUI on a terminal, else headless.

    ``private_events``: this process is only the front-end of a local run; the test file's listeners
    belong to the local runner process, so the controller fires events of its own that nobody hears.
    """
    import asyncio

    from tswarm.cli.session import exit_code_of, setup_logging
    from tswarm.headless.reporter import HeadlessReporter

    show_tui = options.tui if tui is None else tui
    if show_tui:
        _log_to_file_under_tui(options)
    setup_logging(options, node="master")
    master = create_master(options, private_events=private_events)
    environment = master.environment
    if show_tui:
        from tswarm.cli.frontend import run_master_tui

        return run_master_tui(options, master)

    reporter = HeadlessReporter(environment, options, user_count=lambda: master.user_count)

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
    code = exit_code_of(environment, options)
    environment.events.quit.fire(exit_code=code)
    return code


def _log_to_file_under_tui(options: RunOptions) -> None:
    """The TUI owns the terminal: log lines go to its Logs view and to --logfile (or a temp file)."""
    if not options.logfile:
        options.logfile = str(Path(tempfile.mkdtemp(prefix="tswarm-")) / "tswarm.log")


def run_with_local_workers(options: RunOptions) -> int:
    """A master in this process and ``--processes`` local workers; all output on this terminal."""
    from tswarm.cli.ports import free_port

    port = free_port()
    options.master_bind_host = "127.0.0.1"
    options.master_bind_port = port
    options.expect_workers = options.processes
    if not options.expect_workers_max_wait:
        options.expect_workers_max_wait = 60.0
    log_dir = Path(tempfile.mkdtemp(prefix="tswarm-run-"))
    workers = start_local_workers(options, port, options.processes, log_dir)
    try:
        return run_master(options, local_workers=workers)
    finally:
        stop_processes(workers)
        for i, worker in enumerate(workers):
            if worker.returncode not in (0, None, -signal.SIGTERM):
                tail = (log_dir / f"worker-{i}.log").read_text(errors="replace").strip().splitlines()[-5:]
                print(
                    f"tswarm: worker {i} exited with code {worker.returncode}:",
                    *tail,
                    sep="\n  ",
                    file=sys.stderr,
                )


def start_local_workers(
    options: RunOptions, port: int, count: int, log_dir: Path, *, linked_local: bool = False
) -> list[subprocess.Popen[bytes]]:
    """Start ``count`` worker processes connected to 127.0.0.1:port; their own output goes to log files
    (their log lines reach the master over the protocol)."""
    locustfile = ",".join(str(Path(p).resolve()) for p in options.locustfile.split(","))
    command = [
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
        *[a for a in options.extra_args if a.startswith("-") or not _is_class_name(a, options)],
        *(["--linked-local"] if linked_local else []),
    ]
    workers = []
    for i in range(count):
        log_file = open(log_dir / f"worker-{i}.log", "wb")  # noqa: SIM115 - the child keeps it
        workers.append(subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log_file, stderr=log_file))
        log_file.close()
    return workers


def _is_class_name(arg: str, options: RunOptions) -> bool:
    return arg.isidentifier()


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


def run_worker(options: RunOptions) -> int:
    if options.processes:
        return _run_worker_processes(options)
    # The users run here: patch before anything below opens a socket or starts a thread.
    from gevent import monkey

    monkey.patch_all()

    import logging
    import shutil

    import gevent

    from tswarm.cli.session import load_session, setup_logging
    from tswarm.runner.worker import fetch_testfiles, make_node_id

    node_id = make_node_id()
    setup_logging(options, node=node_id)
    log = logging.getLogger("tswarm.worker")
    spec = options.locustfile
    private_dir: str | None = None
    if spec == "-":
        # Each worker gets its own folder, so that workers on one host never race on the same files.
        files = fetch_testfiles(
            options.master_host, options.master_port, node_id, timeout=options.master_timeout
        )
        private_dir = tempfile.mkdtemp(prefix="tswarm-worker-")
        paths = []
        for item in files:
            path = Path(private_dir) / Path(str(item["name"])).name
            path.write_bytes(item["content"])
            paths.append(str(path))
        spec = ",".join(paths)
        log.info("Got the test file(s) %s from the master", ", ".join(Path(p).name for p in paths))
    try:
        session = load_session(options, testfile_spec=spec)
        environment = session.environment
        create = (
            environment.create_linked_local_runner
            if options.linked_local
            else environment.create_worker_runner
        )
        runner = create(
            options.master_host,
            options.master_port,
            heartbeat_interval=options.heartbeat_interval,
            master_timeout=options.master_timeout,
            node_id=node_id,
        )
        environment.events.init.fire(environment=environment, runner=runner, web_ui=None)
        gevent.signal_handler(signal.SIGTERM, runner.leave)
        gevent.signal_handler(signal.SIGINT, runner.leave)
        if not runner.connect(timeout=options.master_timeout):
            if not runner.exit_code:
                log.error(
                    "No master answered at %s within %.0fs (--master-timeout)",
                    runner.endpoint,
                    options.master_timeout,
                )
            return runner.exit_code or 1
        code = runner.run()
        environment.events.quitting.fire(environment=environment)
        return code
    finally:
        if private_dir:
            shutil.rmtree(private_dir, ignore_errors=True)


def _run_worker_processes(options: RunOptions) -> int:
    args = [a for a in sys.argv[1:]]
    # drop --processes N / --processes=N; each child is a plain worker
    cleaned: list[str] = []
    skip = False
    for arg in args:
        if skip:
            skip = False
            continue
        if arg == "--processes":
            skip = True
            continue
        if arg.startswith("--processes="):
            continue
        cleaned.append(arg)
    children = [
        subprocess.Popen([sys.executable, "-m", "tswarm", *cleaned], stdin=subprocess.DEVNULL)
        for _ in range(options.processes)
    ]

    def forward(signum: int, _frame: object) -> None:
        for child in children:
            if child.poll() is None:
                os.kill(child.pid, signum)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    codes = [child.wait() for child in children]
    return max(codes, default=0)
