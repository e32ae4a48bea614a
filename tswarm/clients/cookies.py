"""A per-user cookie jar, good enough for a load tester.

Each simulated user has its own jar, so a login in one user never leaks into another. Matching follows
the parts of RFC 6265 that tests rely on (host-only vs. Domain cookies, path prefixes, Secure,
Max-Age/Expires), and skips the rest (public suffixes, SameSite, HttpOnly have no meaning here).

The one jar is both requests' ``session.cookies`` and Locust FastHttpSession's ``client.cookiejar``, so
it speaks both: a mapping by cookie name (``jar["sid"]``, ``get``, ``set``, ``get_dict``, ``keys``), and
an ``http.cookiejar.CookieJar``'s calls (iterating yields the cookies themselves, ``set_cookie``,
``clear(domain, path, name)``, ``clear_session_cookies``, ``len``). Standard library only.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterable, Iterator, Mapping, MutableMapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any

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

    # -- the rest of http.cookiejar.Cookie's attributes, as test files read them ---------------------

    def is_expired(self, now: float | None = None) -> bool:
        return self.expires is not None and self.expires <= (time.time() if now is None else now)

    @property
    def discard(self) -> bool:
        """A session cookie (no expiry): dropped with the session."""
        return self.expires is None

    @property
    def domain_specified(self) -> bool:
        return not self.host_only

    @property
    def domain_initial_dot(self) -> bool:
        return False

    @property
    def path_specified(self) -> bool:
        return True

    @property
    def version(self) -> int:
        return 0

    @property
    def port(self) -> str | None:
        return None

    @property
    def port_specified(self) -> bool:
        return False

    @property
    def comment(self) -> str | None:
        return None

    @property
    def comment_url(self) -> str | None:
        return None

    @property
    def rfc2109(self) -> bool:
        return False

    def has_nonstandard_attr(self, name: str) -> bool:
        return False

    def get_nonstandard_attr(self, name: str, default: Any = None) -> Any:
        return default


def _default_path(request_path: str) -> str:
    # RFC 6265 5.1.4: the directory of the request path
    if not request_path.startswith("/") or request_path.count("/") == 1:
        return "/"
    return request_path[: request_path.rfind("/")]


class CookieJar(MutableMapping[str, str]):
    """Cookies of one session, keyed by (domain, path, name).

    As a mapping it is keyed by cookie name, like ``requests``' jar: ``jar["session"]`` is the value of
    the first cookie with that name, and ``jar["a"] = "1"`` sets a cookie sent to every host. Like
    requests' jar (an ``http.cookiejar.CookieJar`` too), iterating yields the ``Cookie`` objects and
    ``keys()``/``values()``/``items()`` go by name.
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

    def set(
        self,
        name: str,
        value: str | None,
        *,
        domain: str | None = "",
        path: str | None = "/",
        secure: bool = False,
        expires: float | None = None,
        **ignored: Any,
    ) -> None:
        """Set a cookie (requests' ``jar.set``); with no domain it is sent to every host, None deletes it.

        Other keyword arguments requests takes (``rest``, ``discard``, ...) mean nothing here.
        """
        domain = (domain or "").lstrip(".").lower()
        path = path or "/"
        if value is None:
            self._cookies.pop((domain, path, name), None)
            return
        self._cookies[(domain, path, name)] = Cookie(
            name, str(value), domain, path, host_only=False, secure=secure, expires=expires
        )

    def set_cookie(self, cookie: Any) -> None:
        """Add a cookie object: this jar's ``Cookie`` or an ``http.cookiejar.Cookie`` (requests'
        ``create_cookie`` makes those); a domain that starts with a dot covers its subdomains."""
        domain = cookie.domain or ""
        host_only = bool(domain) and not domain.startswith(".") and not cookie.domain_specified
        domain = domain.lstrip(".").lower()
        path = cookie.path or "/"
        self._cookies[(domain, path, cookie.name)] = Cookie(
            cookie.name,
            "" if cookie.value is None else str(cookie.value),
            domain,
            path,
            host_only=host_only,
            secure=bool(cookie.secure),
            expires=None if cookie.expires is None else float(cookie.expires),
        )

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

    def __iter__(self) -> Iterator[Cookie]:  # type: ignore[override]
        # the cookies themselves, as http.cookiejar's and requests' jars iterate
        return iter(list(self._cookies.values()))

    def __contains__(self, name: object) -> bool:
        if isinstance(name, Cookie):
            return name in self._cookies.values()
        return any(cookie.name == name for cookie in self._cookies.values())

    def __len__(self) -> int:
        return len(self._cookies)

    def __bool__(self) -> bool:
        return bool(self._cookies)

    def keys(self) -> list[str]:  # type: ignore[override]
        """The cookie names (once each), as requests' jar gives them."""
        return list(dict.fromkeys(cookie.name for cookie in self._cookies.values()))

    def values(self) -> list[str]:  # type: ignore[override]
        return [self[name] for name in self.keys()]

    def items(self) -> list[tuple[str, str]]:  # type: ignore[override]
        return [(name, self[name]) for name in self.keys()]

    def get(self, name: str, default: Any = None, domain: str | None = None, path: str | None = None) -> Any:
        """The value of cookie ``name`` (for ``domain``/``path`` when given), ``default`` when absent."""
        for cookie in self._cookies.values():
            if (
                cookie.name == name
                and (domain is None or cookie.domain == domain.lstrip(".").lower())
                and (path is None or cookie.path == path)
            ):
                return cookie.value
        return default

    def update(self, other: Any = (), /, **kwargs: str) -> None:
        """Add cookies from a mapping of name to value, pairs, or another jar (its cookies, with domains)."""
        if hasattr(other, "set_cookie"):
            # a jar (this one's kind, http.cookiejar's or requests'): its cookies, domains kept
            for cookie in list(other):
                self.set_cookie(cookie)
        else:
            pairs: Iterable[tuple[str, str]] = other.items() if isinstance(other, Mapping) else other
            for name, value in pairs:
                self[name] = value
        for name, value in kwargs.items():
            self[name] = value

    def popitem(self) -> tuple[str, str]:
        for key, cookie in self._cookies.items():
            del self._cookies[key]
            return cookie.name, cookie.value
        raise KeyError("the cookie jar is empty")

    def clear(self, domain: str | None = None, path: str | None = None, name: str | None = None) -> None:
        """Remove every cookie, or those of ``domain`` (and ``path``, and ``name``), as http.cookiejar's."""
        if domain is None:
            self._cookies.clear()
            return
        domain = domain.lstrip(".").lower()
        matching = [
            key
            for key in self._cookies
            if key[0] == domain and (path is None or key[1] == path) and (name is None or key[2] == name)
        ]
        if not matching:
            raise KeyError(f"no cookie for domain {domain!r}, path {path!r}, name {name!r}")
        for key in matching:
            del self._cookies[key]

    def clear_session_cookies(self) -> None:
        """Remove the cookies that have no expiry (http.cookiejar's name)."""
        for key in [key for key, cookie in self._cookies.items() if cookie.expires is None]:
            del self._cookies[key]

    def clear_expired_cookies(self) -> None:
        now = time.time()
        for key in [key for key, cookie in self._cookies.items() if cookie.is_expired(now)]:
            del self._cookies[key]

    def get_dict(self, domain: str | None = None, path: str | None = None) -> dict[str, str]:
        """Name to value of every cookie (of ``domain``/``path`` when given), requests' ``dict(jar)``."""
        return {
            cookie.name: cookie.value
            for cookie in self._cookies.values()
            if (domain is None or cookie.domain == domain.lstrip(".").lower())
            and (path is None or cookie.path == path)
        }

    def list_domains(self) -> list[str]:
        return list(dict.fromkeys(cookie.domain for cookie in self._cookies.values()))

    def list_paths(self) -> list[str]:
        return list(dict.fromkeys(cookie.path for cookie in self._cookies.values()))

    def copy(self) -> CookieJar:
        jar = CookieJar()
        for key, cookie in self._cookies.items():
            jar._cookies[key] = Cookie(
                cookie.name,
                cookie.value,
                cookie.domain,
                cookie.path,
                cookie.host_only,
                cookie.secure,
                cookie.expires,
            )
        return jar

    def __repr__(self) -> str:
        return f"CookieJar({self.get_dict()!r})"
