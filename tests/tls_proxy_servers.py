"""Real servers for the connection tests: certificates made with the ``openssl`` command (a test CA, a
server certificate for 127.0.0.1 and localhost, a client certificate), a small HTTP(S) server that counts
its connections, a small HTTP proxy with CONNECT, and a socket that listens but never answers.

Every server runs in threads of this process on a free port of 127.0.0.1 and is stopped by its fixture.
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import http.server
import select
import shutil
import socket
import socketserver
import ssl
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest


@dataclass
class Certificates:
    """Files of a test CA and of the certificates it signed (PEM)."""

    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path
    #: the client's certificate and key in one file (requests' ``cert="path"``)
    client_combined: Path


def _openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True, timeout=60)


def make_certificates(directory: Path) -> Certificates:
    """A CA, a server certificate (127.0.0.1, ::1, localhost) and a client certificate, valid one day."""
    if shutil.which("openssl") is None:
        pytest.skip("the openssl command is needed to make certificates")
    ca_key, ca = directory / "ca.key", directory / "ca.pem"
    _openssl(
        "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-days", "1", "-subj", "/CN=tswarm test CA", "-keyout", str(ca_key), "-out", str(ca),
        "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
    )  # fmt: skip

    def signed(name: str, extensions: str) -> tuple[Path, Path]:
        key, csr, cert = directory / f"{name}.key", directory / f"{name}.csr", directory / f"{name}.pem"
        ext = directory / f"{name}.ext"
        ext.write_text(extensions)
        _openssl(
            "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-subj", f"/CN={name}", "-keyout", str(key), "-out", str(csr),
        )  # fmt: skip
        _openssl(
            "x509", "-req", "-in", str(csr), "-CA", str(ca), "-CAkey", str(ca_key), "-CAcreateserial",
            "-days", "1", "-out", str(cert), "-extfile", str(ext),
        )  # fmt: skip
        return cert, key

    server_cert, server_key = signed(
        "localhost",
        "basicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n"
        "subjectAltName=IP:127.0.0.1,IP:::1,DNS:localhost\n",
    )
    client_cert, client_key = signed(
        "tswarm-client", "basicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=clientAuth\n"
    )
    combined = directory / "client-combined.pem"
    combined.write_text(client_cert.read_text() + client_key.read_text())
    return Certificates(ca, server_cert, server_key, client_cert, client_key, combined)


class _CountingServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, context: ssl.SSLContext | None) -> None:
        super().__init__(("127.0.0.1", 0), _EchoHandler)
        self.context = context
        self.connections = 0
        self.requests: list[str] = []
        self.lock = threading.Lock()

    def get_request(self) -> tuple[socket.socket, Any]:
        sock, address = super().get_request()
        if self.context is not None:
            # the handshake happens in the handler's thread, so a client that never finishes it
            # cannot stop the server from accepting others
            sock = self.context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        with self.lock:
            self.connections += 1
        return sock, address


class _EchoHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _CountingServer

    def handle(self) -> None:
        self.request.settimeout(10)
        # a client that fails its handshake (no client certificate, an unknown CA) or goes away
        with contextlib.suppress(OSError):
            if isinstance(self.request, ssl.SSLSocket):
                self.request.do_handshake()
            super().handle()

    def _answer(self) -> None:
        with self.server.lock:
            self.server.requests.append(f"{self.command} {self.path}")
        peer = self.request.getpeercert() if isinstance(self.request, ssl.SSLSocket) else None
        subject = dict(pair[0] for pair in peer["subject"]) if peer else {}
        body = f"{self.command} {self.path} client={subject.get('commonName', '-')}".encode()
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Content-Type", "text/plain")
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_HEAD = _answer  # noqa: N815 - http.server's names

    def log_message(self, *args: Any) -> None:
        pass


@dataclass
class EchoServer:
    """A running echo server: every answer is ``METHOD /path client=<client certificate CN or ->``."""

    url: str
    server: _CountingServer = field(repr=False)

    @property
    def connections(self) -> int:
        """Connections accepted so far."""
        return self.server.connections

    @property
    def requests(self) -> list[str]:
        return list(self.server.requests)


def server_context(certs: Certificates, require_client_cert: bool = False) -> ssl.SSLContext:
    """The TLS context of a test server with the CA's server certificate."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certs.server_cert, certs.server_key)
    if require_client_cert:
        context.verify_mode = ssl.CERT_REQUIRED
        context.load_verify_locations(certs.ca)
    return context


@contextlib.contextmanager
def serve_echo(context: ssl.SSLContext | None = None) -> Iterator[EchoServer]:
    """An echo server, https when given a context, for the length of the block."""
    server = _CountingServer(context)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    scheme = "https" if context is not None else "http"
    try:
        yield EchoServer(f"{scheme}://127.0.0.1:{server.server_address[1]}", server)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


