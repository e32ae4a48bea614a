"""The bridge into the master's asyncio loop for calls from other threads (the TUI's) or before it runs.

Plain asyncio and threading; imports nothing of tswarm.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["LoopBridge"]

T = TypeVar("T")


class LoopBridge:
    """Runs calls on one asyncio loop, whatever thread they come from.

    Before :meth:`attach` (the loop does not run yet) calls are kept, and run in order on attach.
    """

    def __init__(self) -> None:
        self.loop: asyncio.AbstractEventLoop | None = None
        self._thread_id: int | None = None
        self._pending: list[tuple[Callable[..., Any], tuple[Any, ...]]] = []

    def attach(self) -> None:
        """Serve the running loop from now on (call it on that loop), and run the calls kept so far."""
        self.loop = asyncio.get_running_loop()
        self._thread_id = threading.get_ident()
        pending, self._pending = self._pending, []
        for fn, args in pending:
            fn(*args)

    def detach(self) -> None:
        """The loop ends: calls are kept again."""
        self.loop = None

    def in_loop(self) -> bool:
        """True on the loop's own thread."""
        return self._thread_id == threading.get_ident()

    def call(self, fn: Callable[..., Any], *args: Any) -> None:
        """``fn(*args)`` on the loop: at once on its thread, queued from another, kept before it runs."""
        loop = self.loop
        if loop is None:
            self._pending.append((fn, args))
        elif self.in_loop():
            fn(*args)
        else:
            loop.call_soon_threadsafe(fn, *args)

    def run(self, fn: Callable[[], T], timeout: float) -> T:
        """``fn()`` on the loop, waiting up to ``timeout`` s for its result; right here when the loop does
        not run or this is its thread."""
        loop = self.loop
        if loop is None or self.in_loop() or not loop.is_running():
            return fn()

        async def on_loop() -> T:
            return fn()

        return asyncio.run_coroutine_threadsafe(on_loop(), loop).result(timeout=timeout)
