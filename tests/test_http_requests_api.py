"""requests' API on HttpUser's client: its exception types, Response attributes, hooks, auth objects
(digest with its challenge), session params/auth/hooks, and mount(HTTPAdapter(max_retries=...)).

Against the real target server, in-process with gevent (no monkey-patching), like test_http_client.
"""

from __future__ import annotations

import datetime
import json
import socket
import ssl
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import gevent
import gevent.event
import gevent.server
import pytest
import requests
import requests.auth
import requests.exceptions
from conftest import TargetServer, free_port, repo_env
from http_helpers import Recorder, in_greenlet, recorder, session
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from tswarm.clients import HTTPError, HttpSession, TooManyRedirects
from tswarm.clients._exceptions import as_requests_error
from tswarm.clients._models import Response
from tswarm.exceptions import ResponseError

__all__ = ["recorder", "session"]  # the fixtures, imported for the tests of this module


class CountingServer:
    """A gevent TCP server on 127.0.0.1 that counts connections and either closes each at once
    (the request fails while reading) or keeps it open without answering (the read times out)."""

    def __init__(self, answer: str) -> None:
        self.accepted = 0
        self._answer = answer
        self._release = gevent.event.Event()
        self._server = gevent.server.StreamServer(("127.0.0.1", 0), self._handle)
        self._server.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_port}"

    def _handle(self, sock: Any, address: Any) -> None:
        self.accepted += 1
        if self._answer == "hang":
            self._release.wait(30)
        sock.close()

    def stop(self) -> None:
        self._release.set()
        self._server.stop()


# -- exceptions: requests' types, the names and texts tswarm reported before -------------------------


def test_connection_refused_is_requests_connection_error_and_keeps_its_name(recorder: Recorder) -> None:
    session = HttpSession(f"http://127.0.0.1:{free_port()}", recorder.event)
    response = in_greenlet(lambda: session.get("/fast"))
    assert isinstance(response.error, requests.exceptions.ConnectionError)
    assert isinstance(response.error, ConnectionRefusedError) and response.error.errno == 111
    assert repr(recorder.last["exception"]) == "ConnectionRefusedError(111, 'Connection refused')"
    with pytest.raises(requests.exceptions.ConnectionError):
        response.raise_for_status()


@pytest.mark.parametrize(
    "error",
    [
        socket.gaierror(-2, "Name or service not known"),
        ConnectionResetError(104, "Connection reset by peer"),
        TimeoutError("timed out"),
        ssl.SSLCertVerificationError(1, "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed"),
    ],
    ids=repr,
)
def test_network_errors_become_requests_types_with_the_same_texts(error: OSError) -> None:
    converted = as_requests_error(error)
    assert isinstance(converted, requests.exceptions.RequestException) and isinstance(converted, type(error))
    assert (repr(converted), str(converted)) == (repr(error), str(error))


def test_except_requests_connection_error_in_a_catch_response_block(recorder: Recorder) -> None:
    session = HttpSession(f"http://127.0.0.1:{free_port()}", recorder.event)

    def task() -> str:
        with session.get("/fast", catch_response=True) as response:
            try:
                response.raise_for_status()
            except requests.exceptions.ConnectionError:
                response.failure("backend down")
                return "caught"
        return "not caught"

    assert in_greenlet(task) == "caught"
    assert len(recorder.calls) == 1 and str(recorder.last["exception"]) == "backend down"


def test_http_error_is_requests_http_error_with_the_response(
    session: HttpSession, recorder: Recorder
) -> None:
    response = in_greenlet(lambda: session.get("/status/503"))
    assert isinstance(recorder.last["exception"], requests.exceptions.HTTPError)
    assert isinstance(recorder.last["exception"], ResponseError)  # a catch_response block swallows it
    assert repr(recorder.last["exception"]) == (
        "HTTPError('503 Server Error: Service Unavailable for url: /status/503')"
    )
    with pytest.raises(requests.exceptions.HTTPError) as raised:
        response.raise_for_status()
    assert raised.value.response is response and isinstance(raised.value, HTTPError)

    from tswarm.compat.exceptions import ResponseError as LocustResponseError  # locust.exception's

    assert isinstance(raised.value, LocustResponseError)


