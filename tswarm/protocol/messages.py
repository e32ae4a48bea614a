"""Encoding and decoding of protocol frames, and the shape checks of the built-in message types."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgpack

#: Bumped whenever a change would make old and new peers misunderstand each other.
PROTOCOL_VERSION = 1

#: ZeroMQ drops (and disconnects) a peer that sends a bigger frame than this.
MAX_FRAME_BYTES = 64 * 1024 * 1024

#: Types used by tswarm itself; a test file cannot register custom messages under these names.
RESERVED_TYPES = frozenset(
    {
        "hello",
        "ack",
        "refuse",
        "heartbeat",
        "spawn",
        "spawning",
        "spawning_complete",
        "stats",
        "stop",
        "stopped",
        "quit",
        "logs",
        "cpu_warning",
        "reset_stats",
        "testfile_request",
        "testfile",
        "reconnect",
    }
)

# The keys a built-in message's data must carry, with their accepted types.
_NUMBER = (int, float)
_REQUIRED_KEYS: dict[str, dict[str, type | tuple[type, ...]]] = {
    "hello": {"protocol": int, "version": str, "host": str, "pid": int},
    "ack": {"index": int, "protocol": int},
    "refuse": {"reason": str},
    "heartbeat": {"timestamp": _NUMBER},
    "spawn": {"user_classes_count": dict},
    "spawning": {"user_classes_count": dict, "user_count": int},
    "spawning_complete": {"user_classes_count": dict, "user_count": int},
    "stats": {"stats": dict, "user_count": int},
    "stop": {},
    "stopped": {},
    "quit": {},
    "logs": {"lines": list},
    "cpu_warning": {"cpu": _NUMBER},
    "reset_stats": {},
    "testfile_request": {},
    "testfile": {"files": list},
    "reconnect": {},
}


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
            type whose data lacks a required key or has one of the wrong type.
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
    required = _REQUIRED_KEYS.get(msg_type)
    if required is not None:
        if not isinstance(data, dict):
            raise ProtocolError(f"{msg_type!r} message data must be a map")
        for key, expected in required.items():
            if key not in data:
                raise ProtocolError(f"{msg_type!r} message lacks {key!r}")
            value = data[key]
            if not isinstance(value, expected) or isinstance(value, bool) and expected is not bool:
                raise ProtocolError(f"{msg_type!r} message has a {type(value).__name__} for {key!r}")
    return Message(msg_type, data, node_id)
