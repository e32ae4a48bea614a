"""The default transport: HTTP/1.1 over geventhttpclient's keep-alive connection pools, one per origin.

Why the request head is written here instead of by ``geventhttpclient.HTTPClient``: per request that
class merges two header objects and checks every header with regular expressions, which costs about
as much as the rest of a request. Here the request line and ``Host`` come from the pool, the header
block from the request (rendered once), and only ``Content-Length`` is added.
"""

from __future__ import annotations

import contextlib
import errno
import ipaddress
import socket as socket_module
import weakref
from functools import lru_cache
from typing import Any

import gevent
import gevent.queue
from gevent.socket import socket
from geventhttpclient.connectionpool import ConnectionPool, SSLConnectionPool
from geventhttpclient.header import Headers as ParsedHeaders
from geventhttpclient.response import HTTPConnectionClosed, HTTPSocketPoolResponse

from tswarm.clients._connections import ConnectionSettings, RequestOptions, Route, Timeouts
from tswarm.clients._models import Request
from tswarm.clients._transports.base import PoolSettings, RawResponse
from tswarm.clients._urls import Origin

# a kept-alive connection the server closed meanwhile fails on first use: these methods may be sent again
_IDEMPOTENT = frozenset(("GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"))
_BODY_METHODS = frozenset(("POST", "PUT", "PATCH"))
_BLOCK_SIZE = 64 * 1024


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

    def _setup_proxy(self, sock: socket) -> None:
        # geventhttpclient says a refused tunnel with a RuntimeError; requests with a ProxyError
        try:
            super()._setup_proxy(sock)
        except RuntimeError as e:
            from tswarm.clients._transports.errors import proxy_error

            raise proxy_error(f"{self._connection_host}:{self._connection_port}: {e}") from e


class LeanConnectionPool(_LeanPool):
    """geventhttpclient's pool, leaner (see ``_LeanPool``)."""


class LeanSSLConnectionPool(_LeanPool, SSLConnectionPool):
    """geventhttpclient's TLS pool, leaner (see ``_LeanPool``)."""


