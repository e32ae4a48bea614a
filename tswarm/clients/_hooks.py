"""requests' event hooks (``hooks={"response": ...}`` and ``session.hooks``) for tswarm's session.

Standard library only. requests knows one event, ``response``: each hook is called with every
response a request receives (each redirect's too) and may return a response to use instead.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

#: the events requests (and so tswarm) calls hooks for
HOOK_EVENTS = ("response",)

ResponseHook = Callable[..., Any]


def default_hooks() -> dict[str, list[ResponseHook]]:
    """A new ``{"response": []}``, what ``session.hooks`` starts as in requests."""
    return {event: [] for event in HOOK_EVENTS}


def _as_list(hooks: ResponseHook | Iterable[ResponseHook] | None) -> list[ResponseHook]:
    if hooks is None:
        return []
    if callable(hooks):
        return [hooks]
    return list(hooks)


def response_hooks(
    request_hooks: Mapping[str, Any] | None, session_hooks: Mapping[str, Any] | None
) -> list[ResponseHook]:
    """The response hooks one request runs, merged as requests merges them: the request's own
    ``response`` hooks replace the session's, which apply only when the request names none.

    Raises ``ValueError`` for an event requests does not know, as requests does.
    """
    for hooks in (request_hooks, session_hooks):
        for event in hooks or ():
            if event not in HOOK_EVENTS:
                raise ValueError(f'Unsupported event specified, with event name "{event}"')
    own = _as_list((request_hooks or {}).get("response"))
    return own if own else _as_list((session_hooks or {}).get("response"))
