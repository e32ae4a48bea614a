"""The default transport: HTTP/1.1 over geventhttpclient's keep-alive connection pools, one per origin.

Why the request head is written here instead of by ``geventhttpclient.HTTPClient``: per request that
class merges two header objects and checks every header with regular expressions, which costs about
as much as the rest of a request. Here the request line and ``Host`` come from the pool, the header
block from the request (rendered once), and only ``Content-Length`` is added.
"""

from __future__ import annotations

import errno
import ipaddress
import socket as socket_module
from functools import lru_cache
from typing import Any

import gevent.queue
import gevent.ssl
from gevent.socket import socket
from geventhttpclient.connectionpool import ConnectionPool, SSLConnectionPool
from geventhttpclient.header import Headers as ParsedHeaders
from geventhttpclient.response import HTTPConnectionClosed, HTTPSocketPoolResponse

from tswarm.clients._models import Request
from tswarm.clients._transports.base import PoolSettings, RawResponse
from tswarm.clients._urls import Origin

# a kept-alive connection the server closed meanwhile fails on first use: these methods may be sent again
_IDEMPOTENT = frozenset(("GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"))
_BODY_METHODS = frozenset(("POST", "PUT", "PATCH"))
_BLOCK_SIZE = 64 * 1024


def _unverified_context(**kwargs: Any) -> gevent.ssl.SSLContext:
    # like Locust's FastHttpUser with insecure=True: no certificate or hostname checks
    kwargs.pop("cafile", None)
    return gevent.ssl._create_unverified_context()


@lru_cache(maxsize=1024)
def _head_suffix(netloc: str) -> str:
    # one string for all the users of an origin instead of one each
    return f" HTTP/1.1\r\nHost: {netloc}\r\n"


class IdleSockets(list[socket]):
    """A pool's kept-alive sockets, newest last, with the part of ``gevent.queue.LifoQueue`` that
    ``ConnectionPool`` uses.

    A LifoQueue costs about 1.8 KB (two deques for waiters) and every simulated user has a pool; the
    pool never waits on this queue (its semaphore bounds how many sockets exist), so a list does.
    """

    __slots__ = ()

    def empty(self) -> bool:
        return not self

    def get(self, block: bool = True) -> socket:
        if not self:
            raise gevent.queue.Empty
        return self.pop()

    def put(self, sock: socket) -> None:
        self.append(sock)

    def peek(self, block: bool = True) -> socket:
        """The socket ``get()`` would return next, left in place."""
        if not self:
            raise gevent.queue.Empty
        return self[-1]


#: getaddrinfo's answer: family, type, protocol, canonical name, socket address
AddressInfo = tuple[socket_module.AddressFamily, socket_module.SocketKind, int, str, tuple[Any, ...]]


@lru_cache(maxsize=1024)
def _literal_address(host: str, port: int) -> list[AddressInfo] | None:
    """getaddrinfo's answer for an IP address written out, or None for a name that needs a lookup.

    The list is shared by every pool of that address: callers only iterate over it.
    """
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return None
    if ip.version == 6:
        return [
            (
                socket_module.AF_INET6,
                socket_module.SOCK_STREAM,
                socket_module.IPPROTO_TCP,
                "",
                (host, port, 0, 0),
            )
        ]
    return [(socket_module.AF_INET, socket_module.SOCK_STREAM, socket_module.IPPROTO_TCP, "", (host, port))]


class _LeanPool(ConnectionPool):
    """What the two pools below change in geventhttpclient's: a list for the idle sockets, and no
    resolver round trip (a thread hop per new connection) for a host that is an IP address."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._socket_queue = IdleSockets()

    def _resolve(self) -> list[AddressInfo]:
        literal = _literal_address(self._connection_host, self._connection_port)
        return literal if literal is not None else super()._resolve()


class LeanConnectionPool(_LeanPool):
    """geventhttpclient's pool, leaner (see ``_LeanPool``)."""


class LeanSSLConnectionPool(_LeanPool, SSLConnectionPool):
    """geventhttpclient's TLS pool, leaner (see ``_LeanPool``)."""


