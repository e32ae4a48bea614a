"""Streamed responses (``stream=True``): the body stays on its connection until the test file reads it.

Only requests made with ``stream=True`` (and the piecewise calls of a plain response) use this module;
the plain path never calls into it. What is here:
``StreamedBody`` (the unread body on its connection, and the one report of its request), the readers a
test file gets (``RawStream`` for requests' ``response.raw``, ``BodyStream`` for Locust's
``response.stream``), incremental Content-Encoding decoding, the chunk and line iterators that plain
responses share, and the response classes of a streamed request.

Imports the client's models and geventhttpclient's response type; ``requests.exceptions`` lazily, on
errors only.
"""

from __future__ import annotations

import codecs
import contextlib
import zlib
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, cast

from geventhttpclient.header import Headers as ParsedHeaders
from geventhttpclient.response import HTTPSocketPoolResponse

from tswarm.clients._models import Request, Response, ResponseContextManager

if TYPE_CHECKING:
    from tswarm.clients._connections import RequestOptions
    from tswarm.clients._transports.base import Transport

#: bytes asked of the socket at a time
_BLOCK = 64 * 1024
#: what one item of ``BodyStream``'s iteration holds (geventhttpclient's block size)
_STREAM_BLOCK = 4 * 1024

#: how a streamed request is reported once it is done: the response, the body bytes received
#: (as they came over the wire, before Content-Encoding is undone) and the error that ended it, if any
StreamReport = Callable[[Response, int, "BaseException | None"], None]


def _body_error(error: BaseException) -> BaseException:
    """The exception requests raises where reading a body fails this way (both are ``OSError``s)."""
    from requests.exceptions import ChunkedEncodingError, ConnectionError

    if isinstance(error, OSError) and not isinstance(error, ConnectionError | ChunkedEncodingError):
        wrapped: BaseException = ConnectionError(f"reading the response body failed: {error}")
    elif isinstance(error, ChunkedEncodingError | ConnectionError):
        return error
    else:
        wrapped = ChunkedEncodingError(f"the response body ended badly: {error}")
    wrapped.__cause__ = error
    return wrapped


