"""The connection side of HttpUser's and FastHttpUser's client against real servers: https with
certificates made by the test (verify on, off, a CA bundle, client certificates), an HTTP proxy started by
the test (plain requests and CONNECT tunnels), connect and read timeouts, and requests' exception types.

Servers run in threads of this process on free ports of 127.0.0.1; the client runs in greenlets.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import requests
from conftest import TargetServer, free_port
from geventhttpclient.client import HTTPClientPool
from http_helpers import Recorder, in_greenlet
from tls_proxy_servers import (
    Certificates,
    EchoServer,
    make_certificates,
    serve_echo,
    serve_proxy,
    server_context,
    silent_listener,
)

from tswarm.clients import HttpSession
from tswarm.runner.users import FastHttpUser, HttpUser

PROXY_VARIABLES = (
    "http_proxy",
    "https_proxy",
    "all_proxy",
    "no_proxy",
    "requests_ca_bundle",
    "curl_ca_bundle",
)


@pytest.fixture(autouse=True)
def no_proxy_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No proxy or CA bundle from the machine's environment: each test sets what it wants."""
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    return make_certificates(tmp_path_factory.mktemp("certs"))


@pytest.fixture
def https(certs: Certificates) -> Iterator[EchoServer]:
    with serve_echo(server_context(certs)) as server:
        yield server


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


def session_for(url: str, recorder: Recorder, **kwargs: Any) -> HttpSession:
    return HttpSession(url, recorder.event, **kwargs)


# -- verify and cert ---------------------------------------------------------------------------------------


def test_verify_on_fails_with_requests_ssl_error(https: EchoServer, recorder: Recorder) -> None:
    session = session_for(https.url, recorder, insecure=False)  # HttpUser's default, as in requests
    response = in_greenlet(lambda: session.get("/"))
    error = response.error
    assert response.status_code == 0
    assert isinstance(error, requests.exceptions.SSLError)
    assert isinstance(error, requests.exceptions.ConnectionError)  # as requests' SSLError is
    assert isinstance(error, ssl.SSLError)  # what a FastHttpUser file catches
    assert "CERTIFICATE_VERIFY_FAILED" in str(error)
    assert recorder.last["exception"] is error
    with pytest.raises(requests.exceptions.SSLError):
        response.raise_for_status()


def test_verify_off_per_request_and_on_the_session(https: EchoServer, recorder: Recorder) -> None:
    session = session_for(https.url, recorder, insecure=False)
    assert in_greenlet(lambda: session.get("/one", verify=False)).text == "GET /one client=-"
    # the connection made without checks is not used for a request that checks
    assert isinstance(in_greenlet(lambda: session.get("/two")).error, requests.exceptions.SSLError)
    assert in_greenlet(lambda: session.get("/three", verify=False)).ok
    session.verify = False
    assert session.insecure
    assert in_greenlet(lambda: session.get("/four")).ok
    assert in_greenlet(lambda: session.get("/five", verify=True)).error is not None
    assert https.requests == ["GET /one", "GET /three", "GET /four"]


def test_verify_with_a_ca_bundle_path(https: EchoServer, certs: Certificates, recorder: Recorder) -> None:
    session = session_for(https.url, recorder, insecure=False)
    assert in_greenlet(lambda: session.get("/", verify=str(certs.ca))).ok
    assert in_greenlet(lambda: session.get("/", verify=certs.ca)).ok  # a PathLike too
    assert in_greenlet(lambda: session.get("/")).error is not None  # the default still checks against certifi
    session.verify = str(certs.ca)
    assert in_greenlet(lambda: session.get("/")).ok and not session.insecure
    # a bundle that does not exist: requests' words, reported as the request's failure
    missing = in_greenlet(lambda: session.get("/", verify="/nonexistent/ca.pem"))
    assert isinstance(missing.error, OSError) and "invalid path: /nonexistent/ca.pem" in str(missing.error)
    assert recorder.last["exception"] is missing.error


def test_trust_env_takes_the_ca_bundle_from_the_environment(
    https: EchoServer, certs: Certificates, recorder: Recorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(certs.ca))
    assert in_greenlet(lambda: session_for(https.url, recorder, insecure=False).get("/")).ok
    ignoring = session_for(https.url, recorder, insecure=False, trust_env=False)
    assert in_greenlet(lambda: ignoring.get("/")).error is not None


