"""What the runner kinds and their environment are to each other, as typing protocols.

The runners (``runner/``) and the master (``controller/``) read their environment through
:class:`RunEnvironment`, and the environment holds whichever of them a process made as a
:class:`Runner`. So neither layer imports :mod:`tswarm.env`, which makes the runners and sits above
both. Typing only: imports nothing of tswarm at run time.
"""

from __future__ import annotations

from argparse import Namespace
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from tswarm.events import Events
    from tswarm.protocol.states import RunState
    from tswarm.stats import RequestStats

__all__ = ["RunEnvironment", "Runner"]


class Runner(Protocol):
    """What every runner kind (local, worker, master) offers a test file."""

    state: RunState

    @property
    def user_count(self) -> int: ...

    def send_message(self, msg_type: str, data: Any = None, client_id: str | None = None, /) -> None: ...

    def register_message(
        self, msg_type: str, handler: Callable[..., Any], concurrent: bool = False, /
    ) -> None: ...


class RunEnvironment(Protocol):
    """What a runner or the master reads (and sets) of the Environment of its process."""

    user_classes: list[type]
    #: a LoadTestShape instance, or None
    shape_class: Any
    events: Events
    stats: RequestStats
    host: str | None
    reset_stats: bool
    stop_timeout: float | None
    parsed_options: Namespace | None
    runner: Runner | None

    @property
    def user_classes_by_name(self) -> dict[str, type]: ...