def test_too_many_redirects_is_requests_type(session: HttpSession, recorder: Recorder) -> None:
    session.max_redirects = 2
    in_greenlet(lambda: session.get("/redirect/5"))
    assert isinstance(recorder.last["exception"], requests.exceptions.TooManyRedirects)
    assert isinstance(recorder.last["exception"], TooManyRedirects)


@pytest.mark.parametrize(
    ("url", "kind"),
    [
        ("ftp://127.0.0.1/file", requests.exceptions.InvalidSchema),
        ("http:///nohost", requests.exceptions.InvalidURL),
    ],
)
def test_bad_urls_are_requests_types(session: HttpSession, recorder: Recorder, url: str, kind: type) -> None:
    response = in_greenlet(lambda: session.get(url))
    assert response.status_code == 0 and isinstance(response.error, kind)
    assert isinstance(response.error, ValueError) and recorder.last["exception"] is response.error


def test_relative_url_without_base_is_missing_schema(recorder: Recorder) -> None:
    session = HttpSession(None, recorder.event)
    response = in_greenlet(lambda: session.get("/fast"))
    assert isinstance(response.error, requests.exceptions.MissingSchema)
    assert "no base URL" in str(response.error)


def test_timeout_is_requests_read_timeout(session: HttpSession) -> None:
    response = in_greenlet(lambda: session.get("/slow?ms=2000", timeout=0.2))
    assert isinstance(response.error, requests.exceptions.Timeout)
    assert isinstance(response.error, requests.exceptions.ReadTimeout)
    assert isinstance(response.error, TimeoutError)
    assert "Read timed out. (read timeout=0.2)" in str(response.error)


def test_json_on_a_body_that_is_not_json(session: HttpSession) -> None:
    response = in_greenlet(lambda: session.get("/fast"))
    with pytest.raises(requests.exceptions.JSONDecodeError) as raised:
        response.json()
    assert isinstance(raised.value, ValueError) and isinstance(raised.value, json.JSONDecodeError)


# -- Response attributes --------------------------------------------------------------------------


def test_response_attributes_of_requests(session: HttpSession, target: TargetServer) -> None:
    link = '<https://api.example/items?page=2>; rel="next", <https://api.example/items?page=9>; rel="last"'
    response = in_greenlet(
        lambda: session.get(
            "/response-headers", params={"Link": link, "Content-Type": "text/plain; charset=latin-1"}
        )
    )
    assert response.links["next"]["url"] == "https://api.example/items?page=2"
    assert response.links["last"]["rel"] == "last"
    assert response.ok and response.reason == "OK" and response.headers["LINK"] == link
    assert isinstance(response.elapsed, datetime.timedelta)
    assert response.encoding == "latin-1"
    response.encoding = "utf-16"
    assert response.encoding == "utf-16" and response.text == response.content.decode("utf-16", "replace")
    assert in_greenlet(lambda: session.get("/json")).apparent_encoding in ("ascii", "utf-8")
    assert response.request.method == "GET" and response.request.url.startswith(
        target.url + "/response-headers?"
    )
    assert (
        response.request.headers["Host"] == f"{target.host}:{target.port}" and response.request.body is None
    )


def test_redirect_attributes_and_next(session: HttpSession, target: TargetServer) -> None:
    moved = in_greenlet(
        lambda: session.post("/redirect?to=/fast&status=301", data=b"x", allow_redirects=False)
    )
    assert moved.is_redirect and moved.is_permanent_redirect
    assert moved.next is not None and moved.next.method == "GET" and moved.next.url == target.url + "/fast"
    assert moved.next.body is None
    temporary = in_greenlet(lambda: session.get("/redirect?to=/json&status=307", allow_redirects=False))
    assert temporary.is_redirect and not temporary.is_permanent_redirect
    followed = in_greenlet(lambda: session.get("/redirect?to=/json&status=307"))
    assert not followed.is_redirect and followed.next is None
    assert [r.status_code for r in followed.history] == [307] and followed.url == target.url + "/json"


