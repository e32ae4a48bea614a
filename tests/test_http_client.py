"""The HTTP client core against the real target server, in-process with gevent (no monkey-patching)."""

from __future__ import annotations

import email.parser
import email.policy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gevent
import pytest
from conftest import TargetServer, free_port
from http_helpers import Recorder, in_greenlet, recorder, session

from tswarm.clients import FastHttpSession, HTTPError, HttpSession, ResponseContextManager, TooManyRedirects
from tswarm.clients.http import Headers
from tswarm.events import EventHook
from tswarm.exceptions import CatchResponseError, RescheduleTask

EVENT_ARGS = {
    "request_type",
    "name",
    "response_time",
    "response_length",
    "response",
    "context",
    "exception",
    "start_time",
    "url",
}

__all__ = ["recorder", "session"]  # the fixtures, imported for the tests of this module


def test_fast_session_is_the_same_client() -> None:
    assert FastHttpSession is HttpSession


def test_get_fires_event_with_all_locust_arguments(
    session: HttpSession, recorder: Recorder, target: TargetServer
) -> None:
    response = in_greenlet(lambda: session.get("/fast"))
    assert response.status_code == 200 and response.text == "ok" and response.content == b"ok"
    assert response.ok and response.reason == "OK" and response.error is None
    assert response.headers["CONTENT-type"] == "text/plain"
    assert response.url == target.url + "/fast"
    assert response.request.method == "GET" and response.request.url == target.url + "/fast"
    call = recorder.last
    # elapsed is a timedelta: whole microseconds of the measured response time
    assert response.elapsed.total_seconds() * 1000 == pytest.approx(call["response_time"], abs=0.001)
    assert call["response_time"] > 0
    assert set(call) == EVENT_ARGS
    assert call["request_type"] == "GET" and call["name"] == "/fast"
    assert call["response_length"] == 2 and call["response"] is response
    assert call["exception"] is None and call["context"] == {}
    assert call["url"] == target.url + "/fast"
    assert isinstance(call["response_time"], float) and call["response_time"] > 0
    assert abs(call["start_time"] - __import__("time").time()) < 60


@pytest.mark.parametrize("method", ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"])
def test_every_method(session: HttpSession, recorder: Recorder, method: str) -> None:
    send = getattr(session, method.lower())
    response = in_greenlet(
        lambda: send("/echo", data=b"body") if method in ("POST", "PUT", "PATCH") else send("/echo")
    )
    echoed = response.json()
    assert echoed["method"] == method
    assert recorder.last["request_type"] == method
    if method in ("POST", "PUT", "PATCH"):
        assert echoed["body"] == "body"


def test_head_is_bodyless_and_request_generic(session: HttpSession) -> None:
    response = in_greenlet(lambda: session.head("/bytes/123"))
    assert (
        response.status_code == 200
        and response.content == b""
        and response.headers["content-length"] == "123"
    )
    assert in_greenlet(lambda: session.request("get", "/echo")).json()["method"] == "GET"


def test_files_are_sent_as_multipart_form_data(session: HttpSession, tmp_path: Path) -> None:
    upload = tmp_path / "report.csv"
    upload.write_bytes(b"a,b\r\n1,2\r\n")
    with upload.open("rb") as report:
        files = {"report": report, "note": ("note.txt", "hi", "text/x-note", {"X-Part": "1"}), "raw": b"\x01"}
        echoed = in_greenlet(lambda: session.post("/echo", data={"kind": ["daily", "x"]}, files=files)).json()
    content_type = echoed["headers"]["content-type"]
    assert content_type.startswith("multipart/form-data; boundary=")
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + echoed["body"].encode()
    )
    parts = [
        (
            p.get_param("name", header="content-disposition"),
            p.get_filename(),
            p.get_content_type(),
            p.get_payload(decode=True),
            p.get("X-Part"),
        )
        for p in message.iter_parts()
    ]
    assert parts == [
        ("kind", None, "text/plain", b"daily", None),
        ("kind", None, "text/plain", b"x", None),
        ("report", "report.csv", "text/csv", b"a,b\r\n1,2\r\n", None),
        ("note", "note.txt", "text/x-note", b"hi", "1"),
        ("raw", "raw", "application/octet-stream", b"\x01", None),
    ]


