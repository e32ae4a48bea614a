"""A cluster's shared secret: made, read, and turned into the CURVE keys that authenticate master and
workers to each other and encrypt every frame between them. Imports zmq and the standard library only.

Both sides derive the same two key pairs from the secret (one for the master, one for the workers), so
that one value to distribute is enough: a worker accepts only a master that holds the master's secret
key (CURVE checks it in the handshake), and the master accepts only workers that present the workers'
public key (checked by its ZAP handler). Someone without the secret cannot join, read or forge frames.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import secrets
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import zmq
from zmq.utils import z85

from tswarm.exceptions import ConfigError

__all__ = [
    "MIN_SECRET_CHARS",
    "SECRET_ENV",
    "CurveKeys",
    "ZapHandler",
    "new_secret",
    "read_secret",
    "write_secret_file",
]

log = logging.getLogger("tswarm.secret")

#: the environment variable that holds the secret itself (``--secret-file`` names a file holding it)
SECRET_ENV = "TSWARM_SECRET"
#: a shorter secret is refused: it could be guessed
MIN_SECRET_CHARS = 16
#: ZeroMQ's fixed address of the authentication handler of a context (RFC 27)
ZAP_ENDPOINT = "inproc://zeromq.zap.01"
ZAP_DOMAIN = b"tswarm"


def new_secret() -> str:
    """A new random secret: 32 bytes from the OS's generator, as 43 URL-safe characters."""
    return secrets.token_urlsafe(32)


def write_secret_file(path: Path, secret: str) -> None:
    """Write ``secret`` to a new file readable by its owner only (mode 600).

    Raises:
        ConfigError: the file exists (a secret is never overwritten) or cannot be written.
    """
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise ConfigError(f"{path} exists: tswarm secret never overwrites a file") from None
    except OSError as e:
        raise ConfigError(f"cannot write {path}: {e.strerror or e}") from None
    with os.fdopen(fd, "w", encoding="utf-8") as file:
        file.write(secret + "\n")


def read_secret(secret_file: str | None, environ: Mapping[str, str] | None = None) -> str | None:
    """The secret of ``--secret-file`` (the file's first line), else of ``TSWARM_SECRET``, else None.

    Raises:
        ConfigError: the file cannot be read, or the secret is too short or has inner spaces.
    """
    environ = os.environ if environ is None else environ
    if secret_file:
        try:
            text = Path(secret_file).read_text(encoding="utf-8")
        except OSError as e:
            raise ConfigError(f"cannot read --secret-file {secret_file}: {e.strerror or e}") from None
        except UnicodeDecodeError:
            raise ConfigError(f"--secret-file {secret_file} is not a text file") from None
        lines = text.strip().splitlines()
        secret, source = (lines[0].strip() if lines else ""), f"--secret-file {secret_file}"
    elif environ.get(SECRET_ENV):
        secret, source = environ[SECRET_ENV].strip(), SECRET_ENV
    else:
        return None
    if len(secret) < MIN_SECRET_CHARS:
        raise ConfigError(
            f"the secret in {source} is too short ({len(secret)} characters, at least "
            f"{MIN_SECRET_CHARS}): make one with `tswarm secret`"
        )
    if not secret.isprintable() or any(c.isspace() for c in secret):
        raise ConfigError(
            f"the secret in {source} has spaces or control characters: make one with `tswarm secret`"
        )
    return secret


@dataclass(frozen=True, slots=True)
class CurveKeys:
    """The two CURVE key pairs a secret makes (Z85-encoded, as ZeroMQ's socket options take them)."""

    master_public: bytes
    master_secret: bytes
    worker_public: bytes
    worker_secret: bytes

    @classmethod
    def from_secret(cls, secret: str) -> CurveKeys:
        if not zmq.has("curve"):
            raise ConfigError("this ZeroMQ library was built without CURVE: a secret cannot be used")
        master_public, master_secret = _key_pair(secret, b"tswarm master")
        worker_public, worker_secret = _key_pair(secret, b"tswarm worker")
        return cls(master_public, master_secret, worker_public, worker_secret)

    def secure_master(self, sock: Any) -> None:
        """Make ``sock`` (the master's ROUTER, before it binds) a CURVE server that asks the ZAP handler."""
        sock.setsockopt(zmq.CURVE_SERVER, 1)
        sock.setsockopt(zmq.CURVE_SECRETKEY, self.master_secret)
        sock.setsockopt(zmq.ZAP_DOMAIN, ZAP_DOMAIN)

    def secure_worker(self, sock: Any) -> None:
        """Make ``sock`` (a worker's DEALER, before it connects) a CURVE client of the master."""
        sock.setsockopt(zmq.CURVE_SERVERKEY, self.master_public)
        sock.setsockopt(zmq.CURVE_PUBLICKEY, self.worker_public)
        sock.setsockopt(zmq.CURVE_SECRETKEY, self.worker_secret)


def _key_pair(secret: str, role: bytes) -> tuple[bytes, bytes]:
    # a Curve25519 secret key may be any 32 bytes (the scalar is clamped when used); a keyed hash
    # with the role as personalisation gives each role its own, unrelated key from one secret
    seed = hashlib.blake2b(secret.encode("utf-8"), digest_size=32, person=role[:16]).digest()
    secret_key = z85.encode(seed)
    return zmq.curve_public(secret_key), secret_key


class ZapHandler:
    """The master context's authentication handler: accepts the workers' public key, nothing else.

    Runs on a native thread (the master's asyncio loop may be busy); it ends when the context is
    terminated. A refused connection shows in the socket's monitor (see ``tswarm.controller.link``).
    """

    def __init__(self, context: zmq.Context[Any], keys: CurveKeys) -> None:
        self._keys = keys
        self._socket = context.socket(zmq.REP)
        self._socket.setsockopt(zmq.LINGER, 0)
        self._socket.bind(ZAP_ENDPOINT)
        self._thread = threading.Thread(target=self._serve, name="tswarm-zap", daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        sock = self._socket
        try:
            while True:
                request = sock.recv_multipart()
                sock.send_multipart(self._answer(request))
        except zmq.ContextTerminated:
            pass
        except zmq.ZMQError as e:  # pragma: no cover - a context torn down some other way
            log.debug("the authentication handler stopped: %s", e)
        finally:
            with contextlib.suppress(zmq.ZMQError):
                sock.close(linger=0)

    def _answer(self, request: list[bytes]) -> list[bytes]:
        # RFC 27: version, request id, domain, address, identity, mechanism, credentials...
        if len(request) < 6:
            return [b"1.0", request[1] if len(request) > 1 else b"", b"500", b"malformed request", b"", b""]
        version, request_id, _domain, _address, _identity, mechanism = request[:6]
        credentials = request[6:]
        allowed = (
            mechanism == b"CURVE"
            and len(credentials) == 1
            and len(credentials[0]) == 32
            and secrets.compare_digest(z85.encode(credentials[0]), self._keys.worker_public)
        )
        if allowed:
            return [version, request_id, b"200", b"OK", b"worker", b""]
        return [version, request_id, b"400", b"authentication failed", b"", b""]
