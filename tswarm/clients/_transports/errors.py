"""The network errors a transport raises, each one of requests' exception types.

A test file written for Locust's HttpUser catches ``requests.exceptions.ConnectionError``; one written for
FastHttpUser catches ``ConnectionRefusedError`` or ``ssl.SSLError``. An error raised here is both: its class
derives from requests' type *and* from the error the network raised, and keeps that error's name, so
``repr()`` (what the statistics show as the failure) stays what it was before requests' types were added.

Imports ``requests.exceptions``; transports import this module only when something failed, so the plain
request path never loads requests.
"""

from __future__ import annotations

from requests import exceptions as requests_errors

from tswarm.clients._exceptions import requests_twin


class ConnectTimeout(requests_errors.ConnectTimeout, TimeoutError):
    """No connection (TCP, the proxy's tunnel and TLS) within the connect timeout."""


class ReadTimeout(requests_errors.ReadTimeout, TimeoutError):
    """The server sent nothing for longer than the read timeout."""


def as_requests_error(
    error: BaseException, kind: type[requests_errors.RequestException]
) -> requests_errors.RequestException:
    """``error`` as an instance of ``kind`` that is still an instance of ``error``'s own class.

    Args:
        error: what the network raised (``ConnectionRefusedError``, ``ssl.SSLError``, ...).
        kind: the requests exception it stands for (``ConnectionError``, ``SSLError``, ``ProxyError``).
    """
    if isinstance(error, kind):
        return error
    flavoured = requests_twin(type(error), kind)
    if flavoured is kind:
        mapped = kind(f"{type(error).__name__}: {error}")
    else:
        mapped = flavoured(*error.args)
        # ssl errors keep reason, library and verify_message in their __dict__
        mapped.__dict__.update(getattr(error, "__dict__", {}))
    mapped.__cause__ = error
    mapped.__traceback__ = error.__traceback__
    result: requests_errors.RequestException = mapped
    return result


def connect_error(
    error: BaseException, where: str, proxy: str | None, connect_timeout: float | None
) -> BaseException:
    """What a failure to open a connection raises, as requests raises it.

    A timeout is a ``ConnectTimeout``; a TLS failure an ``SSLError``; a proxy that cannot be reached a
    ``ProxyError``; anything else a ``ConnectionError``. Exceptions that are not network errors are
    returned as they are.

    Args:
        error: what opening the connection raised.
        where: the server's host and port.
        proxy: the proxy's host and port when the connection goes through one.
        connect_timeout: the connect timeout in force (for the message).
    """
    import ssl

    if isinstance(error, requests_errors.RequestException):
        return error
    if isinstance(error, TimeoutError):
        return _caused(
            ConnectTimeout(f"Connection to {where} timed out. (connect timeout={connect_timeout})"), error
        )
    if isinstance(error, ssl.SSLError):
        return as_requests_error(error, requests_errors.SSLError)
    if isinstance(error, OSError):
        if proxy is not None:
            return _caused(requests_errors.ProxyError(f"Cannot connect to proxy {proxy}: {error!r}"), error)
        return as_requests_error(error, requests_errors.ConnectionError)
    return error


def exchange_error(error: BaseException, where: str, read_timeout: float | None) -> BaseException:
    """What a failure while sending a request or reading its response raises, as requests raises it."""
    import ssl

    from geventhttpclient.response import HTTPConnectionClosed

    if isinstance(error, requests_errors.RequestException):
        return error
    if isinstance(error, TimeoutError):
        return _caused(ReadTimeout(f"{where}: Read timed out. (read timeout={read_timeout})"), error)
    if isinstance(error, ssl.SSLError):
        # TLS 1.3 reports a refused client certificate on the first read, not in the handshake
        return as_requests_error(error, requests_errors.SSLError)
    if isinstance(error, OSError | HTTPConnectionClosed):
        return as_requests_error(error, requests_errors.ConnectionError)
    return error


def _caused(mapped: BaseException, cause: BaseException) -> BaseException:
    mapped.__cause__ = cause
    return mapped


def proxy_error(message: str) -> requests_errors.ProxyError:
    """The error of a proxy that refused to open a tunnel (``CONNECT`` answered with another status)."""
    return requests_errors.ProxyError(message)
