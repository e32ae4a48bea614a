"""Credentials turned into what a request sends: basic authentication, requests' ``AuthBase``
objects (digest through ``_digest``, anything else called with a ``requests.PreparedRequest``).

Imports ``requests`` lazily (only when an auth object, not a tuple, is used) and ``_digest``.
"""

from __future__ import annotations

import base64
from typing import Any

from tswarm.clients._digest import DigestCredentials


def basic_auth_header(auth: tuple[object, object]) -> str:
    """The ``Authorization`` value for ``(user, password)`` with the basic scheme (latin-1, as requests)."""
    user, password = auth
    return "Basic " + base64.b64encode(_credential_bytes(user) + b":" + _credential_bytes(password)).decode(
        "ascii"
    )


def _credential_bytes(value: object) -> bytes:
    if isinstance(value, bytes):
        return value
    text = str(value)
    try:
        return text.encode("latin-1")
    except UnicodeEncodeError:
        # requests would fail here; UTF-8 is what servers that take such names expect
        return text.encode()


class AuthPlan:
    """How a request authenticates: an ``Authorization`` value sent as is, digest credentials that
    answer the server's challenge, or a callable (an ``AuthBase``) that changes the prepared request."""

    __slots__ = ("authorization", "custom", "digest")

    def __init__(
        self,
        authorization: str | None = None,
        digest: DigestCredentials | None = None,
        custom: Any = None,
    ) -> None:
        self.authorization = authorization
        self.digest = digest
        self.custom = custom


def _overrides(auth: object, base: type, names: tuple[str, ...]) -> bool:
    """Whether ``auth``'s class replaces one of ``base``'s methods ``names`` (then it is called as is)."""
    return any(getattr(type(auth), name) is not getattr(base, name) for name in names)


def plan_auth(auth: Any, digest_credentials: dict[tuple[str, str], DigestCredentials]) -> AuthPlan | None:
    """The plan for ``auth``: a ``(user, password)`` tuple, ``HTTPBasicAuth``, ``HTTPDigestAuth`` or any
    callable that takes and returns a prepared request. ``digest_credentials`` keeps each user's
    digest state (its nonce and count) from one request to the next, as requests keeps it per thread.
    """
    if auth is None:
        return None
    if isinstance(auth, tuple | list) and len(auth) == 2:
        return AuthPlan(authorization=basic_auth_header((auth[0], auth[1])))
    from requests.auth import HTTPBasicAuth, HTTPDigestAuth

    if type(auth) is HTTPBasicAuth or (
        isinstance(auth, HTTPBasicAuth) and not _overrides(auth, HTTPBasicAuth, ("__call__",))
    ):
        return AuthPlan(authorization=basic_auth_header((auth.username, auth.password)))
    if isinstance(auth, HTTPDigestAuth) and not _overrides(
        auth, HTTPDigestAuth, ("__call__", "build_digest_header", "handle_401")
    ):
        key = (str(auth.username), str(auth.password))
        credentials = digest_credentials.get(key)
        if credentials is None:
            credentials = digest_credentials[key] = DigestCredentials(*key)
        return AuthPlan(digest=credentials)
    if not callable(auth):
        raise TypeError(
            f"auth must be a (user, password) tuple or a callable like requests.auth.AuthBase, not {type(auth).__name__}"
        )
    return AuthPlan(custom=auth)
