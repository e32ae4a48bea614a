"""Streamed responses (``stream=True``) and FastHttpUser's ``response.stream`` and ``cookiejar``, against
the real target server and, for bodies cut short, a one-shot socket server; in-process with gevent."""

from __future__ import annotations

import gzip
import json
import socket
import threading
import tracemalloc
import zlib
from collections.abc import Callable
from typing import Any, TypeVar

import pytest
import requests
from conftest import TargetServer
from http_helpers import Recorder, in_greenlet, recorder, session

from tswarm.clients import HttpSession
from tswarm.clients._streaming import iter_lines
from tswarm.events import EventHook

T = TypeVar("T")
MB = 1024 * 1024
BIG = 50 * MB

__all__ = ["recorder", "session"]  # the fixtures, imported for the tests of this module


def connections(session: HttpSession) -> dict[str, int]:
    """The target's count of connections accepted since the test began (the ``target`` fixture zeroed
    it) and of those open now, not counting the one that asks (call it once per test)."""
    data: dict[str, int] = requests.get(session.base_url + "/__connections", timeout=10).json()
    return {name: count - 1 for name, count in data.items()}


def expected_bytes(size: int) -> bytes:
    pattern = b"abcdefghijklmnopqrstuvwxyz0123456789\n"
    return (pattern * (size // len(pattern) + 1))[:size]


# -- memory: a 50 MB body read in pieces never sits in memory whole --------------------------------


def traced_peak(fn: Callable[[], T]) -> tuple[T, int]:
    """``fn()``'s result and the peak of Python allocations while it ran, above where it started."""
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        start, _ = tracemalloc.get_traced_memory()
        result = fn()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return result, peak - start


@pytest.mark.parametrize("path", [f"/stream-bytes/{BIG}", f"/bytes/{BIG}"], ids=["chunked", "content-length"])
def test_a_50_mb_body_read_by_iter_content_stays_out_of_memory(
    session: HttpSession, recorder: Recorder, target: TargetServer, path: str
) -> None:
    def flow() -> tuple[int, int, int]:
        response = session.get(path, stream=True)
        reported_before_reading = len(recorder.calls)
        total = 0
        for chunk in response.iter_content(chunk_size=64 * 1024):
            total += len(chunk)
        return reported_before_reading, total, response.status_code

    (reported_before, total, status), peak = in_greenlet(lambda: traced_peak(flow))
    assert status == 200 and total == BIG
    assert peak < 20 * MB, f"reading 50 MB in pieces allocated {peak / MB:.1f} MB at its peak"
    # reported once, when the body was read to its end, with the whole length
    assert reported_before == 0
    assert len(recorder.calls) == 1
    call = recorder.calls[0]
    assert call["response_length"] == BIG and call["exception"] is None
    assert call["request_type"] == "GET" and call["name"] == path
    assert target.counts()["by_endpoint"] == {f"GET {path.rsplit('/', 1)[0]}/{BIG}": 1}


def test_the_memory_measure_sees_a_body_read_whole(session: HttpSession) -> None:
    """The control of the test above: the same measure catches a 50 MB body held in memory."""
    _, peak = in_greenlet(lambda: traced_peak(lambda: len(session.get(f"/stream-bytes/{BIG}").content)))
    assert peak >= BIG


def test_streamed_content_matches_and_the_connection_is_reused(
    session: HttpSession, recorder: Recorder
) -> None:
    def flow() -> list[bytes]:
        bodies = []
        for size in (0, 1, 1000, 300_000):
            response = session.get(f"/stream-bytes/{size}?chunk_size=777", stream=True)
            bodies.append(b"".join(response.iter_content(chunk_size=1000)))
        bodies.append(session.get("/bytes/5000", stream=True).content)
        return bodies

    bodies = in_greenlet(flow)
    assert bodies == [expected_bytes(n) for n in (0, 1, 1000, 300_000, 5000)]
    assert [call["response_length"] for call in recorder.calls] == [0, 1, 1000, 300_000, 5000]
    # every body was read to its end: one kept-alive connection served all of them
    assert connections(session)["opened"] == 1


def test_iter_content_pieces_have_the_asked_size(session: HttpSession) -> None:
    sizes = in_greenlet(lambda: [len(c) for c in session.get("/bytes/2500", stream=True).iter_content(1000)])
    assert sizes == [1000, 1000, 500]
    one_byte = in_greenlet(lambda: list(session.get("/bytes/5", stream=True).iter_content()))
    assert one_byte == [b"a", b"b", b"c", b"d", b"e"]


# -- closing early ---------------------------------------------------------------------------------


def test_closing_early_discards_the_connection_and_reports_once(
    session: HttpSession, recorder: Recorder
) -> None:
    def flow() -> tuple[bytes, int, Any]:
        session.get("/fast")  # a kept-alive connection to compare with
        pool = session._base_pool
        assert pool is not None
        kept_alive = pool.connections._socket_queue.peek()
        response = session.get(f"/stream-bytes/{BIG}", stream=True)
        first = response.raw.read(10)
        reported_while_open = len(recorder.calls)
        response.close()
        response.close()  # a second close changes nothing
        idle_after_close = list(pool.connections._socket_queue)
        after = session.get("/fast")
        return first, reported_while_open, (kept_alive, idle_after_close, after)

    first, reported_while_open, (kept_alive, idle_after_close, after) = in_greenlet(flow)
    assert first == b"abcdefghij"
    assert reported_while_open == 1  # only the first /fast
    assert len(recorder.calls) == 3
    early = recorder.calls[1]
    # the bytes that arrived before close(): some, not all
    assert 10 <= early["response_length"] < BIG and early["exception"] is None
    # the streamed request took the idle connection; closing early closed it instead of returning it
    assert kept_alive.fileno() == -1 and idle_after_close == []
    assert after.status_code == 200 and after.text == "ok"
    assert connections(session)["opened"] == 2  # the first, and a new one after the early close


def test_a_with_block_closes_the_response(session: HttpSession, recorder: Recorder) -> None:
    def flow() -> bytes:
        with session.get(f"/stream-bytes/{10 * MB}", stream=True) as response:
            return response.raw.read(3)

    assert in_greenlet(flow) == b"abc"
    assert len(recorder.calls) == 1 and recorder.calls[0]["response_length"] < 10 * MB


def test_an_unread_response_is_reported_when_dropped_and_frees_its_connection(target: TargetServer) -> None:
    recorder = Recorder()
    session = HttpSession(base_url=target.url, request_event=recorder.event, concurrency=2)

    def flow() -> int:
        # more unread responses than the pool has connections: each frees its own when dropped
        for _ in range(5):
            session.get(f"/stream-bytes/{MB}", stream=True)
        return session.get("/fast").status_code

    try:
        assert in_greenlet(flow, timeout=30) == 200
    finally:
        session.close()
    streamed = [call for call in recorder.calls if call["name"].startswith("/stream-bytes/")]
    assert len(streamed) == 5 and all(call["exception"] is None for call in streamed)


def test_a_bodyless_streamed_response_is_reported_at_once(session: HttpSession, recorder: Recorder) -> None:
    response = in_greenlet(lambda: session.head("/bytes/100", stream=True))
    assert len(recorder.calls) == 1 and recorder.calls[0]["response_length"] == 0
    assert response.headers["content-length"] == "100" and response.content == b""
    in_greenlet(lambda: session.get("/status/204", stream=True))
    assert len(recorder.calls) == 2


# -- Content-Encoding, chunked lines, raw ------------------------------------------------------------


def test_gzip_stream_is_decoded_incrementally(session: HttpSession, recorder: Recorder) -> None:
    size = 5 * MB

    def flow() -> tuple[bytes, list[int], bytes, bytes]:
        path = f"/stream-bytes/{size}?gzip=1&chunk_size=100000"
        response = session.get(path, stream=True)
        assert response.headers["content-encoding"] == "gzip"
        pieces = list(response.iter_content(chunk_size=64 * 1024))
        raw = session.get(path, stream=True).raw.read()
        decoded_raw = session.get(path, stream=True).raw.read(decode_content=True)
        return b"".join(pieces), [len(p) for p in pieces], raw, decoded_raw

    body, sizes, raw, decoded_raw = in_greenlet(flow)
    assert body == expected_bytes(size) == decoded_raw
    assert max(sizes) <= 64 * 1024
    # raw is the body as sent: gzip, smaller than what it inflates to
    assert gzip.decompress(raw) == body and len(raw) < size
    assert recorder.calls[0]["response_length"] == len(raw)


def test_gzip_bomb_pieces_stay_small(target: TargetServer) -> None:
    """A small gzip body that inflates a lot still comes out in pieces no larger than asked."""
    session = HttpSession(base_url=target.url, request_event=EventHook("request"))

    def flow() -> tuple[int, int]:
        response = session.get(f"/stream-bytes/{20 * MB}?gzip=1&chunk_size=1048576", stream=True)
        largest = total = 0
        for piece in response.iter_content(chunk_size=None):
            largest, total = max(largest, len(piece)), total + len(piece)
        return largest, total

    try:
        largest, total = in_greenlet(flow)
    finally:
        session.close()
    assert total == 20 * MB and largest <= 64 * 1024


def test_content_text_and_json_of_a_streamed_response(session: HttpSession, recorder: Recorder) -> None:
    def flow() -> tuple[bytes, str, Any]:
        gz = session.get("/stream/3?gzip=1", stream=True)
        assert recorder.calls == []
        content = gz.content
        assert len(recorder.calls) == 1
        return content, session.get("/stream/2", stream=True).text, session.get("/json", stream=True).json()

    content, text, doc = in_greenlet(flow)
    assert content.count(b"\n") == 3 and json.loads(content.splitlines()[2])["id"] == 2
    assert text.splitlines()[1] == '{"id": 1, "line": "line 1"}'
    assert doc["service"] == "tswarm-target"
    assert len(recorder.calls) == 3


def test_iter_lines_on_a_chunked_body(session: HttpSession) -> None:
    def flow() -> tuple[list[Any], list[Any], list[Any]]:
        as_bytes = list(session.get("/stream/50", stream=True).iter_lines(chunk_size=7))
        as_text = list(session.get("/stream/50?gzip=1", stream=True).iter_lines(decode_unicode=True))
        by_brace = list(session.get("/stream/3", stream=True).iter_lines(delimiter=b"}\n"))
        return as_bytes, as_text, by_brace

    as_bytes, as_text, by_brace = in_greenlet(flow)
    assert [json.loads(line)["id"] for line in as_bytes] == list(range(50))
    assert as_text == [line.decode() for line in as_bytes]
    assert by_brace == [
        b'{"id": 0, "line": "line 0"',
        b'{"id": 1, "line": "line 1"',
        b'{"id": 2, "line": "line 2"',
    ]


def test_iter_lines_joins_lines_and_line_ends_cut_between_chunks() -> None:
    chunks = [b"one\r", b"\ntw", b"o\n\nthr", b"ee"]
    assert list(iter_lines(iter(chunks))) == [b"one", b"two", b"", b"three"]
    assert list(iter_lines(iter(["a\u2028b\r\n", "c"]))) == ["a", "b", "c"]
    assert list(iter_lines(iter([b"a;b", b";c;"]), b";")) == [b"a", b"b", b"c"]


def test_raw_file_object(session: HttpSession, recorder: Recorder) -> None:
    def flow() -> tuple[bytes, bytes, list[bytes], bytes, int, bool]:
        response = session.get("/stream/3", stream=True)
        raw = response.raw
        line = raw.readline()
        part = raw.read(5)
        rest = list(raw)
        at_end = raw.read()
        return line, part, rest, at_end, raw.tell(), raw.closed

    line, part, rest, at_end, told, closed = in_greenlet(flow)
    assert line == b'{"id": 0, "line": "line 0"}\n' and part == b'{"id"'
    assert rest == [b': 1, "line": "line 1"}\n', b'{"id": 2, "line": "line 2"}\n'] and at_end == b""
    assert told == 84 and closed
    assert recorder.calls[0]["response_length"] == 84


def test_iterating_twice_raises_as_requests_does(session: HttpSession) -> None:
    def flow() -> None:
        response = session.get("/stream/2", stream=True)
        list(response.iter_content(100))
        with pytest.raises(requests.exceptions.StreamConsumedError):
            list(response.iter_content(100))
        with pytest.raises(RuntimeError):
            response.content  # noqa: B018

    in_greenlet(flow)


def test_plain_responses_have_the_same_calls(session: HttpSession) -> None:
    def flow() -> tuple[list[bytes], list[bytes], bytes, bytes]:
        response = session.get("/stream/2")
        return (
            list(response.iter_content(10)),
            list(response.iter_lines()),
            response.raw.read(),
            response.stream.read(),
        )

    pieces, lines, raw, stream = in_greenlet(flow)
    assert b"".join(pieces).count(b"\n") == 2 and len(pieces[0]) == 10
    assert len(lines) == 2
    assert raw == stream == b""  # read to its end already, as requests' raw is


# -- stream=True with the rest of the client ---------------------------------------------------------


def test_catch_response_with_stream(session: HttpSession, recorder: Recorder) -> None:
    def flow() -> None:
        with session.get("/stream/5", stream=True, catch_response=True) as response:
            lines = list(response.iter_lines())
            if len(lines) == 5:
                response.failure("five lines are too many")
        with session.get("/stream/2", stream=True, catch_response=True) as response:
            assert len(response.content) > 0

    in_greenlet(flow)
    assert len(recorder.calls) == 2
    failed, passed = recorder.calls
    assert str(failed["exception"]) == "five lines are too many" and failed["response_length"] > 0
    assert passed["exception"] is None and passed["response_length"] == 56


def test_session_stream_default_and_redirects(session: HttpSession, recorder: Recorder) -> None:
    def flow() -> tuple[int, list[Any], int]:
        session.stream = True
        response = session.get("/redirect?to=/stream/4")
        reported_before_reading = len(recorder.calls)
        lines = list(response.iter_lines())
        return reported_before_reading, [r.status_code for r in response.history], len(lines)

    reported_before, history, line_count = in_greenlet(flow)
    assert reported_before == 0 and history == [302] and line_count == 4
    assert len(recorder.calls) == 1 and recorder.calls[0]["url"].endswith("/stream/4")


def test_http_errors_and_connection_errors_with_stream(session: HttpSession, recorder: Recorder) -> None:
    def flow() -> tuple[int, int]:
        missing = session.get("/status/404", stream=True)
        missing.close()
        refused = HttpSession(base_url="http://127.0.0.1:1", request_event=recorder.event)
        return missing.status_code, refused.get("/x", stream=True).status_code

    assert in_greenlet(flow) == (404, 0)
    assert [type(c["exception"]).__name__ for c in recorder.calls] == ["HTTPError", "ConnectionRefusedError"]


def serve_once(response: bytes) -> str:
    """A server that answers one connection with ``response`` and closes it; returns its URL."""
    listener = socket.create_server(("127.0.0.1", 0))

    def answer() -> None:
        conn, _ = listener.accept()
        with conn:
            conn.recv(65536)
            conn.sendall(response)
        listener.close()

    threading.Thread(target=answer, daemon=True).start()
    host, port = listener.getsockname()
    return f"http://{host}:{port}"


def test_a_body_cut_short_fails_the_request(recorder: Recorder) -> None:
    url = serve_once(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n" + b"x" * 40)
    session = HttpSession(base_url=url, request_event=recorder.event)

    def flow() -> list[bytes]:
        pieces = []
        response = session.get("/", stream=True)
        with pytest.raises(requests.exceptions.ChunkedEncodingError):
            for piece in response.iter_content(10):
                pieces.append(piece)
        return pieces

    assert b"".join(in_greenlet(flow)) == b"x" * 40
    assert len(recorder.calls) == 1
    assert isinstance(recorder.calls[0]["exception"], requests.exceptions.ChunkedEncodingError)
    assert recorder.calls[0]["response_length"] == 40


def test_a_body_without_length_ends_with_its_connection(recorder: Recorder) -> None:
    body = zlib.compress(b"hello " * 1000)
    url = serve_once(b"HTTP/1.1 200 OK\r\nContent-Encoding: deflate\r\nConnection: close\r\n\r\n" + body)
    session = HttpSession(base_url=url, request_event=recorder.event)
    text = in_greenlet(lambda: b"".join(session.get("/", stream=True).iter_content(100)))
    assert text == b"hello " * 1000
    assert recorder.calls[0]["response_length"] == len(body) and recorder.calls[0]["exception"] is None


# -- FastHttpUser: response.stream, client.iter_lines, client.cookiejar -------------------------------


def test_fast_http_response_stream_reads_in_pieces(session: HttpSession, recorder: Recorder) -> None:
    def flow() -> tuple[int, int, int]:
        response = session.get(f"/bytes/{5 * MB}", stream=True)
        total = pieces = 0
        while True:
            piece = response.stream.read(65536)
            if not piece:
                break
            total, pieces = total + len(piece), pieces + 1
        blocks = sum(1 for _ in session.get("/bytes/10000", stream=True).stream)
        return total, pieces, blocks

    total, pieces, blocks = in_greenlet(flow)
    assert total == 5 * MB and pieces == 80
    assert blocks == 3  # geventhttpclient's iteration: 4 KB blocks
    assert [c["response_length"] for c in recorder.calls] == [5 * MB, 10000]


def test_fast_http_session_iter_lines_and_locust_iter_content(session: HttpSession) -> None:
    def flow() -> tuple[list[str], list[Any]]:
        lines = list(session.iter_lines("/stream/3"))
        chunks = list(session.get("/stream/1", stream=True).iter_content(chunk_size=8, decode_content=True))
        return lines, chunks

    lines, chunks = in_greenlet(flow)
    assert lines == [f'{{"id": {i}, "line": "line {i}"}}' for i in range(3)]
    assert all(isinstance(chunk, str) for chunk in chunks) and "".join(chunks).startswith('{"id": 0')


def test_cookiejar_is_the_session_jar_with_http_cookiejar_calls(session: HttpSession) -> None:
    from http.cookiejar import Cookie

    in_greenlet(lambda: session.get("/cookies/set?sid=abc&theme=dark"))
    jar = session.cookiejar
    assert jar is session.cookies
    assert sorted(cookie.name for cookie in jar) == ["sid", "theme"]
    assert {cookie.name: cookie.value for cookie in jar}["sid"] == "abc" and len(jar) == 2
    assert all(cookie.domain == "127.0.0.1" and not cookie.is_expired() for cookie in jar)

    jar.clear()
    assert in_greenlet(lambda: session.get("/cookies")).json() == {"cookies": {}}

    foreign = Cookie(
        0, "token", "t1", None, False, "", False, False, "/", True, False, None, True, None, None, {}
    )
    jar.set_cookie(foreign)
    jar.set_cookie(requests.cookies.create_cookie("lang", "en"))
    assert in_greenlet(lambda: session.get("/cookies")).json() == {"cookies": {"token": "t1", "lang": "en"}}
    assert dict(jar) == {"token": "t1", "lang": "en"} and jar.get_dict() == dict(jar)
    jar.clear_session_cookies()
    assert len(jar) == 0


# -- the target's streamed endpoints, seen by a plain client ----------------------------------------


def test_target_streams_chunked_bodies(target: TargetServer) -> None:
    import http.client

    conn = http.client.HTTPConnection(target.host, target.port, timeout=10)
    try:
        conn.request("GET", "/stream-bytes/100000?chunk_size=999")
        response = conn.getresponse()
        assert (
            response.getheader("transfer-encoding") == "chunked"
            and response.getheader("content-length") is None
        )
        assert response.read() == expected_bytes(100000)
        # the same connection goes on after a streamed body
        conn.request("GET", "/stream/2?gzip=1")
        response = conn.getresponse()
        assert response.getheader("content-encoding") == "gzip"
        assert gzip.decompress(response.read()).splitlines()[1] == b'{"id": 1, "line": "line 1"}'
        conn.request("HEAD", "/stream/2")
        response = conn.getresponse()
        assert response.status == 200 and response.read() == b""
        conn.request("GET", "/stream-bytes/x")
        assert conn.getresponse().status == 400
    finally:
        conn.close()
    assert target.counts()["by_endpoint"] == {
        "GET /stream-bytes/100000": 1,
        "GET /stream/2": 1,
        "HEAD /stream/2": 1,
        "GET /stream-bytes/x": 1,
    }


# -- end to end: a real run streams 50 MB per user and counts it once -------------------------------

STREAMING_LOCUSTFILE = """
import json
import resource

from locust import FastHttpUser, HttpUser, constant, task
from locust.exception import StopUser

BIG = 50 * 1024 * 1024


def peak_rss_kb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


class Streamer(HttpUser):
    wait_time = constant(0)

    @task
    def big(self):
        before = peak_rss_kb()
        total = 0
        with self.client.get(f"/stream-bytes/{BIG}", stream=True, name="big") as response:
            for chunk in response.iter_content(chunk_size=65536):
                total += len(chunk)
        with open("streamer.json", "w") as f:
            json.dump({"read": total, "peak_growth_kb": peak_rss_kb() - before}, f)
        raise StopUser()


class FastStreamer(FastHttpUser):
    wait_time = constant(0)

    @task
    def big(self):
        self.client.get("/cookies/set?sid=1")
        response = self.client.get("/bytes/10485760", stream=True, name="fast-big")
        total = 0
        while True:
            piece = response.stream.read(65536)
            if not piece:
                break
            total += len(piece)
        names = [cookie.name for cookie in self.client.cookiejar]
        self.client.cookiejar.clear()
        with open("fast.json", "w") as f:
            json.dump({"read": total, "cookies": names, "left": len(self.client.cookies)}, f)
        raise StopUser()
"""


def test_a_run_streams_50_mb_and_counts_it_once(tmp_path: Any, target: TargetServer) -> None:
    import subprocess
    import sys

    from conftest import repo_env

    (tmp_path / "locustfile.py").write_text(STREAMING_LOCUSTFILE)
    result = subprocess.run(
        [sys.executable, "-m", "tswarm", "run", "--headless", "-H", target.url, "-u", "2", "-r", "10"]
        + ["-t", "4s", "--stop-timeout", "30", "--json", "out.json"],
        cwd=tmp_path,
        env=repo_env(),
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 0, result.stderr
    streamer = json.loads((tmp_path / "streamer.json").read_text())
    assert streamer["read"] == BIG
    assert streamer["peak_growth_kb"] < 20 * 1024, f"peak RSS grew {streamer['peak_growth_kb']} KB"
    assert json.loads((tmp_path / "fast.json").read_text()) == {
        "read": 10 * MB,
        "cookies": ["sid"],
        "left": 0,
    }
    report = json.loads((tmp_path / "out.json").read_text())
    entries = {entry["name"]: entry for entry in report["entries"]}
    assert entries["big"]["num_requests"] == 1 and entries["big"]["total_content_length"] == BIG
    assert entries["fast-big"]["num_requests"] == 1 and entries["fast-big"]["total_content_length"] == 10 * MB
    assert entries["big"]["num_failures"] == entries["fast-big"]["num_failures"] == 0
