"""Retries: ``session.mount(prefix, HTTPAdapter(max_retries=...))`` as requests honours it, and
FastHttpUser's ``max_retries`` as Locust's FastHttpSession (geventhttpclient's UserAgent) does.

Imports gevent (backoff sleeps), ``requests.adapters`` and ``urllib3`` (the ``Retry`` that an adapter
holds does the counting), and the client's models and exceptions. Used only when a test file asks
for retries: the plain request path never comes here.
"""

from __future__ import annotations

import errno
import socket
import ssl
from collections.abc import Callable
from typing import Any

import gevent
from requests.adapters import HTTPAdapter
from urllib3.exceptions import ConnectTimeoutError, MaxRetryError, ProtocolError
from urllib3.util.retry import Retry

from tswarm.clients._exceptions import RetryError
from tswarm.clients._headers import RequestFields
from tswarm.clients._models import Response
from tswarm.clients._urls import Origin

#: one hop as the session sends it: method, origin, target, own fields, body, dropped names
SendHop = Callable[[str, Origin, str, RequestFields | None, bytes | None, frozenset[str]], Response]

# errors raised before the request reached the server: urllib3 counts these as connect errors
_CONNECT_ERRNOS = frozenset((errno.ECONNREFUSED, errno.EHOSTUNREACH, errno.ENETUNREACH, errno.EADDRNOTAVAIL))


def _is_network_error(error: BaseException) -> bool:
    # a bug in a hook or a bad body is not retried; the network's errors are
    return isinstance(error, OSError) or type(error).__module__.startswith(
        ("geventhttpclient", "http.client")
    )


def _as_urllib3_error(error: BaseException) -> Exception:
    """The urllib3 error ``Retry.increment`` classifies ``error`` by: connect, read, or other."""
    from requests.exceptions import ConnectTimeout

    if isinstance(error, ConnectTimeout | socket.gaierror) or (
        isinstance(error, OSError) and error.errno in _CONNECT_ERRNOS
    ):
        return ConnectTimeoutError(str(error))
    if isinstance(error, ssl.SSLError):
        return Exception(str(error))  # an "other" error, as urllib3 counts a failed handshake
    return ProtocolError(str(error))


class _ResponseForRetry:
    """The part of a urllib3 response ``Retry`` reads: the status and the Retry-After header."""

    __slots__ = ("headers", "status")

    def __init__(self, response: Response) -> None:
        self.status = response.status_code
        retry_after = response.header("retry-after")
        self.headers = {"Retry-After": retry_after} if retry_after is not None else {}

    def get_redirect_location(self) -> bool:
        # the session follows redirects itself (requests' adapters send with redirect=False)
        return False


class AdapterRetries:
    """An ``HTTPAdapter``'s ``max_retries`` (a urllib3 ``Retry``) applied to each hop it is mounted for."""

    __slots__ = ("retry",)

    def __init__(self, retry: Retry) -> None:
        self.retry = retry

    def send(
        self,
        send: SendHop,
        method: str,
        origin: Origin,
        target: str,
        own: RequestFields | None,
        body: bytes | None,
        dropped: frozenset[str],
    ) -> Response:
        retry = self.retry
        url = origin.url + target
        while True:
            try:
                response = send(method, origin, target, own, body, dropped)
            except Exception as error:
                if not _is_network_error(error):
                    raise
                try:
                    retry = retry.increment(method, url, error=_as_urllib3_error(error))
                except Exception:
                    # out of retries, or an error this Retry does not retry: the request fails with it
                    raise error from None
                _sleep(retry.get_backoff_time())
                continue
            seen = _ResponseForRetry(response)
            if not retry.is_retry(method, response.status_code, "Retry-After" in seen.headers):
                return response
            try:
                retry = retry.increment(method, url, response=seen)  # type: ignore[arg-type]
            except MaxRetryError:
                if retry.raise_on_status:
                    raise RetryError(
                        f"Max retries exceeded with url: {target} "
                        f"(Caused by ResponseError('too many {response.status_code} error responses'))"
                    ) from None
                return response
            delay = retry.get_retry_after(seen) if retry.respect_retry_after_header else None  # type: ignore[arg-type]
            _sleep(delay if delay else retry.get_backoff_time())


