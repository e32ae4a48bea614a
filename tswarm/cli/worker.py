"""``tswarm worker``: users for a master, in this process or in ``--processes N`` child processes.

Imports ``cli.options`` and ``cli.session`` from the command line.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

from tswarm.cli.options import RunOptions


def run_worker(options: RunOptions) -> int:
    """Run users for the master at --master-host:--master-port until it ends the test or is lost;
    returns the exit code."""
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
    from tswarm.secret import CurveKeys, read_secret

    node_id = make_node_id()
    setup_logging(options, node=node_id)
    secret = read_secret(options.secret_file)
    keys = CurveKeys.from_secret(secret) if secret else None
    log = logging.getLogger("tswarm.worker")
    spec = options.locustfile
    private_dir: str | None = None
    if spec == "-":
        # Each worker gets its own folder, so that workers on one host never race on the same files.
        files = fetch_testfiles(
            options.master_host, options.master_port, node_id, timeout=options.master_timeout, keys=keys
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
            keys=keys,
        )
        environment.events.init.fire(environment=environment, runner=runner, web_ui=None)
        gevent.signal_handler(signal.SIGTERM, runner.leave)
        gevent.signal_handler(signal.SIGINT, runner.leave)
        if not runner.connect(timeout=options.master_timeout):
            if runner.refused:
                # the refusal was said when it happened; one line more says why the worker gives up
                log.error(
                    "Gave up after %.0fs (--master-timeout): the master refused this worker",
                    options.master_timeout,
                )
            elif not runner.exit_code:
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


def worker_child_args(argv: list[str]) -> list[str]:
    """The arguments of each child of ``tswarm worker --processes N`` (``argv`` without the program
    name): the same command, as a plain worker."""
    args: list[str] = []
    skip = False
    for arg in argv:
        if skip:
            skip = False
            continue
        if arg == "--processes":
            skip = True
            continue
        if arg.startswith("--processes="):
            continue
        args.append(arg)
    # "--processes 0" beats a TSWARM_PROCESSES or config value the children would read again
    # (each child would start children of its own, without end)
    return [*args, "--processes", "0"]


def _run_worker_processes(options: RunOptions) -> int:
    args = worker_child_args(sys.argv[1:])
    children = [
        subprocess.Popen([sys.executable, "-m", "tswarm", *args], stdin=subprocess.DEVNULL)
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