def test_response_cookies_are_a_requests_cookie_jar(session: HttpSession) -> None:
    response = in_greenlet(lambda: session.get("/cookies/set?flavour=oat&size=big"))
    assert isinstance(response.cookies, requests.cookies.RequestsCookieJar)
    assert response.cookies.get("flavour") == "oat" and response.cookies["size"] == "big"
    assert response.cookies.get_dict() == {"flavour": "oat", "size": "big"}


# -- hooks ----------------------------------------------------------------------------------------


def test_response_hooks_per_request_see_every_hop(session: HttpSession, recorder: Recorder) -> None:
    seen: list[tuple[int, str]] = []

    def remember(response: Response, *args: Any, **kwargs: Any) -> None:
        assert set(kwargs) == {"timeout", "verify", "proxies", "stream", "cert"} and kwargs["timeout"] == 5
        seen.append((response.status_code, response.request.target))

    response = in_greenlet(lambda: session.get("/redirect?to=/fast", hooks={"response": remember}, timeout=5))
    assert response.text == "ok" and seen == [(302, "/redirect?to=/fast"), (200, "/fast")]
    assert len(recorder.calls) == 1  # one request, as Locust reports it


def test_a_hook_may_replace_the_response(session: HttpSession, recorder: Recorder) -> None:
    def second_opinion(response: Response, **kwargs: Any) -> Response | None:
        if response.status_code == 404:
            return session.get("/fast")
        return None

    response = in_greenlet(lambda: session.get("/nope", hooks={"response": [second_opinion]}))
    assert response.status_code == 200 and response.text == "ok"
    # the inner request is reported by itself, and the outer one with the response it ended with
    assert [c["name"] for c in recorder.calls] == ["/fast", "/nope"] and recorder.last["exception"] is None


def test_session_hooks_and_a_request_s_own_replace_them(session: HttpSession) -> None:
    calls: list[str] = []
    session.hooks["response"].append(lambda r, **kw: calls.append("session"))
    in_greenlet(lambda: session.get("/fast"))
    in_greenlet(lambda: session.get("/fast", hooks={"response": lambda r, **kw: calls.append("own")}))
    assert calls == ["session", "own"]  # requests merges hooks this way: the request's replace the session's


def test_hook_errors_propagate_and_unknown_events_are_refused(
    session: HttpSession, recorder: Recorder
) -> None:
    def broken(response: Response, **kwargs: Any) -> None:
        raise KeyError("in the hook")

    with pytest.raises(KeyError):
        in_greenlet(lambda: session.get("/fast", hooks={"response": broken}))
    # requests raises on an event it does not know, and Locust lets that out of request()
    with pytest.raises(ValueError, match='event name "request"'):
        in_greenlet(lambda: session.get("/fast", hooks={"request": broken}))
    assert recorder.calls == []


# -- params and auth ------------------------------------------------------------------------------


def test_session_params_merge_with_the_request_s(session: HttpSession) -> None:
    session.params = {"api_key": "k1", "lang": "en"}
    echoed = in_greenlet(lambda: session.get("/echo", params={"lang": "fr", "q": "x"})).json()
    assert echoed["args"] == {"api_key": "k1", "lang": "fr", "q": "x"}
    assert in_greenlet(lambda: session.get("/echo")).json()["args"] == {"api_key": "k1", "lang": "en"}


@pytest.mark.parametrize(
    "auth",
    [("alice", "s3cret"), requests.auth.HTTPBasicAuth("alice", "s3cret")],
    ids=["tuple", "HTTPBasicAuth"],
)
def test_basic_auth_per_request_and_on_the_session(session: HttpSession, auth: Any) -> None:
    assert in_greenlet(lambda: session.get("/basic-auth/alice/s3cret", auth=auth)).json()["authenticated"]
    assert in_greenlet(lambda: session.get("/basic-auth/alice/s3cret")).status_code == 401
    session.auth = auth
    assert in_greenlet(lambda: session.get("/basic-auth/alice/s3cret")).status_code == 200