class HostPool:
    """The keep-alive connections to one origin on one route, and the part of the request head that
    names it."""

    __slots__ = ("connections", "head_suffix", "origin", "route", "target_prefix")

    def __init__(self, origin: Origin, settings: PoolSettings, route: Route) -> None:
        self.origin = origin
        self.route = route
        self.head_suffix = _head_suffix(origin.netloc)
        #: what comes before the target on the request line: a proxy is sent the absolute URL
        self.target_prefix = ""
        pool_args: dict[str, Any] = {
            "size": settings.concurrency,
            "connection_timeout": settings.connection_timeout,
            "network_timeout": settings.network_timeout,
        }
        host, port = origin.host, origin.port
        proxy = route.proxy
        connect_host, connect_port = (proxy.host, proxy.port) if proxy is not None else (host, port)
        if origin.secure:
            if proxy is not None:
                # an https request goes through a CONNECT tunnel, opened by geventhttpclient's pool
                pool_args.update(use_proxy=True, proxy_user=proxy.user, proxy_password=proxy.password)
            context = route.ssl_context()
            self.connections: ConnectionPool = LeanSSLConnectionPool(
                connect_host,
                connect_port,
                host,
                port,
                insecure=route.insecure,
                ssl_context_factory=lambda **_: context,
                **pool_args,
            )
        else:
            if proxy is not None:
                # plain http is sent to the proxy as it is, with the absolute URL as its target
                self.target_prefix = origin.url
                if proxy.authorization is not None:
                    self.head_suffix += f"Proxy-Authorization: {proxy.authorization}\r\n"
            self.connections = LeanConnectionPool(connect_host, connect_port, host, port, **pool_args)

    def exchange(
        self,
        method: str,
        data: bytes,
        timeouts: Timeouts | None = None,
        taken: list[socket] | None = None,
        stream: bool = False,
    ) -> tuple[HTTPSocketPoolResponse, bytes]:
        """Send one request, read the whole response; the socket goes back to the pool when done.

        With ``stream`` only the headers are read: the caller reads the body from the response.

        Args:
            method: the request's method (idempotent ones are sent again once on a stale connection).
            data: the request as it goes on the wire.
            timeouts: the request's own connect and read timeouts (else the pool's); only with
            taken: where the sockets given a request's read timeout are listed (see ``exchange_within``).

        Raises:
            requests.exceptions.RequestException: ``ConnectTimeout``, ``ReadTimeout``, ``SSLError``,
                ``ProxyError`` or ``ConnectionError`` (see ``errors``).
        """
        connections = self.connections
        retry = method in _IDEMPOTENT
        while True:
            try:
                sock = connections.get_socket() if timeouts is None else self._socket_within(timeouts, taken)
            except Exception as e:
                raise self._connect_error(e, timeouts) from e
            try:
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
            except Exception as e:
                from tswarm.clients._transports.errors import exchange_error

                read = (
                    timeouts.read if timeouts is not None and timeouts.read else connections.network_timeout
                )
                raise exchange_error(e, self.origin.netloc, read) from e

    def exchange_within(
        self, method: str, data: bytes, timeouts: Timeouts, stream: bool = False
    ) -> tuple[HTTPSocketPoolResponse, bytes]:
        """``exchange`` with a request's own timeouts; its sockets keep the pool's timeout afterwards
        (a streamed body is read with the pool's)."""
        taken: list[socket] = []
        try:
            return self.exchange(method, data, timeouts, taken, stream)
        finally:
            # by now the socket may be back in the pool: there it waits with the pool's timeout
            for sock in taken:
                sock.settimeout(self.connections.network_timeout)

    def _socket_within(self, timeouts: Timeouts, taken: list[socket] | None) -> socket:
        """A connection (kept alive, or new: TCP, proxy tunnel, TLS) within the connect timeout, set to
        the read timeout."""
        connect = timeouts.connect
        if connect is None:
            sock = self.connections.get_socket()
        else:
            timer = gevent.Timeout.start_new(connect)
            try:
                sock = self.connections.get_socket()
            except gevent.Timeout as e:
                if e is not timer:
                    raise
                raise TimeoutError(f"no connection within {connect} s") from None
            finally:
                timer.close()
        if timeouts.read is not None:
            sock.settimeout(timeouts.read)
            if taken is not None:
                taken.append(sock)
        return sock

    def _connect_error(self, error: Exception, timeouts: Timeouts | None) -> BaseException:
        from tswarm.clients._transports.errors import connect_error

        proxy = self.route.proxy
        return connect_error(
            error,
            self.origin.netloc,
            f"{proxy.host}:{proxy.port}" if proxy is not None else None,
            timeouts.connect
            if timeouts is not None and timeouts.connect
            else self.connections.connection_timeout,
        )

    def close(self) -> None:
        self.connections.close()


