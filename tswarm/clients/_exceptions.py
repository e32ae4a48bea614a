"""The HTTP client's exceptions: requests' types, so that a Locust file's ``except
requests.exceptions.X`` works, under the names tswarm reported before.

Imports ``requests.exceptions`` and ``tswarm.exceptions``.

A network error keeps the class name and arguments it had (``ConnectionRefusedError(111, 'Connection
refused')``: the failures table groups by that text) and also becomes one of requests' types: a
"twin" class derives from both, so ``except ConnectionRefusedError`` and ``except
requests.exceptions.ConnectionError`` catch the same error.
"""

from __future__ import annotations

import ssl
from typing import Any

import requests.exceptions as requests_errors

from tswarm.exceptions import ResponseError


class HTTPError(requests_errors.HTTPError, ResponseError):
    """A response with status 400 or above (the message names status, reason and URL, like requests).

    Both a ``requests.exceptions.HTTPError`` and a ``ResponseError`` (a ``catch_response`` block
    swallows it and reports the request as failed).
    """


class TooManyRedirects(requests_errors.TooManyRedirects, ResponseError):
    """A chain of redirects longer than the session's ``max_redirects``."""


class InvalidURL(requests_errors.InvalidURL):
    """A URL with no host, or one that cannot be parsed."""


class InvalidSchema(requests_errors.InvalidSchema):
    """A URL whose scheme is neither http nor https (requests: "No connection adapters were found")."""


class MissingSchema(requests_errors.MissingSchema):
    """A relative URL on a session that has no base URL to resolve it against."""


class RetryError(requests_errors.RetryError):
    """A mounted ``HTTPAdapter``'s retries ran out on error statuses and its ``Retry`` raises on status."""


class JSONDecodeError(requests_errors.JSONDecodeError):
    """``Response.json()`` on a body that is not JSON (also a ``ValueError``, as in requests)."""


def http_error(status: int, reason: str, url: str, response: Any = None) -> HTTPError:
    """The ``HTTPError`` a response with ``status`` (400 or above) carries, worded as requests words it."""
    kind = "Client" if status < 500 else "Server"
    return HTTPError(f"{status} {kind} Error: {reason} for url: {url}", response=response)


#: (error class, requests' type) -> the class that is both; bounded, as error classes come from anywhere
_twins: dict[tuple[type[BaseException], type[BaseException]], type[requests_errors.RequestException]] = {}
MAX_TWINS = 256


def requests_twin(
    kind: type[BaseException], base: type[requests_errors.RequestException]
) -> type[requests_errors.RequestException]:
    """A class that is both ``kind`` and requests' ``base``, named as ``kind`` (so its repr is unchanged);
    ``base`` itself when the two cannot share an instance layout."""
    twin = _twins.get((kind, base))
    if twin is None:
        namespace = {"__module__": kind.__module__, "__qualname__": kind.__qualname__}
        try:
            twin = type(kind.__name__, (base, kind), namespace)
        except TypeError:
            twin = base
        if len(_twins) < MAX_TWINS:
            _twins[kind, base] = twin
    return twin


def _requests_base(error: BaseException) -> type[requests_errors.RequestException] | None:
    """Which of requests' types requests raises for ``error``, None for an error it does not wrap."""
    if isinstance(error, TimeoutError):
        return requests_errors.ReadTimeout
    if isinstance(error, ssl.SSLError):
        return requests_errors.SSLError
    if isinstance(error, OSError):
        # refused, reset, aborted, broken pipe, unreachable, name resolution: all ConnectionError in requests
        return requests_errors.ConnectionError
    if type(error).__module__.startswith(("geventhttpclient", "http.client")):
        # the connection closed before a whole response, or a response that does not parse
        return requests_errors.ConnectionError
    return None


def as_requests_error(error: BaseException) -> BaseException:
    """``error`` as the type requests raises for it, with the same name, arguments and cause.

    Errors that already are requests' (or that requests would not wrap, like a bug in a hook) come
    back as they are. Only called once a request failed: never on the plain path.
    """
    if isinstance(error, requests_errors.RequestException):
        return error
    base = _requests_base(error)
    if base is None:
        return error
    try:
        twin = requests_twin(type(error), base)(*error.args)
    except Exception:  # an exception class whose constructor wants other arguments
        twin = base(str(error))
    if isinstance(error, OSError) and isinstance(twin, OSError) and error.filename is not None:
        # set only when there is one: a filename of None would still show in str()
        twin.filename = error.filename
    twin.__cause__ = error.__cause__
    twin.__context__ = error.__context__
    twin.__traceback__ = error.__traceback__
    return twin
