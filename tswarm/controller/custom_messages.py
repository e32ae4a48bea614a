"""Custom messages a test file registers on the master (``runner.register_message``), and their routing.

Plain asyncio; may import tswarm.protocol.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable
from typing import Any

from tswarm.protocol import RESERVED_TYPES, Message

__all__ = ["CustomMessages"]

log = logging.getLogger("tswarm.master")

#: message types without a handler that are logged by name (beyond that, they are ignored silently)
MAX_UNKNOWN_TYPES_LOGGED = 10_000


class CustomMessages:
    """The handlers of a test file's own message types, and the calls to them."""

    def __init__(self) -> None:
        #: message type -> (handler, run it in a thread); Locust's ``runner.custom_messages``
        self.handlers: dict[str, tuple[Callable[..., Any], bool]] = {}
        self._unknown_logged: set[str] = set()

    def register(self, msg_type: str, handler: Callable[..., Any], concurrent: bool) -> None:
        """Call ``handler(environment=..., msg=...)`` for each message of ``msg_type``.

        Raises:
            ValueError: ``msg_type`` is one of tswarm's own message types.
        """
        if msg_type in RESERVED_TYPES:
            raise ValueError(f"{msg_type!r} is a message type of tswarm itself; choose another name")
        self.handlers[msg_type] = (handler, concurrent)

    def route(self, msg: Message, environment: Any, loop: asyncio.AbstractEventLoop | None) -> None:
        """Hand ``msg`` to its handler: here, or in a thread of ``loop``'s default executor when it was
        registered as concurrent. A type without a handler is logged once."""
        entry = self.handlers.get(msg.type)
        if entry is None:
            if msg.type not in self._unknown_logged and len(self._unknown_logged) < MAX_UNKNOWN_TYPES_LOGGED:
                self._unknown_logged.add(msg.type)
                log.warning(
                    "Ignored a message of type %r from %s: no handler is registered for it "
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


def _run_handler(handler: Callable[..., Any], environment: Any, msg: Message) -> None:
    try:
        handler(environment=environment, msg=msg)
    except Exception:
        log.exception("The handler of %r messages raised", msg.type)
