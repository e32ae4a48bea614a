"""The session behind ``HttpUser`` and ``FastHttpUser``: builds each request, follows redirects, keeps
cookies, and fires the ``request`` event.

Imports the client's private modules, ``tswarm.events`` and gevent (for the per-request timeout).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any
from urllib.parse import urljoin, urlsplit

import gevent

from tswarm._version import __version__
from tswarm.clients._content import encode_body
from tswarm.clients._decoders import decode_content
from tswarm.clients._exceptions import (
    InvalidSchema,
    InvalidURL,
    MissingSchema,
    RequestDeadline,
    TooManyRedirects,
    as_requests_error,
    http_error,
)
from tswarm.clients._headers import Headers, RequestFields, combine, request_fields
from tswarm.clients._models import REDIRECT_STATUSES, Request, Response, ResponseContextManager
from tswarm.clients._multipart import encode_multipart
from tswarm.clients._request_options import RequestOptions, merge_params
from tswarm.clients._session_options import RequestsSessionOptions
from tswarm.clients._transports import HostPool, PoolTransport, Transport
from tswarm.clients._urls import (
    DEFAULT_PORTS,
    Origin,
    add_params,
    is_absolute,
    origin_for,
    split_url,
    wire_target,
)
from tswarm.clients.cookies import CookieJar
from tswarm.events import EventHook

_perf_counter = time.perf_counter
_time = time.time
_dict_get = dict.get

_NOTHING_DROPPED: frozenset[str] = frozenset()

# what a session sends unless the test file changes its headers; never handed out, only copied
_DEFAULT_HEADERS = Headers(
    {"User-Agent": f"tswarm/{__version__}", "Accept-Encoding": "gzip, deflate", "Accept": "*/*"}
)


class HttpSession(RequestsSessionOptions):
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
        max_retries: FastHttpUser's retries of timeouts and other passing socket errors (idempotent
            methods only), as Locust's FastHttpSession does them.
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
        max_retries: int = 0,
    ) -> None:
        self.base_url = (base_url or "").rstrip("/")
        self.request_event = request_event
        self.user = user
        # read by the transport whenever it opens connections to a new origin
        self.connection_timeout = connection_timeout
        self.network_timeout = network_timeout
        self.insecure = insecure
        self.concurrency = concurrency
        self.max_redirects = max_redirects
        # made on first use: most users never receive a cookie
        self._jar: CookieJar | None = None
        self._init_requests_options(max_retries)
        # every session shares the default headers until the test file reads or sets its own
        self._headers = _DEFAULT_HEADERS
        self._transport: Transport = PoolTransport(self)
        self._renamed: str | None = None
        self._user_context: Callable[[], dict[str, Any]] | None = getattr(user, "context", None)
        # the parsed base URL: relative requests never parse it again
        self._base_origin: Origin | None = None
        self._base_path = ""
        if self.base_url:
            parts = urlsplit(self.base_url)
            if parts.scheme not in DEFAULT_PORTS or not parts.hostname:
                raise ValueError(f"base_url must be an absolute http(s) URL, not {base_url!r}")
            self._base_origin = origin_for(
                parts.scheme, parts.hostname, parts.port or DEFAULT_PORTS[parts.scheme]
            )
            self._base_path = parts.path.rstrip("/")

    # -- requests-like surface -----------------------------------------------------------------

    @property
    def headers(self) -> Headers:
        """Headers sent with every request: a case-insensitive mapping (a request's own ones win)."""
        if self._headers is _DEFAULT_HEADERS:
            # the caller may change what it gets: from now on this session has its own copy
            self._headers = _DEFAULT_HEADERS.copy()
        return self._headers

    @headers.setter
    def headers(self, value: Mapping[str, Any]) -> None:
        # `session.headers = {...}` as with requests: the new fields replace the old ones
        self._headers = value if isinstance(value, Headers) else Headers(value)

    @property
    def cookies(self) -> CookieJar:
        """The cookies this session received (or was given), sent back where they belong."""
        if self._jar is None:
            self._jar = CookieJar()
        return self._jar

    @cookies.setter
    def cookies(self, jar: CookieJar) -> None:
        self._jar = jar

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
            self._transport.close()

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
        self._transport.close()

    def __enter__(self) -> HttpSession:
        return self

    def __exit__(self, *exc_info: object) -> None:
        # ``with session:`` as with requests: the connections close when the block ends
        self.close()

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
        headers: Mapping[str, Any] | None = None,
        cookies: Mapping[str, str] | None = None,
        auth: Any = None,
        timeout: float | None = None,
        allow_redirects: bool | None = None,
        hooks: Mapping[str, Any] | None = None,
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
            auth: ``(user, password)`` for basic authentication, or a ``requests.auth.AuthBase``
                (``HTTPBasicAuth``, ``HTTPDigestAuth`` with its 401 challenge, or any other, called
                with a ``requests.PreparedRequest``); default: the session's ``auth``.
            timeout: seconds for the whole request (connect, send, redirects, retries, body).
            allow_redirects: follow redirects (default True, False for HEAD).
            hooks: ``{"response": hook or [hooks]}``: each hop's response is passed to each hook,
                which may return a response to use instead (the session's ``hooks`` when None).
        """
        method = method.upper()
        start_time = _time()
        start = _perf_counter()
        body: bytes | None = None
        own: RequestFields | None = None
        options: RequestOptions | None = None
        if hooks is not None or auth is not None or self._extended:
            # requests' options beyond the plain ones: the slow path (see _request_options)
            options = RequestOptions(self, hooks, self._auth if auth is None else auth, {"timeout": timeout})
            if self._params:
                params = merge_params(self._params, params)
        try:
            # the common case, a relative path with no params, never touches urllib
            origin = self._base_origin
            if url[:1] == "/" and params is None and origin is not None:
                target = self._base_path + url if self._base_path else url
            else:
                origin, target = self._resolve(url, params)
            content_type: str | None = None
            if files is not None or data is not None or json is not None:
                body, content_type = (
                    encode_multipart(data, files) if files is not None else encode_body(data, json)
                )
            if headers or cookies or options is not None or content_type:
                authorization = options.authorization if options is not None else None
                own = request_fields(self._headers, headers, cookies, authorization, content_type)
                if options is not None and options.prepares:
                    method, origin, target, own, body = options.prepare(method, origin, target, own, body)
        except Exception as e:  # a malformed URL, body or header: reported like any failed request
            if options is not None and e is options.user_error:
                raise
            return self._report_early(method, url, name, catch_response, context, e, start_time, start)

        if allow_redirects is None:
            allow_redirects = method != "HEAD"
        timer = (
            gevent.Timeout.start_new(timeout, RequestDeadline(f"timed out after {timeout} s"))
            if timeout
            else None
        )
        try:
            if options is None:
                response = self._send(method, origin, target, own, body, _NOTHING_DROPPED)
                if allow_redirects and response.status_code in REDIRECT_STATUSES:
                    response = self._follow(response, own, body)
            else:
                response = options.send(method, origin, target, own, body, allow_redirects)
        except Exception as e:
            # GreenletExit and an outer gevent.Timeout are BaseExceptions: they stop the user, as they should
            if options is not None and e is options.user_error:
                raise
            wire = wire_target(target)
            response = Response(
                Request(method, origin, wire, origin.url + wire, (), body),
                0,
                "",
                None,
                b"",
                as_requests_error(e),
            )
        finally:
            if timer is not None:
                timer.close()

        response.response_time = (_perf_counter() - start) * 1000.0
        report_name = self._renamed or name or target
        if catch_response:
            return ResponseContextManager.wrap(
                response,
                lambda resp, error: self._fire(method, report_name, resp, error, context, start_time),
            )
        self._fire(method, report_name, response, response.error, context, start_time)
        return response

    def _send(
        self,
        method: str,
        origin: Origin,
        target: str,
        own: RequestFields | None,
        body: bytes | None,
        dropped: frozenset[str],
    ) -> Response:
        """One hop: the request's header fields for this URL, sent once, and its response read."""
        if not target.isascii():
            target = wire_target(target)
        defaults = self._headers
        pairs, block = defaults.snapshot()
        cookie = own.cookie if own is not None else ""
        jar = self._jar
        if jar is not None and jar._cookies:
            # the jar's cookies are chosen again for every hop's own URL
            jar_cookie = jar.header_for(origin.host, target.partition("?")[0], origin.secure)
            if jar_cookie:
                cookie = f"{cookie}; {jar_cookie}" if cookie else jar_cookie
        if own is not None or dropped or (cookie and "cookie" in defaults.lower_names()):
            pairs, block, cookie = combine(defaults, own, dropped, cookie)
        if cookie:
            pairs += (("Cookie", cookie),)
            block += f"Cookie: {cookie}\r\n"
        request = Request(method, origin, target, origin.url + target, pairs, body, block)

        status, reason, raw_headers, content = self._transport.send(request)
        if content and _dict_get(raw_headers, "content-encoding") is not None:
            content = decode_content(content, raw_headers["content-encoding"])  # type: ignore[arg-type]
        if _dict_get(raw_headers, "set-cookie") is not None:
            jar = self.cookies
            for line in raw_headers.getlist("set-cookie"):
                jar.store(line, origin.host, target)
        error = http_error(status, reason, target) if status >= 400 else None
        return Response(request, status, reason, raw_headers, content, error)

    def _follow(
        self,
        response: Response,
        own: RequestFields | None,
        body: bytes | None,
        send: Callable[..., Response] | None = None,
    ) -> Response:
        """Follow ``response``'s redirects, each hop sent by ``send`` (the session's ``_send`` unless a
        request's options add retries, digest answers or hooks to every hop)."""
        send = send or self._send
        history: list[Response] = []
        dropped = _NOTHING_DROPPED
        method = response.request.method
        while response.status_code in REDIRECT_STATUSES:
            location = response.header("location")
            if not location:
                break
            if len(history) >= self.max_redirects:
                response.history = history
                response.error = TooManyRedirects(
                    f"Exceeded {self.max_redirects} redirects, last to {location}"
                )
                return response
            history.append(response)
            if response.status_code == 303 or (response.status_code in (301, 302) and method == "POST"):
                # browsers and requests turn these into a GET without a body
                if method != "HEAD":
                    method = "GET"
                body = None
                dropped |= {"content-type"}
            came_from = response.request.origin
            origin, target = self._resolve(urljoin(response.url, location), None)
            if came_from is None or origin.host != came_from.host:
                # credentials stay with the host they were meant for
                dropped |= {"authorization"}
            response = send(method, origin, target, own, body, dropped)
        response.history = history
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

    # -- the slow paths --------------------------------------------------------------------------

    @property
    def _base_pool(self) -> HostPool | None:
        """The keep-alive pool of the base URL's origin, once a request opened it."""
        transport = self._transport
        if self._base_origin is None or not isinstance(transport, PoolTransport):
            return None
        return transport.pools.get(self._base_origin.key)

    def _resolve(self, url: str, params: Any) -> tuple[Origin, str]:
        """The origin and request target (path and query) for any URL, with params added."""
        if is_absolute(url):
            try:
                scheme, host, port, target = split_url(url)
            except ValueError:
                scheme = url.partition("://")[0].lower()
                if scheme not in DEFAULT_PORTS:
                    raise InvalidSchema(f"No connection adapters were found for {url!r}") from None
                raise InvalidURL(f"Invalid URL {url!r}: No host supplied") from None
            origin = origin_for(scheme, host, port)
        else:
            if self._base_origin is None:
                raise MissingSchema(
                    f"relative URL {url!r} but the session has no base URL (set the user's host)"
                )
            origin = self._base_origin
            target = self._base_path + (url if url.startswith("/") else "/" + url)
        if params:
            target = add_params(target, params)
        return origin, target

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
        response = Response(Request(method, None, url, url, (), None), 0, "", None, b"", error)
        response.response_time = (_perf_counter() - start) * 1000.0
        report_name = self._renamed or name or url
        if catch_response:
            return ResponseContextManager.wrap(
                response,
                lambda resp, error: self._fire(method, report_name, resp, error, context, start_time),
            )
        self._fire(method, report_name, response, error, context, start_time)
        return response

    def __repr__(self) -> str:
        return f"<HttpSession {self.base_url or '(no base URL)'}>"


#: FastHttpUser's client is the same session: one client core for both user classes
FastHttpSession = HttpSession
