"""``tswarm run --headless``: one gevent process runs the users and reports on the terminal.

Imports ``cli.options`` and ``cli.session`` from the command line.
"""

from __future__ import annotations

from tswarm.cli.options import RunOptions


def run_local_headless(options: RunOptions) -> int:
    """Run the users in this process (patched with gevent first), a live table on stderr and the
    summary at the end; returns the exit code."""
    # The users run here: patch before anything below opens a socket or starts a thread.
    from gevent import monkey

    monkey.patch_all()

    import logging
    import signal

    import gevent

    from tswarm.cli.session import exit_code_of, load_session, setup_logging
    from tswarm.headless.reporter import HeadlessReporter

    setup_logging(options)
    log = logging.getLogger("tswarm.main")
    # no start dialog will ask for a host: an HTTP User class without one cannot run
    session = load_session(options, need_host=True)
    environment = session.environment
    runner = environment.create_local_runner()
    environment.events.init.fire(environment=environment, runner=runner, web_ui=None)

    reporter = HeadlessReporter(
        environment,
        options,
        user_count=lambda: runner.user_count,
        stop_test=lambda: gevent.spawn(runner.stop),
    )

    def on_signal() -> None:
        log.info("Got a stop signal, stopping the test")
        gevent.spawn(runner.stop)

    gevent.signal_handler(signal.SIGTERM, on_signal)
    gevent.signal_handler(signal.SIGINT, on_signal)

    if environment.shape_class is not None:
        log.info("Running the load shape %s", type(environment.shape_class).__name__)
        runner.start_shape()
    else:
        log.info("Starting %d users at %g users/s", options.users, options.spawn_rate)
        runner.start(options.users, options.spawn_rate)
    if options.run_time:
        runner.stop_after(options.run_time)

    ticker = gevent.spawn(_tick_forever, reporter)
    runner.stopped.wait()
    ticker.kill()
    reporter.final()
    environment.events.quitting.fire(environment=environment)
    code = exit_code_of(environment, options, reporter.output_errors, reporter.check_verdicts)
    environment.events.quit.fire(exit_code=code)
    runner.close()
    return code


def _tick_forever(reporter: object) -> None:
    import gevent

    while True:
        gevent.sleep(1.0)
        reporter.periodic()  # type: ignore[attr-defined]
