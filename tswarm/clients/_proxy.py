"""Which proxy a request goes through, with requests' rules, and the proxy's address and credentials.

``proxies`` maps a scheme (``http``, ``https``, ``all``) or a scheme and host (``http://example.com``,
``all://example.com``) to a proxy URL, as in requests. With ``trust_env`` the ``HTTP_PROXY``,
``HTTPS_PROXY``, ``ALL_PROXY`` and ``NO_PROXY`` environment variables fill in what ``proxies`` leaves
out, as requests does, except that a loopback host (``localhost``, ``127.x``, ``::1``) never takes a
proxy from the environment: a proxy set for the machine is meant for leaving it, and a local target
reached through it would measure the proxy. A proxy given explicitly is used for every host.

Imports ``requests.utils`` lazily (only when a session uses proxies or reads the environment).
"""

from __future__ import annotations

import base64
import ipaddress
import os
from collections.abc import Callable, Iterable, Mapping
from typing import Any
from urllib.parse import unquote, urlsplit

_PROXY_VARIABLES = ("http_proxy", "https_proxy", "all_proxy")


class ProxyURL:
    """One proxy: where to connect, and the ``Proxy-Authorization`` its URL's credentials make."""

    __slots__ = ("authorization", "host", "key", "password", "port", "url", "user")

    def __init__(self, url: str) -> None:
        if "://" not in url:
            url = "http://" + url  # requests reads "host:port" as an http proxy
        parts = urlsplit(url)
        if parts.scheme != "http":
            raise ValueError(
                f"proxy {url!r}: tswarm reaches proxies over plain http (http://host:port), "
                f"not {parts.scheme!r}"
            )
        if not parts.hostname:
            raise ValueError(f"proxy URL {url!r} names no host")
        self.host = parts.hostname
        self.port = parts.port or 80
        self.user = unquote(parts.username) if parts.username is not None else None
        self.password = unquote(parts.password) if parts.password is not None else None
        #: the header value sent to the proxy, None without credentials
        self.authorization: str | None = None
        if self.user is not None or self.password is not None:
            token = f"{self.user or ''}:{self.password or ''}".encode("latin-1")
            self.authorization = "Basic " + base64.b64encode(token).decode("ascii")
        self.url = url
        #: what pools are told apart by
        self.key = (self.host, self.port, self.authorization)

    def __repr__(self) -> str:
        return f"ProxyURL({self.host}:{self.port})"


def is_loopback(host: str) -> bool:
    """Whether ``host`` names this machine (``localhost``, ``*.localhost``, 127.0.0.0/8, ::1)."""
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def environment_has_proxies() -> bool:
    """Whether any proxy variable is set (most machines have none: then nothing more is read)."""
    environ = os.environ
    return any(environ.get(name) or environ.get(name.upper()) for name in _PROXY_VARIABLES)


def merged(
    session_proxies: Mapping[str, str | None], request_proxies: Mapping[str, Any] | None
) -> dict[str, str]:
    """A request's proxies over the session's, as requests merges them (a None value removes a key)."""
    result = {key: value for key, value in session_proxies.items() if value is not None}
    if request_proxies:
        for key, value in request_proxies.items():
            if value is None:
                result.pop(key, None)
            else:
                result[key] = value
    return result


def select_proxy(url: str, host: str, proxies: Mapping[str, str], trust_env: bool) -> ProxyURL | None:
    """The proxy for ``url`` (whose host is ``host``), or None to connect directly.

    Raises:
        ValueError: the chosen proxy URL is not one tswarm can use.
    """
    if not proxies and not (trust_env and environment_has_proxies()):
        return None
    from requests import utils as requests_utils

    chosen_from = dict(proxies)
    if trust_env and not is_loopback(host):
        environment = requests_utils.get_environ_proxies(url, no_proxy=chosen_from.get("no_proxy"))
        for key, value in environment.items():
            chosen_from.setdefault(key, value)
    chosen = requests_utils.select_proxy(url, chosen_from)
    return _proxy_url(chosen) if chosen else None


_proxy_cache: dict[str, ProxyURL] = {}


def _proxy_url(url: str) -> ProxyURL:
    proxy = _proxy_cache.get(url)
    if proxy is None:
        proxy = ProxyURL(url)
        if len(_proxy_cache) < 256:
            _proxy_cache[url] = proxy
    return proxy


class ProxyMap(dict[str, str]):
    """``session.proxies``: a dict that tells its session when it changes, so that connections made
    through the old proxies are not used for the new ones."""

    def __init__(
        self, initial: Mapping[str, str] | Iterable[tuple[str, str]] = (), *, on_change: Callable[[], None]
    ):
        super().__init__(initial)
        self._on_change = on_change

    def __setitem__(self, key: str, value: str) -> None:
        super().__setitem__(key, value)
        self._on_change()

    def __delitem__(self, key: str) -> None:
        super().__delitem__(key)
        self._on_change()

    def update(self, *args: Any, **kwargs: Any) -> None:
        super().update(*args, **kwargs)
        self._on_change()

    def __ior__(self, other: Any) -> ProxyMap:  # type: ignore[override,misc]
        super().update(other)
        self._on_change()
        return self

    def setdefault(self, key: str, default: str = "") -> str:
        had = key in self
        value = super().setdefault(key, default)
        if not had:
            self._on_change()
        return value

    def pop(self, key: str, *default: Any) -> Any:
        value = super().pop(key, *default)
        self._on_change()
        return value

    def popitem(self) -> tuple[str, str]:
        item = super().popitem()
        self._on_change()
        return item

    def clear(self) -> None:
        super().clear()
        self._on_change()