def test_params_json_data_headers(session: HttpSession) -> None:
    echoed = in_greenlet(lambda: session.get("/echo?a=1", params={"b": "x y", "c": ["1", "2"]})).json()
    assert echoed["query"] == "a=1&b=x+y&c=1&c=2"

    echoed = in_greenlet(lambda: session.post("/echo", json={"k": [1, 2]})).json()
    assert json.loads(echoed["body"]) == {"k": [1, 2]}
    assert echoed["headers"]["content-type"] == "application/json"

    echoed = in_greenlet(lambda: session.post("/echo", data={"user": "a b", "n": 1})).json()
    assert echoed["body"] == "user=a+b&n=1"
    assert echoed["headers"]["content-type"] == "application/x-www-form-urlencoded"

    echoed = in_greenlet(lambda: session.put("/echo", data="text é")).json()
    assert echoed["body"] == "text é"

    echoed = in_greenlet(
        lambda: session.get("/echo", headers={"X-Custom": "1", "User-Agent": "mine", "Accept": "text/plain"})
    ).json()
    assert echoed["headers"]["x-custom"] == "1"
    assert echoed["headers"]["user-agent"] == "mine"
    assert echoed["headers"]["accept"] == "text/plain"

    session.headers["X-Session"] = "s"
    assert in_greenlet(lambda: session.get("/echo")).json()["headers"]["x-session"] == "s"


def test_cookies_round_trip_per_session(target: TargetServer, recorder: Recorder) -> None:
    alice = HttpSession(target.url, recorder.event)
    bob = HttpSession(target.url, recorder.event)

    def flow() -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
        alice.get("/cookies/set?sid=alice&theme=dark")
        mine = alice.get("/cookies").json()
        other = bob.get("/cookies").json()
        extra = alice.get("/cookies", cookies={"one": "off"}).json()
        return mine, other, extra

    mine, other, extra = in_greenlet(flow)
    assert mine == {"cookies": {"sid": "alice", "theme": "dark"}}
    assert other == {"cookies": {}}
    assert extra == {"cookies": {"sid": "alice", "theme": "dark", "one": "off"}}
    assert alice.cookies["sid"] == "alice" and "one" not in alice.cookies

    alice.cookies["manual"] = "yes"
    assert in_greenlet(lambda: alice.get("/cookies")).json()["cookies"]["manual"] == "yes"

    # the login cookie is kept and sent back
    assert in_greenlet(lambda: bob.post("/login", data={"username": "bob", "password": "pw"})).ok
    assert "session" in in_greenlet(lambda: bob.get("/cookies")).json()["cookies"]
    alice.close()
    bob.close()


def test_basic_auth(session: HttpSession, recorder: Recorder) -> None:
    assert in_greenlet(lambda: session.get("/basic-auth/u/p", auth=("u", "p"))).status_code == 200
    denied = in_greenlet(lambda: session.get("/basic-auth/u/p", auth=("u", "wrong")))
    assert denied.status_code == 401 and isinstance(recorder.last["exception"], HTTPError)
    session.auth = ("u", "p")
    assert in_greenlet(lambda: session.get("/basic-auth/u/p")).status_code == 200


def test_redirects(session: HttpSession, recorder: Recorder, target: TargetServer) -> None:
    response = in_greenlet(lambda: session.get("/redirect?to=/items/5"))
    assert response.status_code == 200 and response.json()["id"] == "5"
    assert [r.status_code for r in response.history] == [302]
    assert response.url == target.url + "/items/5"
    assert recorder.last["name"] == "/redirect?to=/items/5" and recorder.last["exception"] is None
    assert len(recorder.calls) == 1  # one event for the whole chain

    absolute = in_greenlet(lambda: session.get(f"/redirect?to={target.url}/fast"))
    assert absolute.text == "ok"

    # 303 after a POST becomes a GET
    echoed = in_greenlet(lambda: session.post("/redirect?to=/echo&status=303", data=b"x")).json()
    assert echoed["method"] == "GET" and echoed["body"] == ""

    # not followed: a 3xx is a success
    not_followed = in_greenlet(lambda: session.get("/redirect", allow_redirects=False))
    assert not_followed.status_code == 302 and recorder.last["exception"] is None

    chain = in_greenlet(lambda: session.get("/redirect/5"))
    assert chain.text == "ok" and len(chain.history) == 5
    too_many = in_greenlet(lambda: session.get("/redirect/6"))
    assert isinstance(too_many.error, TooManyRedirects)
    assert isinstance(recorder.last["exception"], TooManyRedirects)


