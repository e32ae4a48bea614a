"""The states of a test run and of a worker, in one form: str enums whose values travel in heartbeats.

Runners (local, worker, master) hold a :class:`RunState`; the master holds a :class:`WorkerState` per
worker. Being ``str`` enums, the members compare equal to Locust's ``STATE_*`` strings. Plain Python.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = ["RunState", "WorkerState"]


class RunState(StrEnum):
    """Where a test stands. A worker sends its own in every heartbeat (``"state"``)."""

    #: the master's picture only: no worker is connected yet (a runner itself is never in it)
    WAITING = "waiting for workers"
    READY = "ready"
    SPAWNING = "spawning"
    RUNNING = "running"
    STOPPING = "stopping"
    STOPPED = "stopped"


class WorkerState(StrEnum):
    """A worker as the master sees it: the state it last reported, or missing."""

    READY = "ready"
    SPAWNING = "spawning"
    RUNNING = "running"
    STOPPING = "stopping"
    STOPPED = "stopped"
    MISSING = "missing"
