"""URLs as the client needs them: the origin a request goes to and the target it asks for.

Standard library only. A target is the path and query as sent on the request line.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

DEFAULT_PORTS = {"http": 80, "https": 443}
# characters a request target may carry as they are; everything else is percent-encoded
_SAFE_TARGET_CHARS = "/?&=%:@!$'()*+,;~#[]-._"


class Origin:
    """Scheme, host and port of a server, with the forms of it the client writes out."""

    __slots__ = ("host", "key", "netloc", "port", "scheme", "secure", "url")

    def __init__(self, scheme: str, host: str, port: int) -> None:
        self.scheme = scheme
        self.host = host
        self.port = port
        #: what connection pools are keyed by
        self.key = (scheme, host, port)
        self.secure = scheme == "https"
        bracketed = f"[{host}]" if ":" in host else host
        #: the ``Host`` header's value: the port only when it is not the scheme's default
        self.netloc = bracketed if port == DEFAULT_PORTS[scheme] else f"{bracketed}:{port}"
        #: the URL prefix every target of this origin is appended to
        self.url = f"{scheme}://{self.netloc}"

    def __repr__(self) -> str:
        return f"Origin({self.url!r})"


@lru_cache(maxsize=1024)
def origin_for(scheme: str, host: str, port: int) -> Origin:
    """The :class:`Origin` of scheme, host and port: one object for every session that uses it."""
    return Origin(scheme, host, port)


def split_url(url: str) -> tuple[str, str, int, str]:
    """Scheme, host, port and target of an absolute http(s) URL (``ValueError`` for anything else)."""
    parts = urlsplit(url)
    if parts.scheme not in DEFAULT_PORTS or not parts.hostname:
        raise ValueError(f"unsupported URL {url!r}")
    target = (parts.path or "/") + ("?" + parts.query if parts.query else "")
    return parts.scheme, parts.hostname, parts.port or DEFAULT_PORTS[parts.scheme], target


def is_absolute(url: str) -> bool:
    """Whether ``url`` names its own scheme and host (a relative one goes to the session's base URL)."""
    return "://" in url[:10]


def add_params(target: str, params: Any) -> str:
    """``target`` with ``params`` (a mapping, pairs, or an encoded string) added to its query."""
    query = params if isinstance(params, str | bytes) else urlencode(params, doseq=True)
    if isinstance(query, bytes):
        query = query.decode("latin-1")
    target = target.partition("#")[0]
    return target + ("&" if "?" in target else "?") + query


def wire_target(target: str) -> str:
    """``target`` as it can go on the request line: percent-encoded when it is not latin-1 text."""
    if target.isascii():
        return target
    try:
        target.encode("latin-1")
    except UnicodeEncodeError:
        return quote(target, safe=_SAFE_TARGET_CHARS)
    return target