class StreamedBody:
    """The body of one streamed response, read off its connection as asked.

    The bytes the HTTP parser has taken from the socket wait in ``buffer`` (geventhttpclient's own
    body buffer, shared, so nothing is copied twice). When the parser sees the end of the body the
    connection goes back to the keep-alive pool; ``close()`` before that closes the connection, so it
    is never reused with unread bytes on it.

    It holds no reference to its response (a cycle would keep an unread response, and its connection,
    alive until the cyclic garbage collector runs): whoever reads passes the response to ``settle``.
    """

    __slots__ = (
        "_raw",
        "_taken",
        "buffer",
        "chunked",
        "closed",
        "content",
        "content_encoding",
        "error",
        "iterated",
        "report",
    )

    def __init__(
        self,
        raw: HTTPSocketPoolResponse | None,
        buffer: bytearray,
        headers: ParsedHeaders,
        report: StreamReport | None = None,
    ) -> None:
        self._raw = raw
        self.buffer = buffer
        self._taken = 0
        #: a chunked body yields pieces as they arrive; one with a length yields full pieces
        self.chunked = "chunked" in str(headers.get("transfer-encoding") or "").lower()
        encoding = headers.get("content-encoding")
        self.content_encoding = (encoding if isinstance(encoding, str) else "").strip().lower()
        #: called once when the request is done; None once it was (or when catch_response reports)
        self.report = report
        self.closed = False
        self.error: BaseException | None = None
        #: the decoded body, once ``Response.content`` read it all
        self.content: bytes | None = None
        #: the body was (partly) read through an iterator or a file-like reader
        self.iterated = False

    @property
    def ended(self) -> bool:
        """Every byte of the body was received and handed out (or the body was closed)."""
        raw = self._raw
        return self.closed or (not self.buffer and (raw is None or raw.message_complete))

    @property
    def received(self) -> int:
        """Body bytes received from the server so far (read or still buffered)."""
        return self._taken + len(self.buffer)

    def _receive(self, size: int | None, available: bool) -> None:
        """Take bytes off the connection into ``buffer`` until it holds ``size`` of them (the whole
        body for None) or the body ends; with ``available``, only until it holds any."""
        buffer = self.buffer
        raw = self._raw
        if raw is None or raw.message_complete or self.closed:
            return
        try:
            while not raw.message_complete and (size is None or len(buffer) < size):
                if available and buffer:
                    break
                sock = raw._sock
                if sock is None:
                    raise ConnectionResetError("the connection was released before the body ended")
                data = sock.recv(_BLOCK)
                # b"" is the end of the connection: the end of a body without a length, or an error
                # ("Incomplete response") for one that was cut short
                raw.feed(data)
                if not data and not raw.message_complete:
                    raise ConnectionResetError("the connection closed before the body ended")
        except Exception as e:
            error = _body_error(e)
            self.error = error
            self.close()
            raise error from e

    def read(self, size: int | None, available: bool = False) -> bytes:
        """Up to ``size`` body bytes (all of them for None), as sent (Content-Encoding not undone).

        Waits for ``size`` bytes or the end of the body; with ``available``, only until there is at
        least one byte. b"" means the body has ended.
        """
        self._receive(size, available)
        buffer = self.buffer
        if size is None or size >= len(buffer):
            data = bytes(buffer)
            buffer.clear()
        else:
            data = bytes(buffer[:size])
            del buffer[:size]
        self._taken += len(data)
        return data

    def readline(self, separator: bytes = b"\n", limit: int = -1) -> bytes:
        """Body bytes up to and including the next ``separator`` (or to the end, or ``limit`` bytes)."""
        start = 0
        while True:
            buffer = self.buffer
            found = buffer.find(separator, start)
            if found >= 0:
                end = found + len(separator)
                return self.read(end if limit < 0 else min(end, limit))
            if 0 <= limit <= len(buffer):
                return self.read(limit)
            raw = self._raw
            if raw is None or raw.message_complete or self.closed:
                return self.read(None if limit < 0 else limit)
            # a separator may straddle what is buffered and what comes next
            start = max(0, len(buffer) - len(separator) + 1)
            self._receive(len(buffer) + 1, False)

    def close(self) -> None:
        """Stop reading: a connection with unread bytes is closed, a finished one is back in the pool."""
        if self.closed:
            return
        self.closed = True
        raw, self._raw = self._raw, None
        # what arrived but was never read still counts as received
        self._taken += len(self.buffer)
        self.buffer = bytearray()
        if raw is not None:
            raw.release()

    def settle(self, response: Response) -> None:
        """Report the request once, if its body has ended (read to the end, closed or failed)."""
        report = self.report
        if report is not None and (self.ended or self.error is not None):
            self.report = None
            if not self.closed:
                self.close()
            report(response, self._taken, self.error)


class _Decoder:
    """Undoes gzip or deflate a piece at a time, never producing more than asked for at once."""

    __slots__ = ("_decompressor", "_started", "deflate", "finished")

    def __init__(self, encoding: str) -> None:
        self.deflate = encoding == "deflate"
        wbits = zlib.MAX_WBITS if self.deflate else 16 + zlib.MAX_WBITS
        self._decompressor = zlib.decompressobj(wbits)
        self._started = False
        self.finished = False

    def pending(self, limit: int) -> bytes:
        """Output still held back from earlier input (up to ``limit`` bytes)."""
        tail = self._decompressor.unconsumed_tail
        return self._decompressor.decompress(tail, limit) if tail else b""

    def decode(self, data: bytes, limit: int) -> bytes:
        try:
            out = self._decompressor.decompress(data, limit)
        except zlib.error:
            if not (self.deflate and not self._started):
                raise
            # servers disagree on whether "deflate" has the zlib wrapper: take the raw form too
            self._decompressor = zlib.decompressobj(-zlib.MAX_WBITS)
            out = self._decompressor.decompress(data, limit)
        self._started = True
        return out

    def flush(self) -> bytes:
        self.finished = True
        return self._decompressor.flush()


def decoder_for(encoding: str) -> _Decoder | None:
    """The incremental decoder of a Content-Encoding, None for identity or one tswarm leaves as sent."""
    if encoding in ("gzip", "x-gzip", "deflate"):
        return _Decoder("gzip" if encoding == "x-gzip" else encoding)
    return None


