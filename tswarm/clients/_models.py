"""What a request was and what came back: ``Request``, ``Response`` and the ``catch_response`` form.

Imports the client's headers, URLs and exceptions, and ``tswarm.exceptions``; no network code.
"""

from __future__ import annotations

import datetime
import json as jsonlib
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urljoin, urlsplit

from geventhttpclient.header import Headers as ParsedHeaders

from tswarm.clients._exceptions import JSONDecodeError, http_error
from tswarm.clients._headers import HeaderPairs, Headers, ResponseHeaders, render
from tswarm.clients._urls import Origin, origin_for, split_url
from tswarm.exceptions import (
    CatchResponseError,
    InterruptTaskSet,
    RescheduleTask,
    RescheduleTaskImmediately,
    ResponseError,
    StopTest,
    StopUser,
)

REDIRECT_STATUSES = frozenset((301, 302, 303, 307, 308))
PERMANENT_REDIRECT_STATUSES = frozenset((301, 308))
_CONTROL_FLOW = (StopUser, StopTest, RescheduleTask, RescheduleTaskImmediately, InterruptTaskSet)
_MISSING: Any = object()


class Request:
    """One request as sent: method, URL, header fields and body (a redirect is a request of its own).

    ``header_pairs`` are the fields the client chose, in order; ``Host`` and ``Content-Length`` are
    added on the wire by the transport. ``headers`` shows all of them, as the server saw them.
    """

    __slots__ = ("_block", "body", "header_pairs", "method", "origin", "target", "url")

    def __init__(
        self,
        method: str,
        origin: Origin | None,
        target: str,
        url: str,
        header_pairs: HeaderPairs,
        body: bytes | None,
        block: str | None = None,
    ) -> None:
        self.method = method
        #: where it goes; None for a request that failed before it had one (a malformed URL)
        self.origin = origin
        #: the path and query as on the request line
        self.target = target
        #: the origin's URL and the target (or, without an origin, the URL as the caller gave it)
        self.url = url
        self.header_pairs = header_pairs
        self.body = body
        self._block = block

    def header_block(self) -> str:
        """The ``Name: value\\r\\n`` lines of ``header_pairs``, rendered once."""
        block = self._block
        if block is None:
            block = self._block = render(self.header_pairs)
        return block

    def content_length(self) -> int | None:
        """The ``Content-Length`` the request carries: the body's, 0 for a bodyless POST/PUT/PATCH."""
        if self.body is not None:
            return len(self.body)
        return 0 if self.method in ("POST", "PUT", "PATCH") else None

    @property
    def headers(self) -> Headers:
        """Every header field sent, ``Host`` and ``Content-Length`` included."""
        fields = Headers()
        if self.origin is not None:
            fields["Host"] = self.origin.netloc
        fields.update(self.header_pairs)
        length = self.content_length()
        if length is not None:
            fields["Content-Length"] = str(length)
        return fields

    @property
    def path_url(self) -> str:
        parts = urlsplit(self.url)
        return parts.path + ("?" + parts.query if parts.query else "")

    def __repr__(self) -> str:
        return f"<Request [{self.method} {self.url}]>"