def test_client_certificate_required_by_the_server(certs: Certificates, recorder: Recorder) -> None:
    with serve_echo(server_context(certs, require_client_cert=True)) as server:
        session = session_for(server.url, recorder, insecure=False)
        session.verify = str(certs.ca)
        refused = in_greenlet(lambda: session.get("/"))
        assert refused.status_code == 0
        # TLS 1.3 says so on the first read rather than in the handshake: an SSLError either way
        assert isinstance(refused.error, requests.exceptions.SSLError)
        pair = (str(certs.client_cert), str(certs.client_key))
        assert in_greenlet(lambda: session.get("/pair", cert=pair)).text == "GET /pair client=tswarm-client"
        # a request without cert= does not reuse the connection that presented one
        assert in_greenlet(lambda: session.get("/")).status_code == 0
        session.cert = str(certs.client_combined)
        assert in_greenlet(lambda: session.get("/combined")).text == "GET /combined client=tswarm-client"
        assert session.cert == str(certs.client_combined)
        assert server.requests == ["GET /pair", "GET /combined"]


def test_connections_are_kept_alive_per_tls_setting(
    https: EchoServer, certs: Certificates, recorder: Recorder
) -> None:
    session = session_for(https.url, recorder)
    for _ in range(3):
        assert in_greenlet(lambda: session.get("/")).ok
        assert in_greenlet(lambda: session.get("/", verify=str(certs.ca))).ok
    assert https.connections == 2  # one kept-alive connection for each setting


# -- timeouts ------------------------------------------------------------------------------------------------


def test_read_timeout(recorder: Recorder) -> None:
    with silent_listener() as port:
        session = session_for(f"http://127.0.0.1:{port}", recorder)
        for timeout in (0.3, (5, 0.3), [None, 0.3]):
            response = in_greenlet(lambda timeout=timeout: session.get("/", timeout=timeout))
            error = response.error
            assert response.status_code == 0
            assert isinstance(error, requests.exceptions.ReadTimeout)
            assert isinstance(error, requests.exceptions.Timeout) and isinstance(error, TimeoutError)
            assert not isinstance(error, requests.exceptions.ConnectionError)
            assert "read timeout=0.3" in str(error)
            assert recorder.last["exception"] is error


def test_connect_timeout_covers_the_tls_handshake(recorder: Recorder) -> None:
    # the kernel completes the TCP handshake; the TLS one is never answered
    with silent_listener() as port:
        session = session_for(f"https://127.0.0.1:{port}", recorder)
        for timeout in (0.3, (0.3, 30)):
            response = in_greenlet(lambda timeout=timeout: session.get("/", timeout=timeout))
            error = response.error
            assert isinstance(error, requests.exceptions.ConnectTimeout)
            assert isinstance(error, requests.exceptions.ConnectionError)
            assert isinstance(error, requests.exceptions.Timeout) and isinstance(error, TimeoutError)


def test_a_timeout_leaves_kept_alive_connections_as_they_were(
    target: TargetServer, recorder: Recorder
) -> None:
    session = session_for(target.url, recorder)
    assert in_greenlet(lambda: session.get("/fast", timeout=(1, 5))).ok
    pool = session._base_pool
    assert pool is not None
    socket = pool.connections._socket_queue.peek()
    assert socket.timeout == session.network_timeout  # the request's read timeout did not stay
    assert isinstance(
        in_greenlet(lambda: session.get("/slow?ms=2000", timeout=0.2)).error, requests.exceptions.ReadTimeout
    )
    assert in_greenlet(lambda: session.get("/fast")).ok


@pytest.mark.parametrize("timeout", [(1, 2, 3), "soon", -1, (0, 1), True])
def test_a_malformed_timeout_is_the_request_failure(
    target: TargetServer, recorder: Recorder, timeout: Any
) -> None:
    session = session_for(target.url, recorder)
    response = in_greenlet(lambda: session.get("/fast", timeout=timeout))
    assert response.status_code == 0 and isinstance(response.error, ValueError)
    assert recorder.last["exception"] is response.error
    assert target.counts()["total"] == 0


def test_connection_refused_is_requests_connection_error(recorder: Recorder) -> None:
    session = session_for(f"http://127.0.0.1:{free_port()}", recorder)
    error = in_greenlet(lambda: session.get("/")).error
    assert isinstance(error, requests.exceptions.ConnectionError)
    assert isinstance(error, ConnectionRefusedError)
    # the name in the statistics stays what Locust's FastHttpUser shows
    assert repr(error) == "ConnectionRefusedError(111, 'Connection refused')"
    try:
        raise error
    except requests.exceptions.RequestException as caught:  # what a Locust file catches
        assert caught is error