class _DecodedReader:
    """Reads a body with its Content-Encoding undone, a bounded piece at a time (a small gzip body
    may inflate to gigabytes: no piece is larger than asked for)."""

    __slots__ = ("_body", "_decoder", "_settle")

    def __init__(self, body: StreamedBody, decoder: _Decoder, settle: Callable[[], None]) -> None:
        self._body = body
        self._decoder = decoder
        self._settle = settle

    def read(self, limit: int) -> bytes:
        """Up to ``limit`` decoded bytes, at least one unless the body has ended (then b"")."""
        decoder = self._decoder
        while True:
            out = decoder.pending(limit)
            if out:
                return out
            if decoder.finished:
                return b""
            try:
                data = self._body.read(_BLOCK, available=True)
                if not data:
                    self._settle()
                    return decoder.flush()
                out = decoder.decode(data, limit)
            except zlib.error as e:
                from requests.exceptions import ContentDecodingError

                self._body.error = ContentDecodingError(f"the body could not be decoded: {e}")
                self._body.close()
                self._settle()
                raise self._body.error from e
            self._settle()
            if out:
                return out


def iter_slices(content: bytes, size: int | None) -> Iterator[bytes]:
    """``content`` in pieces of ``size`` bytes (one piece for None)."""
    if size is None or size >= len(content):
        if content:
            yield content
        return
    for start in range(0, len(content), size):
        yield content[start : start + size]


def iter_text(chunks: Iterator[bytes], encoding: str) -> Iterator[str]:
    """Byte chunks decoded to text as they come (a character cut between chunks waits for its rest)."""
    decoder = codecs.getincrementaldecoder(encoding)(errors="replace")
    for chunk in chunks:
        text = decoder.decode(chunk)
        if text:
            yield text
    rest = decoder.decode(b"", final=True)
    if rest:
        yield rest


def iter_lines(chunks: Iterator[Any], delimiter: Any = None) -> Iterator[Any]:
    """The lines of a stream of chunks (bytes or str) without their line ends.

    With ``delimiter`` lines end there; without, at any line break ``splitlines`` knows. A line cut
    between chunks is joined first; so is a "\\r\\n" cut between its two characters.
    """
    pending: Any = None
    for chunk in chunks:
        if not chunk:
            continue
        text = pending + chunk if pending else chunk
        if delimiter is not None:
            lines = text.split(delimiter)
            pending = lines.pop()
            yield from lines
            continue
        kept = text.splitlines(True)
        lines = text.splitlines()
        last = kept[-1]
        if last == lines[-1] or last[-1:] in ("\r", b"\r"):
            # the last line has no line end yet, or one that may be half of "\r\n"
            pending = kept.pop()
            lines.pop()
        else:
            pending = None
        yield from lines
    if pending:
        yield pending if delimiter is not None else pending.splitlines()[0]


class RawStream:
    """``response.raw`` of a streamed response: the body as sent, as a readable file object.

    The part of urllib3's ``HTTPResponse`` Locust files use: ``read(amt, decode_content=...)``,
    ``stream(amt, decode_content=...)``, ``readline``, iteration by lines, ``close``/``release_conn``,
    ``closed``, ``tell``, ``data``, ``status``, ``reason``, ``headers``, ``version``.
    """

    __slots__ = ("_decoded", "_response")

    def __init__(self, response: Response) -> None:
        self._response = response
        self._decoded: _DecodedReader | None = None

    @property
    def _body(self) -> StreamedBody:
        return body_of(self._response)

    def read(
        self, amt: int | None = None, decode_content: bool | None = None, cache_content: bool = False
    ) -> bytes:
        """``amt`` bytes of the body (all the rest for None); ``decode_content`` undoes gzip/deflate."""
        body = self._body
        body.iterated = True
        if decode_content:
            decoder = decoder_for(body.content_encoding)
            if decoder is not None or self._decoded is not None:
                return self._read_decoded(amt, decoder)
        try:
            return body.read(amt)
        finally:
            body.settle(self._response)

    def _read_decoded(self, amt: int | None, decoder: _Decoder | None) -> bytes:
        if self._decoded is None:
            assert decoder is not None
            self._decoded = _DecodedReader(self._body, decoder, lambda: self._body.settle(self._response))
        pieces = bytearray()
        while amt is None or len(pieces) < amt:
            piece = self._decoded.read(_BLOCK if amt is None else amt - len(pieces))
            if not piece:
                break
            pieces += piece
        return bytes(pieces)

    def read1(self, amt: int = -1) -> bytes:
        """What arrived so far (at least one byte unless the body has ended), at most ``amt``."""
        body = self._body
        body.iterated = True
        try:
            return body.read(_BLOCK if amt is None or amt < 0 else amt, available=True)
        finally:
            body.settle(self._response)

    def stream(self, amt: int | None = 2**16, decode_content: bool | None = None) -> Iterator[bytes]:
        """The body in pieces of ``amt`` bytes until its end."""
        while True:
            data = self.read(amt, decode_content=decode_content)
            if not data:
                return
            yield data

    def readline(self, limit: int = -1) -> bytes:
        body = self._body
        body.iterated = True
        try:
            return body.readline(b"\n", limit if limit is not None else -1)
        finally:
            body.settle(self._response)

    def readlines(self, hint: int = -1) -> list[bytes]:
        return list(self)

    def __iter__(self) -> Iterator[bytes]:
        while True:
            line = self.readline()
            if not line:
                return
            yield line

    def readable(self) -> bool:
        return True

    def tell(self) -> int:
        """Body bytes read so far (as sent)."""
        body = self._body
        return body.received - len(body.buffer)

    @property
    def data(self) -> bytes:
        return self.read()

    @property
    def closed(self) -> bool:
        return self._body.closed

    def isclosed(self) -> bool:
        return self._body.ended

    def close(self) -> None:
        """Stop reading; a connection with unread bytes on it is closed, not reused."""
        self._body.close()
        self._body.settle(self._response)

    release_conn = close

    @property
    def status(self) -> int:
        return self._response.status_code

    @property
    def reason(self) -> str:
        return self._response.reason

    @property
    def headers(self) -> Any:
        return self._response.headers

    version = 11

    def __enter__(self) -> RawStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<RawStream of {self._response!r}>"


