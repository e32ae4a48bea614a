"""The session behind ``HttpUser`` and ``FastHttpUser``: builds each request, follows redirects, keeps
cookies, and fires the ``request`` event.

Imports the client's private modules and ``tswarm.events``.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any
from urllib.parse import urljoin, urlsplit

from gevent import GreenletExit

from tswarm._version import __version__
from tswarm.clients import _streaming
from tswarm.clients._connections import ConnectionSettings, RequestOptions, UnderlyingClient, request_options
from tswarm.clients._content import encode_body
from tswarm.clients._decoders import decode_content
from tswarm.clients._exceptions import (
    InvalidSchema,
    InvalidURL,
    MissingSchema,
    TooManyRedirects,
    as_requests_error,
    http_error,
)
from tswarm.clients._headers import Headers, RequestFields, combine, request_fields
from tswarm.clients._models import REDIRECT_STATUSES, Request, Response, ResponseContextManager
from tswarm.clients._multipart import encode_multipart
from tswarm.clients._request_options import RequestExtras, merge_params
from tswarm.clients._session_options import RequestsSessionOptions
from tswarm.clients._transports import HostPool, PoolTransport, Transport, shared_transport
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


class HttpSession(ConnectionSettings, RequestsSessionOptions):
    """A requests-like HTTP session for one simulated user, reporting every request as an event.

    Args:
        base_url: the ``host`` relative URLs are resolved against, e.g. ``http://127.0.0.1:8089``
            (a path in it is a prefix of every relative URL).
        request_event: the hook fired once per request (redirects included) with Locust's arguments.
        user: the user this session belongs to; its ``context()`` is merged into each event's context.
        connection_timeout: seconds to wait for a TCP (and TLS) connection.
        network_timeout: seconds to wait on each read or write.
        insecure: for https, skip certificate and hostname checks (the default, like Locust's
            FastHttpUser); ``verify`` is its opposite, with requests' meaning.
        max_redirects: redirects followed per request before it fails with ``TooManyRedirects``.
        concurrency: keep-alive connections per host (greenlets sharing the session beyond this wait).
        trust_env: take proxies and the CA bundle from the environment, as requests does.
        ssl_context_factory: makes the ``ssl.SSLContext`` of https connections (Locust's FastHttpUser).
        proxy_host: send every request through this http proxy (Locust's FastHttpUser), with
        proxy_port: its port.
        client_pool: a geventhttpclient ``HTTPClientPool`` several sessions share: their requests go
            through one set of connection pools, made with that object's settings (Locust's FastHttpUser).
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
        trust_env: bool = True,
        ssl_context_factory: Callable[..., Any] | None = None,
        proxy_host: str | None = None,
        proxy_port: int | None = None,
        client_pool: Any = None,
        max_retries: int = 0,
    ) -> None:
        self.base_url = (base_url or "").rstrip("/")
        self.request_event = request_event
        self.user = user
        self._init_connection_settings(
            connection_timeout=connection_timeout,
            network_timeout=network_timeout,
            insecure=insecure,
            concurrency=concurrency,
            trust_env=trust_env,
            ssl_context_factory=ssl_context_factory,
            proxy_host=proxy_host,
            proxy_port=proxy_port,
        )
        self.max_redirects = max_redirects
        # made on first use: most users never receive a cookie
        self._jar: CookieJar | None = None
        self._init_requests_options(max_retries)
        #: requests' ``Session.stream``: the default of ``request(stream=...)``
        self.stream = False
        # every session shares the default headers until the test file reads or sets its own
        self._headers = _DEFAULT_HEADERS
        self._transport: Transport = (
            PoolTransport(self) if client_pool is None else shared_transport(client_pool)
        )
        self._renamed: str | None = None
        self._user_context: Callable[[], dict[str, Any]] | None = getattr(user, "context", None)
        # where a request cut off by its user's stop is counted: the user's environment's statistics
        stats = getattr(getattr(user, "environment", None), "stats", None)
        self._log_interrupted: Callable[[], None] | None = getattr(stats, "log_interrupted", None)
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

    #: Locust FastHttpSession's name for the same jar
    cookiejar = cookies

    @property
    def client(self) -> UnderlyingClient:
        """What Locust's FastHttpSession calls its underlying client: ``client.clientpool.close()``
        closes the kept-alive connections."""
        return UnderlyingClient(self)

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
        timeout: float | tuple[float | None, float | None] | None = None,
        allow_redirects: bool | None = None,
        verify: bool | str | None = None,
        cert: str | tuple[str, str] | None = None,
        proxies: Mapping[str, str | None] | None = None,
        stream: bool | None = None,
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
            timeout: requests' timeout: seconds to connect (TCP, proxy tunnel, TLS) and to wait
                between bytes of the response, or a ``(connect, read)`` pair; each hop of a redirect
                (and each retry) has its own. None: the session's ``connection_timeout`` and
                ``network_timeout``.
            allow_redirects: follow redirects (default True, False for HEAD).
            verify: check the https certificate (True), not (False), or trust the CA bundle at this
                path; None: the session's ``verify``.
            cert: a client certificate for https: a file with certificate and key, or a pair of paths.
            proxies: scheme (or ``scheme://host``, ``all``) to proxy URL, over the session's ``proxies``.
            stream: return once the headers arrived and leave the body on the connection, to be read
                with ``iter_content``, ``iter_lines``, ``raw`` or ``stream`` (default: the session's
                ``stream``). The request is reported when it is done (see ``_streaming``).
            hooks: ``{"response": hook or [hooks]}``: each hop's response is passed to each hook,
                which may return a response to use instead (the session's ``hooks`` when None).
        """
        method = method.upper()
        start_time = _time()
        start = _perf_counter()
        body: bytes | None = None
        own: RequestFields | None = None
        extras: RequestExtras | None = None
        if hooks is not None or auth is not None or self._extended:
            # requests' options beyond the plain ones: the slow path (see _request_options)
            extras = RequestExtras(
                self,
                hooks,
                self._auth if auth is None else auth,
                {"timeout": timeout, "verify": verify, "cert": cert, "proxies": proxies, "stream": stream},
            )
            if self._params:
                params = merge_params(self._params, params)
        options: RequestOptions | None = None
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
            if headers or cookies or extras is not None or content_type:
                authorization = extras.authorization if extras is not None else None
                own = request_fields(self._headers, headers, cookies, authorization, content_type)
                if extras is not None and extras.prepares:
                    method, origin, target, own, body = extras.prepare(method, origin, target, own, body)
            if timeout is not None or verify is not None or cert is not None or proxies is not None:
                options = request_options(timeout, verify, cert, proxies)
        except Exception as e:  # a malformed URL, body or header: reported like any failed request
            if extras is not None and e is extras.user_error:
                raise
            return self._report_early(method, url, name, catch_response, context, e, start_time, start)

        if allow_redirects is None:
            allow_redirects = method != "HEAD"
        if stream is None:
            stream = self.stream
        try:
            if extras is None:
                response = self._send(method, origin, target, own, body, _NOTHING_DROPPED, options, stream)
                if allow_redirects and response.status_code in REDIRECT_STATUSES:
                    response = self._follow(response, own, body, options, stream)
            else:
                response = extras.send(method, origin, target, own, body, allow_redirects, options, stream)
        except GreenletExit:
            # the user was stopped while it waited for this response: it is not a request with a
            # response time, but the summary says how many there were
            if self._log_interrupted is not None:
                self._log_interrupted()
            raise
        except Exception as e:
            # an outer gevent.Timeout is a BaseException: it ends the user's task, as it should
            if extras is not None and e is extras.user_error:
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

        response.response_time = (_perf_counter() - start) * 1000.0
        report_name = self._renamed or name or target
        if stream and isinstance(response, _streaming.StreamedResponse):
            return self._report_when_done(response, method, report_name, catch_response, context, start_time)
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
        options: RequestOptions | None = None,
        stream: bool = False,
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
        if stream:
            return self._send_streamed(request, options)

        status, reason, raw_headers, content = self._transport.send(request, options)
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
        options: RequestOptions | None = None,
        stream: bool = False,
        send: Callable[..., Response] | None = None,
    ) -> Response:
        """Follow ``response``'s redirects, each hop sent by ``send`` (the session's ``_send`` unless a
        request's extras add retries, digest answers or hooks to every hop)."""
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
            if stream:
                # like requests: a redirect's body is read (the connection goes back), only the last streams
                response.content  # noqa: B018
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
            if send is None:
                response = self._send(method, origin, target, own, body, dropped, options, stream)
            else:
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
        length: int = -1,
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
            response_length=len(response._content) if length < 0 else length,
            response=response,
            context=ctx,
            exception=error,
            start_time=start_time,
            url=response.url,
        )

    # -- the slow paths --------------------------------------------------------------------------

    def _send_streamed(self, request: Request, options: RequestOptions | None) -> Response:
        """``_send`` for ``stream=True``: the response once its headers arrived, its body unread."""
        origin = request.origin
        assert origin is not None
        status, reason, raw_headers, streamed_body = _streaming.open_stream(self._transport, request, options)
        if _dict_get(raw_headers, "set-cookie") is not None:
            jar = self.cookies
            for line in raw_headers.getlist("set-cookie"):
                jar.store(line, origin.host, request.target)
        error = http_error(status, reason, request.target) if status >= 400 else None
        return _streaming.streamed_response(request, status, reason, raw_headers, streamed_body, error)

    def _report_when_done(
        self,
        response: _streaming.StreamedResponse,
        method: str,
        name: str,
        catch_response: bool,
        context: dict[str, Any] | None,
        start_time: float,
    ) -> Response:
        """Report a streamed request once, when it is done, with its time to the headers.

        Done is: the body read to its end, ``close()``, the response dropped unread, or with
        ``catch_response`` the end of its ``with`` block. The length is the body bytes received.
        """

        def report(resp: Response, received: int, error: BaseException | None) -> None:
            self._fire(method, name, resp, error or resp.error, context, start_time, received)

        if catch_response:
            return _streaming.manage(
                response,
                lambda resp, error: self._fire(
                    method, name, resp, error, context, start_time, _streaming.body_of(resp).received
                ),
            )
        body = response._body
        body.report = report
        # a body that is empty, or already failed, is done now
        body.settle(response)
        return response

    def iter_lines(self, url: str, method: str = "GET", **kwargs: Any) -> Iterator[str]:
        """Locust FastHttpSession's ``iter_lines``: request ``url`` streamed, and yield its lines as text."""
        response = self.request(method, url, stream=True, **kwargs)
        response.raise_for_status()
        with response:
            text = _streaming.iter_text(response.iter_content(1024), "utf-8")
            yield from _streaming.iter_lines(text, "\n")

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
