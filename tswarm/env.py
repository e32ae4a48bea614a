"""The Environment: what one process knows about the test it takes part in.

It holds the test file's user classes and shape, the events, the stats that requests are logged into,
the parsed options and the runner. It imports neither gevent nor Textual: the master builds one too.

It makes the runner of its process (``create_*_runner``), so it sits above ``runner/`` and
``controller/``: those see it only as :class:`tswarm.roles.RunEnvironment` and never import this module.
"""

from __future__ import annotations

import logging
from argparse import Namespace
from typing import TYPE_CHECKING, Any

from tswarm.events import Events
from tswarm.events import events as default_events
from tswarm.stats import RequestStats

log = logging.getLogger("tswarm.runner")

if TYPE_CHECKING:
    from tswarm.controller.master import MasterRunner
    from tswarm.roles import Runner
    from tswarm.runner.local import LocalRunner
    from tswarm.runner.worker import LinkedLocalRunner, WorkerRunner


class Environment:
    """Everything a runner and the test file share.

    Args:
        user_classes: the User classes that take part in the test.
        shape_class: an optional LoadTestShape instance that drives the test.
        tags / exclude_tags: task tags to keep or drop (-T / -E).
        events: the event hooks; defaults to the module-level ``tswarm.events``.
        host: the --host option; overrides the ``host`` attribute of the user classes when set.
        reset_stats: reset the stats when spawning completes (--reset-stats).
        stop_timeout: seconds users may take to finish their task when the test stops (None = at once).
        catch_exceptions: keep a user running after its task raised (Locust's default).
        parsed_options: the parsed command line (custom options included).
    """

    def __init__(
        self,
        *,
        user_classes: list[type] | None = None,
        shape_class: Any | None = None,
        tags: list[str] | None = None,
        exclude_tags: list[str] | None = None,
        events: Events | None = None,
        host: str | None = None,
        reset_stats: bool = False,
        stop_timeout: float | None = None,
        catch_exceptions: bool = True,
        parsed_options: Namespace | None = None,
        available_user_classes: dict[str, type] | None = None,
        available_shape_classes: dict[str, Any] | None = None,
    ) -> None:
        self.user_classes: list[type] = list(user_classes or [])
        self.shape_class = shape_class
        self.tags = tags
        self.exclude_tags = exclude_tags
        self.events = events or default_events
        self.host = host
        self.reset_stats = reset_stats
        self.stop_timeout = stop_timeout
        self.catch_exceptions = catch_exceptions
        self.parsed_options = parsed_options
        self.available_user_classes = available_user_classes or {c.__name__: c for c in self.user_classes}
        self.available_shape_classes = available_shape_classes or {}
        self.stats = RequestStats()
        self.runner: Runner | None = None
        #: when set (by the test file), the process exits with this code whatever the results
        self.process_exit_code: int | None = None
        #: Locust compatibility: there is no web UI in tswarm
        self.web_ui = None
        self._filter_tasks_by_tags()

    @property
    def user_classes_by_name(self) -> dict[str, type]:
        return {cls.__name__: cls for cls in self.user_classes}

    def _filter_tasks_by_tags(self) -> None:
        if not (self.tags or self.exclude_tags) or not self.user_classes:
            return
        # from tags.py, which is plain Python: a master filters too, and must not load gevent
        from tswarm.runner.tags import filter_tasks_by_tags

        had_tasks = [cls for cls in self.user_classes if getattr(cls, "tasks", None)]
        filter_tasks_by_tags(
            self.user_classes,
            set(self.tags) if self.tags else None,
            set(self.exclude_tags) if self.exclude_tags else None,
        )
        # a user with no task left under these tags has nothing to do in this test
        left = [cls for cls in self.user_classes if cls not in had_tasks or cls.tasks]  # type: ignore[attr-defined]
        if left:
            for cls in self.user_classes:
                if cls not in left:
                    log.info("%s has no task with these tags; it is not run", cls.__name__)
        self.user_classes = left

    def create_local_runner(self) -> LocalRunner:
        """Make the runner of a one-process run (users run here, in gevent greenlets)."""
        from tswarm.runner.local import LocalRunner

        # the stats stay here: nothing takes deltas of them
        self.stats = RequestStats(track_deltas=False)
        runner = LocalRunner(self)
        self.runner = runner
        return runner

    def create_worker_runner(self, master_host: str, master_port: int, **kwargs: Any) -> WorkerRunner:
        """Make the runner of a worker process that connects to a master."""
        from tswarm.runner.worker import WorkerRunner

        # A worker only ships deltas to its master; like Locust's, its own stats stay empty.
        self.stats = RequestStats(cumulative=False)
        runner = WorkerRunner(self, master_host, master_port, **kwargs)
        self.runner = runner
        return runner

    def create_linked_local_runner(
        self, master_host: str, master_port: int, **kwargs: Any
    ) -> LinkedLocalRunner:
        """Make the LocalRunner of a local run shown in the TUI: it reports to the TUI's controller."""
        from tswarm.runner.worker import LinkedLocalRunner

        self.stats = RequestStats(cumulative=False)
        runner = LinkedLocalRunner(self, master_host, master_port, **kwargs)
        self.runner = runner
        return runner

    def create_master_runner(
        self, master_bind_host: str = "*", master_bind_port: int = 5557, **kwargs: Any
    ) -> MasterRunner:
        """Make the runner of a master process (no users here; workers connect to it)."""
        from tswarm.controller.master import MasterRunner

        # the master merges deltas in and never ships any out
        self.stats = RequestStats(track_deltas=False)
        runner = MasterRunner(self, master_bind_host, master_bind_port, **kwargs)
        self.runner = runner
        return runner
