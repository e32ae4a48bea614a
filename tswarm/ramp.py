"""The spawn-rate ramp and the load-shape stepper, shared by the master (asyncio) and the local runner (gevent).

Both are plain logic that say what to do next; the caller owns the clock and the sleeping. The master
advances its ramp from an asyncio task, the local runner from a greenlet::

    ramp = SpawnRamp()
    ramp.restart(spawn_rate)                       # a new goal: the first user starts at once
    current = ramp.advance(elapsed, current, desired)   # every tick, with the seconds since the last

    stepper = ShapeStepper(shape, runner)          # reset_time() is called here
    step = stepper.tick()                          # every SHAPE_TICK seconds
    if stepper.ended: ...stop the test...
    elif step is not None: ...start(step.user_count, step.spawn_rate, step.user_classes)...

May import :mod:`tswarm.dispatch` only: no gevent, asyncio, ZeroMQ or Textual.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tswarm.dispatch import step_towards

__all__ = ["SHAPE_TICK", "ShapeStep", "ShapeStepper", "SpawnRamp", "describe_counts", "pending_moves"]

#: seconds between two reads of a load shape's ``tick()``
SHAPE_TICK = 1.0

#: node id -> class name -> number of users
Assignment = dict[str, dict[str, int]]


def pending_moves(current: Mapping[str, Mapping[str, int]], desired: Mapping[str, Mapping[str, int]]) -> int:
    """How many users must start or stop in all to go from ``current`` to ``desired``."""
    total = 0
    for node in current.keys() | desired.keys():
        have, want = current.get(node, {}), desired.get(node, {})
        total += sum(abs(have.get(cls, 0) - want.get(cls, 0)) for cls in have.keys() | want.keys())
    return total


def describe_counts(counts: Mapping[str, int]) -> str:
    """``"Reader: 80, Writer: 40"`` for the log lines of a ramp."""
    return ", ".join(f"{cls}: {n}" for cls, n in counts.items()) or "no users"


class SpawnRamp:
    """Paces the moves from one assignment to another at ``spawn_rate`` users per second.

    A budget of user moves grows with the time the caller says has passed; each :meth:`advance` spends
    its whole users on :func:`~tswarm.dispatch.step_towards`. The budget holds at most one second of
    moves (or one move), so a loop that stalled does not start a burst of users afterwards.
    """

    def __init__(self) -> None:
        self.spawn_rate = 1.0
        #: user moves that may be made now (fractions carry over to the next tick)
        self.budget = 0.0

    def restart(self, spawn_rate: float) -> None:
        """A new goal at ``spawn_rate`` users/s; the first move may be made at once."""
        self.spawn_rate = float(spawn_rate)
        self.budget = max(self.budget, 1.0)

    def advance(
        self,
        elapsed: float,
        current: Mapping[str, Mapping[str, int]],
        desired: Mapping[str, Mapping[str, int]],
    ) -> Assignment:
        """The assignment to have now, ``elapsed`` seconds after the previous call.

        Returns ``current`` (copied) when there is nothing to do or no whole move in the budget yet,
        else ``current`` moved towards ``desired`` by as many users as the budget allows.
        """
        self.budget = min(self.budget + elapsed * self.spawn_rate, max(1.0, self.spawn_rate))
        pending = pending_moves(current, desired)
        steps = int(self.budget)
        if not pending or not steps:
            return {node: dict(counts) for node, counts in current.items()}
        self.budget -= min(steps, pending)
        return step_towards(current, desired, steps)


@dataclass(frozen=True)
class ShapeStep:
    """What a load shape asks for: run ``user_count`` users, reached at ``spawn_rate`` users/s."""

    user_count: int
    spawn_rate: float
    #: limit the users to these classes (None: the environment's classes)
    user_classes: list[type] | None = None


class ShapeStepper:
    """Reads a LoadTestShape and says when its figures change or when it ends the test.

    Args:
        shape: the LoadTestShape instance; its ``runner`` is set and its time starts now.
        runner: the runner the shape drives (what ``shape.runner`` is in the test file).
    """

    def __init__(self, shape: Any, runner: Any) -> None:
        shape.runner = runner
        shape.reset_time()
        self.shape = shape
        #: the shape's tick() returned None: the test is to stop
        self.ended = False
        self._last: Any = None

    def tick(self) -> ShapeStep | None:
        """Read the shape once: its new figures, or None when they did not change (or it ended)."""
        if self.ended:
            return None
        figures = self.shape.tick()
        if figures is None:
            self.ended = True
            return None
        if figures == self._last:
            return None
        self._last = figures
        user_count, spawn_rate, *rest = figures
        classes = rest[0] if rest and rest[0] else None
        return ShapeStep(int(user_count), float(spawn_rate), classes)