class BodyStream(RawStream):
    """``response.stream`` (Locust's FastHttpUser): the body as sent, read in pieces.

    geventhttpclient's response has the same calls with two differences kept here: iteration yields
    blocks (not lines) and ``readline`` splits at "\\r\\n" unless told otherwise. ``release()`` closes.
    """

    __slots__ = ()

    def readline(self, sep: bytes | int = b"\r\n") -> bytes:
        body = self._body
        body.iterated = True
        try:
            if isinstance(sep, int):
                return body.readline(b"\n", sep)
            return body.readline(sep)
        finally:
            body.settle(self._response)

    def __iter__(self) -> Iterator[bytes]:
        while True:
            block = self.read(_STREAM_BLOCK)
            if not block:
                return
            yield block

    release = RawStream.close

    @property
    def message_complete(self) -> bool:
        return self._body.ended

    def get_code(self) -> int:
        return self._response.status_code

    @property
    def status_code(self) -> int:
        return self._response.status_code


def body_of(response: Response) -> StreamedBody:
    """The streamed body of ``response``; an already read one for a response that was not streamed."""
    body = getattr(response, "_body", None)
    if body is None:
        body = StreamedBody(None, bytearray(), ParsedHeaders())
        body.content = response._content
    return body


def iter_content(
    response: Response, chunk_size: int | None, decode_unicode: bool, decode_content: bool | None
) -> Iterator[Any]:
    """requests' ``iter_content`` (and Locust FastResponse's, when ``decode_content`` is given)."""
    if chunk_size is not None and (not isinstance(chunk_size, int) or chunk_size < 1):
        raise TypeError(f"chunk_size must be a positive int or None, not {chunk_size!r}")
    body = body_of(response)
    if body.content is not None:
        chunks: Iterator[bytes] = iter_slices(body.content, chunk_size)
    else:
        if body.iterated and body.ended:
            from requests.exceptions import StreamConsumedError

            raise StreamConsumedError("the content of this response was already read")
        body.iterated = True
        chunks = _iter_body(response, body, chunk_size)
    if decode_content is not None:
        # Locust's FastResponse: decode_content turns each chunk into text where it is UTF-8
        return _locust_text(chunks) if decode_content else chunks
    if decode_unicode:
        return iter_text(chunks, response.encoding or response._charset() or "utf-8")
    return chunks


def _locust_text(chunks: Iterator[bytes]) -> Iterator[str | bytes]:
    for chunk in chunks:
        try:
            yield chunk.decode("utf-8")
        except UnicodeDecodeError:
            yield chunk


