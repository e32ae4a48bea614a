"""A worker's closed connection, told by the master's socket monitor, against the messages it sent before
it closed, read from the socket: a worker that said ``quit`` and closed is never taken for a dead one,
and one that closed without a word is missing at once.

Real MasterRunners and real DEALER sockets on 127.0.0.1; the master's receive loop is held (its task
cancelled, then started again) so that a close is told while the worker's last messages still wait in
the socket, as on a master that is behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import AsyncIterator
from typing import Any

import pytest
import zmq
import zmq.asyncio
from test_master import Reader, wait_for

from tswarm.controller.link import RECEIVE_BATCH, MasterLink
from tswarm.controller.master import MasterRunner
from tswarm.env import Environment
from tswarm.events import Events
from tswarm.protocol import PROTOCOL_VERSION, decode, encode
from tswarm.stats import RequestStats

#: long enough that only a closed connection can tell a worker is gone within a test
SILENCE_TIMEOUT = 30.0


class Peer:
    """One DEALER socket of a worker, speaking docs/protocol.md."""

    def __init__(self, port: int, node_id: str, socket_suffix: str = "") -> None:
        self.node_id = node_id
        self.socket = zmq.asyncio.Context.instance().socket(zmq.DEALER)
        self.socket.setsockopt(zmq.IDENTITY, (node_id + socket_suffix).encode())
        self.socket.connect(f"tcp://127.0.0.1:{port}")

    def send(self, msg_type: str, data: Any = None) -> None:
        self.socket.send(encode(msg_type, {} if data is None else data, self.node_id))

    def hello(self) -> None:
        self.send(
            "hello", {"protocol": PROTOCOL_VERSION, "version": "test", "host": "h", "pid": 1, "cpu_count": 1}
        )

    async def acknowledged(self) -> None:
        while decode(await asyncio.wait_for(self.socket.recv(), 5)).type != "ack":
            pass

    def say_goodbye(self) -> None:
        """What a worker sends when it leaves: its final stats, stopped, quit."""
        self.send(
            "stats",
            {"stats": RequestStats().take_delta(), "user_count": 0, "user_classes_count": {}, "extra": {}},
        )
        self.send("stopped")
        self.send("quit")

    def close(self) -> None:
        # as a worker's main socket: what was sent goes out before the connection closes
        self.socket.close(linger=1000)


class Held:
    """A running master whose receive loop can be held and started again."""

    def __init__(self, runner: MasterRunner) -> None:
        self.runner = runner
        self.link: MasterLink = runner.link
        self.closes_told = 0
        handle = self.link._handle_monitor_event

        def counting(event: int, value: int, address: str | None) -> None:
            if event == zmq.EVENT_DISCONNECTED:
                self.closes_told += 1
            handle(event, value, address)

        self.link._handle_monitor_event = counting  # type: ignore[method-assign]
        self._receiving: asyncio.Task[None] | None = None

    async def hold(self) -> None:
        """Stop reading the socket: what peers send waits in it."""
        [task] = [t for t in asyncio.all_tasks() if t.get_name() == "tswarm-master-receive"]
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    def release(self) -> None:
        """Read the socket again."""
        self._receiving = asyncio.create_task(
            self.runner.link.receive_forever(self.runner._messages.on_message), name="tswarm-master-receive"
        )

    async def stop(self) -> None:
        if self._receiving is not None:
            self._receiving.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._receiving


@pytest.fixture
async def held() -> AsyncIterator[Held]:
    environment = Environment(user_classes=[Reader], events=Events())
    runner = environment.create_master_runner(
        "127.0.0.1", 0, heartbeat_interval=0.05, heartbeat_timeout=SILENCE_TIMEOUT
    )
    serving = asyncio.create_task(runner.serve())
    await wait_for(lambda: runner._bridge.loop is not None)
    master = Held(runner)
    yield master
    await master.stop()
    runner.quit()
    await asyncio.wait_for(serving, 15)


def missing_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if "is missing" in r.getMessage()]


async def test_a_quit_queued_before_the_close_is_read_first(
    held: Held, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="tswarm.master")
    peer = Peer(held.runner.bind_port, "leaving")
    peer.hello()
    await peer.acknowledged()
    await held.hold()
    # the end of a test on a busy master: the worker's last messages are queued when its close is told
    peer.say_goodbye()
    peer.close()
    await wait_for(lambda: held.closes_told == 1, what="the close told by the monitor")
    held.release()
    await wait_for(lambda: held.runner.workers.departed("leaving"), what="the quit handled")
    await wait_for(lambda: not held.link._closing, what="the close acted on")
    assert "Worker leaving quit" in caplog.text
    assert missing_lines(caplog) == []
    assert held.runner.worker_outages() == []
    assert held.link.closed_connections == 0


async def test_a_connection_closed_before_any_of_its_messages_was_read(
    held: Held, caplog: pytest.LogCaptureFixture
) -> None:
    # the close is told before its peer is known (no message of it was read): it is its peer's, not a
    # connection that "sent no valid message"
    caplog.set_level(logging.INFO, logger="tswarm.master")
    await held.hold()
    peer = Peer(held.runner.bind_port, "brief")
    peer.hello()
    peer.say_goodbye()
    peer.close()
    await wait_for(lambda: held.closes_told == 1, what="the close told by the monitor")
    held.release()
    await wait_for(lambda: held.runner.workers.departed("brief"), what="the quit handled")
    await wait_for(lambda: not held.link._closing, what="the close acted on")
    assert missing_lines(caplog) == []
    assert held.runner.worker_outages() == []
    assert held.link.closed_connections == 0
    held.link.log_summaries(final=True)
    assert "sent no valid message" not in caplog.text


async def test_a_connection_closed_without_quit_is_missing_at_once(
    held: Held, caplog: pytest.LogCaptureFixture
) -> None:
    peer = Peer(held.runner.bind_port, "killed")
    peer.hello()
    await peer.acknowledged()
    peer.send(
        "stats",
        {"stats": RequestStats().take_delta(), "user_count": 0, "user_classes_count": {}, "extra": {}},
    )
    peer.close()
    # well within the heartbeat timeout (30 s): the closed connection tells it
    await wait_for(held.runner.worker_outages, what="the worker marked missing")
    assert [o["reason"] for o in held.runner.worker_outages()] == ["connection closed"]
    [line] = missing_lines(caplog)
    assert "Worker killed is missing: its connection closed" in line


async def test_a_worker_whose_messages_were_held_and_closed_without_quit_is_missing(held: Held) -> None:
    peer = Peer(held.runner.bind_port, "silent")
    peer.hello()
    await peer.acknowledged()
    await held.hold()
    peer.send("stopped")
    peer.close()
    await wait_for(lambda: held.closes_told == 1, what="the close told by the monitor")
    assert held.runner.worker_outages() == []  # its stopped is not read yet
    held.release()
    await wait_for(held.runner.worker_outages, what="the worker marked missing")
    assert [o["reason"] for o in held.runner.worker_outages()] == ["connection closed"]


async def test_the_heartbeat_sockets_close_leaves_the_quit_on_the_main_one_to_tell(
    held: Held, caplog: pytest.LogCaptureFixture
) -> None:
    # a worker's heartbeat socket can close before the quit on its main socket has even reached the
    # master (two connections): its close alone does not make the worker missing
    caplog.set_level(logging.INFO, logger="tswarm.master")
    main = Peer(held.runner.bind_port, "two")
    main.hello()
    await main.acknowledged()
    beats = Peer(held.runner.bind_port, "two", "#hb")
    heard: list[str] = []
    held.runner.environment.events.heartbeat_received.add_listener(
        lambda client_id, timestamp: heard.append(client_id)
    )
    beats.send("heartbeat", {"state": "ready", "user_count": 0, "cpu": 1.0, "memory": 1, "timestamp": 1.0})
    await wait_for(lambda: heard == ["two"], what="the heartbeat read")
    beats.close()
    await wait_for(lambda: held.closes_told == 1, what="the heartbeat socket's close")
    await wait_for(lambda: not held.link._closing, what="the close acted on")
    assert held.runner.worker_outages() == []
    main.say_goodbye()
    main.close()
    await wait_for(lambda: held.runner.workers.departed("two"), what="the quit handled")
    await wait_for(lambda: held.closes_told == 2 and not held.link._closing, what="the main close acted on")
    assert missing_lines(caplog) == []
    assert held.runner.worker_outages() == []


class _Frame:
    """A received ZeroMQ frame as the link reads it, from the connection ``fd``."""

    def __init__(self, data: bytes, fd: int) -> None:
        self.bytes = data
        self.fd = fd

    def get(self, option: int) -> int:
        assert option == zmq.SRCFD
        return self.fd


async def test_a_master_whose_socket_never_empties_acts_on_a_close_within_the_limit() -> None:
    # a flood of messages from one peer: the socket is never found empty, yet the close of another
    # peer's connection is acted on once it waited close_wait_limit
    link = MasterLink("127.0.0.1", 0)
    closed: list[bytes] = []
    told = asyncio.Event()

    def on_disconnect(identity: bytes) -> None:
        closed.append(identity)
        told.set()

    link.on_disconnect = on_disconnect
    link.close_wait_limit = 0.05
    gone_fd, flood_fd = os.open(os.devnull, os.O_RDONLY), os.open(os.devnull, os.O_RDONLY)
    flood = [_Frame(b"flood", flood_fd), _Frame(encode("heartbeat", {"timestamp": 1.0}, "flood"), flood_fd)]
    link._handle([_Frame(b"gone", gone_fd), flood[1]], lambda incoming: None)
    assert link._fd_peers[gone_fd] == b"gone"
    handled = 0

    def on_message(incoming: Any) -> None:
        nonlocal handled
        handled += 1

    async def never_empty(copy: bool = True) -> list[_Frame]:
        return flood

    faces = type("Faces", (), {"recv_multipart": staticmethod(never_empty)})()
    sync_face = type("SyncFace", (), {"recv_multipart": staticmethod(lambda flags=0, copy=True: flood)})()
    real_socket, real_sync_socket = link._socket, link._sync_socket
    link._socket, link._sync_socket = faces, sync_face
    receiving = asyncio.create_task(link.receive_forever(on_message))
    try:
        await asyncio.sleep(0)
        link._handle_monitor_event(zmq.EVENT_DISCONNECTED, gone_fd, None)
        assert closed == []  # its messages may still be queued
        await asyncio.wait_for(told.wait(), 5)
    finally:
        receiving.cancel()
        link._socket, link._sync_socket = real_socket, real_sync_socket
        link.close()
        os.close(gone_fd)
        os.close(flood_fd)
    assert closed == [b"gone"]
    assert handled > RECEIVE_BATCH


def test_a_new_connection_on_the_fd_of_a_closed_one_is_not_confused_with_it() -> None:
    # between a close and the moment it is acted on, the kernel can give its fd to a new connection: the
    # closed one's last frames and the new one's come in on the same fd, and each close is its own peer's
    link = MasterLink("127.0.0.1", 0)
    closed: list[bytes] = []
    link.on_disconnect = closed.append
    heartbeat = encode("heartbeat", {"timestamp": 1.0}, "x")
    fd = os.open(os.devnull, os.O_RDONLY)
    gone_fd = os.open(os.devnull, os.O_RDONLY)
    os.close(gone_fd)  # a closed connection's fd that nothing took again
    try:
        link._handle([_Frame(b"old", fd), _Frame(heartbeat, fd)], lambda incoming: None)
        link._handle_monitor_event(zmq.EVENT_DISCONNECTED, fd, None)
        link._handle_monitor_event(zmq.EVENT_ACCEPTED, fd, "127.0.0.1")
        for identity in (b"new", b"old", b"new", b"old"):  # fair-queued: the two connections interleave
            link._handle([_Frame(identity, fd), _Frame(heartbeat, fd)], lambda incoming: None)
        assert link._fd_peers[fd] == b"new"
        # a connection that closed before any of its frames was read; its fd is not in use
        link._handle_monitor_event(zmq.EVENT_DISCONNECTED, gone_fd, None)
        link._handle([_Frame(b"brief", gone_fd), _Frame(heartbeat, gone_fd)], lambda incoming: None)
        assert gone_fd not in link._fd_peers
        link._settle_closes(0.0, everything=True)
        assert closed == [b"old", b"brief"]
        link._handle_monitor_event(zmq.EVENT_DISCONNECTED, fd, None)
        link._settle_closes(0.0, everything=True)
        assert closed == [b"old", b"brief", b"new"]
        # closed before any of its frames was read, and its fd taken since: whose frames come in on
        # it cannot be told, so the close is only counted (and the new peer is not taken for gone)
        link._handle_monitor_event(zmq.EVENT_DISCONNECTED, fd, None)
        link._handle_monitor_event(zmq.EVENT_ACCEPTED, fd, "127.0.0.1")
        link._handle([_Frame(b"third", fd), _Frame(heartbeat, fd)], lambda incoming: None)
        link._settle_closes(0.0, everything=True)
        assert closed == [b"old", b"brief", b"new"]
        assert link.closed_connections == 1 and link._fd_peers[fd] == b"third"
    finally:
        link.close()
        os.close(fd)
