"""The declared data of each built-in message type; ``decode`` checks a frame's data against it.

Keys marked ``NotRequired`` may be left out; keys not declared here may be present and are not looked
at (a test file's ``report_to_master`` listeners add their own to ``stats``). Numbers are bounded
(:data:`~tswarm.shapes.Count`, :data:`~tswarm.shapes.Amount`: no NaN, no infinity, no negative count,
nothing past 2^53), so that what a peer sends cannot break the stats or the reports. docs/protocol.md shows
the same shapes (tests/test_protocol_shapes.py keeps the two in step). Stdlib and tswarm.shapes only.
"""

from __future__ import annotations

from typing import Any, NotRequired, TypedDict

from tswarm.shapes import Amount, Count, ShapeChecker, shape_checker

__all__ = ["PAYLOADS", "payload_checker"]

#: user class name -> number of users
UserClassCounts = dict[str, Count]


class Hello(TypedDict):
    protocol: int
    version: str
    host: str
    pid: Count
    cpu_count: NotRequired[Count]


class Ack(TypedDict):
    index: int
    protocol: int
    heartbeat_interval: NotRequired[Amount]
    heartbeat_timeout: NotRequired[Amount]
    worker_count: NotRequired[Count]
    master_id: NotRequired[str]


class Refuse(TypedDict):
    reason: str


class Heartbeat(TypedDict):
    """Both ways: a worker's carries its state and load, the master's its id."""

    timestamp: Amount
    state: NotRequired[str]
    user_count: NotRequired[Count]
    cpu: NotRequired[Amount]
    memory: NotRequired[Count]
    master_id: NotRequired[str]
    #: the master's: every stats report of this worker numbered up to this one has been merged
    stats_acked: NotRequired[Count]


class Spawn(TypedDict):
    user_classes_count: UserClassCounts
    host: NotRequired[str | None]
    stop_timeout: NotRequired[Amount | None]
    test_id: NotRequired[str]
    worker_count: NotRequired[Count]
    #: the master's options whose values are a str, number, bool or None
    parsed_options: NotRequired[dict[str, Any]]


class Spawning(TypedDict):
    """Also the data of ``spawning_complete``."""

    user_classes_count: UserClassCounts
    user_count: Count


class Stats(TypedDict):
    #: a RequestStats delta, declared by tswarm.stats.entries.StatsDelta and checked where it is merged
    #: (RequestStats.merge_delta), so that a bad delta is told apart from a bad frame
    stats: dict[str, Any]
    user_count: Count
    user_classes_count: NotRequired[UserClassCounts]
    extra: NotRequired[dict[str, Any]]
    #: the report's number, from 1 in each worker process; the master merges each number once
    seq: NotRequired[Count]
    #: the lowest number the worker still holds to send again: those below it will not come
    kept_from: NotRequired[Count]


class Empty(TypedDict):
    """``stop``, ``stopped``, ``quit``, ``reset_stats``, ``testfile_request``, ``reconnect``: no keys."""


class Logs(TypedDict):
    #: [timestamp, level, message] each
    lines: list[tuple[Amount, str, str]]


class CpuWarning(TypedDict):
    cpu: Amount


class FileContent(TypedDict):
    name: str
    content: bytes


class FilesReply(TypedDict):
    files: list[FileContent]


class Custom(TypedDict):
    """A test file's own message (``runner.send_message``), either way.

    Its name travels here, not as the message's type, so that any name is the test's: one called
    ``stop`` never reaches tswarm's handler of ``stop``.
    """

    type: str
    #: whatever the test file sent (msgpack-able), None included
    data: Any


#: message type -> the declaration of its data; exactly the built-in types (the only ones on the wire)
PAYLOADS: dict[str, Any] = {
    "hello": Hello,
    "ack": Ack,
    "refuse": Refuse,
    "heartbeat": Heartbeat,
    "spawn": Spawn,
    "spawning": Spawning,
    "spawning_complete": Spawning,
    "stats": Stats,
    "stop": Empty,
    "stopped": Empty,
    "quit": Empty,
    "logs": Logs,
    "cpu_warning": CpuWarning,
    "reset_stats": Empty,
    "testfile_request": Empty,
    "testfile": FilesReply,
    "reconnect": Empty,
    "custom": Custom,
}

_CHECKERS = {msg_type: shape_checker(declaration, "data") for msg_type, declaration in PAYLOADS.items()}


def payload_checker(msg_type: str) -> ShapeChecker | None:
    """The checker of a built-in type's data; None for a type tswarm does not know (its receiver drops it)."""
    return _CHECKERS.get(msg_type)
