"""The runner classes a test file checks against (``isinstance(environment.runner, MasterRunner)``).

The classes are imported on first use, so that ``import tswarm`` stays light and never starts gevent.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tswarm.controller.master import MasterRunner
    from tswarm.runner.local import LocalRunner
    from tswarm.runner.worker import WorkerRunner

__all__ = [
    "STATE_CLEANUP",
    "STATE_INIT",
    "STATE_MISSING",
    "STATE_RUNNING",
    "STATE_SPAWNING",
    "STATE_STOPPED",
    "STATE_STOPPING",
    "LocalRunner",
    "MasterRunner",
    "WorkerRunner",
]

# ``runner.state`` values, by Locust's names (a master's state is a str enum with the same values;
# tswarm has no cleanup state, and "missing" is the state of a worker, not of a runner)
STATE_INIT = "ready"
STATE_SPAWNING = "spawning"
STATE_RUNNING = "running"
STATE_CLEANUP = "cleanup"
STATE_STOPPING = "stopping"
STATE_STOPPED = "stopped"
STATE_MISSING = "missing"

_WHERE = {
    "LocalRunner": "tswarm.runner.local",
    "WorkerRunner": "tswarm.runner.worker",
    "MasterRunner": "tswarm.controller.master",
}


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        import importlib

        value = getattr(importlib.import_module(_WHERE[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
