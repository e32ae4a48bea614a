"""The master's end of the wire: its ZeroMQ ROUTER socket, frame checks and per-peer bad-frame counts.

Frames are capped in size before they are decoded (ZMQ_MAXMSGSIZE), decoded and checked by
:mod:`tswarm.protocol`, and a peer's identity is split into its node id and whether it is the heartbeat
socket. What does not pass is counted, and logged once per peer. A socket monitor tells which peer's
connection closed (so that a dead worker is known at once, once the messages it sent before its close
are read) and counts the connections ZeroMQ closes (junk, frames over the size cap), logged as one
summary line per interval. May import tswarm.protocol and zmq.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import resource
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import zmq
import zmq.asyncio
from zmq.utils.monitor import parse_monitor_message

from tswarm.controller.run_log import printable
from tswarm.liveness import watch_liveness
from tswarm.protocol import (
    MASTER_NODE_ID,
    MAX_FRAME_BYTES,
    Message,
    ProtocolError,
    decode,
    encode,
    split_identity,
)
from tswarm.secret import CurveKeys, ZapHandler

__all__ = ["MAX_TRACKED_PEERS", "Incoming", "MasterLink"]

log = logging.getLogger("tswarm.master")

#: peers whose bad frames are counted one by one (beyond that, only the total grows)
MAX_TRACKED_PEERS = 10_000
#: bad-frame warnings logged one by one per SUMMARY_INTERVAL; the others are summed up in one line
PEER_WARNINGS_PER_INTERVAL = 5
#: how often the counts of closed connections and unlogged bad frames are logged (when not zero)
SUMMARY_INTERVAL = 10.0
#: how often running out of file descriptors is logged
FD_WARNING_INTERVAL = 60.0
#: connections waiting to be accepted (the kernel caps it at net.core.somaxconn)
LISTEN_BACKLOG = 4096
#: messages taken from the socket per turn of the loop, beyond the first (see receive_forever)
RECEIVE_BATCH = 256
#: how often the monitor thread looks whether the link closed
MONITOR_POLL_MS = 100
#: the longest a closed connection waits for the messages queued before its close to be read (s), unless
#: the owner sets MasterLink.close_wait_limit (the master sets its heartbeat timeout)
CLOSE_WAIT_LIMIT = 3.0
#: the monitor events the master reacts to
_MONITOR_EVENTS = (
    zmq.EVENT_DISCONNECTED
    | zmq.EVENT_ACCEPT_FAILED
    | zmq.EVENT_ACCEPTED
    | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL
    | zmq.EVENT_HANDSHAKE_FAILED_AUTH
)
#: handshake failures that mean the peer does not hold this master's secret (or holds one it has not)
_AUTH_FAILURES = {
    zmq.PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH,
    zmq.PROTOCOL_ERROR_ZMTP_CRYPTOGRAPHIC,
    zmq.PROTOCOL_ERROR_ZMTP_KEY_EXCHANGE,
}


@dataclass(slots=True)
class _ClosedConnection:
    """A connection the monitor saw close, whose consequence waits until the messages it sent are read."""

    fd: int
    #: its peer's identity; None while none of its messages was read
    identity: bytes | None
    #: when it is acted on even though the socket was never found empty since (time.monotonic)
    deadline: float
    #: another connection was accepted on the same fd since: frames from the fd may be that one's
    fd_reused: bool = False


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

    def __init__(self, host: str, port: int, keys: CurveKeys | None = None) -> None:
        #: frames dropped because they were not valid messages (any peer), for tests and diagnostics
        self.protocol_errors = 0
        #: bad frames per peer, for the first MAX_TRACKED_PEERS peers
        self.peer_errors: dict[str, int] = {}
        self.closed = False
        self._reconnect_asked: dict[str, float] = {}
        self._refusals_logged: set[str] = set()
        #: file descriptor -> identity of the peer whose frames last came in on it (see SRCFD)
        self._fd_peers: dict[int, bytes] = {}
        #: identity -> the file descriptor of its open connection (the reverse of _fd_peers)
        self._peer_fds: dict[bytes, int] = {}
        #: called with the identity of a peer whose connection closed, once the messages it sent before
        #: are read (see receive_forever)
        self.on_disconnect: Callable[[bytes], None] | None = None
        #: the longest a close waits for those messages, when the socket is never found empty (s)
        self.close_wait_limit = CLOSE_WAIT_LIMIT
        #: closed connections not acted on yet, in the order they closed, and by file descriptor
        self._closing: list[_ClosedConnection] = []
        self._closing_on_fd: dict[int, list[_ClosedConnection]] = {}
        #: the receive loop's wait for a message, while it waits (see _settle_if_idle)
        self._waiting: Any = None
        #: connections ZeroMQ closed that never carried a message (junk, failed handshakes, oversize)
        self.closed_connections = 0
        self._unsummed_closed = 0
        self._peer_warnings = 0
        self._unlogged_bad_frames = 0
        self._summary_due = time.monotonic() + SUMMARY_INTERVAL
        self._fd_warned_at = float("-inf")
        #: file descriptor -> the peer's address, from its connection's acceptance to its end
        self._fd_addresses: dict[int, str] = {}
        #: the last handshake failure, told before the DISCONNECTED event of its connection
        self._handshake_failure: str | None = None
        #: hosts whose refused connections were logged (once each)
        self._refused_hosts: set[str] = set()
        #: connections refused for want of the secret (or with a secret this master does not have)
        self.refused_connections = 0
        self.secured = keys is not None
        self._context = zmq.Context()
        if keys is not None:
            # before the socket exists: no connection may be accepted without it
            self._zap = ZapHandler(self._context, keys)
        self._sync_socket = self._context.socket(zmq.ROUTER)
        if keys is not None:
            keys.secure_master(self._sync_socket)
        self._sync_socket.setsockopt(zmq.LINGER, 0)
        self._sync_socket.setsockopt(zmq.MAXMSGSIZE, MAX_FRAME_BYTES)
        # No ROUTER_HANDOVER: with it, any peer that connects under a worker's node id (it is in the
        # logs) takes that worker's identity and cuts it off. Without it, a second connection under an
        # identity in use is refused; a worker's own dead connection is closed by the kernel (TCP
        # keepalive and user timeout: tswarm.liveness), so that the worker can come back under its id.
        self._sync_socket.setsockopt(zmq.ROUTER_HANDOVER, 0)
        watch_liveness(self._sync_socket)
        # frames queued per connection before TCP pushes back on the sender: 8 frames of MAX_FRAME_BYTES
        # at most (ZeroMQ's default, 1,000, would let one peer park 16 GB here)
        self._sync_socket.setsockopt(zmq.RCVHWM, 8)
        # ZeroMQ listens with a backlog of 100: thousands of workers started at once (a Kubernetes
        # Deployment) would see their connections dropped and retried after TCP's growing back-off
        self._sync_socket.setsockopt(zmq.BACKLOG, LISTEN_BACKLOG)
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
        self._sync_monitor: zmq.Socket[bytes] | None = None
        self._monitor_thread: threading.Thread | None = None

    def attach(self) -> None:
        """Use the socket from the running asyncio loop."""
        self._socket = zmq.asyncio.Socket.from_socket(self._sync_socket)
        self._sync_monitor = self._sync_socket.get_monitor_socket(_MONITOR_EVENTS)

    async def watch_connections(self) -> None:
        """Follow the socket monitor until the socket closes: closed connections, refused ones.

        The monitor is read on a native thread: a refused connection's file descriptor is closed
        moments after it was accepted, so its peer's address must be read at once (ZeroMQ's events name
        the bound endpoint, never the peer); the events are then handled on this loop, in order.
        """
        loop = asyncio.get_running_loop()
        ended = asyncio.Event()
        self._monitor_thread = threading.Thread(
            target=self._read_monitor, args=(loop, ended), name="tswarm-master-monitor", daemon=True
        )
        self._monitor_thread.start()
        await ended.wait()

    def _read_monitor(self, loop: asyncio.AbstractEventLoop, ended: asyncio.Event) -> None:
        monitor = self._sync_monitor
        try:
            while monitor is not None and not self.closed:
                if not monitor.poll(MONITOR_POLL_MS):
                    continue
                event = parse_monitor_message(monitor.recv_multipart())
                kind, value = int(event["event"]), int(event["value"])
                address = _peer_address(value) if kind == zmq.EVENT_ACCEPTED else None
                loop.call_soon_threadsafe(self._on_monitor_event, kind, value, address)
        except zmq.ZMQError:
            pass
        finally:
            with contextlib.suppress(RuntimeError):  # the loop is closed already
                loop.call_soon_threadsafe(ended.set)

    def _on_monitor_event(self, event: int, value: int, address: str | None = None) -> None:
        try:
            self._handle_monitor_event(event, value, address)
        except Exception:
            log.exception("Failed to handle a socket monitor event")

    def _handle_monitor_event(self, event: int, value: int, address: str | None) -> None:
        if event == zmq.EVENT_ACCEPTED:
            if address is not None and len(self._fd_addresses) < MAX_TRACKED_PEERS:
                self._fd_addresses[value] = address
            for closed in self._closing_on_fd.get(value, ()):
                closed.fd_reused = True
        elif event in (zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL, zmq.EVENT_HANDSHAKE_FAILED_AUTH):
            if event == zmq.EVENT_HANDSHAKE_FAILED_AUTH or value in _AUTH_FAILURES:
                self._handshake_failure = (
                    "authentication failed (it has another secret, or none)"
                    if self.secured
                    else "it uses a secret, and this master has none (--secret-file or TSWARM_SECRET)"
                )
        elif event == zmq.EVENT_DISCONNECTED:
            # the handshake failure, if any, was told just before this event of its own connection
            failure, self._handshake_failure = self._handshake_failure, None
            address = self._fd_addresses.pop(value, None)
            identity = self._fd_peers.pop(value, None)
            if identity is not None and self._peer_fds.get(identity) == value:
                del self._peer_fds[identity]
            if failure is not None:
                # it never carried a message: nothing of it is queued
                self._refused(address, failure)
                self._count_closed()
                return
            # The messages it sent before it closed can still be queued in the socket (a busy master is
            # behind): a worker that sent `quit` and closed would be taken for a dead one. What the
            # close means waits until they are read (see receive_forever).
            closed = _ClosedConnection(value, identity, time.monotonic() + self.close_wait_limit)
            self._closing.append(closed)
            self._closing_on_fd.setdefault(value, []).append(closed)
            self._settle_if_idle()
        elif event == zmq.EVENT_ACCEPT_FAILED:
            if value in (errno.EMFILE, errno.ENFILE):
                self._warn_out_of_fds(value)
            else:
                self._count_closed()

    def _settle_if_idle(self) -> None:
        """Act on the closed connections at once when the receive loop waits on an empty socket: no
        message of theirs is left to read."""
        waiting = self._waiting
        if waiting is None or waiting.done():
            # the loop is between messages, or holds one it has not handed out: it settles them itself
            return
        # through the asyncio socket, which looks again for messages if this read its wake-up signal
        if not self._socket.get(zmq.EVENTS) & zmq.POLLIN:
            self._settle_closes(time.monotonic(), everything=True)

    def _settle_closes(self, now: float, *, everything: bool) -> None:
        """Act on closed connections: all of them (``everything``, when the socket was found empty
        after they closed), or those that waited their close_wait_limit."""
        if everything:
            settled, self._closing = self._closing, []
        else:
            due = 0
            while due < len(self._closing) and self._closing[due].deadline <= now:
                due += 1
            if not due:
                return
            settled, self._closing = self._closing[:due], self._closing[due:]
        for closed in settled:
            on_fd = self._closing_on_fd.get(closed.fd)
            if on_fd is not None:
                on_fd.remove(closed)
                if not on_fd:
                    del self._closing_on_fd[closed.fd]
            identity = closed.identity
            if identity is None:
                # a connection that never carried a valid message: junk (a failed handshake), an
                # identity already in use, or closed for a frame over the size cap
                self._count_closed()
            elif identity in self._peer_fds:
                # its peer has connected again since (a DEALER reconnects on its own): it is there
                continue
            elif self.on_disconnect is not None:
                try:
                    self.on_disconnect(identity)
                except Exception:
                    log.exception("Failed to handle the closed connection of %r", identity)

    def _refused(self, address: str | None, reason: str) -> None:
        """A connection failed to authenticate: logged once per host.

        Without its address (ZeroMQ closed the connection before the monitor could read it, as on a
        busy machine) it is only counted, and summed up with the connections that sent nothing valid:
        a line per such connection would name no one, and repeat for a peer whose other tries are
        logged under its address.
        """
        self.refused_connections += 1
        host = address
        if host is None or host in self._refused_hosts or len(self._refused_hosts) >= MAX_TRACKED_PEERS:
            return
        self._refused_hosts.add(host)
        log.warning("Refused a connection from %s: %s (further ones from it are only counted)", host, reason)

    def _count_closed(self) -> None:
        self.closed_connections += 1
        self._unsummed_closed += 1
        self.log_summaries()

    def _warn_out_of_fds(self, error: int) -> None:
        now = time.monotonic()
        if now - self._fd_warned_at < FD_WARNING_INTERVAL:
            return
        self._fd_warned_at = now
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        wanted = max(65536, soft * 4)
        above_hard = hard != resource.RLIM_INFINITY and wanted > hard
        log.error(
            "Out of file descriptors (%s): new workers cannot connect. This process may open %d "
            "(hard limit %s); each worker takes 2. Raise the limit before starting the master: "
            "`ulimit -n %d`%s",
            errno.errorcode.get(error, error),
            soft,
            "unlimited" if hard == resource.RLIM_INFINITY else hard,
            wanted,
            " (above the hard limit: raise that first, as root, e.g. in /etc/security/limits.conf)"
            if above_hard
            else "",
        )

    def log_summaries(self, *, final: bool = False) -> None:
        """Log, at most once per SUMMARY_INTERVAL (and when ``final``), what was counted but not logged
        one by one."""
        now = time.monotonic()
        if now < self._summary_due and not final:
            return
        self._summary_due = now + SUMMARY_INTERVAL
        self._peer_warnings = 0
        if self._unsummed_closed:
            log.warning(
                "ZeroMQ closed %d connection(s) that sent no valid message in the last %.0fs (not "
                "tswarm peers, failed handshakes, or frames over %d bytes)",
                self._unsummed_closed,
                SUMMARY_INTERVAL,
                MAX_FRAME_BYTES,
            )
            self._unsummed_closed = 0
        if self._unlogged_bad_frames:
            log.warning(
                "%d more bad frame(s) from new peers in the last %.0fs (only counted)",
                self._unlogged_bad_frames,
                SUMMARY_INTERVAL,
            )
            self._unlogged_bad_frames = 0

    def _note_source(self, frame: Any) -> None:
        # which connection (fd) a peer's frames come in on, so that its closing can be told to be its
        try:
            fd = frame.get(zmq.SRCFD)
        except zmq.ZMQError:
            return
        identity = frame.bytes
        before = self._fd_peers.get(fd)
        if before == identity:
            return
        if self._closing_on_fd and self._from_closed_connection(fd, identity):
            return
        if before is not None and self._peer_fds.get(before) == fd:
            # a previous peer on this fd whose close was not told: it is not connected there any more
            del self._peer_fds[before]
        self._fd_peers[fd] = identity
        self._peer_fds[identity] = fd

    def _from_closed_connection(self, fd: int, identity: bytes) -> bool:
        """The frame of ``identity`` that came in on ``fd`` was queued by a connection that closed since
        (its fd may be another connection's by now): that one's close is its peer's."""
        on_fd = self._closing_on_fd.get(fd)
        if not on_fd:
            return False
        if any(closed.identity == identity for closed in on_fd):
            return True
        closed = on_fd[0]
        if len(on_fd) == 1 and closed.identity is None and not closed.fd_reused and not _fd_open(fd):
            # the first message read of a connection that closed before any of its messages was: with
            # the fd closed now, whichever connection had it sent this message, that connection closed
            closed.identity = identity
            return True
        return False

    async def receive_forever(self, on_message: Callable[[Incoming], None]) -> None:
        """Hand every message that passes the checks to ``on_message``, until the socket closes.

        Each wake-up of the loop takes what is queued already (up to RECEIVE_BATCH messages) without
        going back through the loop per message: with thousands of workers, a future and a loop turn
        per message cost as much as checking it. After each batch the loop gets a turn, so that the
        heartbeats, the dispatch and the signal handlers are never starved by a steady flow.

        A connection's close is acted on (``on_disconnect``) when the socket is next found empty: the
        messages that connection sent before it closed were queued before the monitor told the close,
        and have all been handed out by then. A master whose socket is never empty acts on it after
        ``close_wait_limit`` s at the latest.
        """
        sock = self._socket
        raw = self._sync_socket
        while True:
            if not self._closing:
                # wait for a message; with closes to settle, look at once whether any is queued instead
                self._waiting = sock.recv_multipart(copy=False)
                try:
                    frame_objects = await self._waiting
                except zmq.ZMQError as e:
                    if e.errno == zmq.ETERM or self.closed:
                        return
                    log.warning("Receiving failed: %s", e)
                    continue
                finally:
                    self._waiting = None
                self._handle(frame_objects, on_message)
            for _ in range(RECEIVE_BATCH):
                try:
                    frame_objects = raw.recv_multipart(zmq.NOBLOCK, copy=False)
                except zmq.Again:
                    # (the closes were told before this look, so every message of theirs was read)
                    if self._closing:
                        self._settle_closes(time.monotonic(), everything=True)
                    break
                except zmq.ZMQError as e:
                    if e.errno == zmq.ETERM or self.closed:
                        return
                    log.warning("Receiving failed: %s", e)
                    break
                self._handle(frame_objects, on_message)
            else:
                if self._closing:
                    self._settle_closes(time.monotonic(), everything=False)
            # awaiting a message that is there already returns without a turn of the loop: under a
            # steady flow (thousands of workers) the heartbeats, the dispatch, the snapshot and the
            # signal handlers would never run. One turn per batch bounds how long they wait.
            await asyncio.sleep(0)

    def _handle(self, frame_objects: list[Any], on_message: Callable[[Incoming], None]) -> None:
        self._note_source(frame_objects[0])
        frames = [f.bytes for f in frame_objects]
        try:
            incoming = self._check(frames)
            if incoming is not None:
                on_message(incoming)
        except Exception:
            log.exception("Failed to handle a message from %r", frames[0] if frames else None)

    def _check(self, frames: list[bytes]) -> Incoming | None:
        identity = frames[0]
        peer = identity.decode("utf-8", "backslashreplace")
        if not peer.isprintable():
            # no tswarm worker names itself so (host_pid_hex); shown escaped, never used as a node id
            self.bad_frame(printable(peer), "an identity with control characters")
            return None
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
        self.send_frame(identity, encode(msg_type, data, MASTER_NODE_ID))

    def send_frame(self, identity: bytes, frame: bytes) -> None:
        """Queue one encoded message (see :func:`tswarm.protocol.encode`) to the peer ``identity``.

        A ROUTER socket never blocks a send (a message to a peer that is gone, or whose queue is full,
        is dropped), so it is sent at once on the socket itself, without an asyncio future per message.
        """
        if self._socket is None or self.closed:
            return
        try:
            self._sync_socket.send_multipart([identity, frame], zmq.NOBLOCK)
        except zmq.ZMQError as e:
            log.debug("Sending failed: %s", e)

    def bad_frame(self, peer: str, reason: str) -> None:
        """Count a frame of ``peer`` that was dropped; the first one of each peer is logged."""
        self.protocol_errors += 1
        count = self.peer_errors.get(peer)
        if count is None:
            if len(self.peer_errors) >= MAX_TRACKED_PEERS:
                return
            self.peer_errors[peer] = 1
            self._peer_warnings += 1
            if self._peer_warnings > PEER_WARNINGS_PER_INTERVAL:
                # thousands of junk peers give one summary line, not thousands of warnings
                self._unlogged_bad_frames += 1
                self.log_summaries()
                return
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
        # the connections that closed since the socket was last found empty and never carried a
        # message belong in the last summary
        self._closing_on_fd.clear()
        for closed in self._closing:
            if closed.identity is None:
                self._count_closed()
        self._closing.clear()
        self.log_summaries(final=True)
        # close through the owning socket: closing only the asyncio shadow would leave the owner to
        # close the same handle again when it is collected, by then maybe another socket's
        try:
            if self._monitor_thread is not None:
                # it sees ``closed`` within one poll, and stops reading before the monitor closes
                self._monitor_thread.join(timeout=5 * MONITOR_POLL_MS / 1000)
            if self._sync_monitor is not None:
                with contextlib.suppress(zmq.ZMQError):
                    self._sync_socket.disable_monitor()
                self._sync_monitor.close(linger=0)
            self._sync_socket.close(linger=0)
        finally:
            self._context.term()


def _fd_open(fd: int) -> bool:
    """Whether ``fd`` is an open file of this process."""
    try:
        os.fstat(fd)
    except OSError:
        return False
    return True


def _peer_address(fd: int) -> str | None:
    """The IP address of the peer of ZeroMQ's connection ``fd`` (read through a duplicate of the fd);
    None when the connection is gone already."""
    try:
        with socket.socket(fileno=os.dup(fd)) as dup:
            peer = dup.getpeername()
    except OSError:
        return None
    return str(peer[0]) if isinstance(peer, tuple) else str(peer)


def bracket_host(host: str) -> str:
    """An IPv6 address in brackets, as a ZeroMQ endpoint wants it; other hosts as they are."""
    return f"[{host}]" if ":" in host and not host.startswith("[") else host
