"""TLS for https connections: requests' ``verify`` and ``cert`` turned into SSL contexts.

A context is made once per process for each distinct (verify, cert) and shared by every session that
asks for it: loading a CA bundle costs milliseconds and about a megabyte, too much to pay per user.
Imports gevent's ssl and certifi (a dependency of requests); nothing of tswarm.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from functools import lru_cache
from typing import Any

import gevent.ssl

#: requests' ``verify``: check certificates (True), do not (False), or trust this CA file or directory
Verify = bool | str
#: requests' ``cert``: a file with certificate and key, or a (certificate, key) pair
Cert = str | tuple[str, str] | None
#: what a test file may give as ``ssl_context_factory`` (Locust's FastHttpUser): returns an SSLContext
ContextFactory = Callable[..., Any]


def check_verify(value: object) -> Verify:
    """``value`` as a ``verify`` setting, or ``TypeError`` for something requests would not accept."""
    if isinstance(value, bool | str):
        return value
    if isinstance(value, os.PathLike):
        return str(os.fspath(value))
    raise TypeError(f"verify must be True, False or a path to a CA bundle, not {value!r}")


def check_cert(value: object) -> Cert:
    """``value`` as a ``cert`` setting (a path, or a (cert, key) pair), or ``TypeError``."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, os.PathLike):
        return str(os.fspath(value))
    if isinstance(value, tuple | list) and len(value) == 2:
        return (str(os.fspath(value[0])), str(os.fspath(value[1])))
    raise TypeError(f"cert must be a path or a (cert, key) pair of paths, not {value!r}")


def environment_ca_bundle() -> str | None:
    """The CA bundle requests takes from the environment (with ``trust_env``) when ``verify`` is True."""
    return os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or None


def default_ca_bundle() -> str:
    """requests' own CA bundle (certifi's)."""
    import certifi

    return str(certifi.where())


@lru_cache(maxsize=64)
def client_context(verify: Verify, cert: Cert) -> gevent.ssl.SSLContext:
    """The shared SSL context for ``verify`` and ``cert`` as requests means them.

    ``verify=True`` trusts the system's store and certifi's bundle (requests trusts certifi's, Locust's
    FastHttpUser the system's: a certificate either accepts is accepted). A path trusts only what it holds.

    Raises:
        OSError: a CA bundle or certificate path that does not exist (requests' words).
        ssl.SSLError: a file that holds no usable certificate or key.
    """
    if verify is False:
        context = gevent.ssl.SSLContext(gevent.ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = gevent.ssl.CERT_NONE
    elif verify is True:
        context = gevent.ssl.create_default_context()
        context.load_verify_locations(cafile=default_ca_bundle())
    else:
        if not os.path.exists(verify):
            raise OSError(f"Could not find a suitable TLS CA certificate bundle, invalid path: {verify}")
        if os.path.isdir(verify):
            context = gevent.ssl.create_default_context(capath=verify)
        else:
            context = gevent.ssl.create_default_context(cafile=verify)
    if cert is not None:
        certfile, keyfile = (cert, None) if isinstance(cert, str) else cert
        if not os.path.exists(certfile):
            raise OSError(f"Could not find the TLS certificate file, invalid path: {certfile}")
        if keyfile is not None and not os.path.exists(keyfile):
            raise OSError(f"Could not find the TLS key file, invalid path: {keyfile}")
        context.load_cert_chain(certfile, keyfile)
    return context


def factory_context(factory: ContextFactory, verify: Verify, cert: Cert) -> gevent.ssl.SSLContext:
    """A context from a test file's ``ssl_context_factory``, set up as Locust's FastHttpUser sets it up.

    The factory is called with ``cafile=`` when it takes it (else without, and the CA file is loaded into
    what it returns); when certificates are not verified, the hostname is not checked either. A client
    certificate given as ``cert`` is loaded into the context.
    """
    cafile = verify if isinstance(verify, str) and not os.path.isdir(verify) else default_ca_bundle()
    try:
        context = factory(cafile=cafile)
    except TypeError:
        context = factory()
        context.load_verify_locations(cafile=cafile)
    if verify is False:
        context.check_hostname = False
    else:
        context.check_hostname = True
        context.verify_mode = gevent.ssl.CERT_REQUIRED
    if cert is not None:
        certfile, keyfile = (cert, None) if isinstance(cert, str) else cert
        context.load_cert_chain(certfile, keyfile)
    return context
