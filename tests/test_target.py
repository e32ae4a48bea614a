"""The built-in target server: endpoints, exact request counts, keep-alive and pipelining."""

from __future__ import annotations

import base64
import http.client
import json
import signal
import socket
import subprocess
import sys

import pytest
from conftest import REPO_ROOT, STARTUP_TIMEOUT, TargetServer, read_line_matching, repo_env, stop_process


def call(
    target: TargetServer,
    method: str,
    path: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection(target.host, target.port, timeout=10)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        conn.close()


def test_basic_endpoints(target: TargetServer) -> None:
    status, headers, body = call(target, "GET", "/")
    assert status == 200 and headers["content-type"].startswith("text/html") and b"tswarm" in body
    assert call(target, "GET", "/fast")[::2] == (200, b"ok")
    assert call(target, "GET", "/nope")[0] == 404
    assert json.loads(call(target, "GET", "/json")[2])["ok"] is True
    assert call(target, "GET", "/items/42")[2] == b'{"id": "42", "name": "item-42"}'


@pytest.mark.parametrize("size", [0, 1, 1000, 300_000])
def test_bytes(target: TargetServer, size: int) -> None:
    status, headers, body = call(target, "GET", f"/bytes/{size}")
    assert status == 200 and len(body) == size and headers["content-length"] == str(size)


@pytest.mark.parametrize("code", [200, 201, 204, 302, 400, 404, 500, 503])
def test_status(target: TargetServer, code: int) -> None:
    status, _, body = call(target, "GET", f"/status/{code}")
    assert status == code
    assert body == (b"" if code == 204 else body)


def test_slow_waits_at_least_the_asked_time(target: TargetServer) -> None:
    import time

    start = time.perf_counter()
    assert call(target, "GET", "/slow?ms=120")[0] == 200
    assert time.perf_counter() - start >= 0.115
    assert call(target, "GET", "/latency")[0] == 200


def test_flaky_fails_every_tenth(target: TargetServer) -> None:
    statuses = [call(target, "GET", "/flaky")[0] for _ in range(30)]
    assert [i for i, s in enumerate(statuses, 1) if s == 500] == [10, 20, 30]


def test_echo_any_method(target: TargetServer) -> None:
    for method in ("GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"):
        status, _, body = call(target, method, "/echo?x=1", body=b"payload", headers={"X-Test": "yes"})
        echoed = json.loads(body)
        assert status == 200
        assert echoed["method"] == method and echoed["body"] == "payload"
        assert echoed["args"] == {"x": "1"} and echoed["headers"]["x-test"] == "yes"


def test_head_has_no_body(target: TargetServer) -> None:
    status, headers, body = call(target, "HEAD", "/bytes/100")
    assert status == 200 and headers["content-length"] == "100" and body == b""


def test_redirect_cookies_auth_login(target: TargetServer) -> None:
    status, headers, _ = call(target, "GET", "/redirect?to=/json")
    assert status == 302 and headers["location"] == "/json"
    assert call(target, "GET", "/redirect/2")[1]["location"] == "/redirect/1"

    status, headers, _ = call(target, "GET", "/cookies/set?a=1")
    assert status == 200 and headers["set-cookie"] == "a=1; Path=/"
    assert json.loads(call(target, "GET", "/cookies", headers={"Cookie": "a=1; b=2"})[2]) == {
        "cookies": {"a": "1", "b": "2"}
    }

    good = "Basic " + base64.b64encode(b"me:pw").decode()
    assert call(target, "GET", "/basic-auth/me/pw")[0] == 401
    assert call(target, "GET", "/basic-auth/me/pw", headers={"Authorization": good})[0] == 200

    form = {"Content-Type": "application/x-www-form-urlencoded"}
    status, headers, _ = call(target, "POST", "/login", b"username=bob&password=x", form)
    assert status == 200 and headers["set-cookie"].startswith("session=")
    assert call(target, "POST", "/login", b"username=bob", form)[0] == 401
    assert call(target, "GET", "/login")[0] == 405


def test_counts_are_exact_and_exclude_control_endpoints(target: TargetServer) -> None:
    for _ in range(3):
        call(target, "GET", "/fast?x=1")
    call(target, "POST", "/echo", b"x")
    call(target, "GET", "/missing")
    assert target.counts() == {
        "total": 5,
        "by_endpoint": {"GET /fast": 3, "POST /echo": 1, "GET /missing": 1},
    }
    assert target.counts()["total"] == 5  # reading the counts is not counted
    target.reset()
    assert target.counts() == {"total": 0, "by_endpoint": {}}


def test_keep_alive_serves_many_requests_on_one_connection(target: TargetServer) -> None:
    conn = http.client.HTTPConnection(target.host, target.port, timeout=10)
    conn.connect()
    sock = conn.sock
    for i in range(20):
        conn.request("POST" if i % 2 else "GET", "/echo", body=b"x" * i)
        response = conn.getresponse()
        assert response.status == 200 and json.loads(response.read())["body"] == "x" * i
        assert conn.sock is sock  # never reconnected
    conn.close()
    assert target.counts()["by_endpoint"] == {"GET /echo": 10, "POST /echo": 10}


def test_pipelined_requests_are_answered_in_order(target: TargetServer) -> None:
    requests = (
        b"GET /slow?ms=60 HTTP/1.1\r\nHost: t\r\n\r\n"
        b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello"
        b"GET /items/7 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
    )
    with socket.create_connection((target.host, target.port), timeout=10) as sock:
        # split mid-request, as TCP may
        sock.sendall(requests[:50])
        sock.sendall(requests[50:])
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    assert received.count(b"HTTP/1.1 200 OK") == 3
    assert received.index(b"ok") < received.index(b'"hello"') < received.index(b"item-7")
    assert target.counts()["total"] == 3


def test_chunked_request_body(target: TargetServer) -> None:
    with socket.create_connection((target.host, target.port), timeout=10) as sock:
        sock.sendall(
            b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
            b"3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"
        )
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    assert b'"body": "abcde"' in received


def test_bad_request_line_is_refused(target: TargetServer) -> None:
    with socket.create_connection((target.host, target.port), timeout=10) as sock:
        sock.sendall(b"garbage\r\n\r\n")
        assert sock.recv(1024).startswith(b"HTTP/1.1 400")


def test_module_entry_point_prints_one_line_and_exits_0_on_sigterm() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "tswarm.target", "--port", "0"],
        cwd=REPO_ROOT,
        env=repo_env(),
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        line = read_line_matching(proc, "tswarm target listening on http://127.0.0.1:", STARTUP_TIMEOUT)
        port = int(line.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=10):
            pass
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    finally:
        stop_process(proc)