class _ProxyServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    block_on_close = False

    def __init__(self, routes: dict[str, tuple[str, int]], credentials: tuple[str, str] | None) -> None:
        super().__init__(("127.0.0.1", 0), _ProxyHandler)
        self.routes = routes
        self.expected_authorization = (
            "Basic " + base64.b64encode(":".join(credentials).encode()).decode() if credentials else None
        )
        #: (request line, headers) of every request the proxy received, CONNECT included
        self.seen: list[tuple[str, dict[str, str]]] = []
        self.stopping = threading.Event()
        self.lock = threading.Lock()


class _ProxyHandler(socketserver.StreamRequestHandler):
    server: _ProxyServer

    def handle(self) -> None:
        self.request.settimeout(10)
        try:
            while not self.server.stopping.is_set():
                line = self.rfile.readline(65537).decode("latin-1").rstrip("\r\n")
                if not line:
                    return
                headers: dict[str, str] = {}
                while True:
                    header = self.rfile.readline(65537).decode("latin-1").rstrip("\r\n")
                    if not header:
                        break
                    name, _, value = header.partition(":")
                    headers[name.strip().lower()] = value.strip()
                with self.server.lock:
                    self.server.seen.append((line, headers))
                expected = self.server.expected_authorization
                if expected is not None and headers.get("proxy-authorization") != expected:
                    self._reply(407, "Proxy Authentication Required", b"", {"Proxy-Authenticate": "Basic"})
                    continue
                method, target, _ = line.split(" ", 2)
                if method == "CONNECT":
                    self._tunnel(target)
                    return
                self._forward(method, target, headers)
        except (OSError, ValueError):
            return

    def _address(self, host: str, port: int) -> tuple[str, int]:
        return self.server.routes.get(host, (host, port))

    def _reply(self, status: int, reason: str, body: bytes, headers: dict[str, str]) -> None:
        head = f"HTTP/1.1 {status} {reason}\r\nContent-Length: {len(body)}\r\n"
        head += "".join(f"{name}: {value}\r\n" for name, value in headers.items())
        self.wfile.write(head.encode("latin-1") + b"\r\n" + body)
        self.wfile.flush()

    def _forward(self, method: str, target: str, headers: dict[str, str]) -> None:
        # a plain http request in absolute form: sent on to the server, its answer sent back
        from urllib.parse import urlsplit

        parts = urlsplit(target)
        body = self.rfile.read(int(headers.get("content-length") or 0))
        host, port = self._address(parts.hostname or "", parts.port or 80)
        upstream = http.client.HTTPConnection(host, port, timeout=10)
        try:
            path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
            sent = {k: v for k, v in headers.items() if k not in ("proxy-authorization", "connection")}
            upstream.request(method, path, body=body or None, headers=sent)
            response = upstream.getresponse()
            content = response.read()
            passed = {
                k: v
                for k, v in response.getheaders()
                if k.lower() not in ("content-length", "transfer-encoding", "connection")
            }
            passed["Via"] = "1.1 tswarm-test-proxy"
            self._reply(response.status, response.reason, content, passed)
        except OSError:
            self._reply(502, "Bad Gateway", b"", {})
        finally:
            upstream.close()

    def _tunnel(self, target: str) -> None:
        host, _, port = target.rpartition(":")
        try:
            upstream = socket.create_connection(self._address(host.strip("[]"), int(port)), timeout=10)
        except OSError:
            self._reply(502, "Bad Gateway", b"", {})
            return
        self.wfile.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
        self.wfile.flush()
        client = self.request
        with upstream:
            while not self.server.stopping.is_set():
                readable, _, _ = select.select([client, upstream], [], [], 0.1)
                for sock in readable:
                    data = sock.recv(65536)
                    if not data:
                        return
                    (upstream if sock is client else client).sendall(data)


@dataclass
class Proxy:
    """A running test proxy."""

    url: str
    server: _ProxyServer = field(repr=False)

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    @property
    def seen(self) -> list[tuple[str, dict[str, str]]]:
        """(request line, lower-cased headers) of every request it received, in order."""
        with self.server.lock:
            return list(self.server.seen)

    def lines(self) -> list[str]:
        return [line for line, _ in self.seen]


@contextlib.contextmanager
def serve_proxy(
    routes: dict[str, tuple[str, int]] | None = None, credentials: tuple[str, str] | None = None
) -> Iterator[Proxy]:
    """An HTTP proxy (absolute-form requests and CONNECT tunnels) for the length of the block.

    Args:
        routes: host names the proxy connects to a given address instead of resolving them.
        credentials: (user, password) the proxy requires in ``Proxy-Authorization`` (else 407).
    """
    server = _ProxyServer(routes or {}, credentials)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    try:
        yield Proxy(f"http://127.0.0.1:{server.server_address[1]}", server)
    finally:
        server.stopping.set()
        server.shutdown()
        server.server_close()
        thread.join(10)


@contextlib.contextmanager
def silent_listener() -> Iterator[int]:
    """The port of a socket that listens but never accepts: connections complete (the kernel accepts
    them into the backlog) and then nothing is ever answered."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        yield int(sock.getsockname()[1])
