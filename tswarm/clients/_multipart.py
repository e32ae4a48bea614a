"""``multipart/form-data`` bodies for ``files=``, with requests' ways of naming a file. Standard library only."""

from __future__ import annotations

import mimetypes
import os
from collections.abc import Mapping
from typing import Any


def encode_multipart(data: Any, files: Any) -> tuple[bytes, str]:
    """A ``multipart/form-data`` body and its content type: the form fields of ``data``, then ``files``.

    ``files`` maps (or pairs) a field name to content (bytes, text or a file object) or to
    ``(filename, content[, content_type[, headers]])``.
    """
    boundary = os.urandom(16).hex()
    parts: list[bytes] = []

    def part(disposition: str, content: bytes, part_headers: Mapping[str, str]) -> None:
        head = f"--{boundary}\r\nContent-Disposition: form-data; {disposition}\r\n"
        head += "".join(f"{k}: {v}\r\n" for k, v in part_headers.items())
        parts.append(head.encode() + b"\r\n" + content + b"\r\n")

    if data is not None:
        if not isinstance(data, Mapping | list | tuple):
            raise TypeError("with files=, data must be a mapping or pairs of form fields")
        for field, value in _pairs(data):
            for one in value if isinstance(value, list | tuple) else [value]:
                part(f'name="{_quote_field(field)}"', _as_bytes(one), {})
    for field, value in _pairs(files):
        filename: str | None
        content_type: str | None = None
        extra_headers: Mapping[str, str] = {}
        if isinstance(value, tuple):
            filename, content, *rest = value
            if rest:
                content_type = rest[0]
            if len(rest) > 1 and rest[1]:
                extra_headers = rest[1]
        else:
            content = value
            name = getattr(value, "name", None)
            # a real file is named by its base name; "<stdin>"-like names and plain bytes by the field
            filename = os.path.basename(name) if isinstance(name, str) and name[:1] != "<" else field
        if content_type is None and filename:
            content_type = mimetypes.guess_type(filename)[0] or "application/octet-stream"
        disposition = f'name="{_quote_field(field)}"'
        if filename is not None:
            disposition += f'; filename="{_quote_field(filename)}"'
        part_headers = {**({"Content-Type": content_type} if content_type else {}), **extra_headers}
        part(disposition, _as_bytes(content.read() if hasattr(content, "read") else content), part_headers)
    body = b"".join(parts) + f"--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


def _pairs(fields: Any) -> list[tuple[str, Any]]:
    return list(fields.items()) if isinstance(fields, Mapping) else list(fields)


def _quote_field(value: str) -> str:
    # a quote or line break would end the parameter early: escape them as browsers do
    return str(value).replace("\\", "\\\\").replace('"', "%22").replace("\r", "%0D").replace("\n", "%0A")


def _as_bytes(value: Any) -> bytes:
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    return str(value).encode()
