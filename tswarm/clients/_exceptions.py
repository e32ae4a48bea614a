"""The HTTP client's own exceptions. Imports only ``tswarm.exceptions``."""

from __future__ import annotations

from tswarm.exceptions import ResponseError


class HTTPError(ResponseError):
    """A response with status 400 or above (the message names status, reason and URL, like requests)."""


class TooManyRedirects(ResponseError):
    """A chain of redirects longer than the session's ``max_redirects``."""


def http_error(status: int, reason: str, url: str) -> HTTPError:
    """The ``HTTPError`` a response with ``status`` (400 or above) carries, worded as requests words it."""
    kind = "Client" if status < 500 else "Server"
    return HTTPError(f"{status} {kind} Error: {reason} for url: {url}")
