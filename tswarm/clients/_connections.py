"""How a session's connections are made: TLS (``verify``, ``cert``, ``ssl_context_factory``), proxies
(``proxies``, ``trust_env``, ``proxy_host``/``proxy_port``) and timeouts, for the session and per request.

A session's own settings are read when a connection pool for an origin is opened, so a plain request
pays nothing for them; changing one closes the session's pools. A request that brings its own
``verify``, ``cert``, ``proxies`` or ``timeout`` carries them as ``RequestOptions`` to the transport,
which keeps its connections apart from those made under other settings (``Route.key``).

Imports the client's ``_tls``, ``_proxy`` and ``_urls``; no network code.
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping
from functools import lru_cache
from typing import Any, NamedTuple

from tswarm.clients._proxy import ProxyMap, ProxyURL, merged, select_proxy
from tswarm.clients._tls import (
    Cert,
    ContextFactory,
    Verify,
    check_cert,
    check_verify,
    client_context,
    environment_ca_bundle,
    factory_context,
)
from tswarm.clients._urls import Origin


class Timeouts(NamedTuple):
    """requests' ``(connect, read)``: seconds to connect (TCP, proxy tunnel, TLS), and to wait between
    bytes of the response. None leaves that part to the session (``connection_timeout``,
    ``network_timeout``)."""

    connect: float | None
    read: float | None


def parse_timeout(value: Any) -> Timeouts:
    """requests' ``timeout``: one number for both parts, or a ``(connect, read)`` pair."""
    if isinstance(value, tuple | list):
        if len(value) != 2:
            raise ValueError(
                f"Invalid timeout {value!r}. Pass a (connect, read) timeout tuple, or a single float "
                "to set both timeouts to the same value."
            )
        connect, read = value
        return Timeouts(_seconds(connect), _seconds(read))
    seconds = _seconds(value)
    return Timeouts(seconds, seconds)