def test_proxy_auth_and_a_custom_auth_base(session: HttpSession) -> None:
    echoed = in_greenlet(lambda: session.get("/echo", auth=requests.auth.HTTPProxyAuth("p", "q"))).json()
    assert echoed["headers"]["proxy-authorization"] == requests.auth._basic_auth_str("p", "q")

    seen: list[int] = []

    class TokenAuth(requests.auth.AuthBase):
        def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
            r.headers["X-Token"] = f"{r.method}:{len(r.body or b'')}"
            r.prepare_url(r.url, {"signed": "1"})
            r.register_hook("response", lambda resp, **kw: seen.append(resp.status_code))
            del r.headers["Accept"]
            return r

    response = in_greenlet(lambda: session.post("/echo", data=b"abc", auth=TokenAuth()))
    echoed = response.json()
    assert echoed["headers"]["x-token"] == "POST:3" and echoed["args"] == {"signed": "1"}
    assert "accept" not in echoed["headers"] and echoed["body"] == "abc"
    assert seen == [200]


@pytest.mark.parametrize(
    ("qop", "algorithm"),
    [("auth", "MD5"), ("auth", "SHA-256"), ("auth", "MD5-SESS"), ("auth", "SHA-512"), ("none", "MD5")],
)
def test_digest_auth_answers_the_challenge(
    session: HttpSession, recorder: Recorder, target: TargetServer, qop: str, algorithm: str
) -> None:
    path = f"/digest-auth/{qop}/dora/pa55/{algorithm}"
    # the route itself against requests' own digest implementation
    assert requests.get(target.url + path, auth=requests.auth.HTTPDigestAuth("dora", "pa55"), timeout=10).ok

    auth = requests.auth.HTTPDigestAuth("dora", "pa55")
    response = in_greenlet(lambda: session.get(path + "?x=1", auth=auth))
    assert response.status_code == 200 and response.json() == {"authenticated": True, "user": "dora"}
    assert [r.status_code for r in response.history] == [401]
    assert len(recorder.calls) == 1 and recorder.last["exception"] is None  # as Locust reports it: once
    assert response.request.headers["Authorization"].startswith("Digest ")
    # the next request answers the nonce at once (its count goes up), without a new 401
    target.reset()
    again = in_greenlet(lambda: session.get(path, auth=auth))
    assert again.status_code == 200 and again.history == []
    assert target.counts()["by_endpoint"] == {f"GET {path}": 1}


@pytest.mark.parametrize("algorithm", ["SHA-256-SESS", "SHA-512-SESS"])
def test_digest_sess_algorithms_requests_lacks(session: HttpSession, algorithm: str) -> None:
    auth = requests.auth.HTTPDigestAuth("dora", "pa55")
    response = in_greenlet(
        lambda: session.post(f"/digest-auth/auth/dora/pa55/{algorithm}", data=b"x", auth=auth)
    )
    assert response.status_code == 200 and [r.status_code for r in response.history] == [401]


def test_digest_with_a_wrong_password_fails_after_one_answer(
    session: HttpSession, target: TargetServer
) -> None:
    response = in_greenlet(
        lambda: session.get("/digest-auth/auth/dora/pa55", auth=requests.auth.HTTPDigestAuth("dora", "nope"))
    )
    assert response.status_code == 401 and isinstance(response.error, requests.exceptions.HTTPError)
    assert target.counts()["total"] == 2


# -- mount(HTTPAdapter(max_retries=...)) ----------------------------------------------------------


def test_status_forcelist_retries_until_success(
    session: HttpSession, recorder: Recorder, target: TargetServer
) -> None:
    retry = Retry(total=3, status_forcelist=[503], backoff_factor=0.01)
    session.mount("http://", HTTPAdapter(max_retries=retry))
    response = in_greenlet(lambda: session.get("/fail/2/forcelist"))
    assert response.status_code == 200 and len(recorder.calls) == 1
    assert target.counts()["by_endpoint"] == {"GET /fail/2/forcelist": 3}


