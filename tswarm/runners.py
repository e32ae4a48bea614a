"""The runner classes a test file checks against (``isinstance(environment.runner, MasterRunner)``).

The classes are imported on first use, so that ``import tswarm`` stays light and never starts gevent.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tswarm.protocol.states import RunState, WorkerState

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

# ``runner.state`` values by Locust's names. Every runner's state is a RunState, a str enum, so these
# compare equal to Locust's strings ("ready", "spawning", ...). tswarm has no cleanup state, and
# "missing" is the state of a worker (WorkerState), not of a runner.
STATE_INIT = RunState.READY
STATE_SPAWNING = RunState.SPAWNING
STATE_RUNNING = RunState.RUNNING
STATE_CLEANUP = "cleanup"
STATE_STOPPING = RunState.STOPPING
STATE_STOPPED = RunState.STOPPED
STATE_MISSING = WorkerState.MISSING

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