def test_name_groups_and_rename_request(session: HttpSession, recorder: Recorder) -> None:
    def flow() -> None:
        for i in range(3):
            session.get(f"/items/{i}", name="/items/[id]")
        with session.rename_request("renamed"):
            session.get("/fast")
            session.post("/echo")
        session.get("/fast")

    in_greenlet(flow)
    assert [c["name"] for c in recorder.calls] == ["/items/[id]"] * 3 + ["renamed", "renamed", "/fast"]


def test_catch_response(session: HttpSession, recorder: Recorder) -> None:
    def flow() -> None:
        with session.get("/fast", catch_response=True) as response:
            assert isinstance(response, ResponseContextManager)
            assert recorder.calls == []  # nothing reported inside the block
            response.failure("wrong body")
        with session.get("/status/500", catch_response=True) as response:
            response.success()
        with session.get("/status/404", catch_response=True):
            pass
        with session.get("/fast", catch_response=True) as response:
            raise CatchResponseError("raised")  # swallowed, reported
        with session.get("/fast", catch_response=True) as response:
            pass

    in_greenlet(flow)
    errors = [c["exception"] for c in recorder.calls]
    assert isinstance(errors[0], CatchResponseError) and str(errors[0]) == "wrong body"
    assert errors[1] is None
    assert isinstance(errors[2], HTTPError)
    assert str(errors[3]) == "raised"
    assert errors[4] is None


def test_catch_response_other_exceptions_fail_and_propagate(session: HttpSession, recorder: Recorder) -> None:
    def flow() -> None:
        with session.get("/fast", catch_response=True):
            raise KeyError("boom")

    with pytest.raises(KeyError):
        in_greenlet(flow)
    assert isinstance(recorder.last["exception"], KeyError)

    def control_flow() -> None:
        with session.get("/fast", catch_response=True):
            raise RescheduleTask()

    with pytest.raises(RescheduleTask):
        in_greenlet(control_flow)
    assert recorder.last["exception"] is None  # control flow is no failure
    assert len(recorder.calls) == 2


def test_http_errors_are_failures_not_exceptions(session: HttpSession, recorder: Recorder) -> None:
    response = in_greenlet(lambda: session.get("/status/500"))
    assert response.status_code == 500 and not response.ok
    assert repr(recorder.last["exception"]) == (
        "HTTPError('500 Server Error: Internal Server Error for url: /status/500')"
    )
    with pytest.raises(HTTPError):
        response.raise_for_status()
    in_greenlet(lambda: session.get("/nope"))
    assert str(recorder.last["exception"]).startswith("404 Client Error: Not Found")


def test_connection_refused_is_a_failure_with_status_0(recorder: Recorder) -> None:
    session = HttpSession(f"http://127.0.0.1:{free_port()}", recorder.event)
    response = in_greenlet(lambda: session.get("/fast"))
    assert response.status_code == 0 and not response.ok and response.content == b""
    assert isinstance(response.error, ConnectionRefusedError)
    assert repr(recorder.last["exception"]) == "ConnectionRefusedError(111, 'Connection refused')"
    assert recorder.last["response_length"] == 0
    with pytest.raises(ConnectionRefusedError):
        response.raise_for_status()


def test_timeout_is_a_failure(target: TargetServer, recorder: Recorder) -> None:
    session = HttpSession(target.url, recorder.event)
    response = in_greenlet(lambda: session.get("/slow?ms=2000", timeout=0.2))
    assert response.status_code == 0 and isinstance(response.error, TimeoutError)
    assert recorder.last["response_time"] < 1500
    # the session still works afterwards
    assert in_greenlet(lambda: session.get("/fast")).ok

    short = HttpSession(target.url, recorder.event, network_timeout=0.2)
    assert isinstance(in_greenlet(lambda: short.get("/slow?ms=2000")).error, TimeoutError)
    session.close()
    short.close()