def test_retries_run_out_on_status(session: HttpSession, target: TargetServer) -> None:
    session.mount(target.url, HTTPAdapter(max_retries=Retry(total=2, status_forcelist=[500])))
    response = in_greenlet(lambda: session.get("/status/500"))
    assert response.status_code == 0 and isinstance(response.error, requests.exceptions.RetryError)
    assert target.counts()["by_endpoint"] == {"GET /status/500": 3}

    target.reset()
    lenient = Retry(total=1, status_forcelist=[500], raise_on_status=False)
    session.mount(target.url, HTTPAdapter(max_retries=lenient))
    response = in_greenlet(lambda: session.get("/status/500"))
    assert response.status_code == 500 and target.counts()["total"] == 2


def test_retry_after_and_allowed_methods(session: HttpSession, target: TargetServer) -> None:
    # a 503 with Retry-After is retried by any Retry with total (respect_retry_after_header)
    session.mount("http://", HTTPAdapter(max_retries=2))
    assert in_greenlet(lambda: session.get("/fail/1/after?retry_after=0")).status_code == 200
    assert target.counts()["by_endpoint"] == {"GET /fail/1/after": 2}
    # POST is not among urllib3's default allowed methods: its 503 comes back as it is
    target.reset()
    session.mount("http://", HTTPAdapter(max_retries=Retry(total=3, status_forcelist=[503])))
    assert in_greenlet(lambda: session.post("/fail/1/post")).status_code == 503
    assert target.counts()["total"] == 1


def test_read_errors_retried_for_get_not_for_post(recorder: Recorder) -> None:
    server = CountingServer("close")
    try:
        session = HttpSession(server.url, recorder.event)
        in_greenlet(lambda: session.get("/"))
        per_attempt = server.accepted  # the pool itself tries a closed connection twice
        session.mount("http://", HTTPAdapter(max_retries=2))
        server.accepted = 0
        response = in_greenlet(lambda: session.get("/"))
        assert server.accepted == 3 * per_attempt
        assert response.status_code == 0 and isinstance(response.error, requests.exceptions.ConnectionError)
        server.accepted = 0
        in_greenlet(lambda: session.post("/", data=b"x"))
        assert server.accepted == 1
    finally:
        server.stop()


def test_connect_errors_are_retried_and_the_longest_prefix_wins(
    recorder: Recorder, target: TargetServer
) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    session = HttpSession(target.url, recorder.event)
    session.mount("http://", HTTPAdapter(max_retries=Retry(total=2, status_forcelist=[503])))
    session.mount(target.url + "/fail/", HTTPAdapter())  # no retries under this prefix
    assert in_greenlet(lambda: session.get("/fail/1/prefix")).status_code == 503
    assert target.counts()["by_endpoint"] == {"GET /fail/1/prefix": 1}
    response = in_greenlet(lambda: session.post(dead + "/x"))  # connect errors: any method
    assert isinstance(response.error, requests.exceptions.ConnectionError) and len(recorder.calls) == 2
    assert list(session.adapters) == ["http://", target.url + "/fail/"]


def test_other_adapters_are_refused_in_one_line(session: HttpSession) -> None:
    class TimeoutAdapter(HTTPAdapter):
        def send(self, request: Any, **kwargs: Any) -> Any:
            return super().send(request, **kwargs)

    with pytest.raises(
        TypeError,
        match=r"^tswarm's HttpSession cannot mount .*TimeoutAdapter: it overrides HTTPAdapter\.send",
    ):
        session.mount("https://", TimeoutAdapter())
    with pytest.raises(TypeError, match="cannot mount builtins.object"):
        session.mount("https://", object())

    class QuietAdapter(HTTPAdapter):
        def __init__(self) -> None:
            super().__init__(max_retries=1)

    session.mount("https://", QuietAdapter())  # only __init__ changed: accepted