class HostPool:
    """The keep-alive connections to one origin, and the part of the request head that names it."""

    __slots__ = ("connections", "head_suffix", "origin")

    def __init__(self, origin: Origin, settings: PoolSettings) -> None:
        self.origin = origin
        self.head_suffix = _head_suffix(origin.netloc)
        pool_args: dict[str, Any] = {
            "size": settings.concurrency,
            "connection_timeout": settings.connection_timeout,
            "network_timeout": settings.network_timeout,
        }
        host, port = origin.host, origin.port
        if origin.secure:
            insecure = settings.insecure
            self.connections: ConnectionPool = LeanSSLConnectionPool(
                host,
                port,
                host,
                port,
                insecure=insecure,
                ssl_context_factory=_unverified_context if insecure else None,
                **pool_args,
            )
        else:
            self.connections = LeanConnectionPool(host, port, host, port, **pool_args)

    def exchange(
        self, method: str, data: bytes, stream: bool = False
    ) -> tuple[HTTPSocketPoolResponse, bytes]:
        """Send one request, read the whole response; the socket goes back to the pool when done.

        With ``stream`` only the headers are read: the caller reads the body from the response.
        """
        connections = self.connections
        retry = method in _IDEMPOTENT
        while True:
            sock = connections.get_socket()
            try:
                sock.sendall(data)
            except OSError as e:
                connections.release_socket(sock)
                if retry and e.errno in (errno.EPIPE, errno.ECONNRESET):
                    retry = False
                    continue
                raise
            except BaseException:
                connections.release_socket(sock)
                raise
            try:
                # the response puts the socket back into the pool (or closes it) itself
                raw = HTTPSocketPoolResponse(
                    sock, connections, block_size=_BLOCK_SIZE, method=method, headers_type=ParsedHeaders
                )
            except HTTPConnectionClosed:
                if retry:
                    retry = False
                    continue
                raise
            if stream:
                return raw, b""
            return raw, raw.read()

    def close(self) -> None:
        self.connections.close()


class PoolTransport:
    """Keep-alive pools opened on first use per origin, with the settings' values at that moment."""

    __slots__ = ("opened", "pools", "settings")

    def __init__(self, settings: PoolSettings) -> None:
        self.settings = settings
        self.pools: dict[tuple[str, str, int], HostPool] = {}
        # the response ``send(stream=True)`` left unread, handed on by ``open_stream``
        self.opened: HTTPSocketPoolResponse | None = None

    def pool(self, origin: Origin) -> HostPool:
        """The pool of ``origin``, opened now if there is none yet."""
        pool = self.pools.get(origin.key)
        if pool is None:
            pool = self.pools[origin.key] = HostPool(origin, self.settings)
        return pool

    def send(self, request: Request, stream: bool = False) -> RawResponse:
        """Send ``request`` and read its whole response.

        With ``stream=True`` (see ``open_stream``) the body is left unread and the result's last item is
        b"": only ``open_stream`` hands out the response to read it from.
        """
        origin = request.origin
        if origin is None:
            raise ValueError(f"no server to send {request.url!r} to")
        pool = self.pools.get(origin.key) or self.pool(origin)
        method = request.method
        body = request.body
        # the head is written once per request; only Content-Length is not part of the block
        head = f"{method} {request.target}{pool.head_suffix}{request.header_block()}"
        if body is not None:
            data = f"{head}Content-Length: {len(body)}\r\n\r\n".encode("latin-1")
            if body:
                data += body
        elif method in _BODY_METHODS:
            data = f"{head}Content-Length: 0\r\n\r\n".encode("latin-1")
        else:
            data = f"{head}\r\n".encode("latin-1")
        raw, content = pool.exchange(method, data, stream)
        if stream:
            self.opened = raw
        return raw.get_code(), raw.status_message or "", raw._headers_index, content

    # -- the streaming read path: only requests made with stream=True come here --------------------

    def open_stream(self, request: Request) -> tuple[RawResponse, HTTPSocketPoolResponse]:
        """Send ``request`` and return once its headers arrived, with the response to read the body from.

        The connection goes back to the pool when the body has been read to its end; a response
        released before that closes its connection (it is never reused with unread bytes on it).
        """
        head = self.send(request, True)
        raw, self.opened = self.opened, None
        assert raw is not None
        return head, raw

    def close(self) -> None:
        pools, self.pools = self.pools, {}
        for pool in pools.values():
            pool.close()