def test_context_merges_user_context(target: TargetServer, recorder: Recorder) -> None:
    class FakeUser:
        def context(self) -> dict[str, Any]:
            return {"user": "u1", "tier": "gold"}

    session = HttpSession(target.url, recorder.event, user=FakeUser())
    in_greenlet(lambda: session.get("/fast", context={"tier": "silver", "step": 2}))
    assert recorder.last["context"] == {"user": "u1", "tier": "silver", "step": 2}


def test_absolute_urls_and_other_hosts(session: HttpSession, target: TargetServer) -> None:
    other = f"http://localhost:{target.port}/items/9"
    response = in_greenlet(lambda: session.get(other))
    assert response.json()["id"] == "9" and response.url == other
    assert in_greenlet(lambda: session.get(target.url + "/fast")).text == "ok"


def test_base_url_path_prefix(target: TargetServer, recorder: Recorder) -> None:
    session = HttpSession(target.url + "/items/", recorder.event)
    assert in_greenlet(lambda: session.get("/3")).json()["id"] == "3"


def test_bad_input_is_reported_not_raised(session: HttpSession, recorder: Recorder) -> None:
    response = in_greenlet(lambda: session.get("/fast", headers={"X-Bad": "a\r\nInjected: 1"}))
    assert response.status_code == 0 and isinstance(response.error, ValueError)
    assert isinstance(recorder.last["exception"], ValueError)


def test_text_json_and_large_bodies(session: HttpSession, recorder: Recorder) -> None:
    response = in_greenlet(lambda: session.get("/bytes/1000000"))
    assert len(response.content) == 1_000_000 and recorder.last["response_length"] == 1_000_000
    assert in_greenlet(lambda: session.get("/json")).json()["service"] == "tswarm-target"


def test_keep_alive_reuses_one_connection(session: HttpSession) -> None:
    def flow() -> list[int]:
        ports = []
        for _ in range(5):
            session.get("/fast")
            pool = session._base_pool
            assert pool is not None
            sock = pool.connections._socket_queue.peek()
            ports.append(sock.getsockname()[1])
        return ports

    assert len(set(in_greenlet(flow))) == 1


def test_event_count_equals_server_count_under_load(target: TargetServer, recorder: Recorder) -> None:
    sessions = [HttpSession(target.url, recorder.event) for _ in range(20)]
    paths = ["/fast", "/json", "/items/1", "/flaky", "/status/404", "/latency", "/echo"]

    def user(i: int) -> None:
        session = sessions[i]
        for n in range(30):
            path = paths[(i + n) % len(paths)]
            if path == "/echo":
                session.post(path, json={"n": n})
            else:
                session.get(path)

    gevent.joinall([gevent.spawn(user, i) for i in range(20)], timeout=60, raise_error=True)
    assert len(recorder.calls) == 600
    counts = target.counts()
    assert counts["total"] == 600
    by_event: dict[str, int] = {}
    for call in recorder.calls:
        key = f"{call['request_type']} {call['name']}"
        by_event[key] = by_event.get(key, 0) + 1
    assert by_event == counts["by_endpoint"]
    failures = sum(1 for c in recorder.calls if c["exception"] is not None)
    assert failures == counts["by_endpoint"]["GET /status/404"] + counts["by_endpoint"]["GET /flaky"] // 10
    for each in sessions:
        each.close()


@pytest.fixture
def https_url(tmp_path: Any) -> Any:
    """A tiny https server with a self-signed certificate, in a thread (real sockets, not gevent)."""
    import http.server
    import shutil
    import ssl
    import subprocess
    import threading

    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make a certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost"]
        + ["-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
    )

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            self.send_response(200)
            self.send_header("Content-Length", "6")
            self.end_headers()
            self.wfile.write(b"secure")

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"https://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_https_insecure_by_default_and_verified_on_request(https_url: str, recorder: Recorder) -> None:
    insecure = HttpSession(https_url, recorder.event)
    response = in_greenlet(lambda: insecure.get("/"))
    assert response.status_code == 200 and response.text == "secure"
    assert in_greenlet(lambda: insecure.get("/again")).ok  # kept alive

    checked = HttpSession(https_url, recorder.event, insecure=False)
    refused = in_greenlet(lambda: checked.get("/"))
    assert refused.status_code == 0 and "CERTIFICATE_VERIFY_FAILED" in str(refused.error)
    assert checked.verify and not insecure.verify
    checked.verify = False  # as Locust test files do with requests' session
    assert in_greenlet(lambda: checked.get("/")).text == "secure"
    checked.verify = True
    assert "CERTIFICATE_VERIFY_FAILED" in str(in_greenlet(lambda: checked.get("/")).error)
    insecure.close()
    checked.close()


