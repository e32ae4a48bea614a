"""Request bodies: ``data=`` and ``json=`` encoded to bytes and the content type they imply.

Standard library only; multipart bodies (``files=``) are in ``_multipart``.
"""

from __future__ import annotations

import json as jsonlib
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode


def encode_body(data: Any, json: Any) -> tuple[bytes, str | None]:
    """The bytes of ``data`` (or of ``json`` when ``data`` is None) and their content type, if any.

    A mapping or pairs are form-encoded, ``json`` becomes ``application/json``; bytes, text and file
    objects are sent as they are, with no content type of their own (as in requests).
    """
    if data is None:
        return jsonlib.dumps(json).encode(), "application/json"
    if isinstance(data, bytes):
        return data, None
    if isinstance(data, str):
        return data.encode(), None
    if isinstance(data, bytearray | memoryview):
        return bytes(data), None
    if isinstance(data, Mapping | list | tuple):
        return urlencode(data, doseq=True).encode(), "application/x-www-form-urlencoded"
    if hasattr(data, "read"):
        content = data.read()
        return (content.encode() if isinstance(content, str) else content), None
    raise TypeError(f"cannot send a {type(data).__name__} as a request body")
