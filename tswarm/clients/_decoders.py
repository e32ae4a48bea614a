"""Undoing the response's ``Content-Encoding`` (gzip, deflate). Standard library only."""

from __future__ import annotations

import zlib


def decode_content(content: bytes, encoding: str) -> bytes:
    """``content`` with the ``Content-Encoding`` named by ``encoding`` undone (unknown ones left as sent)."""
    encoding = encoding.strip().lower()
    if encoding == "gzip" or encoding == "x-gzip":
        return zlib.decompress(content, 16 + zlib.MAX_WBITS)
    if encoding == "deflate":
        try:
            return zlib.decompress(content)
        except zlib.error:
            # servers disagree on whether "deflate" carries the zlib wrapper: take both
            return zlib.decompress(content, -zlib.MAX_WBITS)
    return content
