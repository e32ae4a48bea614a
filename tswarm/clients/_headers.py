"""Header fields: the session's mapping kept as name/value pairs, how a request's own fields join
it (rendered once per request), and the response's mapping read from the parser.

Imports only geventhttpclient's response header type (for ``ResponseHeaders``).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, MutableMapping
from typing import Any

from geventhttpclient.header import Headers as ParsedHeaders

#: header fields in the order they are sent, as (name, value) pairs
HeaderPairs = tuple[tuple[str, str], ...]


def check_header(name: str, value: str) -> None:
    """Refuse a name or value that would break the header block (``ValueError``)."""
    if not name or any(c in name for c in ": \r\n\t") or "\r" in value or "\n" in value:
        raise ValueError(f"invalid header {name!r}: {value!r}")


def header_text(value: object) -> str:
    """A header value as sent: bytes as latin-1 (what HTTP/1.1 carries), anything else as ``str()``."""
    if isinstance(value, str):
        return value
    if isinstance(value, bytes | bytearray):
        return bytes(value).decode("latin-1")
    return str(value)


def render(pairs: Iterable[tuple[str, str]]) -> str:
    """The ``Name: value\\r\\n`` lines of ``pairs`` (checked already)."""
    return "".join([f"{name}: {value}\r\n" for name, value in pairs])


class Headers(MutableMapping[str, str]):
    """Request headers as name/value pairs: names case-insensitive, kept as last spelled, in order.

    The client sends a snapshot of them (``snapshot()``): the pairs and their rendered block, built
    once and kept until the next change. Every change goes through ``__setitem__``, ``__delitem__``
    or ``clear`` (``MutableMapping`` builds ``update``, ``pop``, ``popitem``, ``setdefault`` and
    ``|=`` on them), and each drops the snapshot, so no way of changing the mapping leaves a stale
    block to be sent.
    """

    __slots__ = ("_by_lower", "_snapshot")

    def __init__(
        self, initial: Mapping[str, Any] | Iterable[tuple[str, Any]] | None = None, /, **kwargs: Any
    ):
        self._by_lower: dict[str, tuple[str, Any]] = {}
        self._snapshot: tuple[HeaderPairs, str] | None = None
        if initial is not None:
            self.update(initial)
        if kwargs:
            self.update(kwargs)

    # -- the primitives every change is made of ------------------------------------------------

    def __setitem__(self, name: str, value: Any) -> None:
        self._by_lower[name.lower()] = (name, value)
        self._snapshot = None

    def __delitem__(self, name: str) -> None:
        del self._by_lower[name.lower()]
        self._snapshot = None

    def clear(self) -> None:
        self._by_lower.clear()
        self._snapshot = None

    # -- reading ---------------------------------------------------------------------------------

    def __getitem__(self, name: str) -> Any:
        return self._by_lower[name.lower()][1]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._by_lower

    def __iter__(self) -> Iterator[str]:
        return iter([name for name, _ in self._by_lower.values()])

    def __len__(self) -> int:
        return len(self._by_lower)

    def snapshot(self) -> tuple[HeaderPairs, str]:
        """The headers as sent now: (name, value) pairs and their rendered block (``ValueError`` if bad)."""
        snapshot = self._snapshot
        if snapshot is None:
            pairs = tuple((name, header_text(value)) for name, value in self._by_lower.values())
            for name, value in pairs:
                check_header(name, value)
            snapshot = self._snapshot = (pairs, render(pairs))
        return snapshot

    def lower_names(self) -> Mapping[str, tuple[str, Any]]:
        """A read-only look at the fields by lower-case name: (name as spelled, value)."""
        return self._by_lower

    # -- what a dict offers besides ---------------------------------------------------------------

    def copy(self) -> Headers:
        return Headers(self._by_lower.values())

    def __or__(self, other: object) -> Headers:
        if not isinstance(other, Mapping):
            return NotImplemented
        merged = self.copy()
        merged.update(other)
        return merged

    def __ror__(self, other: object) -> Headers:
        if not isinstance(other, Mapping):
            return NotImplemented
        merged = Headers(other)
        merged.update(self)
        return merged

    def __ior__(self, other: object) -> Headers:
        # like dict's |=: a mapping or (name, value) pairs, changed in place
        self.update(other)  # type: ignore[call-overload]
        return self

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Mapping):
            return NotImplemented
        theirs = other if isinstance(other, Headers) else Headers(other)
        return {k: v for k, (_, v) in self._by_lower.items()} == {
            k: v for k, (_, v) in theirs._by_lower.items()
        }

    __hash__ = None  # type: ignore[assignment]  # mutable, like dict

    def __repr__(self) -> str:
        return f"Headers({dict(self._by_lower.values())!r})"


#: header fields the client writes itself: a caller's value would contradict the connection or the body
_CLIENT_SET = frozenset(("host", "content-length"))


class RequestFields:
    """The header fields one request brings besides the session's defaults (checked, kept for redirects)."""

    __slots__ = ("block", "cookie", "names", "pairs", "replaces_cookie")

    def __init__(self, pairs: HeaderPairs, names: frozenset[str], cookie: str, replaces_cookie: bool) -> None:
        self.pairs = pairs
        #: the lower-case names of ``pairs``
        self.names = names
        self.block = render(pairs)
        #: the request's own Cookie value (its Cookie header, then ``cookies=``); the jar's is added per hop
        self.cookie = cookie
        #: the request named a Cookie header: the session's default one is not sent
        self.replaces_cookie = replaces_cookie