def test_fast_http_max_retries_retries_timeouts_of_idempotent_methods(recorder: Recorder) -> None:
    server = CountingServer("hang")
    try:
        session = HttpSession(server.url, recorder.event, network_timeout=0.2, max_retries=2)
        response = in_greenlet(lambda: session.get("/"))
        assert isinstance(response.error, TimeoutError) and server.accepted == 3 and len(recorder.calls) == 1
        server.accepted = 0
        in_greenlet(lambda: session.post("/", data=b"x"))
        assert server.accepted == 1
    finally:
        server.stop()


def test_fast_http_user_passes_max_retries(target: TargetServer) -> None:
    from tswarm.env import Environment
    from tswarm.runner.users import FastHttpUser

    class Retrying(FastHttpUser):
        host = target.url
        max_retries = 4

    user = Retrying(Environment(user_classes=[Retrying]))
    assert user.client.max_retries == 4


def test_http_user_follows_requests_default_of_30_redirects(target: TargetServer) -> None:
    from tswarm.env import Environment
    from tswarm.runner.users import HttpUser

    class Browser(HttpUser):
        host = target.url

    user = Browser(Environment(user_classes=[Browser]))
    assert user.client.max_redirects == 30
    response = in_greenlet(lambda: user.client.get("/redirect/12"))
    assert response.text == "ok" and len(response.history) == 12


# -- a Locust file with requests' idioms, run by tswarm -------------------------------------------

REQUESTS_IDIOMS = """
    import itertools

    import requests
    from requests.adapters import HTTPAdapter
    from requests.auth import HTTPDigestAuth
    from urllib3.util.retry import Retry
    from locust import HttpUser, task, constant
    from locust.exception import StopUser

    numbers = itertools.count()

    class Idioms(HttpUser):
        wait_time = constant(0)

        def on_start(self):
            self.n = next(numbers)
            # a plain requests call beside the client, as files fetch tokens with
            assert requests.get(self.host + "/json", timeout=10).json()["ok"]
            self.client.mount("http://", HTTPAdapter(max_retries=Retry(total=2, status_forcelist=[503])))
            self.client.hooks["response"].append(lambda r, *args, **kwargs: None)

        @task
        def everything(self):
            assert self.client.get("/digest-auth/auth/u/p", auth=HTTPDigestAuth("u", "p")).ok
            assert self.client.get(f"/fail/1/user{self.n}", name="/fail").ok
            try:
                self.client.get("/fast").json()
            except requests.exceptions.JSONDecodeError:
                pass
            with self.client.get("http://127.0.0.1:DEAD/", catch_response=True, name="dead") as r:
                try:
                    r.raise_for_status()
                except requests.exceptions.ConnectionError:
                    r.success()
            raise StopUser()
"""


def test_a_locust_file_with_requests_idioms_runs_unchanged(tmp_path: Path, target: TargetServer) -> None:
    (tmp_path / "locustfile.py").write_text(
        textwrap.dedent(REQUESTS_IDIOMS).replace("DEAD", str(free_port()))
    )
    result = subprocess.run(
        [sys.executable, "-m", "tswarm", "run", "--headless", "-H", target.url, "-u", "3", "-r", "100"]
        + ["-t", "5s", "--stop-timeout", "5", "--json", "out.json"],
        cwd=tmp_path,
        env=repo_env(),
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads((tmp_path / "out.json").read_text())
    ours = {f"{e['method']} {e['name']}": (e["num_requests"], e["num_failures"]) for e in report["entries"]}
    assert ours == {
        "GET /digest-auth/auth/u/p": (3, 0),
        "GET /fail": (3, 0),
        "GET /fast": (3, 0),
        "GET dead": (3, 0),
    }
    server = target.counts()["by_endpoint"]
    # the server saw each challenge and each retry; the stats show one request each, as Locust's
    assert server["GET /digest-auth/auth/u/p"] == 6
    assert sum(n for k, n in server.items() if k.startswith("GET /fail/1/")) == 6
