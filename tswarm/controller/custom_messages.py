"""Custom messages a test file registers on the master (``runner.register_message``), and their routing.

They travel in the ``custom`` envelope (tswarm.protocol.custom), so any name is the test file's own.
Plain asyncio; may import tswarm.protocol.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable
from typing import Any

from tswarm.protocol import Message

__all__ = ["CustomMessages"]

log = logging.getLogger("tswarm.master")

#: names without a handler, or sent to no worker, that are logged (beyond that, only dropped)
MAX_NAMES_LOGGED = 10_000


class CustomMessages:
    """The handlers of a test file's own message types, and the calls to them."""

    def __init__(self) -> None:
        #: message type -> (handler, run it in a thread); Locust's ``runner.custom_messages``
        self.handlers: dict[str, tuple[Callable[..., Any], bool]] = {}
        self._unknown_logged: set[str] = set()
        self._unsent_logged: set[str] = set()

    def register(self, msg_type: str, handler: Callable[..., Any], concurrent: bool) -> None:
        """Call ``handler(environment=..., msg=...)`` for each message named ``msg_type`` (any name)."""
        self.handlers[msg_type] = (handler, concurrent)

    def route(self, msg: Message, environment: Any, loop: asyncio.AbstractEventLoop | None) -> None:
        """Hand ``msg`` (out of its envelope) to its handler: here, or in a thread of ``loop``'s default
        executor when it was registered as concurrent. A name without a handler is logged once."""
        entry = self.handlers.get(msg.type)
        if entry is None:
            if _first_time(self._unknown_logged, msg.type):
                log.warning(
                    "Ignored a custom message %r from %s: no handler is registered for it "
                    "(runner.register_message); further ones are ignored silently",
                    msg.type,
                    msg.node_id,
                )
            return
        handler, concurrent = entry
        call = functools.partial(_run_handler, handler, environment, msg)
        if concurrent and loop is not None:
            loop.run_in_executor(None, call)
        else:
            call()

    def sent_to_nobody(self, name: str) -> None:
        """``send_message(name)`` found no worker to send to: say so, once per name."""
        if _first_time(self._unsent_logged, name):
            log.warning(
                "The custom message %r went to no worker: none is connected (a message is not kept for "
                "workers that join later; send it from test_start or a worker_connect listener instead)",
                name,
            )


def _first_time(seen: set[str], name: str) -> bool:
    """True the first time ``name`` is seen (of the first MAX_NAMES_LOGGED names)."""
    if name in seen or len(seen) >= MAX_NAMES_LOGGED:
        return False
    seen.add(name)
    return True


def _run_handler(handler: Callable[..., Any], environment: Any, msg: Message) -> None:
    try:
        handler(environment=environment, msg=msg)
    except Exception:
        log.exception("The handler of %r messages raised", msg.type)
