"""The one HTTP client core behind ``HttpUser`` and ``FastHttpUser``.

A requests-like session on geventhttpclient's connection pools and response parser. Every request
fires the ``request`` event with Locust's arguments; network errors never raise out of a request
method, they come back as a response with ``status_code == 0`` and ``error`` set.

Why the request head is built here instead of by ``geventhttpclient.HTTPClient``: per request that
class merges two header objects and validates every header with regular expressions, which costs
about as much as the rest of a request. Here the constant part of the head (Host, default headers)
is rendered once per host and session, and only what the caller passes is checked.
"""

from __future__ import annotations

import base64
import contextlib
import datetime
import errno
import json as jsonlib
import mimetypes
import os
import time
import zlib
from collections.abc import Callable, Iterator, Mapping, MutableMapping
from typing import Any
from urllib.parse import quote, urlencode, urljoin, urlsplit

import gevent
import gevent.ssl
from geventhttpclient.connectionpool import ConnectionPool, SSLConnectionPool
from geventhttpclient.header import Headers
from geventhttpclient.response import HTTPConnectionClosed, HTTPSocketPoolResponse

from tswarm._version import __version__
from tswarm.clients.cookies import CookieJar
from tswarm.events import EventHook
from tswarm.exceptions import (
    CatchResponseError,
    InterruptTaskSet,
    RescheduleTask,
    RescheduleTaskImmediately,
    ResponseError,
    StopTest,
    StopUser,
)

__all__ = [
    "FastHttpSession",
    "HTTPError",
    "HttpSession",
    "RequestInfo",
    "Response",
    "ResponseContextManager",
    "ResponseHeaders",
    "TooManyRedirects",
]

_perf_counter = time.perf_counter
_time = time.time
_dict_get = dict.get

_IDEMPOTENT = frozenset(("GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"))
_REDIRECT_STATUSES = frozenset((301, 302, 303, 307, 308))
_CONTROL_FLOW = (StopUser, StopTest, RescheduleTask, RescheduleTaskImmediately, InterruptTaskSet)
_BLOCK_SIZE = 64 * 1024
_DEFAULT_PORTS = {"http": 80, "https": 443}
# characters a request target may carry as they are; everything else is percent-encoded
_SAFE_TARGET_CHARS = "/?&=%:@!$'()*+,;~#[]-._"


class HTTPError(ResponseError):
    """A response with status 400 or above (the message names status, reason and URL, like requests)."""


class TooManyRedirects(ResponseError):
    """A chain of redirects longer than the session's ``max_redirects``."""


class ResponseHeaders(Mapping[str, str]):
    """Response headers: case-insensitive; repeated fields read as one comma-joined value."""

    __slots__ = ("_raw",)

    def __init__(self, raw: Headers) -> None:
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


class RequestInfo:
    """What was sent: method, URL, headers and body (read-only)."""

    __slots__ = ("_head", "body", "method", "url")

    def __init__(self, method: str, url: str, head: str, body: bytes | None) -> None:
        self.method = method
        self.url = url
        self._head = head
        self.body = body

    @property
    def headers(self) -> dict[str, str]:
        lines = self._head.split("\r\n")[1:]
        return dict(line.split(": ", 1) for line in lines if ": " in line)

    @property
    def path_url(self) -> str:
        parts = urlsplit(self.url)
        return parts.path + ("?" + parts.query if parts.query else "")

    def __repr__(self) -> str:
        return f"<RequestInfo [{self.method} {self.url}]>"


