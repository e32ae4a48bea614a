"""Wait-time functions for ``User.wait_time`` and ``TaskSet.wait_time``.

Each factory returns a function of one argument (the user or task set it is attached to), so that
``wait_time = between(1, 5)`` on a class becomes a method returning seconds.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import Any

WaitTimeFunction = Callable[[Any], float]

# Read through the module at call time so tests can substitute a fake clock.
_clock = time.monotonic

#: attribute on the instance holding the clock time its next paced cycle may start
_NEXT_CYCLE_ATTR = "_tswarm_pacing_next_cycle"
#: attribute the user and task set classes set at creation: the start of the first cycle
STARTED_AT_ATTR = "_tswarm_started_at"


def between(min_wait: float, max_wait: float) -> WaitTimeFunction:
    """Wait a uniformly random time between ``min_wait`` and ``max_wait`` seconds."""
    if min_wait > max_wait:
        raise ValueError(f"between({min_wait}, {max_wait}): the minimum is larger than the maximum")

    def wait_between(instance: Any) -> float:
        return min_wait + random.random() * (max_wait - min_wait)

    return wait_between


def constant(seconds: float) -> WaitTimeFunction:
    """Always wait ``seconds``."""

    def wait_constant(instance: Any) -> float:
        return seconds

    return wait_constant


def constant_pacing(seconds: float) -> WaitTimeFunction:
    """Wait so that each task plus the wait after it takes ``seconds`` in total.

    A task that takes longer than ``seconds`` is followed by no wait at all; the next cycle then
    starts from the end of that task rather than trying to catch up.
    """

    def wait_pacing(instance: Any) -> float:
        now = _clock()
        anchor = getattr(instance, _NEXT_CYCLE_ATTR, None)
        cycle_start = float(anchor if anchor is not None else getattr(instance, STARTED_AT_ATTR, now))
        wait = max(0.0, seconds - (now - cycle_start))
        setattr(instance, _NEXT_CYCLE_ATTR, now + wait)
        return wait

    return wait_pacing


def constant_throughput(task_runs_per_second: float) -> WaitTimeFunction:
    """Wait so that each user runs at most ``task_runs_per_second`` tasks a second.

    The inverse of :func:`constant_pacing`: ``constant_throughput(2)`` is ``constant_pacing(0.5)``.
    """
    if task_runs_per_second <= 0:
        raise ValueError("constant_throughput() needs a positive number of task runs per second")
    return constant_pacing(1.0 / task_runs_per_second)


def poisson(rate: float) -> WaitTimeFunction:
    """Wait an exponentially distributed time with mean ``1 / rate`` seconds: tasks then start as a
    Poisson process, closer to how real visitors arrive than a fixed pace."""
    if rate <= 0:
        raise ValueError("poisson() needs a positive rate (tasks per second)")
    return lambda _owner: random.expovariate(rate)