def sent_headers(session: HttpSession, path: str = "/echo", **kwargs: Any) -> dict[str, str]:
    """The request headers the target received for one request (names in lower case)."""
    headers: dict[str, str] = in_greenlet(lambda: session.get(path, **kwargs)).json()["headers"]
    return headers


def expected_headers(session: HttpSession, target: TargetServer) -> dict[str, str]:
    """What a plain GET carries: Host and every one of the session's headers, once each."""
    return {"host": f"{target.host}:{target.port}", **{k.lower(): v for k, v in session.headers.items()}}


def _set(h: Any) -> None:
    h["X-A"] = "1"


def _ior(h: Any) -> None:
    h |= {"X-A": "1"}


def _delete(h: Any) -> None:
    del h["user-agent"]


#: every way of changing a dict, applied to the session's headers after a request cached their block
HEADER_MUTATIONS: dict[str, Callable[[Any], object]] = {
    "setitem": _set,
    "ior": _ior,
    "update": lambda h: h.update({"X-A": "1"}),
    "update-pairs": lambda h: h.update([("X-A", "1")]),
    "update-kwargs": lambda h: h.update(X_A="1"),
    "setdefault": lambda h: h.setdefault("X-A", "1"),
    "delitem": _delete,
    "pop": lambda h: h.pop("Accept-Encoding"),
    "popitem": lambda h: h.popitem(),
    "clear": lambda h: h.clear(),
    "setitem-other-case": lambda h: h.__setitem__("user-agent", "mine"),
}


@pytest.mark.parametrize("mutation", sorted(HEADER_MUTATIONS))
def test_every_change_to_session_headers_is_sent(
    session: HttpSession, target: TargetServer, mutation: str
) -> None:
    assert sent_headers(session) == expected_headers(session, target)  # the block is cached now
    before = dict(session.headers)
    HEADER_MUTATIONS[mutation](session.headers)
    assert dict(session.headers) != before
    assert sent_headers(session) == expected_headers(session, target)


def test_replacing_session_headers_is_sent(session: HttpSession, target: TargetServer) -> None:
    assert "user-agent" in sent_headers(session)
    session.headers = {"X-Only": "1"}  # as with requests' Session
    assert session.headers["x-only"] == "1"
    assert sent_headers(session) == {"host": f"{target.host}:{target.port}", "x-only": "1"}


def test_session_headers_are_a_case_insensitive_mapping() -> None:
    headers = Headers({"Accept": "*/*"}, X_Trace="t")
    headers["ACCEPT"] = "text/plain"
    assert list(headers) == ["ACCEPT", "X_Trace"] and headers["accept"] == "text/plain"
    assert headers == {"accept": "text/plain", "x_trace": "t"} and "x_TRACE" in headers
    merged = headers | {"x-new": "1"}
    assert isinstance(merged, Headers) and "X-New" in merged and "X-New" not in headers
    copied = headers.copy()
    copied["X-Copy"] = "1"
    assert "X-Copy" not in headers
    assert headers.snapshot() == (
        (("ACCEPT", "text/plain"), ("X_Trace", "t")),
        "ACCEPT: text/plain\r\nX_Trace: t\r\n",
    )


