"""``locust.contrib.fasthttp``: FastHttpUser runs on tswarm's one HTTP client core."""

from tswarm.clients.http import FastHttpSession, Response, ResponseContextManager, RestResponseContextManager
from tswarm.runner.users import FastHttpUser

FastResponse = Response

__all__ = [
    "FastHttpSession",
    "FastHttpUser",
    "FastResponse",
    "ResponseContextManager",
    "RestResponseContextManager",
]