def request_fields(
    defaults: Headers,
    headers: Mapping[str, Any] | None,
    cookies: Mapping[str, str] | None,
    authorization: str | None,
    content_type: str | None,
) -> RequestFields:
    """The fields a request adds to the session's ``defaults``: its ``headers``, then the
    ``authorization`` and the body's ``content_type`` unless it named those itself, and its cookies."""
    pairs: list[tuple[str, str]] = []
    names: set[str] = set()
    explicit_cookie: str | None = None
    if headers:
        for name, raw_value in headers.items():
            value = header_text(raw_value)
            check_header(name, value)
            lower = name.lower()
            if lower in _CLIENT_SET:
                continue
            if lower == "cookie":
                explicit_cookie = value
                continue
            pairs.append((name, value))
            names.add(lower)
    # as in requests: a Content-Type the caller or the session names wins over the body's own
    if content_type and "content-type" not in names and "content-type" not in defaults._by_lower:
        pairs.append(("Content-Type", content_type))
        names.add("content-type")
    if authorization and "authorization" not in names:
        pairs.append(("Authorization", authorization))
        names.add("authorization")
    cookie = explicit_cookie or ""
    if cookies:
        given = "; ".join(f"{k}={v}" for k, v in cookies.items())
        cookie = f"{cookie}; {given}" if cookie else given
    if cookie:
        check_header("Cookie", cookie)
    return RequestFields(tuple(pairs), frozenset(names), cookie, explicit_cookie is not None)


def combine(
    defaults: Headers, own: RequestFields | None, dropped: frozenset[str], cookie: str
) -> tuple[HeaderPairs, str, str]:
    """The fields one hop sends (before its Cookie): the session's that the request neither replaces
    nor ``dropped`` names, then the request's own; their block; and the Cookie value, with the
    session's default Cookie in front of ``cookie`` when the request keeps it."""
    default_pairs, default_block = defaults.snapshot()
    by_lower = defaults._by_lower
    if own is not None and not dropped and "cookie" not in by_lower and own.names.isdisjoint(by_lower):
        return default_pairs + own.pairs, default_block + own.block, cookie
    skip = set(dropped)
    own_pairs: HeaderPairs = ()
    if own is not None:
        skip |= own.names
        own_pairs = own.pairs
        if dropped:
            own_pairs = tuple(pair for pair in own_pairs if pair[0].lower() not in dropped)
        if own.replaces_cookie:
            skip.add("cookie")
    if "cookie" not in skip and "cookie" in by_lower and cookie:
        # one Cookie header: the session's default first, then the request's and the jar's
        cookie = f"{header_text(by_lower['cookie'][1])}; {cookie}"
        skip.add("cookie")
    pairs = tuple(pair for pair in default_pairs if pair[0].lower() not in skip) + own_pairs
    return pairs, render(pairs), cookie


class ResponseHeaders(Mapping[str, str]):
    """Response headers: case-insensitive; repeated fields read as one comma-joined value."""

    __slots__ = ("_raw",)

    def __init__(self, raw: ParsedHeaders) -> None:
        self._raw = raw

    def __getitem__(self, name: str) -> str:
        value = self._raw[name]
        return value if isinstance(value, str) else ", ".join(value)

    def __iter__(self) -> Iterator[str]:
        return (name for name, _ in self._raw.itermerged())

    def __len__(self) -> int:
        return dict.__len__(self._raw)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name in self._raw

    def get_all(self, name: str) -> list[str]:
        """Every value of a repeated field (``Set-Cookie``), in order."""
        return self._raw.getlist(name)

    def __repr__(self) -> str:
        return f"ResponseHeaders({dict(self._raw.itermerged())!r})"