def test_request_headers_as_sent(session: HttpSession, target: TargetServer) -> None:
    session.headers["Content-Type"] = "application/json"
    session.headers["Cookie"] = "theme=dark"
    session.cookies["sid"] = "s1"
    response = in_greenlet(
        lambda: session.post(
            "/echo",
            data={"a": "1"},
            headers={"accept": "text/plain", "X-Req": b"bytes"},
            cookies={"one": "1"},
            auth=("u", "p"),
        )
    )
    received = response.json()["headers"]
    # one field each: the request's own win case-insensitively, the session's Content-Type over the body's
    assert received["accept"] == "text/plain" and received["x-req"] == "bytes"
    assert received["content-type"] == "application/json"
    assert received["authorization"].startswith("Basic ")
    assert received["cookie"] == "theme=dark; one=1; sid=s1"
    assert {k.lower(): v for k, v in response.request.headers.items()} == received
    assert response.request.headers["content-length"] == "3" and response.request.body == b"a=1"


def test_session_cookie_header_and_jar_cookies_travel_together(session: HttpSession) -> None:
    session.headers["Cookie"] = "theme=dark"
    in_greenlet(lambda: session.get("/cookies/set?sid=s1"))
    assert in_greenlet(lambda: session.get("/cookies")).json() == {"cookies": {"theme": "dark", "sid": "s1"}}


def test_credentials_stay_with_their_host_on_redirect(session: HttpSession, target: TargetServer) -> None:
    session.headers["Authorization"] = "Bearer session-token"
    other = f"http://localhost:{target.port}/echo"
    same_host = in_greenlet(lambda: session.get("/redirect?to=/echo")).json()["headers"]
    assert same_host["authorization"] == "Bearer session-token"
    for auth in ({}, {"auth": ("u", "p")}, {"headers": {"Authorization": "Bearer request-token"}}):
        moved = in_greenlet(lambda: session.get(f"/redirect?to={other}", **auth)).json()["headers"]  # noqa: B023
        assert "authorization" not in moved and moved["host"] == f"localhost:{target.port}"


def test_sessions_share_their_default_headers_until_one_changes_its_own(
    target: TargetServer, recorder: Recorder
) -> None:
    first, second = (HttpSession(base_url=target.url, request_event=recorder.event) for _ in range(2))
    first.headers["X-Mine"] = "1"
    first.headers["User-Agent"] = "first-agent"
    sent_first = in_greenlet(lambda: first.get("/echo")).json()["headers"]
    sent_second = in_greenlet(lambda: second.get("/echo")).json()["headers"]
    assert sent_first["x-mine"] == "1" and sent_first["user-agent"] == "first-agent"
    assert "x-mine" not in sent_second and sent_second["user-agent"].startswith("tswarm/")
    assert "X-Mine" not in second.headers and "X-Mine" not in HttpSession(None, recorder.event).headers
    first.close()
    second.close()


def test_an_idle_session_keeps_little_and_no_queue_of_its_own(target: TargetServer) -> None:
    """What a user's session keeps after a request on its kept-alive connection (the RSS per user is
    measured by benchmarks/memory_per_user.py): the Python allocations still alive, per session.

    Sessions share their default headers and origin; a pool keeps its idle sockets in a list, not in a
    gevent queue (about 1.8 KB each). Before that, a session kept about 6 KB, with one allocation site
    of 1.8 KB; now about 1.9 KB, with no site over 250 bytes.
    """
    import gc
    import tracemalloc

    event = EventHook("request")

    def sessions_after_one_request(count: int) -> list[HttpSession]:
        made = [HttpSession(base_url=target.url, request_event=event) for _ in range(count)]
        gevent.joinall([gevent.spawn(s.get, "/fast") for s in made], raise_error=True)
        return made

    count = 50
    kept = sessions_after_one_request(5)  # the first connections set up what every later one shares
    gc.collect()
    tracemalloc.start(10)
    try:
        before = tracemalloc.take_snapshot()
        kept += sessions_after_one_request(count)
        gc.collect()
        after = tracemalloc.take_snapshot()
    finally:
        tracemalloc.stop()
    grown = [stat for stat in after.compare_to(before, "traceback") if stat.size_diff > 0]
    per_session = sum(stat.size_diff for stat in grown) / count
    largest_site = max(stat.size_diff for stat in grown) / count
    assert all(s._base_pool is not None and len(s._base_pool.connections._socket_queue) == 1 for s in kept)
    assert per_session < 3000, f"{per_session:.0f} B kept per idle session"
    assert largest_site < 1000, f"one allocation site keeps {largest_site:.0f} B per idle session"
    for each in kept:
        each.close()
