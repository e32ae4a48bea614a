"""The ZeroMQ identities a worker's sockets take: its node id, plus a suffix for its side sockets.

Plain Python (no ZeroMQ here): the worker sets these identities, the master reads them back.
"""

from __future__ import annotations

__all__ = [
    "FETCH_SUFFIX",
    "HEARTBEAT_SUFFIX",
    "MASTER_NODE_ID",
    "fetch_identity",
    "heartbeat_identity",
    "split_identity",
]

#: the node id the master signs its messages with (workers' ids are ``HOSTNAME_PID_RANDOMHEX``)
MASTER_NODE_ID = "master"
#: the heartbeat socket of a worker (driven by a native thread): ``NODEID#hb``
HEARTBEAT_SUFFIX = "#hb"
#: the socket a ``-f -`` worker fetches its test file on, before it says hello: ``NODEID#fetch``
FETCH_SUFFIX = "#fetch"


def heartbeat_identity(node_id: str) -> bytes:
    """The identity of the heartbeat socket of worker ``node_id``."""
    return (node_id + HEARTBEAT_SUFFIX).encode()


def fetch_identity(node_id: str) -> bytes:
    """The identity of the test-file socket of worker ``node_id``."""
    return (node_id + FETCH_SUFFIX).encode()


def split_identity(peer: str) -> tuple[str, bool]:
    """``(node id, True)`` for a heartbeat socket's identity, else ``(peer, False)``."""
    if peer.endswith(HEARTBEAT_SUFFIX):
        return peer[: -len(HEARTBEAT_SUFFIX)], True
    return peer, False
