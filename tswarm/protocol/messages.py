"""Encoding and decoding of protocol frames; the data of built-in types is checked against tswarm.protocol.payloads."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgpack

from tswarm.protocol.payloads import PAYLOADS, payload_checker

#: Bumped whenever a change would make old and new peers misunderstand each other.
#: 2: a test file's own messages travel in the ``custom`` envelope, under any name.
PROTOCOL_VERSION = 2

#: ZeroMQ drops (and disconnects) a peer that sends a bigger frame than this.
MAX_FRAME_BYTES = 64 * 1024 * 1024

#: The message types on the wire; a test file's own names travel inside ``custom`` (tswarm.protocol.custom).
RESERVED_TYPES = frozenset(PAYLOADS)


class ProtocolError(ValueError):
    """A frame that is not a well-formed tswarm message."""


@dataclass(frozen=True, slots=True)
class Message:
    """One protocol message. ``data`` is any msgpack-able value; ``node_id`` names the sender."""

    type: str
    data: Any
    node_id: str


def encode(type: str, data: Any, node_id: str) -> bytes:
    """Pack a message into one frame."""
    frame: bytes = msgpack.packb([type, data, node_id], use_bin_type=True)
    return frame


def decode(frame: bytes) -> Message:
    """Unpack and check one frame.

    Raises:
        ProtocolError: the frame is not msgpack, not a ``[type, data, node_id]`` array, or a built-in
            type whose data does not match its declaration in :mod:`tswarm.protocol.payloads` (the
            message names the key and the type it should have). Nothing else, whatever the frame holds.
    """
    try:
        obj = msgpack.unpackb(frame, raw=False, strict_map_key=False)
    except Exception as e:  # msgpack raises several unrelated exception types
        raise ProtocolError(f"frame is not msgpack ({type(e).__name__})") from None
    if not isinstance(obj, list) or len(obj) != 3:
        raise ProtocolError("frame is not a [type, data, node_id] array")
    msg_type, data, node_id = obj
    if not isinstance(msg_type, str) or not isinstance(node_id, str):
        raise ProtocolError("message type and node id must be strings")
    checker = payload_checker(msg_type)
    if checker is not None:
        problem = checker.first_problem(data)
        if problem is not None:
            raise ProtocolError(f"{msg_type!r} message: {problem}")
    return Message(msg_type, data, node_id)
