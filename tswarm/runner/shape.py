"""Load test shapes: a class whose ``tick()`` sets the user count and spawn rate as the test runs."""

from __future__ import annotations

import inspect
import time
from abc import ABC, abstractmethod
from typing import Any

#: what tick() returns: None (stop the test), or (users, spawn rate[, user classes])
ShapeTick = tuple[int, float] | tuple[int, float, list[type] | None] | None


class LoadTestShape(ABC):
    """Subclass this and implement :meth:`tick` to drive the number of users over time.

    The runner calls ``reset_time()`` when the test starts and ``tick()`` about once a second.
    """

    #: the runner of the test, set before the first tick
    runner: Any = None
    #: also honour --users/--spawn-rate/--run-time (the shape may read them from runner.environment)
    use_common_options: bool = False
    #: an abstract shape is only a base class and is never used by a test
    abstract: bool = True

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "abstract" not in vars(cls):
            cls.abstract = False

    def __init__(self) -> None:
        self.start_time = time.monotonic()

    def reset_time(self) -> None:
        """Start counting run time from now."""
        self.start_time = time.monotonic()

    def get_run_time(self) -> float:
        """Seconds since the test started (since :meth:`reset_time`)."""
        return time.monotonic() - self.start_time

    def get_current_user_count(self) -> int:
        """The number of users running now, as the runner counts them."""
        return int(self.runner.user_count)

    @abstractmethod
    def tick(self) -> ShapeTick:
        """Return ``(user_count, spawn_rate)``, ``(user_count, spawn_rate, user_classes)``, or None.

        None ends the test. ``user_classes`` limits the spawned users to those classes.
        """


def is_shape_class(obj: Any) -> bool:
    """True for a LoadTestShape subclass a test file means to use (not abstract)."""
    return inspect.isclass(obj) and issubclass(obj, LoadTestShape) and not obj.abstract
