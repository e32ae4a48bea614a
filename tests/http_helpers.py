"""What the HTTP client's tests share: a greenlet runner, a recording request event, and a session on the
built-in target (import the fixtures by name into a test module, as with ``procs``)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import gevent
import pytest
from conftest import TargetServer

from tswarm.clients import HttpSession
from tswarm.events import EventHook

T = TypeVar("T")


def in_greenlet(fn: Callable[[], T], timeout: float = 120.0) -> T:
    """Run ``fn`` in a greenlet and return its result (errors re-raised); bounded by ``timeout``."""
    greenlet = gevent.spawn(fn)
    greenlet.join(timeout)
    assert greenlet.ready(), "greenlet did not finish"
    return greenlet.get()


class Recorder:
    """A request event with a listener that keeps every call."""

    def __init__(self) -> None:
        self.event = EventHook("request")
        self.calls: list[dict[str, Any]] = []
        self.event.add_listener(lambda **kwargs: self.calls.append(kwargs))

    @property
    def last(self) -> dict[str, Any]:
        return self.calls[-1]


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def session(target: TargetServer, recorder: Recorder) -> Iterator[HttpSession]:
    s = HttpSession(base_url=target.url, request_event=recorder.event)
    yield s
    s.close()
