"""HTTP clients of simulated users: one client core behind both ``HttpUser`` and ``FastHttpUser``."""

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
