"""Shortening names to a width by cutting out their middle, so that REST paths stay distinguishable.

Endpoint names share their start (``/api/v2/tenants/{tenant_id}/...``) and differ at the end, so cutting
from the right makes every row look the same. Used by the TUI's tables and the summary fitted to a
terminal. Plain Python; imports nothing of tswarm.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterable

__all__ = ["ELLIPSIS", "common_stem", "elide_middle", "elide_name"]

ELLIPSIS = "…"
#: share of the kept characters given to the start of the name; the end gets the rest
_HEAD_SHARE = 1 / 3
#: how far the cut may move (in characters) to land on a "/" of the path
_SNAP = 4


@functools.lru_cache(maxsize=4096)
def elide_middle(text: str, width: int) -> str:
    """``text`` in at most ``width`` characters: its start, ``…``, and its (longer) end.

    The end of the name gets two thirds of the room because that is where REST paths differ; the cut at
    the end moves forward to just before a ``/`` when one is near, so that a path segment is kept whole.
    """
    if len(text) <= width:
        return text
    if width <= 1:
        return ELLIPSIS[:width]
    room = width - 1
    head = max(1, int(room * _HEAD_SHARE)) if room > 2 else room // 2
    tail = room - head
    tail_start = len(text) - tail
    # Keep "/segment" whole rather than "gment": give the characters saved to the start.
    slash = text.find("/", tail_start, tail_start + _SNAP + 1)
    if slash > tail_start and slash < len(text) - 1:
        head += slash - tail_start
        tail_start = slash
    return text[:head] + ELLIPSIS + text[tail_start:]


def common_stem(names: Iterable[str]) -> int:
    """How many leading characters all ``names`` share, cut back to a ``/`` (0 for fewer than two names).

    That start says nothing about which row is which, so :func:`elide_name` cuts it first.
    """
    names = list(names)
    if len(names) < 2:
        return 0
    return max(0, os.path.commonprefix(names).rfind("/"))


@functools.lru_cache(maxsize=4096)
def elide_name(name: str, width: int, stem: int = 0) -> str:
    """``name`` in at most ``width`` characters, cutting out the ``stem`` characters every name shown
    starts with (see :func:`common_stem`) before anything that tells the names apart.

    ``/api/v2/tenants/{tenant_id}/projects/{project_id}/pipelines/{id}/history`` among its siblings reads
    ``/api/v2…/pipelines/{id}/history``; when even the part after the stem is too long, it is cut in its
    own middle: ``…/pipeli…{id}/history``.
    """
    if len(name) <= width:
        return name
    rest = name[stem:]
    if stem <= 0 or not rest:
        return elide_middle(name, width)
    if len(rest) + 2 <= width:
        return name[: width - 1 - len(rest)] + ELLIPSIS + rest
    return ELLIPSIS + elide_middle(rest, width - 1)
