"""The transport seam: the interface a session sends requests through. Imports only the client's models."""

from __future__ import annotations

from typing import Protocol

from geventhttpclient.header import Headers as ParsedHeaders

from tswarm.clients._models import Request

#: status, reason, parsed header fields and the body (still content-encoded) of one response
RawResponse = tuple[int, str, ParsedHeaders, bytes]


class Transport(Protocol):
    """Sends one request (no redirects, no cookies: the session does those) and reads the whole response."""

    def send(self, request: Request) -> RawResponse:
        """Send ``request`` and return its response; network errors raise (``OSError``, timeouts)."""
        ...

    def close(self) -> None:
        """Close every connection kept open."""
        ...


class PoolSettings(Protocol):
    """What a pooled transport reads when it opens connections to a new origin (the session's settings)."""

    concurrency: int
    connection_timeout: float
    network_timeout: float
    insecure: bool