class TemporaryErrorRetries:
    """FastHttpUser's ``max_retries``: geventhttpclient's UserAgent retries timeouts, broken pipes and
    a few other passing socket errors, for idempotent methods only, at once and at most this many times."""

    __slots__ = ("max_retries",)

    _IDEMPOTENT = frozenset(("GET", "HEAD", "PUT", "DELETE", "OPTIONS", "TRACE"))
    _PASSING_ERRNOS = frozenset((errno.ETIMEDOUT, errno.ENOLINK, errno.ENOENT, errno.EPIPE))

    def __init__(self, max_retries: int) -> None:
        self.max_retries = max_retries

    def _passing(self, error: BaseException) -> bool:
        if isinstance(error, ssl.SSLError):
            return "read operation timed out" in str(error)
        return isinstance(error, TimeoutError) or (
            isinstance(error, OSError) and error.errno in self._PASSING_ERRNOS
        )

    def send(
        self,
        send: SendHop,
        method: str,
        origin: Origin,
        target: str,
        own: RequestFields | None,
        body: bytes | None,
        dropped: frozenset[str],
    ) -> Response:
        attempts_left = self.max_retries
        while True:
            try:
                return send(method, origin, target, own, body, dropped)
            except Exception as error:
                if attempts_left <= 0 or method not in self._IDEMPOTENT or not self._passing(error):
                    raise
                attempts_left -= 1


RetryPolicy = AdapterRetries | TemporaryErrorRetries


def _sleep(seconds: float) -> None:
    if seconds > 0:
        gevent.sleep(seconds)


def _overridden_methods(adapter: HTTPAdapter) -> list[str]:
    """The methods of ``HTTPAdapter`` that the adapter's class replaces (``__init__`` aside)."""
    own_classes = [cls for cls in type(adapter).__mro__ if cls not in HTTPAdapter.__mro__]
    return sorted(
        {
            name
            for cls in own_classes
            for name, value in vars(cls).items()
            if callable(value) and name != "__init__"
        }
    )


def retry_policy(adapter: Any) -> AdapterRetries | None:
    """What mounting ``adapter`` does in tswarm: its retries (None when it retries nothing).

    Raises ``TypeError`` in one line naming the adapter when it is not a plain ``HTTPAdapter``:
    tswarm sends through its own connection pools, so an adapter's other code would never run.
    """
    kind = type(adapter)
    name = f"{kind.__module__}.{kind.__qualname__}"
    if not isinstance(adapter, HTTPAdapter):
        raise TypeError(
            f"tswarm's HttpSession cannot mount {name}: only requests.adapters.HTTPAdapter is supported "
            "(for its max_retries)"
        )
    overridden = _overridden_methods(adapter)
    if overridden:
        raise TypeError(
            f"tswarm's HttpSession cannot mount {name}: it overrides HTTPAdapter.{', '.join(overridden)}, "
            "which tswarm's own connection pools never call (only max_retries is honoured)"
        )
    retry: Retry = adapter.max_retries
    if not retry.total and retry.total is not None and not retry.status_forcelist:
        return None
    return AdapterRetries(retry)


class MountedAdapters:
    """The adapters a test file mounted, by URL prefix, looked up as requests does: the longest prefix
    that the URL starts with (case-insensitively) wins."""

    __slots__ = ("adapters", "_policies")

    def __init__(self) -> None:
        self.adapters: dict[str, HTTPAdapter] = {}
        self._policies: list[tuple[str, AdapterRetries | None]] = []

    def mount(self, prefix: str, adapter: HTTPAdapter) -> None:
        policy = retry_policy(adapter)
        self.adapters[prefix] = adapter
        self._policies = sorted(
            [(p, policy if p == prefix else dict(self._policies).get(p)) for p in self.adapters],
            key=lambda item: len(item[0]),
            reverse=True,
        )

    @property
    def retries_anything(self) -> bool:
        return any(policy is not None for _, policy in self._policies)

    def match(self, url: str) -> tuple[bool, AdapterRetries | None]:
        """Whether a mounted prefix covers ``url``, and that adapter's retries."""
        lowered = url.lower()
        for prefix, policy in self._policies:
            if lowered.startswith(prefix.lower()):
                return True, policy
        return False, None
