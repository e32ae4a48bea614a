"""A small, fast HTTP/1.1 server to aim load at: ``tswarm demo``, the test suite and ``tswarm target``.

Pure asyncio (one process, no dependencies): requests are parsed by hand from a per-connection buffer,
so keep-alive and pipelined requests work, and responses go out in the order the requests came in,
even when an endpoint answers after a delay.

The server counts every request it answers per ``METHOD /path`` (query string left out), so tests can
compare what a load generator reports with what actually arrived. ``GET /__counts`` reads the counts
and ``POST /__reset`` zeroes them; neither is counted. ``GET /__connections`` tells how many
connections were accepted since the last reset and how many are open now (to see keep-alive at work).

``/stream-bytes/N`` and ``/stream/N`` answer with a chunked body written as the client reads it (the
transport's flow control paces the writer), so a client can be tested on large bodies it never holds
whole; ``?gzip=1`` compresses the stream on the fly.
"""

from __future__ import annotations

import asyncio
import base64
import json
import math
import random
import signal
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http import HTTPStatus
from urllib.parse import parse_qsl, unquote

from tswarm.target.digest import ALGORITHMS, DigestVerifier

__all__ = ["RequestCounts", "TargetProtocol", "serve", "start_server"]

#: headers larger than this are refused (431) and the connection closed
MAX_HEAD_BYTES = 64 * 1024
#: request bodies larger than this are refused (413) and the connection closed
MAX_BODY_BYTES = 64 * 1024 * 1024
#: /bytes/N serves at most this many bytes
MAX_BYTES_ENDPOINT = 50 * 1024 * 1024
#: /stream-bytes/N streams at most this many bytes (never held in memory at once)
MAX_STREAM_BYTES = 1024 * 1024 * 1024
#: /stream/N sends at most this many lines
MAX_STREAM_LINES = 100_000
#: /flaky fails every FLAKY_EVERY-th request it answers (the 10th, 20th, ...)
FLAKY_EVERY = 10
#: /fail/N/KEY remembers this many keys (the oldest are forgotten first)
FAIL_KEYS_KEPT = 4096

_REASONS = {s.value: s.phrase for s in HTTPStatus}
_INDEX_HTML = (
    b"<!doctype html><html><head><title>tswarm target</title></head><body>"
    b"<h1>tswarm target</h1><p>Endpoints: /fast /slow?ms=N /latency /bytes/N /status/CODE /flaky /json "
    b"/echo /redirect?to=/fast /cookies/set?name=value /cookies /basic-auth/USER/PASS "
    b"/digest-auth/QOP/USER/PASS/ALGORITHM /fail/N/KEY?status=503&amp;retry_after=S "
    b"/response-headers?Name=value /login "
    b"/items/ID /stream-bytes/N?chunk_size=K&gzip=1 /stream/N /__counts /__connections /__reset</p></body></html>"
)
_JSON_DOC = json.dumps(
    {
        "service": "tswarm-target",
        "items": [
            {"id": i, "name": f"item-{i}", "price": round(i * 1.25, 2), "tags": ["a", "b"]} for i in range(10)
        ],
        "ok": True,
    }
).encode()
_NO_BODY_STATUSES = frozenset((204, 304)) | frozenset(range(100, 200))


@dataclass
class RequestCounts:
    """How many requests the server answered, per ``METHOD /path`` and in total."""

    total: int = 0
    by_endpoint: dict[str, int] = field(default_factory=dict)
    #: answered /flaky requests, the base of its deterministic failures
    flaky_seen: int = 0
    #: connections accepted since the last reset, and connections open now
    connections_opened: int = 0
    connections_open: int = 0

    def add(self, key: str) -> None:
        self.total += 1
        by_endpoint = self.by_endpoint
        by_endpoint[key] = by_endpoint.get(key, 0) + 1

    def reset(self) -> None:
        self.total = 0
        self.by_endpoint.clear()
        self.flaky_seen = 0
        self.connections_opened = 0

    def as_json(self) -> bytes:
        return json.dumps({"total": self.total, "by_endpoint": self.by_endpoint}, sort_keys=True).encode()

    def connections_json(self) -> bytes:
        return json.dumps({"opened": self.connections_opened, "open": self.connections_open}).encode()