class Response:
    """A response, read in full. Text, JSON and headers are decoded on first use.

    ``status_code`` is 0 when no response arrived; ``error`` then holds the exception. For responses
    with status 400 and above ``error`` is an ``HTTPError``.
    """

    __slots__ = (
        "_content",
        "_encoding",
        "_json",
        "_raw_headers",
        "_text",
        "error",
        "history",
        "reason",
        "request",
        "response_time",
        "status_code",
        "url",
    )

    def __init__(
        self,
        request: Request,
        status_code: int,
        reason: str,
        raw_headers: ParsedHeaders | None,
        content: bytes,
        error: BaseException | None,
    ) -> None:
        #: what was sent for this response (for a redirect chain, the last hop)
        self.request = request
        self.url = request.url
        self.status_code = status_code
        self.reason = reason
        self._raw_headers = raw_headers
        self._content = content
        self.error = error
        self._text: str | None = None
        self._json: Any = _MISSING
        self._encoding: str | None = None
        self.history: list[Response] = []
        #: milliseconds from sending the request to the end of the body (redirects included)
        self.response_time = 0.0

    @property
    def method(self) -> str:
        return self.request.method

    @property
    def content(self) -> bytes:
        return self._content

    @property
    def text(self) -> str:
        if self._text is None:
            encoding = self._encoding or self._charset() or "utf-8"
            self._text = self._content.decode(encoding, "replace")
        return self._text

    @property
    def encoding(self) -> str | None:
        """The charset ``text`` decodes with: the one set here, else the Content-Type's (None if it names
        none; ``text`` then decodes UTF-8). Setting it, as with requests, changes what ``text`` returns."""
        return self._encoding or self._charset()

    @encoding.setter
    def encoding(self, value: str | None) -> None:
        self._encoding = value
        self._text = None

    @property
    def apparent_encoding(self) -> str | None:
        """The charset the body looks like it is in, guessed by charset_normalizer (as requests does)."""
        import charset_normalizer  # lazily: only a test file that asks pays for it

        guessed = charset_normalizer.detect(self._content)["encoding"]
        return guessed if isinstance(guessed, str) else None

    def json(self, **kwargs: Any) -> Any:
        """The body parsed as JSON; ``requests.exceptions.JSONDecodeError`` (a ``ValueError``) when it is not."""
        try:
            if kwargs:
                return jsonlib.loads(self._content, **kwargs)
            if self._json is _MISSING:
                self._json = jsonlib.loads(self._content)
        except jsonlib.JSONDecodeError as e:
            raise JSONDecodeError(e.msg, e.doc, e.pos) from None
        except UnicodeDecodeError as e:
            # bytes that are no UTF-8/16/32 text: requests reports these as JSONDecodeError too
            raise JSONDecodeError(str(e), "", 0) from None
        return self._json

    @property
    def headers(self) -> ResponseHeaders:
        return ResponseHeaders(self._raw_headers if self._raw_headers is not None else ParsedHeaders())

    @property
    def ok(self) -> bool:
        return 0 < self.status_code < 400

    @property
    def elapsed(self) -> datetime.timedelta:
        return datetime.timedelta(milliseconds=self.response_time)

    @property
    def cookies(self) -> Any:
        """Cookies this response set, as requests gives them: a ``requests.cookies.RequestsCookieJar``."""
        from requests.cookies import RequestsCookieJar, create_cookie  # lazily: few test files read it

        jar = RequestsCookieJar()
        if self._raw_headers is not None:
            host = self.request.origin.host if self.request.origin is not None else ""
            for line in self._raw_headers.getlist("set-cookie"):
                pair, *attributes = line.split(";")
                name, sep, value = pair.partition("=")
                if not sep:
                    continue
                fields = {k.strip().lower(): v.strip() for k, _, v in (a.partition("=") for a in attributes)}
                jar.set_cookie(
                    create_cookie(
                        name.strip(),
                        value.strip(),
                        domain=fields.get("domain") or host,
                        path=fields.get("path") or "/",
                    )
                )
        return jar

    @property
    def is_redirect(self) -> bool:
        """A redirect with a Location to follow (requests' meaning)."""
        return self.status_code in REDIRECT_STATUSES and self.header("location") is not None

    @property
    def is_permanent_redirect(self) -> bool:
        """A 301 or 308 with a Location."""
        return self.status_code in PERMANENT_REDIRECT_STATUSES and self.header("location") is not None

    @property
    def next(self) -> Request | None:
        """The request a redirect leads to (method and body as the session would send them), else None."""
        location = self.header("location")
        if location is None or self.status_code not in REDIRECT_STATUSES:
            return None
        method, body = self.request.method, self.request.body
        pairs = self.request.header_pairs
        if (
            self.status_code == 303
            and method != "HEAD"
            or self.status_code in (301, 302)
            and method == "POST"
        ):
            method, body = "GET", None
            pairs = tuple(pair for pair in pairs if pair[0].lower() != "content-type")
        url = urljoin(self.url, location)
        scheme, host, port, target = split_url(url)
        origin = origin_for(scheme, host, port)
        return Request(method, origin, target, origin.url + target, pairs, body)

    @property
    def links(self) -> dict[str, dict[str, str]]:
        """The Link header parsed, keyed by each link's ``rel`` (or its URL), as requests does."""
        from requests.utils import parse_header_links  # lazily: few test files read it

        value = self.header("link")
        links: dict[str, dict[str, str]] = {}
        for link in parse_header_links(value) if value else ():
            links[link.get("rel") or link.get("url", "")] = link
        return links

    def raise_for_status(self) -> None:
        """Raise the connection error, or an ``HTTPError`` for status 400 and above.

        Both are requests' types (``requests.exceptions.ConnectionError``, ``HTTPError``, ...), so a
        Locust file's ``except requests.exceptions.RequestException`` catches them.
        """
        if self.status_code == 0:
            from requests.exceptions import ConnectionError as NoResponse

            raise self.error or NoResponse(f"no response for url: {self.url}")
        if self.status_code >= 400:
            raise http_error(self.status_code, self.reason, self.url, response=self)

    def header(self, name: str) -> str | None:
        """One response header (repeated fields comma-joined), None when absent."""
        if self._raw_headers is None:
            return None
        value = self._raw_headers.get(name)
        return value if value is None or isinstance(value, str) else ", ".join(value)

    def _charset(self) -> str | None:
        content_type = self.header("content-type")
        if content_type and "charset=" in content_type:
            return content_type.split("charset=", 1)[1].split(";", 1)[0].strip().strip('"') or None
        return None

    def __bool__(self) -> bool:
        return self.ok

    def __repr__(self) -> str:
        return f"<Response [{self.status_code}]>"

    # -- reading in pieces (requests' and Locust's calls; a stream=True response reads its connection,
    # this one its content, already here): clients/_streaming.py does the work ------------------------

    def iter_content(
        self, chunk_size: int | None = 1, decode_unicode: bool = False, decode_content: bool | None = None
    ) -> Iterator[Any]:
        """The body in pieces of ``chunk_size`` bytes, decoded (gzip/deflate undone), as in requests.

        ``decode_unicode`` yields text. ``decode_content`` is Locust's FastResponse argument: when it is
        given, True yields each piece as text where it is UTF-8.
        """
        from tswarm.clients import _streaming

        return _streaming.iter_content(self, chunk_size, decode_unicode, decode_content)

    def iter_lines(
        self, chunk_size: int | None = 512, decode_unicode: bool = False, delimiter: str | bytes | None = None
    ) -> Iterator[Any]:
        """The body line by line, without line ends (at ``delimiter`` when given), as in requests."""
        from tswarm.clients import _streaming

        return _streaming.iter_lines(self.iter_content(chunk_size, decode_unicode), delimiter)

    @property
    def raw(self) -> Any:
        """requests' ``raw``: the body as sent, as a file object (read to its end unless streamed)."""
        from tswarm.clients import _streaming

        return _streaming.RawStream(self)

    @property
    def stream(self) -> Any:
        """Locust FastResponse's ``stream``: the body as sent, read in pieces (``stream=True``)."""
        from tswarm.clients import _streaming

        return _streaming.BodyStream(self)

    def close(self) -> None:
        """Release the connection: a response read in full has nothing left to release."""

    def __enter__(self) -> Response:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: object
    ) -> bool | None:
        self.close()
        return None