def _seconds(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or value <= 0:
        raise ValueError(f"a timeout must be a number of seconds above 0 or None, not {value!r}")
    return float(value)


class RequestOptions:
    """A request's own connection settings; None in a field means the session's."""

    __slots__ = ("cert", "has_cert", "proxies", "same_route", "timeouts", "verify")

    def __init__(
        self,
        timeouts: Timeouts | None,
        verify: Verify | None,
        cert: Cert,
        has_cert: bool,
        proxies: Mapping[str, Any] | None,
    ) -> None:
        self.timeouts = timeouts
        self.verify = verify
        self.cert = cert
        self.has_cert = has_cert
        self.proxies = proxies
        #: only timeouts of its own: the request goes where the session's requests go
        self.same_route = verify is None and not has_cert and proxies is None


# `timeout=10` on every request is common in Locust files: its options are made once and shared
_timeout_only: dict[Any, RequestOptions] = {}


def request_options(timeout: Any, verify: Any, cert: Any, proxies: Any) -> RequestOptions:
    """The ``RequestOptions`` of one request's arguments (checked: ``ValueError``/``TypeError``)."""
    if (
        verify is None
        and cert is None
        and proxies is None
        and isinstance(timeout, float | int | tuple)
        and timeout is not True
    ):
        options = _timeout_only.get(timeout)
        if options is None:
            options = RequestOptions(parse_timeout(timeout), None, None, False, None)
            if len(_timeout_only) < 256:
                _timeout_only[timeout] = options
        return options
    if proxies is not None and not isinstance(proxies, Mapping):
        raise TypeError(
            f"proxies must be a mapping of scheme (or scheme://host) to proxy URL, not {proxies!r}"
        )
    return RequestOptions(
        parse_timeout(timeout) if timeout is not None else None,
        check_verify(verify) if verify is not None else None,
        check_cert(cert),
        cert is not None,
        proxies,
    )


class Route:
    """How connections to one origin are made: directly or through a proxy, and with which TLS."""

    __slots__ = ("cert", "factory", "key", "proxy", "verify")

    def __init__(
        self, proxy: ProxyURL | None, verify: Verify, cert: Cert, factory: ContextFactory | None
    ) -> None:
        self.proxy = proxy
        self.verify = verify
        self.cert = cert
        self.factory = factory
        #: connections made on routes with different keys are never used for each other
        self.key = (proxy.key if proxy is not None else None, verify, cert, factory)

    @property
    def insecure(self) -> bool:
        return self.verify is False

    def ssl_context(self) -> Any:
        """The SSL context for https connections on this route (shared, unless a factory makes it)."""
        if self.factory is not None:
            return factory_context(self.factory, self.verify, self.cert)
        return client_context(self.verify, self.cert)


@lru_cache(maxsize=256)
def _route(proxy: ProxyURL | None, verify: Verify, cert: Cert, factory: ContextFactory | None) -> Route:
    # one Route for all the pools that share it: every user's pool of an origin keeps a reference
    return Route(proxy, verify, cert, factory)


class ConnectionSettings:
    """The connection settings of a session (a base class of ``HttpSession``), with requests' names.

    Attributes read by the transport when it opens a pool: ``concurrency``, ``connection_timeout``,
    ``network_timeout``, and ``route_for()``.
    """

    concurrency: int
    connection_timeout: float
    network_timeout: float
    #: Locust's FastHttpUser: a callable returning the ``ssl.SSLContext`` for https connections
    ssl_context_factory: ContextFactory | None = None
    # the defaults live on the class: a session only stores what it changes (thousands of users each)
    _verify: Verify = True
    _cert: Cert = None
    _trust_env: bool = True
    # made on first use: most sessions never have proxies of their own
    _proxies: ProxyMap | None = None

    def _init_connection_settings(
        self,
        *,
        connection_timeout: float = 60.0,
        network_timeout: float = 60.0,
        insecure: bool = True,
        concurrency: int = 10,
        trust_env: bool = True,
        ssl_context_factory: ContextFactory | None = None,
        proxy_host: str | None = None,
        proxy_port: int | None = None,
    ) -> None:
        # read by the transport whenever it opens connections to a new origin
        self.connection_timeout = connection_timeout
        self.network_timeout = network_timeout
        self.concurrency = concurrency
        if ssl_context_factory is not None:
            self.ssl_context_factory = ssl_context_factory
        if insecure:
            self._verify = False
        if not trust_env:
            self._trust_env = False
        if proxy_host:
            # Locust's FastHttpUser: every request, http and https, through this proxy
            where = f"http://{proxy_host}:{proxy_port or 80}"
            self._proxies = ProxyMap({"http": where, "https": where}, on_change=self._connections_changed)

    def _connections_changed(self) -> None:
        """Close the connections made under the old settings (not those of a pool shared with others)."""
        transport = getattr(self, "_transport", None)
        if transport is not None and getattr(transport, "settings", None) is self:
            transport.close()

    @property
    def verify(self) -> Verify:
        """requests' ``verify``: check https certificates (True), not (False), or trust a CA bundle path.

        Setting it closes the connections made so far, so that it holds for every later request.
        """
        return self._verify

    @verify.setter
    def verify(self, value: Verify) -> None:
        value = check_verify(value)
        if value != self._verify or type(value) is not type(self._verify):
            self._verify = value
            self._connections_changed()

    @property
    def insecure(self) -> bool:
        """Locust's FastHttpUser name: no certificate or hostname checks (``verify`` is False)."""
        return self._verify is False

    @insecure.setter
    def insecure(self, value: bool) -> None:
        self.verify = not value

    @property
    def cert(self) -> Cert:
        """requests' ``cert``: the client certificate (a path, or (cert, key)) sent to https servers."""
        return self._cert

    @cert.setter
    def cert(self, value: Cert) -> None:
        value = check_cert(value)
        if value != self._cert:
            self._cert = value
            self._connections_changed()

    @property
    def proxies(self) -> ProxyMap:
        """requests' ``proxies``: scheme (or ``scheme://host``, ``all``) to proxy URL, for every request."""
        if self._proxies is None:
            self._proxies = ProxyMap(on_change=self._connections_changed)
        return self._proxies

    @proxies.setter
    def proxies(self, value: Mapping[str, str]) -> None:
        self._proxies = ProxyMap(value or {}, on_change=self._connections_changed)
        self._connections_changed()

    @property
    def trust_env(self) -> bool:
        """requests' ``trust_env``: take proxies (``HTTP(S)_PROXY``, ``NO_PROXY``) and the CA bundle
        (``REQUESTS_CA_BUNDLE``) from the environment. True for HttpUser, False for FastHttpUser (as
        in Locust, whose FastHttpUser reads neither)."""
        return self._trust_env

    @trust_env.setter
    def trust_env(self, value: bool) -> None:
        if bool(value) != self._trust_env:
            self._trust_env = bool(value)
            self._connections_changed()

    def route_for(self, origin: Origin, options: RequestOptions | None = None) -> Route:
        """How to reach ``origin`` under the session's settings and a request's own ``options``."""
        verify: Verify = self._verify
        cert = self._cert
        request_proxies = None
        if options is not None:
            if options.verify is not None:
                verify = options.verify
            if options.has_cert:
                cert = options.cert
            request_proxies = options.proxies
        if not origin.secure:
            verify, cert = True, None  # no TLS: nothing to tell connections apart by
        elif verify is True and self._trust_env:
            verify = environment_ca_bundle() or True
        proxies = merged(self._proxies or {}, request_proxies)
        proxy = select_proxy(origin.url + "/", origin.host, proxies, self._trust_env)
        return _route(proxy, verify, cert, self.ssl_context_factory if origin.secure else None)


class UnderlyingClient:
    """``session.client``: what Locust's FastHttpSession calls its geventhttpclient ``UserAgent``.

    Test files use it for ``client.clientpool.close()`` (drop the kept-alive connections, so the next
    request connects anew, like a new browser); here ``clientpool`` is the session's transport.
    """

    __slots__ = ("_session",)

    def __init__(self, session: Any) -> None:
        self._session = session

    @property
    def clientpool(self) -> Any:
        """The session's connection pools (``close()`` closes every kept-alive connection)."""
        return self._session._transport

    @property
    def cookiejar(self) -> Any:
        """The session's cookies."""
        session = self._session
        return getattr(session, "cookiejar", None) or session.cookies

    @property
    def default_headers(self) -> Any:
        """The headers sent with every request (the session's)."""
        return self._session.headers

    def close(self) -> None:
        """Close every kept-alive connection of the session."""
        self._session._transport.close()

    def __repr__(self) -> str:
        return f"<UnderlyingClient of {self._session!r}>"