@dataclass(slots=True)
class _Request:
    method: str
    path: str
    query: str
    version: str
    headers: dict[str, str]
    body: bytes


# One answer: status, body, content type, extra header lines (already "Name: value\r\n" encoded),
# and a delay in seconds before it is sent.
_Answer = tuple[int, bytes, bytes, bytes, float]
# A streamed answer: status, content type, extra header lines, and the pieces of the body, each sent
# as one chunk of a chunked body when the transport can take more.
_Streamed = tuple[int, bytes, bytes, Iterator[bytes]]


def _answer(
    status: int, body: bytes = b"", content_type: bytes = b"text/plain", extra: bytes = b""
) -> _Answer:
    return status, body, content_type, extra, 0.0


def _json(obj: object, status: int = 200, extra: bytes = b"") -> _Answer:
    return status, json.dumps(obj).encode(), b"application/json", extra, 0.0


def _query(req: _Request) -> dict[str, str]:
    return dict(parse_qsl(req.query, keep_blank_values=True)) if req.query else {}


def _cookies(req: _Request) -> dict[str, str]:
    header = req.headers.get("cookie", "")
    jar: dict[str, str] = {}
    for part in header.split(";"):
        name, sep, value = part.strip().partition("=")
        if sep and name:
            jar[name] = value
    return jar


def _latency_seconds() -> float:
    # lognormal around ~25 ms with a long tail, clipped to 5..200 ms
    ms = random.lognormvariate(math.log(25.0), 0.9)
    return min(max(ms, 5.0), 200.0) / 1000.0


_BYTES_CACHE: dict[int, bytes] = {}
#: what /bytes/N repeats
_PATTERN = b"abcdefghijklmnopqrstuvwxyz0123456789\n"