# -- proxies -------------------------------------------------------------------------------------------------


def test_http_through_a_proxy(target: TargetServer, recorder: Recorder) -> None:
    with serve_proxy(routes={"upstream.test": (target.host, target.port)}) as proxy:
        session = session_for(f"http://upstream.test:{target.port}", recorder)
        response = in_greenlet(lambda: session.get("/echo?x=1", proxies={"http": proxy.url}))
        assert response.ok and response.headers["Via"] == "1.1 tswarm-test-proxy"
        assert response.json()["headers"]["host"] == f"upstream.test:{target.port}"
        session.proxies["http"] = proxy.url
        assert in_greenlet(lambda: session.get("/fast")).ok
        assert in_greenlet(lambda: session.post("/echo", data=b"body")).json()["body"] == "body"
        assert proxy.lines() == [
            f"GET http://upstream.test:{target.port}/echo?x=1 HTTP/1.1",
            f"GET http://upstream.test:{target.port}/fast HTTP/1.1",
            f"POST http://upstream.test:{target.port}/echo HTTP/1.1",
        ]
        assert target.counts()["total"] == 3
        # each hop of a redirect goes through the request's proxy
        fresh = session_for(f"http://upstream.test:{target.port}", recorder)
        redirected = in_greenlet(
            lambda: fresh.get("/redirect?to=/fast", proxies={"http": proxy.url}, timeout=5)
        )
        assert redirected.ok and len(redirected.history) == 1
        assert proxy.lines()[-2:] == [
            f"GET http://upstream.test:{target.port}/redirect?to=/fast HTTP/1.1",
            f"GET http://upstream.test:{target.port}/fast HTTP/1.1",
        ]
        assert len(proxy.seen) == 5
        # a None in the request's proxies removes the session's: straight to the (unresolvable) host
        direct = in_greenlet(lambda: session.get("/fast", proxies={"http": None}, timeout=5))
        assert isinstance(direct.error, requests.exceptions.ConnectionError)
        assert len(proxy.seen) == 5


def test_proxy_credentials_and_host_specific_keys(target: TargetServer, recorder: Recorder) -> None:
    with serve_proxy(credentials=("user", "p@ss")) as proxy:
        session = session_for(target.url, recorder)
        # requests' precedence: scheme://host before scheme before all
        session.proxies = {
            "all": "http://127.0.0.1:1",
            f"http://{target.host}": f"http://user:p%40ss@127.0.0.1:{proxy.port}",
        }
        assert in_greenlet(lambda: session.get("/fast")).ok
        line, headers = proxy.seen[-1]
        assert line == f"GET {target.url}/fast HTTP/1.1"
        assert headers["proxy-authorization"] == "Basic dXNlcjpwQHNz"
        wrong = in_greenlet(lambda: session.get("/fast", proxies={f"http://{target.host}": proxy.url}))
        assert wrong.status_code == 407  # plain http: the proxy's answer is the response, as in requests


def test_https_through_a_connect_tunnel(https: EchoServer, certs: Certificates, recorder: Recorder) -> None:
    port = https.url.rsplit(":", 1)[1]
    with serve_proxy(credentials=("user", "secret")) as proxy:
        session = session_for(https.url, recorder, insecure=False)
        session.verify = str(certs.ca)
        session.proxies = {"https": f"http://user:secret@127.0.0.1:{proxy.port}"}
        for path in ("/a", "/b"):
            assert in_greenlet(lambda path=path: session.get(path)).text == f"GET {path} client=-"
        # one tunnel, kept alive; the certificate checked is the server's, through the tunnel
        assert proxy.lines() == [f"CONNECT 127.0.0.1:{port} HTTP/1.1"]
        assert proxy.seen[0][1]["proxy-authorization"] == "Basic dXNlcjpzZWNyZXQ="
        assert https.requests == ["GET /a", "GET /b"]
        refused = in_greenlet(lambda: session.get("/", proxies={"https": proxy.url}))
        assert isinstance(refused.error, requests.exceptions.ProxyError)
        assert "407" in str(refused.error)


def test_proxy_failures_are_proxy_errors(https: EchoServer, recorder: Recorder) -> None:
    nowhere = f"http://127.0.0.1:{free_port()}"
    session = session_for("http://upstream.test", recorder, insecure=True)
    for url, proxies in (("/", {"http": nowhere}), (https.url, {"https": nowhere})):
        error = in_greenlet(lambda url=url, proxies=proxies: session.get(url, proxies=proxies)).error
        assert isinstance(error, requests.exceptions.ProxyError)
        assert isinstance(error, requests.exceptions.ConnectionError)
        assert str(error).startswith(f"Cannot connect to proxy {nowhere[7:]}: ConnectionRefusedError(")
    bad = in_greenlet(lambda: session.get("/", proxies={"http": "socks5://127.0.0.1:1080"})).error
    assert isinstance(bad, ValueError) and "socks5" in str(bad)


