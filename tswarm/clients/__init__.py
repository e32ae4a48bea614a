"""HTTP clients of simulated users (geventhttpclient); may import gevent, requests, events and exceptions, never the runner or above."""

from __future__ import annotations

from tswarm.clients.cookies import CookieJar
from tswarm.clients.http import (
    FastHttpSession,
    HTTPError,
    HttpSession,
    Response,
    ResponseContextManager,
    TooManyRedirects,
)

__all__ = [
    "CookieJar",
    "FastHttpSession",
    "HTTPError",
    "HttpSession",
    "Response",
    "ResponseContextManager",
    "TooManyRedirects",
]
