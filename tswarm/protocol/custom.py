"""The envelope of a test file's own messages: one built-in type, ``custom``, carries any name and data.

Both sides put a ``runner.send_message(name, data)`` into it and take it out before the test file's
listener sees it, so a name is never mistaken for one of tswarm's types. Plain Python; imports only
tswarm.protocol's own modules.
"""

from __future__ import annotations

from typing import Any

from tswarm.protocol.messages import Message
from tswarm.protocol.payloads import Custom

__all__ = ["CUSTOM_TYPE", "custom_payload", "open_custom"]

#: the message type of every custom message on the wire (payloads.Custom)
CUSTOM_TYPE = "custom"


def custom_payload(name: str, data: Any) -> Custom:
    """The data of a ``custom`` message that carries the test file's message ``name`` with ``data``.

    Raises:
        TypeError: ``name`` is not a str (the receiver could not tell it apart from a bad frame).
    """
    if not isinstance(name, str):
        raise TypeError(f"a custom message's name must be a str, not {type(name).__name__}")
    return {"type": name, "data": data}


def open_custom(msg: Message) -> Message:
    """The test file's message inside ``msg`` (a decoded, hence checked, ``custom`` message): its own
    name and data, and the node id of whoever sent it."""
    return Message(msg.data["type"], msg.data["data"], msg.node_id)
