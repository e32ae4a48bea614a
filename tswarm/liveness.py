"""How both ends notice a peer that vanished: the kernel's TCP keepalive and user timeout on their ZeroMQ sockets, shared by master and worker; imports zmq only.

A host cut off, or a half-open connection, is closed by the kernel on either end: keepalive probes after
KEEPALIVE_IDLE_S of silence, KEEPALIVE_COUNT of them KEEPALIVE_INTERVAL_S apart, and data left
unacknowledged for MAX_RETRANSMIT_MS (TCP_USER_TIMEOUT, ZeroMQ's ZMQ_TCP_MAXRT) ends it too: about 5 s
either way. The master then frees the identity for the worker to come back; the worker connects again.

Not ZeroMQ's own (ZMTP) heartbeats: they cost libzmq's I/O thread a ping and a pong per connection and
second (15 points of a core on a master of 2,000 workers with a secret), they close connections that are
only slow (a master behind, whose receive queue is full, cannot read the pings: reconnection churn on
top of the backlog), and on that full queue their timeout aborts the process inside libzmq 4.3
(zeromq/libzmq#3937, #4767). The kernel's probes are answered by the peer's kernel, busy or not.
"""

from __future__ import annotations

from typing import Any

import zmq

__all__ = [
    "KEEPALIVE_COUNT",
    "KEEPALIVE_IDLE_S",
    "KEEPALIVE_INTERVAL_S",
    "MAX_RETRANSMIT_MS",
    "watch_liveness",
]

KEEPALIVE_IDLE_S = 2
KEEPALIVE_INTERVAL_S = 1
KEEPALIVE_COUNT = 3
MAX_RETRANSMIT_MS = 5000


def watch_liveness(sock: Any) -> None:
    """Let the kernel close ``sock``'s connections to a peer that vanished (before it connects or binds)."""
    sock.setsockopt(zmq.TCP_KEEPALIVE, 1)
    sock.setsockopt(zmq.TCP_KEEPALIVE_IDLE, KEEPALIVE_IDLE_S)
    sock.setsockopt(zmq.TCP_KEEPALIVE_INTVL, KEEPALIVE_INTERVAL_S)
    sock.setsockopt(zmq.TCP_KEEPALIVE_CNT, KEEPALIVE_COUNT)
    sock.setsockopt(zmq.TCP_MAXRT, MAX_RETRANSMIT_MS)