class ResponseContextManager(Response):
    """What ``catch_response=True`` returns: use it in a ``with`` block and decide the outcome there.

    Nothing is reported until the block ends. ``success()`` reports a success whatever the status,
    ``failure(msg)`` a failure; without either, the status decides. An exception in the block is
    reported as a failure; a ``ResponseError`` or ``CatchResponseError`` is swallowed, anything else is
    re-raised after the report so the task sees it as in Locust.
    """

    __slots__ = ("_manual", "_report", "_reported", "js")

    #: the parsed JSON body, set by ``User.rest()`` (None elsewhere, or when the body is not JSON)
    js: Any
    _manual: bool | BaseException | None
    _report: Callable[[Response, BaseException | None], None]
    _reported: bool

    @classmethod
    def wrap(
        cls, response: Response, report: Callable[[Response, BaseException | None], None]
    ) -> ResponseContextManager:
        """The ``catch_response`` form of ``response``, reporting through ``report`` when its block ends."""
        managed = cls.__new__(cls)
        for slot in Response.__slots__:
            setattr(managed, slot, getattr(response, slot))
        managed._manual = None
        managed.js = None
        managed._reported = False
        managed._report = report
        return managed

    def success(self) -> None:
        """Report this request as a success, whatever its status."""
        self._manual = True

    def failure(self, exc: str | BaseException) -> None:
        """Report this request as a failure with ``exc`` (a message or an exception)."""
        self._manual = exc if isinstance(exc, BaseException) else CatchResponseError(exc)

    def __enter__(self) -> ResponseContextManager:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: object) -> bool:
        if self._reported:
            return False
        self._reported = True
        manual = self._manual
        control_flow = exc is not None and isinstance(exc, _CONTROL_FLOW)
        error: BaseException | None
        if manual is True:
            error = None
        elif isinstance(manual, BaseException):
            error = manual
        elif exc is not None and not control_flow and isinstance(exc, Exception):
            error = exc
        else:
            error = self.error
        self._report(self, error)
        # swallow what failure() means, let everything else (StopUser, a bug in the task) through
        return exc is not None and isinstance(exc, (ResponseError, CatchResponseError))


#: Locust's name for what ``User.rest()`` yields: a ResponseContextManager whose ``js`` is filled
RestResponseContextManager = ResponseContextManager