def test_environment_proxies_with_trust_env(
    target: TargetServer, recorder: Recorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    with serve_proxy(routes={"upstream.test": (target.host, target.port)}) as proxy:
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        remote = f"http://upstream.test:{target.port}"
        assert in_greenlet(lambda: session_for(remote, recorder).get("/fast")).ok
        assert proxy.lines() == [f"GET {remote}/fast HTTP/1.1"]
        # a loopback target never takes the environment's proxy...
        assert in_greenlet(lambda: session_for(target.url, recorder).get("/fast")).ok
        # ...nor does a session that does not trust the environment, nor a host in NO_PROXY
        untrusting = session_for(remote, recorder, trust_env=False)
        assert in_greenlet(lambda: untrusting.get("/fast", timeout=5)).error is not None
        monkeypatch.setenv("NO_PROXY", "upstream.test")
        assert in_greenlet(lambda: session_for(remote, recorder).get("/fast", timeout=5)).error is not None
        assert len(proxy.seen) == 1
        # an explicit proxy is used for a loopback host too (as requests does)
        assert in_greenlet(
            lambda: session_for(target.url, recorder).get("/fast", proxies={"http": proxy.url})
        ).ok
        assert len(proxy.seen) == 2


# -- FastHttpUser's class attributes ---------------------------------------------------------------------------


def make_user(user_class: type[Any], recorder: Recorder) -> Any:
    environment = SimpleNamespace(events=SimpleNamespace(request=recorder.event), host=None)
    return user_class(environment)


def test_fast_http_user_tls_attributes(https: EchoServer, certs: Certificates, recorder: Recorder) -> None:
    class Insecure(FastHttpUser):
        host = https.url

    class Checking(FastHttpUser):
        host = https.url
        insecure = False

    def trusting_context(cafile: str | None = None) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=str(certs.ca))
        context.load_cert_chain(certs.client_cert, certs.client_key)
        return context

    class WithFactory(FastHttpUser):
        host = https.url
        insecure = False
        ssl_context_factory = staticmethod(trusting_context)

    assert in_greenlet(lambda: make_user(Insecure, recorder).client.get("/")).ok  # Locust's default
    checked = in_greenlet(lambda: make_user(Checking, recorder).client.get("/"))
    assert isinstance(checked.error, requests.exceptions.SSLError)
    with serve_echo(server_context(certs, require_client_cert=True)) as mutual:
        WithFactory.host = mutual.url
        assert in_greenlet(lambda: make_user(WithFactory, recorder).client.get("/x")).text == (
            "GET /x client=tswarm-client"
        )


def test_http_user_checks_certificates_and_reads_the_environment(
    https: EchoServer, recorder: Recorder
) -> None:
    class Checking(HttpUser):
        host = https.url

    user = make_user(Checking, recorder)
    assert user.client.verify is True and user.client.trust_env is True
    assert isinstance(in_greenlet(lambda: user.client.get("/")).error, requests.exceptions.SSLError)


