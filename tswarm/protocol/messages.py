"""Encoding and decoding of protocol frames; the data of built-in types is checked against tswarm.protocol.payloads."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgpack

from tswarm.protocol.payloads import PAYLOADS, payload_checker

#: Bumped whenever a change would make old and new peers misunderstand each other.
#: 2: a test file's own messages travel in the ``custom`` envelope, under any name.
#: 3: a stats delta's entries are arrays, its whole-test histograms rebuilt from the per-second ones
#:    (delta version 2), and workers hold reports while the master is behind (acknowledgements needed).
PROTOCOL_VERSION = 3

#: ZeroMQ drops a bigger frame than this (the master's ZMQ_MAXMSGSIZE). A worker's stats report of one
#: second is well under 1 MiB even in a big test; a report of 1,000 names (stats.entries.MAX_NAMES)
#: with ~1,000 buckets in each histogram and per-second slot is 12-14 MB, and still fits.
MAX_FRAME_BYTES = 16 * 1024 * 1024
#: items one array or map may declare; msgpack checks it from the header, before it allocates anything
MAX_CONTAINER_ITEMS = 250_000
#: values one frame may hold in all (every item of an array or map, and the array or map itself). A
#: decoded value costs up to ~70 bytes of memory for 1 to 3 bytes on the wire (an empty map, a short
#: string), so without this one frame of 16 MiB could take over 1 GB; this bounds it to ~200 MB. The
#: 1,000-name report above holds ~2.4 million.
MAX_FRAME_ITEMS = 2_500_000
# a frame up to this size holds fewer values than that (~20 MB in memory): it is decoded without
# counting, which costs a Python call per array and map
_UNCOUNTED_FRAME_BYTES = 256 * 1024

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
    if len(frame) > MAX_FRAME_BYTES:
        raise ProtocolError(f"frame of {len(frame)} bytes is over MAX_FRAME_BYTES ({MAX_FRAME_BYTES})")
    try:
        obj = _unpack(frame)
    except _TooManyItems:
        raise ProtocolError(f"frame holds more than {MAX_FRAME_ITEMS} values") from None
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


class _TooManyItems(Exception):
    pass


def _unpack(frame: bytes) -> Any:
    """The frame's value, within the limits above (a longer string, array or map raises ValueError)."""
    limits: dict[str, Any] = {
        "raw": False,
        "strict_map_key": False,
        "max_str_len": MAX_FRAME_BYTES,
        "max_bin_len": MAX_FRAME_BYTES,
        "max_array_len": MAX_CONTAINER_ITEMS,
        "max_map_len": MAX_CONTAINER_ITEMS,
        "max_ext_len": 0,
    }
    if len(frame) <= _UNCOUNTED_FRAME_BYTES:
        return msgpack.unpackb(frame, **limits)
    budget = [MAX_FRAME_ITEMS]

    def count(container: Any) -> Any:
        # msgpack calls this for every array and map once it is built; raising stops the decoding
        budget[0] -= len(container) + 1
        if budget[0] < 0:
            raise _TooManyItems
        return container

    return msgpack.unpackb(frame, list_hook=count, object_hook=count, **limits)
