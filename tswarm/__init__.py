"""tswarm: a terminal-first distributed load tester with Locust's test-file API.

``import tswarm`` is light: the API below is imported on first use. It never monkey-patches and never
starts gevent, because the master process imports test files too, and it runs asyncio and Textual;
a worker must be able to patch before anything imports threading or sockets.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from tswarm._version import __version__

if TYPE_CHECKING:
    from tswarm.debug import run_single_user
    from tswarm.env import Environment
    from tswarm.events import EventHook, Events, events
    from tswarm.exceptions import (
        InterruptTaskSet,
        RescheduleTask,
        RescheduleTaskImmediately,
        StopTest,
        StopUser,
    )
    from tswarm.runner.shape import LoadTestShape
    from tswarm.runner.tasks import SequentialTaskSet, TaskSet, tag, task
    from tswarm.runner.users import FastHttpUser, HttpUser, User
    from tswarm.runner.wait_time import between, constant, constant_pacing, constant_throughput, poisson

_WHERE = {
    "Environment": "tswarm.env",
    "EventHook": "tswarm.events",
    "Events": "tswarm.events",
    "events": "tswarm.events",
    "InterruptTaskSet": "tswarm.exceptions",
    "RescheduleTask": "tswarm.exceptions",
    "RescheduleTaskImmediately": "tswarm.exceptions",
    "StopTest": "tswarm.exceptions",
    "StopUser": "tswarm.exceptions",
    "LoadTestShape": "tswarm.runner.shape",
    "SequentialTaskSet": "tswarm.runner.tasks",
    "TaskSet": "tswarm.runner.tasks",
    "tag": "tswarm.runner.tasks",
    "task": "tswarm.runner.tasks",
    "FastHttpUser": "tswarm.runner.users",
    "HttpUser": "tswarm.runner.users",
    "User": "tswarm.runner.users",
    "between": "tswarm.runner.wait_time",
    "constant": "tswarm.runner.wait_time",
    "constant_pacing": "tswarm.runner.wait_time",
    "constant_throughput": "tswarm.runner.wait_time",
    "poisson": "tswarm.runner.wait_time",
    "run_single_user": "tswarm.debug",
}

__all__ = [
    "Environment",
    "EventHook",
    "Events",
    "FastHttpUser",
    "HttpUser",
    "InterruptTaskSet",
    "LoadTestShape",
    "RescheduleTask",
    "RescheduleTaskImmediately",
    "SequentialTaskSet",
    "StopTest",
    "StopUser",
    "TaskSet",
    "User",
    "__version__",
    "between",
    "constant",
    "constant_pacing",
    "constant_throughput",
    "events",
    "poisson",
    "run_single_user",
    "tag",
    "task",
]


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'tswarm' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