def _payload(n: int) -> bytes:
    data = _BYTES_CACHE.get(n)
    if data is None:
        pattern = _PATTERN
        data = (pattern * (n // len(pattern) + 1))[:n]
        if len(_BYTES_CACHE) < 64:
            _BYTES_CACHE[n] = data
    return data


def _byte_pieces(total: int, piece: int) -> Iterator[bytes]:
    # the bytes /bytes/N sends, in pieces: each a slice of the pattern from where the last one ended
    period = len(_PATTERN)
    block = _payload(piece + period)
    sent = 0
    while sent < total:
        size = min(piece, total - sent)
        offset = sent % period
        yield block[offset : offset + size]
        sent += size


def _json_lines(count: int) -> Iterator[bytes]:
    for i in range(count):
        yield json.dumps({"id": i, "line": f"line {i}"}).encode() + b"\n"


def _gzipped(pieces: Iterator[bytes]) -> Iterator[bytes]:
    # a sync flush after each piece: the client can decode every chunk as it arrives
    compressor = zlib.compressobj(6, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    for piece in pieces:
        yield compressor.compress(piece) + compressor.flush(zlib.Z_SYNC_FLUSH)
    yield compressor.flush()


class _Router:
    """Maps a parsed request to an answer. Plain code, no I/O."""

    def __init__(self, counts: RequestCounts) -> None:
        self.counts = counts
        self._digest = DigestVerifier()
        # /fail/N/KEY: how many times each key was asked
        self._fail_seen: dict[str, int] = {}
        self._exact: dict[str, Callable[[_Request], _Answer]] = {
            "/": lambda r: _answer(200, _INDEX_HTML, b"text/html; charset=utf-8"),
            "/fast": lambda r: _answer(200, b"ok"),
            "/slow": self._slow,
            "/latency": lambda r: (200, b"ok", b"text/plain", b"", _latency_seconds()),
            "/flaky": self._flaky,
            "/json": lambda r: _answer(200, _JSON_DOC, b"application/json"),
            "/echo": self._echo,
            "/redirect": self._redirect,
            "/cookies": lambda r: _json({"cookies": _cookies(r)}),
            "/cookies/set": self._cookies_set,
            "/login": self._login,
            "/response-headers": self._response_headers,
        }
        self._prefixed: tuple[tuple[str, Callable[[_Request, str], _Answer]], ...] = (
            ("/bytes/", self._bytes),
            ("/status/", self._status),
            ("/items/", self._item),
            ("/basic-auth/", self._basic_auth),
            ("/digest-auth/", self._digest_auth),
            ("/fail/", self._fail),
            ("/redirect/", self._redirect_chain),
        )

    def streamed(self, req: _Request) -> _Streamed | _Answer | None:
        """The streamed answer of ``/stream-bytes/N`` and ``/stream/N`` (or an error), None for other paths."""
        if req.path.startswith("/stream-bytes/"):
            rest = req.path[len("/stream-bytes/") :]
            query = _query(req)
            chunk_text = query.get("chunk_size", "65536")
            if not rest.isdigit() or not chunk_text.isdigit() or int(chunk_text) < 1:
                return _answer(400, b"size and chunk_size must be positive integers")
            total = min(int(rest), MAX_STREAM_BYTES)
            pieces = _byte_pieces(total, min(int(chunk_text), 1024 * 1024))
            content_type = b"application/octet-stream"
        elif req.path.startswith("/stream/"):
            rest = req.path[len("/stream/") :]
            if not rest.isdigit():
                return _answer(400, b"the line count must be an integer")
            pieces = _json_lines(min(int(rest), MAX_STREAM_LINES))
            content_type = b"application/x-ndjson"
        else:
            return None
        if _query(req).get("gzip") == "1":
            return 200, content_type, b"Content-Encoding: gzip\r\n", _gzipped(pieces)
        return 200, content_type, b"", pieces

    def route(self, req: _Request) -> _Answer:
        handler = self._exact.get(req.path)
        if handler is not None:
            return handler(req)
        for prefix, prefixed in self._prefixed:
            if req.path.startswith(prefix):
                return prefixed(req, req.path[len(prefix) :])
        return _answer(404, b"not found")

    def _slow(self, req: _Request) -> _Answer:
        try:
            ms = float(_query(req).get("ms", "50"))
        except ValueError:
            return _answer(400, b"ms must be a number")
        return 200, b"ok", b"text/plain", b"", min(max(ms, 0.0), 60_000.0) / 1000.0

    def _flaky(self, req: _Request) -> _Answer:
        self.counts.flaky_seen += 1
        if self.counts.flaky_seen % FLAKY_EVERY == 0:
            return _answer(500, b"flaky failure")
        return _answer(200, b"ok")

    def _echo(self, req: _Request) -> _Answer:
        return _json(
            {
                "method": req.method,
                "path": req.path,
                "query": req.query,
                "args": _query(req),
                "headers": req.headers,
                "body": req.body.decode("utf-8", "replace"),
            }
        )

    def _redirect(self, req: _Request) -> _Answer:
        query = _query(req)
        target = query.get("to", "/fast")
        status_text = query.get("status", "302")
        status = int(status_text) if status_text.isdigit() else 302
        if "\r" in target or "\n" in target:
            return _answer(400, b"bad location")
        return _answer(status, b"", extra=b"Location: " + target.encode("latin-1", "replace") + b"\r\n")

    def _redirect_chain(self, req: _Request, rest: str) -> _Answer:
        if not rest.isdigit():
            return _answer(404, b"not found")
        n = int(rest)
        location = b"/fast" if n <= 1 else b"/redirect/%d" % (n - 1)
        return _answer(302, b"", extra=b"Location: " + location + b"\r\n")

    def _cookies_set(self, req: _Request) -> _Answer:
        query = _query(req)
        extra = b"".join(
            b"Set-Cookie: %s=%s; Path=/\r\n" % (name.encode("latin-1"), value.encode("latin-1"))
            for name, value in query.items()
        )
        return _json({"cookies": query}, extra=extra)

    def _login(self, req: _Request) -> _Answer:
        if req.method != "POST":
            return _answer(405, b"method not allowed", extra=b"Allow: POST\r\n")
        form: dict[str, object]
        if req.headers.get("content-type", "").startswith("application/json"):
            try:
                loaded = json.loads(req.body or b"{}")
            except ValueError:
                return _answer(400, b"bad json")
            form = loaded if isinstance(loaded, dict) else {}
        else:
            form = dict(parse_qsl(req.body.decode("latin-1"), keep_blank_values=True))
        user, password = form.get("username"), form.get("password")
        if not user or not password:
            return _json({"error": "username and password required"}, status=401)
        token = base64.urlsafe_b64encode(str(user).encode()).decode().rstrip("=")
        return _json(
            {"logged_in": True, "user": user}, extra=b"Set-Cookie: session=%s; Path=/\r\n" % token.encode()
        )

    def _bytes(self, req: _Request, rest: str) -> _Answer:
        if not rest.isdigit():
            return _answer(400, b"size must be an integer")
        return _answer(200, _payload(min(int(rest), MAX_BYTES_ENDPOINT)), b"application/octet-stream")

    def _status(self, req: _Request, rest: str) -> _Answer:
        if not rest.isdigit() or not 100 <= int(rest) <= 599:
            return _answer(400, b"bad status code")
        code = int(rest)
        return _answer(code, _REASONS.get(code, "Status").encode())

    def _item(self, req: _Request, rest: str) -> _Answer:
        if not rest or "/" in rest:
            return _answer(404, b"not found")
        return _json({"id": rest, "name": f"item-{rest}"})

    def _basic_auth(self, req: _Request, rest: str) -> _Answer:
        user, sep, password = rest.partition("/")
        expected = "Basic " + base64.b64encode(f"{unquote(user)}:{unquote(password)}".encode()).decode()
        if sep and req.headers.get("authorization") == expected:
            return _json({"authenticated": True, "user": unquote(user)})
        return _answer(401, b"unauthorized", extra=b'WWW-Authenticate: Basic realm="tswarm"\r\n')

    def _digest_auth(self, req: _Request, rest: str) -> _Answer:
        # /digest-auth/QOP/USER/PASS[/ALGORITHM], QOP "auth" or "none", as httpbin names it
        qop, _, rest = rest.partition("/")
        user, _, rest = rest.partition("/")
        password, _, algorithm = rest.partition("/")
        algorithm = algorithm or "MD5"
        if qop not in ("auth", "none") or not user or algorithm.upper() not in ALGORITHMS:
            return _answer(404, b"not found")
        user, password = unquote(user), unquote(password)
        uri = req.path + ("?" + req.query if req.query else "")
        authorization = req.headers.get("authorization", "")
        if authorization and self._digest.check(
            authorization, req.method, uri, user, password, qop, algorithm
        ):
            return _json({"authenticated": True, "user": user})
        challenge = self._digest.challenge("tswarm", qop, algorithm)
        return _answer(401, b"unauthorized", extra=f"WWW-Authenticate: {challenge}\r\n".encode())

    def _response_headers(self, req: _Request) -> _Answer:
        # each query parameter becomes a response header (Content-Type included), the body shows them
        pairs = parse_qsl(req.query, keep_blank_values=True) if req.query else []
        if any(c in name + value for name, value in pairs for c in "\r\n") or any(not n for n, _ in pairs):
            return _answer(400, b"bad header")
        content_type = b"application/json"
        extra = b""
        for name, value in pairs:
            if name.lower() == "content-type":
                content_type = value.encode("latin-1", "replace")
            else:
                extra += f"{name}: {value}\r\n".encode("latin-1", "replace")
        return 200, json.dumps(dict(pairs)).encode(), content_type, extra, 0.0

    def _fail(self, req: _Request, rest: str) -> _Answer:
        # /fail/N/KEY: the first N requests for KEY fail with ?status= (503), the rest get 200
        times, _, key = rest.partition("/")
        query = _query(req)
        status_text = query.get("status", "503")
        if not times.isdigit() or not key or not status_text.isdigit():
            return _answer(400, b"use /fail/N/KEY?status=CODE")
        seen = self._fail_seen.pop(key, 0) + 1
        self._fail_seen[key] = seen
        if len(self._fail_seen) > FAIL_KEYS_KEPT:
            del self._fail_seen[next(iter(self._fail_seen))]
        if seen > int(times):
            return _answer(200, b"ok")
        retry_after = query.get("retry_after", "")
        extra = f"Retry-After: {retry_after}\r\n".encode() if retry_after.isdigit() else b""
        status = int(status_text)
        return _answer(status, _REASONS.get(status, "Status").encode(), extra=extra)


def _head_for(status: int, length: int, content_type: bytes, extra: bytes, close: bool) -> bytes:
    reason = _REASONS.get(status, "Unknown").encode()
    connection = b"Connection: close\r\n" if close else b""
    if status in _NO_BODY_STATUSES:
        return b"HTTP/1.1 %d %s\r\n%s%s\r\n" % (status, reason, extra, connection)
    return b"HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %d\r\n%s%s\r\n" % (
        status,
        reason,
        content_type,
        length,
        extra,
        connection,
    )


class TargetProtocol(asyncio.Protocol):
    """One client connection: buffer, parse, answer in order."""

    def __init__(self, router: _Router) -> None:
        self._router = router
        self._counts = router.counts
        self._buffer = bytearray()
        self._transport: asyncio.Transport | None = None
        # while a delayed answer is pending, later (pipelined) requests wait in the buffer
        self._waiting = False
        self._closing = False
        self._timer: asyncio.TimerHandle | None = None
        # a streamed body being written: its remaining pieces, and whether to close when done
        self._pieces: Iterator[bytes] | None = None
        self._close_after_stream = False
        self._paused = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        self._counts.connections_opened += 1
        self._counts.connections_open += 1

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None
        self._counts.connections_open -= 1
        self._pieces = None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def pause_writing(self) -> None:
        self._paused = True

    def resume_writing(self) -> None:
        self._paused = False
        if self._pieces is not None:
            self._pump()

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        if not self._waiting:
            self._process()

    def _process(self) -> None:
        buffer = self._buffer
        while buffer and not self._closing and not self._waiting:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                if len(buffer) > MAX_HEAD_BYTES:
                    self._fail(431)
                return
            request = self._parse(buffer[:end].decode("latin-1"), end + 4)
            if request is None:
                return  # body incomplete, or the request was refused
            self._handle(request)

    def _parse(self, head: str, body_start: int) -> _Request | None:
        lines = head.split("\r\n")
        parts = lines[0].split(" ")
        if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
            self._fail(400)
            return None
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, sep, value = line.partition(":")
            if not sep:
                self._fail(400)
                return None
            key = name.lower()
            if key in headers and key != "cookie":
                headers[key] = f"{headers[key]}, {value.strip()}"
            else:
                headers[key] = value.strip()
        buffer = self._buffer
        if "transfer-encoding" in headers:
            if headers["transfer-encoding"].lower() != "chunked":
                self._fail(501)
                return None
            decoded = self._dechunk(body_start)
            if decoded is None:
                return None
            body, consumed = decoded
            del buffer[:consumed]
        else:
            length_text = headers.get("content-length", "0")
            if not length_text.isdigit():
                self._fail(400)
                return None
            length = int(length_text)
            if length > MAX_BODY_BYTES:
                self._fail(413)
                return None
            if len(buffer) < body_start + length:
                return None
            body = bytes(buffer[body_start : body_start + length])
            del buffer[: body_start + length]
        path, _, query = parts[1].partition("?")
        return _Request(parts[0], path, query, parts[2], headers, body)

    def _dechunk(self, start: int) -> tuple[bytes, int] | None:
        """(body, bytes consumed) of a complete chunked body in the buffer, else None."""
        buffer = self._buffer
        pos = start
        chunks: list[bytes] = []
        while True:
            line_end = buffer.find(b"\r\n", pos)
            if line_end < 0:
                return None
            try:
                size = int(bytes(buffer[pos:line_end]).split(b";")[0], 16)
            except ValueError:
                self._fail(400)
                return None
            pos = line_end + 2
            if size == 0:
                trailer_end = buffer.find(b"\r\n\r\n", pos - 2)
                if trailer_end < 0:
                    return None
                return b"".join(chunks), trailer_end + 4
            if len(buffer) < pos + size + 2:
                return None
            chunks.append(bytes(buffer[pos : pos + size]))
            pos += size + 2

    def _handle(self, req: _Request) -> None:
        connection = req.headers.get("connection", "").lower()
        close = "close" in connection or (req.version == "HTTP/1.0" and "keep-alive" not in connection)
        if req.path == "/__counts" and req.method in ("GET", "HEAD"):
            self._send(req, (200, self._counts.as_json(), b"application/json", b"", 0.0), close, count=False)
            return
        if req.path == "/__reset" and req.method == "POST":
            self._counts.reset()
            self._send(req, (200, b'{"reset": true}', b"application/json", b"", 0.0), close, count=False)
            return
        if req.path == "/__connections" and req.method in ("GET", "HEAD"):
            body = self._counts.connections_json()
            self._send(req, (200, body, b"application/json", b"", 0.0), close, count=False)
            return
        if req.path.startswith("/stream"):
            streamed = self._router.streamed(req)
            if streamed is not None and len(streamed) == 4:
                self._start_stream(req, streamed, close)
                return
            if streamed is not None:
                self._send(req, streamed, close)
                return
        answer = self._router.route(req)
        if answer[4] > 0.0:
            self._waiting = True
            loop = asyncio.get_running_loop()
            self._timer = loop.call_later(answer[4], self._send_delayed, req, answer, close)
            return
        self._send(req, answer, close)

    def _send_delayed(self, req: _Request, answer: _Answer, close: bool) -> None:
        self._timer = None
        self._waiting = False
        if self._transport is None:
            return
        self._send(req, answer, close)
        self._process()

    def _send(self, req: _Request, answer: _Answer, close: bool, *, count: bool = True) -> None:
        transport = self._transport
        if transport is None:
            return
        status, body, content_type, extra, _ = answer
        head = _head_for(status, len(body), content_type, extra, close)
        if req.method == "HEAD" or status in _NO_BODY_STATUSES:
            transport.write(head)
        elif len(body) > 65536:
            transport.write(head)
            transport.write(body)
        else:
            transport.write(head + body)
        if count:
            self._counts.add(f"{req.method} {req.path}")
        if close:
            self._closing = True
            transport.close()

    def _start_stream(self, req: _Request, streamed: _Streamed, close: bool) -> None:
        transport = self._transport
        if transport is None:
            return
        status, content_type, extra, pieces = streamed
        connection = b"Connection: close\r\n" if close else b""
        reason = _REASONS.get(status, "Unknown").encode()
        transport.write(
            b"HTTP/1.1 %d %s\r\nContent-Type: %s\r\nTransfer-Encoding: chunked\r\n%s%s\r\n"
            % (status, reason, content_type, extra, connection)
        )
        self._counts.add(f"{req.method} {req.path}")
        if req.method == "HEAD":
            self._end_of_answer(close)
            return
        # pipelined requests wait until the whole body went out
        self._waiting = True
        self._pieces = pieces
        self._close_after_stream = close
        self._pump()

    def _pump(self) -> None:
        """Write chunks until the transport asks to pause (it resumes us) or the body ends."""
        transport, pieces = self._transport, self._pieces
        while transport is not None and pieces is not None and not self._paused:
            piece = next(pieces, None)
            if piece is None:
                self._pieces = None
                transport.write(b"0\r\n\r\n")
                self._waiting = False
                self._end_of_answer(self._close_after_stream)
                if not self._closing:
                    self._process()
                return
            if piece:
                transport.write(b"%x\r\n%s\r\n" % (len(piece), piece))

    def _end_of_answer(self, close: bool) -> None:
        if close and self._transport is not None:
            self._closing = True
            self._transport.close()

    def _fail(self, status: int) -> None:
        self._closing = True
        if self._transport is not None:
            body = _REASONS.get(status, "Error").encode()
            self._transport.write(_head_for(status, len(body), b"text/plain", b"", True) + body)
            self._transport.close()


async def start_server(host: str = "127.0.0.1", port: int = 0) -> tuple[asyncio.Server, RequestCounts]:
    """Start the target in the running loop; returns the server and its request counts."""
    counts = RequestCounts()
    router = _Router(counts)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: TargetProtocol(router), host, port, reuse_address=True, backlog=1024
    )
    return server, counts


def serve(host: str = "127.0.0.1", port: int = 0, *, ready: Callable[[str, int], None] | None = None) -> None:
    """Run the target until SIGTERM or SIGINT, then return (the process exits 0).

    Args:
        host: the address to listen on.
        port: the port to listen on; 0 picks a free one.
        ready: called with the bound host and port once the server accepts connections.
    """

    async def main() -> None:
        server, _ = await start_server(host, port)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        sockname = server.sockets[0].getsockname()
        if ready is not None:
            ready(sockname[0], sockname[1])
        await stop.wait()
        # no wait_closed(): idle keep-alive clients would hold the shutdown open
        server.close()

    asyncio.run(main())
