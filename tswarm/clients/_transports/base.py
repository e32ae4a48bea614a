"""The transport seam: the interface a session sends requests through. Imports only the client's models
and connection settings."""

from __future__ import annotations

from typing import Protocol

from geventhttpclient.header import Headers as ParsedHeaders

from tswarm.clients._connections import RequestOptions, Route
from tswarm.clients._models import Request
from tswarm.clients._urls import Origin

#: status, reason, parsed header fields and the body (still content-encoded) of one response
RawResponse = tuple[int, str, ParsedHeaders, bytes]


class Transport(Protocol):
    """Sends one request (no redirects, no cookies: the session does those) and reads the whole response."""

    def send(self, request: Request, options: RequestOptions | None = None) -> RawResponse:
        """Send ``request`` and return its response.

        ``options`` are the request's own connection settings (TLS, proxies, timeouts), None for the
        session's. Network errors raise requests' exception types (``ConnectionError``, ``Timeout``...).
        """
        ...

    def close(self) -> None:
        """Close every connection kept open."""
        ...


class PoolSettings(Protocol):
    """What a pooled transport reads when it opens connections to a new origin (the session's settings)."""

    concurrency: int
    connection_timeout: float
    network_timeout: float

    def route_for(self, origin: Origin, options: RequestOptions | None = None) -> Route:
        """How connections to ``origin`` are made (proxy, TLS) for a request with these ``options``."""
        ...