class Response:
    """A response, read in full. Text, JSON and headers are decoded on first use.

    ``status_code`` is 0 when no response arrived; ``error`` then holds the exception. For responses
    with status 400 and above ``error`` is an ``HTTPError``.
    """

    __slots__ = (
        "_content",
        "_head",
        "_json",
        "_raw_headers",
        "_text",
        "encoding",
        "error",
        "history",
        "method",
        "reason",
        "request_body",
        "response_time",
        "status_code",
        "url",
    )

    def __init__(
        self,
        method: str,
        url: str,
        status_code: int,
        reason: str,
        raw_headers: Headers | None,
        content: bytes,
        error: BaseException | None,
        head: str,
        request_body: bytes | None,
    ) -> None:
        self.method = method
        self.url = url
        self.status_code = status_code
        self.reason = reason
        self._raw_headers = raw_headers
        self._content = content
        self.error = error
        self._head = head
        self.request_body = request_body
        self._text: str | None = None
        self._json: Any = _MISSING
        self.encoding: str | None = None
        self.history: list[Response] = []
        #: milliseconds from sending the request to the end of the body (redirects included)
        self.response_time = 0.0

    @property
    def content(self) -> bytes:
        return self._content

    @property
    def text(self) -> str:
        if self._text is None:
            encoding = self.encoding or self._charset() or "utf-8"
            self._text = self._content.decode(encoding, "replace")
        return self._text

    def json(self, **kwargs: Any) -> Any:
        """The body parsed as JSON (raises ``ValueError`` when it is not JSON)."""
        if kwargs:
            return jsonlib.loads(self._content, **kwargs)
        if self._json is _MISSING:
            self._json = jsonlib.loads(self._content)
        return self._json

    @property
    def headers(self) -> ResponseHeaders:
        return ResponseHeaders(self._raw_headers if self._raw_headers is not None else Headers())

    @property
    def ok(self) -> bool:
        return 0 < self.status_code < 400

    @property
    def elapsed(self) -> datetime.timedelta:
        return datetime.timedelta(milliseconds=self.response_time)

    @property
    def request(self) -> RequestInfo:
        return RequestInfo(self.method, self.url, self._head, self.request_body)

    @property
    def cookies(self) -> dict[str, str]:
        """Cookies this response set (name to value)."""
        jar: dict[str, str] = {}
        if self._raw_headers is not None:
            for line in self._raw_headers.getlist("set-cookie"):
                name, sep, value = line.split(";", 1)[0].partition("=")
                if sep:
                    jar[name.strip()] = value.strip()
        return jar

    @property
    def is_redirect(self) -> bool:
        return self.status_code in _REDIRECT_STATUSES and self._header("location") is not None

    def raise_for_status(self) -> None:
        """Raise the connection error, or an ``HTTPError`` for status 400 and above."""
        if self.status_code == 0:
            raise self.error or ConnectionError(f"no response for url: {self.url}")
        if self.status_code >= 400:
            raise _http_error(self.status_code, self.reason, self.url)

    def _header(self, name: str) -> str | None:
        if self._raw_headers is None:
            return None
        value = self._raw_headers.get(name)
        return value if value is None or isinstance(value, str) else ", ".join(value)

    def _charset(self) -> str | None:
        content_type = self._header("content-type")
        if content_type and "charset=" in content_type:
            return content_type.split("charset=", 1)[1].split(";", 1)[0].strip().strip('"') or None
        return None

    def __bool__(self) -> bool:
        return self.ok

    def __repr__(self) -> str:
        return f"<Response [{self.status_code}]>"


_MISSING: Any = object()


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


def _http_error(status: int, reason: str, url: str) -> HTTPError:
    kind = "Client" if status < 500 else "Server"
    return HTTPError(f"{status} {kind} Error: {reason} for url: {url}")


def _unverified_context(**kwargs: Any) -> gevent.ssl.SSLContext:
    # like Locust's FastHttpUser with insecure=True: no certificate or hostname checks
    kwargs.pop("cafile", None)
    return gevent.ssl._create_unverified_context()


class _HostPool:
    """The keep-alive connections of one session to one (scheme, host, port), and that host's head part."""

    __slots__ = ("connections", "head_suffix", "host", "origin", "secure")

    def __init__(
        self,
        scheme: str,
        host: str,
        port: int,
        *,
        concurrency: int,
        connection_timeout: float,
        network_timeout: float,
        insecure: bool,
    ) -> None:
        self.host = host
        self.secure = scheme == "https"
        bracketed = f"[{host}]" if ":" in host else host
        netloc = bracketed if port == _DEFAULT_PORTS[scheme] else f"{bracketed}:{port}"
        self.origin = f"{scheme}://{netloc}"
        self.head_suffix = f" HTTP/1.1\r\nHost: {netloc}\r\n"
        pool_args: dict[str, Any] = {
            "size": concurrency,
            "connection_timeout": connection_timeout,
            "network_timeout": network_timeout,
        }
        if self.secure:
            self.connections: ConnectionPool = SSLConnectionPool(
                host,
                port,
                host,
                port,
                insecure=insecure,
                ssl_context_factory=_unverified_context if insecure else None,
                **pool_args,
            )
        else:
            self.connections = ConnectionPool(host, port, host, port, **pool_args)

    def exchange(self, method: str, data: bytes) -> tuple[HTTPSocketPoolResponse, bytes]:
        """Send one request, read the whole response; the socket goes back to the pool when done."""
        connections = self.connections
        # a kept-alive connection the server closed in the meantime fails on first use: try once more
        retry = method in _IDEMPOTENT
        while True:
            sock = connections.get_socket()
            try:
                sock.sendall(data)
            except OSError as e:
                connections.release_socket(sock)
                if retry and e.errno in (errno.EPIPE, errno.ECONNRESET):
                    retry = False
                    continue
                raise
            except BaseException:
                connections.release_socket(sock)
                raise
            try:
                # the response puts the socket back into the pool (or closes it) itself
                raw = HTTPSocketPoolResponse(
                    sock, connections, block_size=_BLOCK_SIZE, method=method, headers_type=Headers
                )
            except HTTPConnectionClosed:
                if retry:
                    retry = False
                    continue
                raise
            return raw, raw.read()

    def close(self) -> None:
        self.connections.close()