def _iter_body(response: Response, body: StreamedBody, size: int | None) -> Iterator[bytes]:
    """The decoded body in pieces of ``size`` (as they arrive for a chunked body or ``size`` None)."""
    settle: Callable[[], None] = lambda: body.settle(response)  # noqa: E731 - a callback, named for its job
    decoder = decoder_for(body.content_encoding)
    exact = size is not None and not body.chunked
    if decoder is None:
        while True:
            try:
                data = body.read(size or _BLOCK, available=not exact)
            finally:
                settle()
            if not data:
                return
            yield data
    reader = _DecodedReader(body, decoder, settle)
    limit = size or _BLOCK
    if not exact:
        while True:
            data = reader.read(limit)
            if not data:
                return
            yield data
    assert size is not None
    pieces = bytearray()
    while True:
        data = reader.read(size - len(pieces))
        if not data:
            break
        pieces += data
        if len(pieces) >= size:
            yield bytes(pieces)
            pieces.clear()
    if pieces:
        yield bytes(pieces)


# -- the responses of streamed requests ----------------------------------------------------------


class _Streamed(Response):
    """What a streamed response does differently: its body is read from ``_body`` when asked for."""

    __slots__ = ()

    _body: StreamedBody

    @property
    def content(self) -> bytes:
        """The whole (rest of the) body, decoded; reading it ends the stream."""
        body = self._body
        if body.content is None:
            if body.iterated and body.ended:
                raise RuntimeError("The content for this response was already consumed")
            try:
                data = body.read(None)
                decoder = decoder_for(body.content_encoding)
                if decoder is not None and data:
                    try:
                        data = decoder.decode(data, 0) + decoder.flush()
                    except zlib.error as e:
                        from requests.exceptions import ContentDecodingError

                        body.error = ContentDecodingError(f"the body could not be decoded: {e}")
                        raise body.error from e
            finally:
                body.settle(self)
            body.content = self._content = data
        return body.content

    @property
    def text(self) -> str:
        self.content  # noqa: B018 - reads the body into _content
        return Response.text.fget(self)  # type: ignore[attr-defined,no-any-return]

    def json(self, **kwargs: Any) -> Any:
        self.content  # noqa: B018 - reads the body into _content
        return Response.json(self, **kwargs)

    def close(self) -> None:
        """Stop reading: an unfinished body's connection is closed (never reused), and the request reported."""
        body = self._body
        body.close()
        body.settle(self)


class StreamedResponse(_Streamed):
    """The response of a request made with ``stream=True``: headers read, body on the connection.

    The request is reported once it is done: the body read to its end, ``close()`` called (a ``with``
    block closes it), or the response dropped unread (reported when it is freed).
    """

    __slots__ = ("_body",)

    def __del__(self) -> None:
        # dropped before its end: free the connection, and report the request if nobody did
        with contextlib.suppress(Exception):
            body = self._body
            if body.report is not None or not body.closed:
                body.close()
                body.settle(self)


class StreamedResponseContextManager(_Streamed, ResponseContextManager):
    """``catch_response=True`` with ``stream=True``: reported when the ``with`` block ends, with the
    body bytes received by then."""

    __slots__ = ("_body",)

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            self._body.close()


def open_stream(
    transport: Transport, request: Request, options: RequestOptions | None = None
) -> tuple[int, str, ParsedHeaders, StreamedBody]:
    """Send ``request`` and return once its headers arrived, its body left to read.

    A transport that cannot stream (it has no ``open_stream``) reads the body whole; it is then
    handed out from memory through the same calls.
    """
    opener = getattr(transport, "open_stream", None)
    if opener is None:
        status, reason, headers, content = transport.send(request, options)
        return status, reason, headers, StreamedBody(None, bytearray(content), headers)
    (status, reason, headers, _), raw = opener(request, options)
    return status, reason, headers, StreamedBody(raw, raw._body_buffer, headers)


def streamed_response(
    request: Request,
    status: int,
    reason: str,
    headers: ParsedHeaders,
    body: StreamedBody,
    error: BaseException | None,
) -> StreamedResponse:
    """A ``StreamedResponse`` around ``body``."""
    response = StreamedResponse(request, status, reason, headers, b"", error)
    response._body = body
    return response


def manage(response: StreamedResponse, report: Callable[[Response, BaseException | None], None]) -> Response:
    """The ``catch_response`` form of a streamed response (its body no longer reports by itself)."""
    body = response._body
    body.report = None
    managed = cast(StreamedResponseContextManager, StreamedResponseContextManager.wrap(response, report))
    managed._body = body
    # the plain response is dropped now: its finalizer must not close the body the managed one reads
    response._body = StreamedBody(None, bytearray(), ParsedHeaders())
    response._body.closed = True
    return managed