def test_fast_http_user_proxy_host_and_port(
    target: TargetServer, recorder: Recorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    with serve_proxy(routes={"upstream.test": (target.host, target.port)}) as proxy:

        class Proxied(FastHttpUser):
            host = f"http://upstream.test:{target.port}"
            proxy_host = "127.0.0.1"
            proxy_port = proxy.port

        assert in_greenlet(lambda: make_user(Proxied, recorder).client.get("/fast")).ok
        assert proxy.lines() == [f"GET http://upstream.test:{target.port}/fast HTTP/1.1"]

        class Plain(FastHttpUser):
            host = f"http://upstream.test:{target.port}"

        # as in Locust, FastHttpUser takes no proxy from the environment
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        user = make_user(Plain, recorder)
        assert user.client.trust_env is False
        assert in_greenlet(lambda: user.client.get("/fast", timeout=5)).error is not None
        assert len(proxy.seen) == 1


def test_fast_http_user_client_pool_is_shared(recorder: Recorder) -> None:
    with serve_echo() as server:
        shared = HTTPClientPool(concurrency=1)

        class First(FastHttpUser):
            host = server.url
            client_pool = shared

        class Second(FastHttpUser):
            host = server.url
            client_pool = shared

        first, second = make_user(First, recorder), make_user(Second, recorder)
        for user in (first, second, second, first):
            assert in_greenlet(lambda user=user: user.client.get("/")).ok
        assert server.connections == 1
        shared.close()  # Locust files close the shared pool's connections this way
        assert in_greenlet(lambda: first.client.get("/")).ok
        assert server.connections == 2


def test_client_clientpool_close_opens_a_new_connection(recorder: Recorder) -> None:
    with serve_echo() as server:

        class Browser(FastHttpUser):
            host = server.url

        user = make_user(Browser, recorder)
        assert in_greenlet(lambda: user.client.get("/")).ok
        assert in_greenlet(lambda: user.client.get("/")).ok
        assert server.connections == 1
        user.client.client.clientpool.close()  # Locust's documented idiom for a new browser
        assert in_greenlet(lambda: user.client.get("/")).ok
        assert server.connections == 2
        assert user.client.client.cookiejar is not None


def test_fast_http_user_timeouts(recorder: Recorder) -> None:
    with silent_listener() as port:

        class Impatient(FastHttpUser):
            host = f"http://127.0.0.1:{port}"
            network_timeout = 0.3

        class ImpatientTls(FastHttpUser):
            host = f"https://127.0.0.1:{port}"
            connection_timeout = 0.3

        read = in_greenlet(lambda: make_user(Impatient, recorder).client.get("/")).error
        assert isinstance(read, requests.exceptions.ReadTimeout)
        connect = in_greenlet(lambda: make_user(ImpatientTls, recorder).client.get("/")).error
        assert isinstance(connect, requests.exceptions.ConnectTimeout)


def test_session_proxies_changes_close_old_connections(
    target: TargetServer, recorder: Recorder, tmp_path: Path
) -> None:
    with serve_proxy() as proxy:
        session = session_for(target.url, recorder)
        assert in_greenlet(lambda: session.get("/fast")).ok
        session.proxies.update({"http": proxy.url})
        assert in_greenlet(lambda: session.get("/fast")).ok
        del session.proxies["http"]
        assert in_greenlet(lambda: session.get("/fast")).ok
        assert len(proxy.seen) == 1


# -- a Locust file, run by tswarm --------------------------------------------------------------------------

LOCUST_FILE = """
import requests
from locust import HttpUser, task, constant
from locust.exception import StopUser

class Staging(HttpUser):
    wait_time = constant(0)
    done = 0

    @task
    def visit(self):
        self.client.get("/secure", verify=False, timeout=(3, 10))
        self.client.get("/tunnelled", verify={ca!r}, proxies={{"https": {proxy!r}}})
        try:
            self.client.get({refused!r}, name="refused").raise_for_status()
        except requests.exceptions.ConnectionError:
            pass
        self.done += 1
        if self.done >= 5:
            raise StopUser()
"""


def test_a_locust_file_with_verify_timeout_and_proxies_runs_unchanged(
    https: EchoServer, certs: Certificates, tmp_path: Path
) -> None:
    import json
    import subprocess
    import sys

    from conftest import repo_env

    refused = f"http://127.0.0.1:{free_port()}/"
    with serve_proxy() as proxy:
        (tmp_path / "locustfile.py").write_text(
            LOCUST_FILE.format(ca=str(certs.ca), proxy=proxy.url, refused=refused)
        )
        result = subprocess.run(
            [sys.executable, "-m", "tswarm", "run", "--headless", "-H", https.url, "-u", "2", "-r", "10"]
            + ["-t", "4s", "--stop-timeout", "5", "--json", "out.json"],
            cwd=tmp_path,
            env=repo_env(),
            capture_output=True,
            text=True,
            timeout=60,
            stdin=subprocess.DEVNULL,
        )
        tunnels = len(proxy.seen)
    report = json.loads((tmp_path / "out.json").read_text())
    counts = {f"{e['method']} {e['name']}": (e["num_requests"], e["num_failures"]) for e in report["entries"]}
    assert counts == {"GET /secure": (10, 0), "GET /tunnelled": (10, 0), "GET refused": (10, 10)}, (
        result.stderr
    )
    assert https.requests.count("GET /secure") == https.requests.count("GET /tunnelled") == 10
    assert tunnels == 2  # one CONNECT per user, kept alive
    assert report["exceptions"] == []  # the file caught requests' ConnectionError
    assert [f["error"] for f in report["failures"]] == ["ConnectionRefusedError(111, 'Connection refused')"]
