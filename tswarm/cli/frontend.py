"""The TUI in front of a test: ``tswarm master`` on a terminal, ``tswarm run`` and ``tswarm demo``.

The TUI process never runs users. It holds the controller (a MasterRunner on its own thread and
asyncio loop); users run in worker processes, or, for ``tswarm run``, in one local runner process
that is a LocalRunner to the test file.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path
from typing import Any

from tswarm.cli.options import RunOptions


def run_master_tui(options: RunOptions, master: Any) -> int:
    """Show ``master`` in the TUI until the user quits; then write the outputs and print the summary."""
    from tswarm.cli.session import exit_code_of
    from tswarm.headless.reporter import HeadlessReporter
    from tswarm.tui.app import TswarmApp
    from tswarm.tui.screens.spawn import SpawnRequest

    environment = master.environment
    reporter = HeadlessReporter(environment, options, user_count=lambda: master.user_count, live_table=False)
    master.outputs_writer = reporter.write_outputs
    master.start_in_thread(reporter=reporter)
    app = TswarmApp(
        master,
        autostart=(options.users, options.spawn_rate) if options.autostart else None,
        autoquit=options.autoquit,
        title=f"tswarm {options.command}",
        defaults=SpawnRequest(options.users, options.spawn_rate, options.host, options.run_time),
    )
    try:
        app.run()
    finally:
        master.shutdown()
    reporter.final()
    environment.events.quitting.fire(environment=environment)
    code = exit_code_of(environment, options)
    environment.events.quit.fire(exit_code=code)
    return code


def run_local_tui(options: RunOptions) -> int:
    """``tswarm run`` on a terminal: the TUI here, the users in one local runner process."""
    from tswarm.cli.distributed import run_master, start_local_workers, stop_processes
    from tswarm.cli.ports import free_port

    port = free_port()
    options.master_bind_host = "127.0.0.1"
    options.master_bind_port = port
    log_dir = Path(tempfile.mkdtemp(prefix="tswarm-run-"))
    runner = start_local_workers(options, port, 1, log_dir, linked_local=True)
    try:
        return run_master(options, local_workers=runner, tui=True, private_events=True)
    finally:
        stop_processes(runner)
        if runner[0].returncode not in (0, None):
            tail = (log_dir / "worker-0.log").read_text(errors="replace").strip().splitlines()[-5:]
            print(f"tswarm: the local runner exited with code {runner[0].returncode}:", *tail, sep="\n  ", file=sys.stderr)
