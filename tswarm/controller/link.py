"""The master's end of the wire: its ZeroMQ ROUTER socket, frame checks and per-peer bad-frame counts.

Frames are capped in size before they are decoded (ZMQ_MAXMSGSIZE), decoded and checked by
:mod:`tswarm.protocol`, and a peer's identity is split into its node id and whether it is the heartbeat
socket. What does not pass is counted, and logged once per peer. May import tswarm.protocol and zmq.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import zmq
import zmq.asyncio

from tswarm.protocol import (
    MASTER_NODE_ID,
    MAX_FRAME_BYTES,
    Message,
    ProtocolError,
    decode,
    encode,
    split_identity,
)

__all__ = ["MAX_TRACKED_PEERS", "Incoming", "MasterLink"]

log = logging.getLogger("tswarm.master")

#: peers whose bad frames are counted one by one (beyond that, only the total grows)
MAX_TRACKED_PEERS = 10_000


@dataclass(frozen=True, slots=True)
class Incoming:
    """A message that decoded, with who sent it."""

    #: the ZeroMQ identity to answer to
    identity: bytes
    #: the identity as text, as the logs name the peer
    peer: str
    node_id: str
    #: it came from the worker's heartbeat socket (``NODEID#hb``)
    heartbeat_socket: bool
    msg: Message


class MasterLink:
    """The bound ROUTER socket of a master.

    It binds at once, so that a port in use fails where the master is made (``OSError``); ``port`` 0
    takes a free one (see :attr:`bind_port`). :meth:`attach` wraps it for the running asyncio loop.
    """

    def __init__(self, host: str, port: int) -> None:
        #: frames dropped because they were not valid messages (any peer), for tests and diagnostics
        self.protocol_errors = 0
        #: bad frames per peer, for the first MAX_TRACKED_PEERS peers
        self.peer_errors: dict[str, int] = {}
        self.closed = False
        self._reconnect_asked: dict[str, float] = {}
        self._refusals_logged: set[str] = set()
        self._context = zmq.Context()
        self._sync_socket = self._context.socket(zmq.ROUTER)
        self._sync_socket.setsockopt(zmq.LINGER, 0)
        self._sync_socket.setsockopt(zmq.MAXMSGSIZE, MAX_FRAME_BYTES)
        # frames queued per connection before TCP pushes back on the sender: 8 frames of MAX_FRAME_BYTES
        # at most (ZeroMQ's default, 1,000, would let one peer park 16 GB here)
        self._sync_socket.setsockopt(zmq.RCVHWM, 8)
        # a worker that restarts under the same node id takes its identity back
        self._sync_socket.setsockopt(zmq.ROUTER_HANDOVER, 1)
        address = f"tcp://{bracket_host(host)}"
        try:
            if port == 0:
                self.bind_port = self._sync_socket.bind_to_random_port(address)
            else:
                self._sync_socket.bind(f"{address}:{port}")
                self.bind_port = int(port)
        except zmq.ZMQError as e:
            self._sync_socket.close(linger=0)
            self._context.term()
            raise OSError(f"cannot bind the master to {address}:{port}: {e}") from None
        self._socket: Any = None

    def attach(self) -> None:
        """Use the socket from the running asyncio loop."""
        self._socket = zmq.asyncio.Socket.from_socket(self._sync_socket)

    async def receive_forever(self, on_message: Callable[[Incoming], None]) -> None:
        """Hand every message that passes the checks to ``on_message``, until the socket closes."""
        socket = self._socket
        while True:
            try:
                frames = await socket.recv_multipart()
            except zmq.ZMQError as e:
                if e.errno == zmq.ETERM or self.closed:
                    return
                log.warning("Receiving failed: %s", e)
                continue
            try:
                incoming = self._check(frames)
                if incoming is not None:
                    on_message(incoming)
            except Exception:
                log.exception("Failed to handle a message from %r", frames[0] if frames else None)

    def _check(self, frames: list[bytes]) -> Incoming | None:
        identity = frames[0]
        peer = identity.decode("utf-8", "backslashreplace")
        if len(frames) != 2:
            self.bad_frame(peer, f"{len(frames) - 1} frames instead of 1")
            return None
        try:
            msg = decode(frames[1])
        except ProtocolError as e:
            self.bad_frame(peer, str(e))
            return None
        node_id, heartbeat_socket = split_identity(peer)
        return Incoming(identity, peer, node_id, heartbeat_socket, msg)

    def send(self, identity: bytes, msg_type: str, data: Any) -> None:
        """Queue one message to the peer ``identity`` (dropped by ZeroMQ if no such peer is connected)."""
        if self._socket is None or self.closed:
            return
        future = self._socket.send_multipart([identity, encode(msg_type, data, MASTER_NODE_ID)])
        if hasattr(future, "add_done_callback"):
            future.add_done_callback(_consume_exception)

    def bad_frame(self, peer: str, reason: str) -> None:
        """Count a frame of ``peer`` that was dropped; the first one of each peer is logged."""
        self.protocol_errors += 1
        count = self.peer_errors.get(peer)
        if count is None:
            if len(self.peer_errors) >= MAX_TRACKED_PEERS:
                return
            self.peer_errors[peer] = 1
            log.warning(
                "Dropped a frame from %s: %s (further bad frames from this peer are only counted)",
                peer,
                reason,
            )
        else:
            self.peer_errors[peer] = count + 1

    def ask_to_reconnect(self, node_id: str) -> None:
        """A worker of a previous master process (or one we forgot) talks to us: ask it to say hello.

        At most once a second per node; ZeroMQ drops the message if no such peer is connected.
        """
        now = time.monotonic()
        if now - self._reconnect_asked.get(node_id, float("-inf")) < 1.0:
            return
        if len(self._reconnect_asked) >= MAX_TRACKED_PEERS:
            self._reconnect_asked.clear()
        self._reconnect_asked[node_id] = now
        self.send(node_id.encode(), "reconnect", {})

    def refuse(self, identity: bytes, node_id: str, version: str, reason: str) -> None:
        """Tell a worker that cannot take part why (logged once per node)."""
        if node_id not in self._refusals_logged and len(self._refusals_logged) < MAX_TRACKED_PEERS:
            self._refusals_logged.add(node_id)
            log.error("Refused worker %s (tswarm %s): %s", node_id, version, reason)
        self.send(identity, "refuse", {"reason": reason})

    def close(self) -> None:
        """Close the socket and its context (once)."""
        if self.closed:
            return
        self.closed = True
        # close through the owning socket: closing only the asyncio shadow would leave the owner to
        # close the same handle again when it is collected, by then maybe another socket's
        try:
            self._sync_socket.close(linger=0)
        finally:
            self._context.term()


def bracket_host(host: str) -> str:
    """An IPv6 address in brackets, as a ZeroMQ endpoint wants it; other hosts as they are."""
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


def _consume_exception(future: asyncio.Future[Any]) -> None:
    if not future.cancelled() and future.exception() is not None:
        log.debug("Sending failed: %s", future.exception())
