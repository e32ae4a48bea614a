"""Credentials turned into request headers (basic authentication). Standard library only."""

from __future__ import annotations

import base64


def basic_auth_header(auth: tuple[str, str]) -> str:
    """The ``Authorization`` value for ``(user, password)`` with the basic scheme."""
    user, password = auth
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
