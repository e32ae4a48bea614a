"""Event hooks with Locust's names and arguments.

Test files attach listeners with ``@events.test_start.add_listener``; tswarm fires them with keyword
arguments. This module is plain Python: it imports neither gevent nor Textual, so the master can load it.
"""

from __future__ import annotations

import contextlib
import logging
import time
import traceback
from collections.abc import Callable, Iterator
from typing import Any

from tswarm.exceptions import InterruptTaskSet, RescheduleTask, RescheduleTaskImmediately, StopTest, StopUser

log = logging.getLogger(__name__)

_CONTROL_FLOW = (StopUser, StopTest, RescheduleTask, RescheduleTaskImmediately, InterruptTaskSet)


class EventHook:
    """A list of listeners fired together.

    A listener that raises is logged with its traceback and the rest still run; the control-flow
    exceptions of a test (StopUser, RescheduleTask, ...) pass through, as in Locust.
    """

    def __init__(self, name: str = "") -> None:
        self.name = name
        self._handlers: list[Callable[..., Any]] = []
        #: how many times a listener raised; the exit code counts these as errors
        self.listener_errors = 0

    def add_listener(self, handler: Callable[..., Any]) -> Callable[..., Any]:
        """Add ``handler``; returns it, so this works as a decorator."""
        self._handlers.append(handler)
        return handler

    def remove_listener(self, handler: Callable[..., Any]) -> None:
        self._handlers.remove(handler)

    @property
    def listeners(self) -> tuple[Callable[..., Any], ...]:
        return tuple(self._handlers)

    def fire(self, *, reverse: bool = False, **kwargs: Any) -> None:
        """Call every listener with ``kwargs``."""
        handlers = reversed(self._handlers) if reverse else self._handlers
        for handler in list(handlers):
            try:
                handler(**kwargs)
            except _CONTROL_FLOW:
                raise
            except Exception:
                self.listener_errors += 1
                log.error(
                    "Uncaught exception in %s event listener:\n%s", self.name or "an", traceback.format_exc()
                )

    @contextlib.contextmanager
    def measure(
        self, request_type: str, name: str, response_length: int = 0, context: dict[str, Any] | None = None
    ) -> Iterator[dict[str, Any]]:
        """Time the block and fire this (request) event for it; an exception in the block is a failure.

        The yielded dict may be updated (``response_length``, ``response``, ``exception``, ``url``)
        before the block ends. Usage in a custom client::

            with events.request.measure("grpc", "/Service/Call") as request_meta:
                request_meta["response"] = stub.Call(...)
        """
        start_time = time.time()
        start_perf = time.perf_counter()
        meta: dict[str, Any] = {
            "request_type": request_type,
            "name": name,
            "response_length": response_length,
            "response": None,
            "context": context or {},
            "exception": None,
            "start_time": start_time,
            "url": None,
        }
        try:
            yield meta
        except Exception as e:
            meta["exception"] = e
        finally:
            meta["response_time"] = (time.perf_counter() - start_perf) * 1000.0
            self.fire(**meta)


class Events:
    """Every event tswarm fires, with the keyword arguments each listener receives."""

    #: (environment, runner, web_ui) after the test file is loaded and the runner made
    init: EventHook
    #: (parser) to add custom command-line options; they reach the test as environment.parsed_options
    init_command_line_parser: EventHook
    #: (environment) when a test starts (on the master and on every worker)
    test_start: EventHook
    #: (environment) when a test begins to stop
    test_stopping: EventHook
    #: (environment) when a test has stopped
    test_stop: EventHook
    #: (request_type, name, response_time, response_length, response, context, exception, start_time, url)
    request: EventHook
    #: (user_count) when all users of the current target have been spawned
    spawning_complete: EventHook
    #: (user_instance, exception, tb) when a task raised
    user_error: EventHook
    #: () when the statistics are reset
    reset_stats: EventHook
    #: (environment) before the process exits
    quitting: EventHook
    #: (exit_code) when the process is about to exit
    quit: EventHook
    #: (environment, cpu_usage, memory_usage) every few seconds, from each process that runs users
    usage_monitor: EventHook
    #: (environment, cpu_usage, message, timestamp) when the load generator's CPU goes above 90%
    cpu_warning: EventHook
    #: (client_id) on the master when a worker connects
    worker_connect: EventHook
    #: (client_id, data) on a worker before it sends a stats report: add to data to send extra fields
    report_to_master: EventHook
    #: (client_id, data) on the master when a worker's report arrives
    worker_report: EventHook
    #: (client_id, timestamp) when a heartbeat is sent
    heartbeat_sent: EventHook
    #: (client_id, timestamp) when a heartbeat arrives
    heartbeat_received: EventHook

    _names = (
        "init",
        "init_command_line_parser",
        "test_start",
        "test_stopping",
        "test_stop",
        "request",
        "spawning_complete",
        "user_error",
        "reset_stats",
        "quitting",
        "quit",
        "usage_monitor",
        "cpu_warning",
        "worker_connect",
        "report_to_master",
        "worker_report",
        "heartbeat_sent",
        "heartbeat_received",
    )

    def __init__(self) -> None:
        for name in self._names:
            setattr(self, name, EventHook(name))

    def hooks(self) -> Iterator[EventHook]:
        for name in self._names:
            yield getattr(self, name)

    def listener_errors(self) -> int:
        return sum(hook.listener_errors for hook in self.hooks())


#: The module-level events object that test files import (``from tswarm import events``).
events = Events()


def __getattr__(name: str) -> Any:
    # ``tswarm.events`` is both this module and the Events object that ``from tswarm import events``
    # names; once the module is imported, Python binds that name to the module. Forwarding the hooks
    # makes ``events.test_start.add_listener`` work whichever of the two a test file got.
    try:
        return getattr(events, name)
    except AttributeError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