class PoolTransport:
    """Keep-alive pools opened on first use per origin, with the settings' values at that moment.

    A request with its own connection settings (``RequestOptions``) uses the origin's pool when they
    come to the same route, else a pool of that route's own.
    """

    __slots__ = ("opened", "pools", "routed", "settings")

    def __init__(self, settings: PoolSettings) -> None:
        self.settings = settings
        self.pools: dict[tuple[str, str, int], HostPool] = {}
        # the response ``send(stream=True)`` left unread, handed on by ``open_stream``
        self.opened: HTTPSocketPoolResponse | None = None
        #: pools of requests whose own settings differ from the session's, made on first use
        self.routed: dict[tuple[Any, ...], HostPool] | None = None

    def pool(self, origin: Origin) -> HostPool:
        """The pool of ``origin``, opened now if there is none yet."""
        pool = self.pools.get(origin.key)
        if pool is None:
            pool = self.pools[origin.key] = HostPool(origin, self.settings, self.settings.route_for(origin))
        return pool

    def routed_pool(self, origin: Origin, options: RequestOptions) -> HostPool:
        """The pool for ``origin`` under a request's own settings."""
        pool = self.pools.get(origin.key)
        if options.same_route:
            return pool or self.pool(origin)
        route = self.settings.route_for(origin, options)
        if pool is None and route.key == self.settings.route_for(origin).key:
            pool = self.pool(origin)
        if pool is not None and pool.route.key == route.key:
            return pool
        routed = self.routed
        if routed is None:
            routed = self.routed = {}
        key = (origin.key, route.key)
        pool = routed.get(key)
        if pool is None:
            pool = routed[key] = HostPool(origin, self.settings, route)
        return pool

    def send(
        self, request: Request, options: RequestOptions | None = None, stream: bool = False
    ) -> RawResponse:
        """Send ``request`` and read its whole response.

        With ``stream=True`` (see ``open_stream``) the body is left unread and the result's last item is
        b"": only ``open_stream`` hands out the response to read it from.
        """
        origin = request.origin
        if origin is None:
            raise ValueError(f"no server to send {request.url!r} to")
        if options is None:
            pool = self.pools.get(origin.key) or self.pool(origin)
        else:
            pool = self.routed_pool(origin, options)
        method = request.method
        body = request.body
        # the head is written once per request; only Content-Length is not part of the block
        head = f"{method} {pool.target_prefix}{request.target}{pool.head_suffix}{request.header_block()}"
        if body is not None:
            data = f"{head}Content-Length: {len(body)}\r\n\r\n".encode("latin-1")
            if body:
                data += body
        elif method in _BODY_METHODS:
            data = f"{head}Content-Length: 0\r\n\r\n".encode("latin-1")
        else:
            data = f"{head}\r\n".encode("latin-1")
        if options is None or options.timeouts is None:
            raw, content = pool.exchange(method, data, stream=stream)
        else:
            raw, content = pool.exchange_within(method, data, options.timeouts, stream)
        if stream:
            self.opened = raw
        return raw.get_code(), raw.status_message or "", raw._headers_index, content

    # -- the streaming read path: only requests made with stream=True come here --------------------

    def open_stream(
        self, request: Request, options: RequestOptions | None = None
    ) -> tuple[RawResponse, HTTPSocketPoolResponse]:
        """Send ``request`` and return once its headers arrived, with the response to read the body from.

        The connection goes back to the pool when the body has been read to its end; a response
        released before that closes its connection (it is never reused with unread bytes on it).
        """
        head = self.send(request, options, True)
        raw, self.opened = self.opened, None
        assert raw is not None
        return head, raw

    def close(self) -> None:
        pools, self.pools = self.pools, {}
        routed, self.routed = self.routed, None
        for pool in pools.values():
            pool.close()
        for pool in (routed or {}).values():
            pool.close()


# HTTPClientPool object -> the transport of the sessions that share it; gone with the object
_shared: weakref.WeakKeyDictionary[Any, PoolTransport] = weakref.WeakKeyDictionary()


def shared_transport(client_pool: Any) -> PoolTransport:
    """The transport of every session given ``client_pool`` (Locust's FastHttpUser ``client_pool``).

    ``client_pool`` is a geventhttpclient ``HTTPClientPool`` (or anything with its ``client_args``): as in
    Locust, the connections are made with its arguments (``concurrency``, ``connection_timeout``,
    ``network_timeout``, ``insecure``, ``ssl_context_factory``, ``proxy_host``/``proxy_port``) and the
    sessions' own ones do not apply; ``close()`` on it, or on any session's ``client.clientpool``, closes
    the connections of all of them.
    """
    transport = _shared.get(client_pool)
    if transport is None:
        args: dict[str, Any] = dict(getattr(client_pool, "client_args", {}) or {})
        settings = ConnectionSettings()
        settings._init_connection_settings(
            # geventhttpclient's HTTPClient defaults: one connection, certificates checked
            connection_timeout=args.get("connection_timeout", ConnectionPool.DEFAULT_CONNECTION_TIMEOUT),
            network_timeout=args.get("network_timeout", ConnectionPool.DEFAULT_NETWORK_TIMEOUT),
            insecure=bool(args.get("insecure", False)),
            concurrency=int(args.get("concurrency", 1)),
            trust_env=False,
            ssl_context_factory=args.get("ssl_context_factory"),
            proxy_host=args.get("proxy_host"),
            proxy_port=args.get("proxy_port"),
        )
        transport = _shared[client_pool] = PoolTransport(settings)
        # the object's own close() is what Locust files call to drop the shared connections
        original_close = getattr(client_pool, "close", None)

        def close_all() -> None:
            transport.close()
            if original_close is not None:
                original_close()

        with contextlib.suppress(AttributeError, TypeError):
            client_pool.close = close_all
    return transport