class _DefaultHeaders(dict[str, str]):
    """The session's default headers; edits invalidate the rendered head block."""

    def __init__(self, initial: Mapping[str, str], on_change: Callable[[], None]) -> None:
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

    def pop(self, *args: Any) -> Any:
        result = super().pop(*args)
        self._on_change()
        return result

    def clear(self) -> None:
        super().clear()
        self._on_change()

    def setdefault(self, key: str, default: str = "") -> str:
        result = super().setdefault(key, default)
        self._on_change()
        return result


def _check_header(name: str, value: str) -> None:
    if not name or any(c in name for c in ": \r\n\t") or "\r" in value or "\n" in value:
        raise ValueError(f"invalid header {name!r}: {value!r}")


def _basic_auth(auth: tuple[str, str]) -> str:
    user, password = auth
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode("ascii")


def _decode_body(content: bytes, encoding: str) -> bytes:
    encoding = encoding.strip().lower()
    if encoding == "gzip" or encoding == "x-gzip":
        return zlib.decompress(content, 16 + zlib.MAX_WBITS)
    if encoding == "deflate":
        try:
            return zlib.decompress(content)
        except zlib.error:
            return zlib.decompress(content, -zlib.MAX_WBITS)
    return content


class HttpSession:
    """A requests-like HTTP session for one simulated user, reporting every request as an event.

    Args:
        base_url: the ``host`` relative URLs are resolved against, e.g. ``http://127.0.0.1:8089``
            (a path in it is a prefix of every relative URL).
        request_event: the hook fired once per request (redirects included) with Locust's arguments.
        user: the user this session belongs to; its ``context()`` is merged into each event's context.
        connection_timeout: seconds to wait for a TCP (and TLS) connection.
        network_timeout: seconds to wait on each read or write.
        insecure: for https, skip certificate and hostname checks (the default, like Locust's
            FastHttpUser).
        max_redirects: redirects followed per request before it fails with ``TooManyRedirects``.
        concurrency: keep-alive connections per host (greenlets sharing the session beyond this wait).
    """

    def __init__(
        self,
        base_url: str | None,
        request_event: EventHook,
        user: object | None = None,
        *,
        connection_timeout: float = 60.0,
        network_timeout: float = 60.0,
        insecure: bool = True,
        max_redirects: int = 5,
        concurrency: int = 10,
    ) -> None:
        self.base_url = (base_url or "").rstrip("/")
        self.request_event = request_event
        self.user = user
        self.connection_timeout = connection_timeout
        self.network_timeout = network_timeout
        self.insecure = insecure
        self.max_redirects = max_redirects
        self.concurrency = concurrency
        self.cookies = CookieJar()
        #: default (user, password) sent as basic auth with every request, like requests' Session.auth
        self.auth: tuple[str, str] | None = None
        self.headers: MutableMapping[str, str] = _DefaultHeaders(
            {"User-Agent": f"tswarm/{__version__}", "Accept-Encoding": "gzip, deflate", "Accept": "*/*"},
            self._headers_changed,
        )
        self._default_block: str | None = None
        self._pools: dict[tuple[str, str, int], _HostPool] = {}
        self._renamed: str | None = None
        self._user_context: Callable[[], dict[str, Any]] | None = getattr(user, "context", None)
        # the parsed base URL: relative requests never parse it again
        self._base_pool: _HostPool | None = None
        self._base_path = ""
        if self.base_url:
            parts = urlsplit(self.base_url)
            if parts.scheme not in _DEFAULT_PORTS or not parts.hostname:
                raise ValueError(f"base_url must be an absolute http(s) URL, not {base_url!r}")
            self._base_key = (parts.scheme, parts.hostname, parts.port or _DEFAULT_PORTS[parts.scheme])
            self._base_path = parts.path.rstrip("/")

    # -- requests-like surface -----------------------------------------------------------------

    @property
    def verify(self) -> bool:
        """requests' name for checking https certificates (the opposite of ``insecure``).

        Setting it closes the connections made so far, so that it holds for every later request.
        """
        return not self.insecure

    @verify.setter
    def verify(self, value: bool) -> None:
        if bool(value) == self.insecure:
            self.insecure = not value
            for pool in self._pools.values():
                pool.close()
            self._pools.clear()
            self._base_pool = None

    def get(self, url: str, **kwargs: Any) -> Response:
        return self.request("GET", url, **kwargs)

    def post(self, url: str, data: Any = None, json: Any = None, **kwargs: Any) -> Response:
        return self.request("POST", url, data=data, json=json, **kwargs)

    def put(self, url: str, data: Any = None, **kwargs: Any) -> Response:
        return self.request("PUT", url, data=data, **kwargs)

    def patch(self, url: str, data: Any = None, **kwargs: Any) -> Response:
        return self.request("PATCH", url, data=data, **kwargs)

    def delete(self, url: str, **kwargs: Any) -> Response:
        return self.request("DELETE", url, **kwargs)

    def head(self, url: str, **kwargs: Any) -> Response:
        return self.request("HEAD", url, **kwargs)

    def options(self, url: str, **kwargs: Any) -> Response:
        return self.request("OPTIONS", url, **kwargs)

    @contextlib.contextmanager
    def rename_request(self, name: str) -> Iterator[None]:
        """Report every request made inside the block under ``name``."""
        previous = self._renamed
        self._renamed = name
        try:
            yield
        finally:
            self._renamed = previous

    def close(self) -> None:
        """Close every kept-alive connection of this session."""
        pools, self._pools = self._pools, {}
        self._base_pool = None
        for pool in pools.values():
            pool.close()

    # -- the request -----------------------------------------------------------------------------

    def request(
        self,
        method: str,
        url: str,
        name: str | None = None,
        catch_response: bool = False,
        context: dict[str, Any] | None = None,
        *,
        params: Any = None,
        data: Any = None,
        json: Any = None,
        files: Any = None,
        headers: Mapping[str, str] | None = None,
        cookies: Mapping[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        timeout: float | None = None,
        allow_redirects: bool | None = None,
    ) -> Response:
        """Send a request and report it; never raises for network errors or HTTP error statuses.

        Args:
            method: the HTTP method.
            url: a path relative to ``base_url``, or an absolute URL (any host).
            name: the name the request is reported under (default: the path and query as sent).
            catch_response: return a ``ResponseContextManager``; the request is reported when its
                ``with`` block ends, as ``success()``/``failure()`` inside it decide.
            context: merged into the event's ``context`` (after the user's ``context()``).
            params: query parameters (mapping, sequence of pairs or string).
            data: the body: bytes, str, or a mapping sent form-encoded.
            json: the body as JSON (when ``data`` is None).
            files: files to upload as ``multipart/form-data``, as in requests: a mapping or pairs of
                field name to content (bytes, str or a file object) or to ``(filename, content[,
                content_type[, headers]])``; the pairs of a mapping ``data`` become form fields before them.
            headers: extra headers for this request (override the session's).
            cookies: extra cookies for this request (not stored in the session's jar).
            auth: ``(user, password)`` for basic authentication.
            timeout: seconds for the whole request (connect, send, redirects, body).
            allow_redirects: follow redirects (default True, False for HEAD).
        """
        method = method.upper()
        start_time = _time()
        start = _perf_counter()
        body: bytes | None = None
        extra = ""
        try:
            # the common case, a relative path with no params, never touches urllib
            if url[:1] == "/" and params is None and self._base_pool is not None:
                pool = self._base_pool
                target = self._base_path + url if self._base_path else url
            else:
                pool, target = self._resolve(url, params)
            if files is not None or data is not None or json is not None:
                body, content_type = (
                    _encode_multipart(data, files) if files is not None else self._encode_body(data, json)
                )
                if content_type and not (headers and any(k.lower() == "content-type" for k in headers)):
                    extra = f"Content-Type: {content_type}\r\n"
            if headers or cookies or auth or self.auth:
                extra += self._extra_headers(headers, cookies, auth or self.auth)
        except Exception as e:  # a malformed URL or body: reported like any failed request
            return self._report_early(method, url, name, catch_response, context, e, start_time, start)

        if allow_redirects is None:
            allow_redirects = method != "HEAD"
        default_name = target
        timer = (
            gevent.Timeout.start_new(timeout, TimeoutError(f"timed out after {timeout} s"))
            if timeout
            else None
        )
        try:
            response = self._send(pool, method, target, extra, body, headers)
            if allow_redirects and response.status_code in _REDIRECT_STATUSES:
                response = self._follow(response, pool, method, extra, body, headers)
        except Exception as e:
            # GreenletExit and an outer gevent.Timeout are BaseExceptions: they stop the user, as they should
            response = Response(method, pool.origin + target, 0, "", None, b"", e, "", body)
        finally:
            if timer is not None:
                timer.close()

        response.response_time = (_perf_counter() - start) * 1000.0
        report_name = self._renamed or name or default_name
        if catch_response:
            return _managed(
                response,
                lambda resp, error: self._fire(method, report_name, resp, error, context, start_time),
            )
        self._fire(method, report_name, response, response.error, context, start_time)
        return response

    def _fire(
        self,
        method: str,
        name: str,
        response: Response,
        error: BaseException | None,
        context: dict[str, Any] | None,
        start_time: float,
    ) -> None:
        user_context = self._user_context
        if user_context is not None:
            ctx = user_context()
            if context:
                ctx = {**ctx, **context}
        else:
            ctx = context or {}
        self.request_event.fire(
            request_type=method,
            name=name,
            response_time=response.response_time,
            response_length=len(response._content),
            response=response,
            context=ctx,
            exception=error,
            start_time=start_time,
            url=response.url,
        )

    def _send(
        self,
        pool: _HostPool,
        method: str,
        target: str,
        extra: str,
        body: bytes | None,
        headers: Mapping[str, str] | None,
    ) -> Response:
        block = self._default_block
        if block is None:
            block = self._render_default_block()
        if self.cookies._cookies:
            jar_cookie = self.cookies.header_for(pool.host, target.partition("?")[0], pool.secure)
            if jar_cookie:
                # `extra` is ours alone: a redirect computes the jar's cookies again for its own URL
                if "Cookie: " in extra:
                    extra = _merge_cookie_line(extra, jar_cookie)
                else:
                    extra += f"Cookie: {jar_cookie}\r\n"
        if headers and any(k.lower() in self._default_lower for k in headers):
            block = "".join(
                f"{k}: {v}\r\n"
                for k, v in self.headers.items()
                if not any(k.lower() == h.lower() for h in headers)
            )
        if body is not None:
            head = f"{method} {target}{pool.head_suffix}{block}{extra}Content-Length: {len(body)}\r\n\r\n"
        elif method in ("POST", "PUT", "PATCH"):
            head = f"{method} {target}{pool.head_suffix}{block}{extra}Content-Length: 0\r\n\r\n"
        else:
            head = f"{method} {target}{pool.head_suffix}{block}{extra}\r\n"
        try:
            data = head.encode("latin-1")
        except UnicodeEncodeError:
            target = quote(target, safe=_SAFE_TARGET_CHARS)
            head = head.split(" ", 2)[0] + " " + target + " " + head.split(" ", 2)[2]
            data = head.encode("latin-1")
        if body:
            data += body
        raw, content = pool.exchange(method, data)
        raw_headers: Headers = raw._headers_index
        if _dict_get(raw_headers, "content-encoding") is not None and content:
            content = _decode_body(content, raw_headers["content-encoding"])  # type: ignore[arg-type]
        status = raw.get_code()
        if _dict_get(raw_headers, "set-cookie") is not None:
            for line in raw_headers.getlist("set-cookie"):
                self.cookies.store(line, pool.host, target)
        error = _http_error(status, raw.status_message or "", target) if status >= 400 else None
        return Response(
            method,
            pool.origin + target,
            status,
            raw.status_message or "",
            raw_headers,
            content,
            error,
            head,
            body,
        )

    def _follow(
        self,
        response: Response,
        pool: _HostPool,
        method: str,
        extra: str,
        body: bytes | None,
        headers: Mapping[str, str] | None,
    ) -> Response:
        history: list[Response] = []
        while response.status_code in _REDIRECT_STATUSES:
            location = response._header("location")
            if not location:
                break
            if len(history) >= self.max_redirects:
                response.history = history
                response.error = TooManyRedirects(
                    f"Exceeded {self.max_redirects} redirects, last to {location}"
                )
                return response
            history.append(response)
            next_url = urljoin(response.url, location)
            if response.status_code == 303 or (response.status_code in (301, 302) and method == "POST"):
                # browsers and requests turn these into a GET without a body
                if method != "HEAD":
                    method = "GET"
                body = None
                extra = "".join(
                    line + "\r\n"
                    for line in extra.split("\r\n")
                    if line and not line.startswith("Content-Type: ")
                )
            next_pool, target = self._resolve(next_url, None)
            if next_pool.host != pool.host and "Authorization: " in extra:
                # credentials stay with the host they were meant for
                extra = "".join(
                    line + "\r\n"
                    for line in extra.split("\r\n")
                    if line and not line.startswith("Authorization: ")
                )
            pool = next_pool
            response = self._send(pool, method, target, extra, body, headers)
        response.history = history
        return response

    # -- the slow paths --------------------------------------------------------------------------

    def _pool(self, scheme: str, host: str, port: int) -> _HostPool:
        key = (scheme, host, port)
        pool = self._pools.get(key)
        if pool is None:
            pool = self._pools[key] = _HostPool(
                scheme,
                host,
                port,
                concurrency=self.concurrency,
                connection_timeout=self.connection_timeout,
                network_timeout=self.network_timeout,
                insecure=self.insecure,
            )
        return pool

    def _resolve(self, url: str, params: Any) -> tuple[_HostPool, str]:
        """The pool and request target (path and query) for any URL, with params added."""
        if "://" in url[:10]:
            parts = urlsplit(url)
            if parts.scheme not in _DEFAULT_PORTS or not parts.hostname:
                raise ValueError(f"unsupported URL {url!r}")
            pool = self._pool(parts.scheme, parts.hostname, parts.port or _DEFAULT_PORTS[parts.scheme])
            target = (parts.path or "/") + ("?" + parts.query if parts.query else "")
        else:
            if not self.base_url:
                raise ValueError(
                    f"relative URL {url!r} but the session has no base URL (set the user's host)"
                )
            if self._base_pool is None:
                self._base_pool = self._pool(*self._base_key)
            pool = self._base_pool
            target = self._base_path + (url if url.startswith("/") else "/" + url)
        if params:
            query = params if isinstance(params, str | bytes) else urlencode(params, doseq=True)
            if isinstance(query, bytes):
                query = query.decode("latin-1")
            target = target.partition("#")[0]
            target += ("&" if "?" in target else "?") + query
        return pool, target

    def _encode_body(self, data: Any, json: Any) -> tuple[bytes, str | None]:
        if data is None:
            return jsonlib.dumps(json).encode(), "application/json"
        if isinstance(data, bytes):
            return data, None
        if isinstance(data, str):
            return data.encode(), None
        if isinstance(data, bytearray | memoryview):
            return bytes(data), None
        if isinstance(data, Mapping | list | tuple):
            return urlencode(data, doseq=True).encode(), "application/x-www-form-urlencoded"
        if hasattr(data, "read"):
            content = data.read()
            return (content.encode() if isinstance(content, str) else content), None
        raise TypeError(f"cannot send a {type(data).__name__} as a request body")

    def _extra_headers(
        self,
        headers: Mapping[str, str] | None,
        cookies: Mapping[str, str] | None,
        auth: tuple[str, str] | None,
    ) -> str:
        lines: list[str] = []
        explicit_cookie = ""
        has_auth_header = False
        if headers:
            for key, value in headers.items():
                value = str(value)
                _check_header(key, value)
                lower = key.lower()
                if lower in ("host", "content-length"):
                    continue  # the client sets these
                if lower == "cookie":
                    explicit_cookie = value
                    continue
                if lower == "authorization":
                    has_auth_header = True
                lines.append(f"{key}: {value}\r\n")
        if auth and not has_auth_header:
            lines.append(f"Authorization: {_basic_auth(auth)}\r\n")
        if cookies:
            pairs = "; ".join(f"{k}={v}" for k, v in cookies.items())
            explicit_cookie = f"{explicit_cookie}; {pairs}" if explicit_cookie else pairs
        if explicit_cookie:
            _check_header("Cookie", explicit_cookie)
            lines.append(f"Cookie: {explicit_cookie}\r\n")
        return "".join(lines)

    @property
    def _default_lower(self) -> frozenset[str]:
        return frozenset(k.lower() for k in self.headers)

    def _render_default_block(self) -> str:
        for key, value in self.headers.items():
            _check_header(key, str(value))
        block = "".join(f"{k}: {v}\r\n" for k, v in self.headers.items())
        self._default_block = block
        return block

    def _headers_changed(self) -> None:
        self._default_block = None

    def _report_early(
        self,
        method: str,
        url: str,
        name: str | None,
        catch_response: bool,
        context: dict[str, Any] | None,
        error: Exception,
        start_time: float,
        start: float,
    ) -> Response:
        response = Response(method, url, 0, "", None, b"", error, "", None)
        response.response_time = (_perf_counter() - start) * 1000.0
        report_name = self._renamed or name or url
        if catch_response:
            return _managed(
                response,
                lambda resp, error: self._fire(method, report_name, resp, error, context, start_time),
            )
        self._fire(method, report_name, response, error, context, start_time)
        return response

    def __repr__(self) -> str:
        return f"<HttpSession {self.base_url or '(no base URL)'}>"


def _merge_cookie_line(extra: str, jar_cookie: str) -> str:
    lines = []
    for line in extra.split("\r\n"):
        if not line:
            continue
        if line.startswith("Cookie: ") and jar_cookie not in line:
            line = f"{line}; {jar_cookie}"
        lines.append(line + "\r\n")
    return "".join(lines)


def _managed(
    response: Response, report: Callable[[Response, BaseException | None], None]
) -> ResponseContextManager:
    """The ``catch_response`` form of ``response``, reporting through ``report`` when its block ends."""
    managed = ResponseContextManager.__new__(ResponseContextManager)
    for slot in Response.__slots__:
        setattr(managed, slot, getattr(response, slot))
    managed._manual = None
    managed.js = None
    managed._reported = False
    managed._report = report
    return managed


#: FastHttpUser's client is the same session: one client core for both user classes
FastHttpSession = HttpSession


def _encode_multipart(data: Any, files: Any) -> tuple[bytes, str]:
    """A ``multipart/form-data`` body and its content type: the form fields of ``data``, then ``files``."""
    boundary = os.urandom(16).hex()
    parts: list[bytes] = []

    def part(disposition: str, content: bytes, part_headers: Mapping[str, str]) -> None:
        head = f"--{boundary}\r\nContent-Disposition: form-data; {disposition}\r\n"
        head += "".join(f"{k}: {v}\r\n" for k, v in part_headers.items())
        parts.append(head.encode() + b"\r\n" + content + b"\r\n")

    if data is not None:
        if not isinstance(data, Mapping | list | tuple):
            raise TypeError("with files=, data must be a mapping or pairs of form fields")
        for field, value in _pairs(data):
            for one in value if isinstance(value, list | tuple) else [value]:
                part(f'name="{_quote_field(field)}"', _as_bytes(one), {})
    for field, value in _pairs(files):
        filename: str | None
        content_type: str | None = None
        extra_headers: Mapping[str, str] = {}
        if isinstance(value, tuple):
            filename, content, *rest = value
            if rest:
                content_type = rest[0]
            if len(rest) > 1 and rest[1]:
                extra_headers = rest[1]
        else:
            content = value
            name = getattr(value, "name", None)
            filename = os.path.basename(name) if isinstance(name, str) and name[:1] != "<" else field
        if content_type is None and filename:
            content_type = mimetypes.guess_type(filename)[0] or "application/octet-stream"
        disposition = f'name="{_quote_field(field)}"'
        if filename is not None:
            disposition += f'; filename="{_quote_field(filename)}"'
        part_headers = {**({"Content-Type": content_type} if content_type else {}), **extra_headers}
        part(disposition, _as_bytes(content.read() if hasattr(content, "read") else content), part_headers)
    body = b"".join(parts) + f"--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


def _pairs(fields: Any) -> list[tuple[str, Any]]:
    return list(fields.items()) if isinstance(fields, Mapping) else list(fields)


def _quote_field(value: str) -> str:
    return str(value).replace("\\", "\\\\").replace('"', "%22").replace("\r", "%0D").replace("\n", "%0A")


def _as_bytes(value: Any) -> bytes:
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    return str(value).encode()
