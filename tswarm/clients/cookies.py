"""A per-user cookie jar, good enough for a load tester.

Each simulated user has its own jar, so a login in one user never leaks into another. Matching follows
the parts of RFC 6265 that tests rely on (host-only vs. Domain cookies, path prefixes, Secure,
Max-Age/Expires), and skips the rest (public suffixes, SameSite, HttpOnly have no meaning here).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator, MutableMapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime

__all__ = ["Cookie", "CookieJar"]


@dataclass(slots=True)
class Cookie:
    name: str
    value: str
    #: the host it came from, or the Domain attribute (then ``host_only`` is False); "" matches every host
    domain: str = ""
    path: str = "/"
    host_only: bool = True
    secure: bool = False
    #: epoch seconds, or None for a session cookie
    expires: float | None = None

    def matches(self, host: str, path: str, secure: bool) -> bool:
        if self.secure and not secure:
            return False
        domain = self.domain
        if domain and host != domain and (self.host_only or not host.endswith("." + domain)):
            return False
        cookie_path = self.path
        if cookie_path != "/" and path != cookie_path:
            if not path.startswith(cookie_path):
                return False
            if not cookie_path.endswith("/") and path[len(cookie_path)] != "/":
                return False
        return self.expires is None or self.expires > time.time()


def _default_path(request_path: str) -> str:
    # RFC 6265 5.1.4: the directory of the request path
    if not request_path.startswith("/") or request_path.count("/") == 1:
        return "/"
    return request_path[: request_path.rfind("/")]


class CookieJar(MutableMapping[str, str]):
    """Cookies of one session, keyed by (domain, path, name).

    As a mapping it is keyed by cookie name, like ``requests``' jar: ``jar["session"]`` is the value of
    the first cookie with that name, and ``jar["a"] = "1"`` sets a cookie sent to every host.
    """

    __slots__ = ("_cookies",)

    def __init__(self) -> None:
        self._cookies: dict[tuple[str, str, str], Cookie] = {}

    # -- what the HTTP client uses -------------------------------------------------------------

    def header_for(self, host: str, path: str, secure: bool) -> str:
        """The Cookie header value for a request, "" when nothing matches."""
        if not self._cookies:
            return ""
        expired: list[tuple[str, str, str]] = []
        now = time.time()
        pairs: list[tuple[int, str]] = []
        for key, cookie in self._cookies.items():
            if cookie.expires is not None and cookie.expires <= now:
                expired.append(key)
            elif cookie.matches(host, path, secure):
                pairs.append((-len(cookie.path), f"{cookie.name}={cookie.value}"))
        for key in expired:
            del self._cookies[key]
        # longer paths first, as RFC 6265 5.4 asks
        pairs.sort(key=lambda pair: pair[0])
        return "; ".join(text for _, text in pairs)

    def store(self, set_cookie: str, host: str, request_path: str) -> None:
        """Store (or delete, when expired) the cookie of one Set-Cookie header value."""
        first, *attributes = set_cookie.split(";")
        name, sep, value = first.partition("=")
        name = name.strip()
        if not sep or not name:
            return
        cookie = Cookie(name, value.strip().strip('"'), host, _default_path(request_path.partition("?")[0]))
        max_age: float | None = None
        for attribute in attributes:
            key, _, attr_value = attribute.partition("=")
            key = key.strip().lower()
            attr_value = attr_value.strip()
            if key == "domain" and attr_value:
                domain = attr_value.lstrip(".").lower()
                if host != domain and not host.endswith("." + domain):
                    return  # a host may not set cookies for another domain
                cookie.domain, cookie.host_only = domain, False
            elif key == "path" and attr_value.startswith("/"):
                cookie.path = attr_value
            elif key == "secure":
                cookie.secure = True
            elif key == "max-age":
                with contextlib.suppress(ValueError):
                    max_age = float(attr_value)
            elif key == "expires" and cookie.expires is None:
                with contextlib.suppress(TypeError, ValueError, IndexError):
                    cookie.expires = parsedate_to_datetime(attr_value).timestamp()
        if max_age is not None:
            cookie.expires = time.time() + max_age
        jar_key = (cookie.domain, cookie.path, cookie.name)
        if cookie.expires is not None and cookie.expires <= time.time():
            self._cookies.pop(jar_key, None)
        else:
            self._cookies[jar_key] = cookie

    def set(self, name: str, value: str, *, domain: str = "", path: str = "/") -> None:
        """Set a cookie; with no domain it is sent to every host."""
        self._cookies[(domain, path, name)] = Cookie(name, value, domain, path, host_only=False)

    def cookies(self) -> list[Cookie]:
        return list(self._cookies.values())

    # -- mapping by name -----------------------------------------------------------------------

    def __getitem__(self, name: str) -> str:
        for cookie in self._cookies.values():
            if cookie.name == name:
                return cookie.value
        raise KeyError(name)

    def __setitem__(self, name: str, value: str) -> None:
        self.set(name, value)

    def __delitem__(self, name: str) -> None:
        keys = [key for key in self._cookies if key[2] == name]
        if not keys:
            raise KeyError(name)
        for key in keys:
            del self._cookies[key]

    def __iter__(self) -> Iterator[str]:
        return iter(dict.fromkeys(cookie.name for cookie in self._cookies.values()))

    def __len__(self) -> int:
        return len(self._cookies)

    def __bool__(self) -> bool:
        return bool(self._cookies)

    def clear(self) -> None:
        self._cookies.clear()

    def get_dict(self) -> dict[str, str]:
        """Name to value of every cookie (requests' name for ``dict(jar)``)."""
        return {cookie.name: cookie.value for cookie in self._cookies.values()}

    def __repr__(self) -> str:
        return f"CookieJar({self.get_dict()!r})"
