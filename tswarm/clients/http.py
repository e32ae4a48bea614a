"""The HTTP client's public names in one module (Locust's ``locust.clients``).

The client itself lives in private modules, one concern each:
``_session`` (the session: requests, redirects, cookies, events), ``_models`` (Request, Response),
``_headers`` (header mappings), ``_urls``, ``_content`` and ``_multipart`` (request bodies),
``_decoders`` (Content-Encoding), ``_auth`` and ``_digest`` (credentials), ``_exceptions`` (requests'
types), ``_session_options`` (requests' session attributes), ``_request_options`` with ``_hooks`` and
``_retries`` (requests' options that leave the plain path), and ``_transports/`` (the network).
"""

from __future__ import annotations

from tswarm.clients._exceptions import HTTPError, TooManyRedirects
from tswarm.clients._headers import Headers, ResponseHeaders
from tswarm.clients._models import Request, Response, ResponseContextManager, RestResponseContextManager
from tswarm.clients._session import FastHttpSession, HttpSession

#: the name ``Response.request``'s type had before it became the request model
RequestInfo = Request

__all__ = [
    "FastHttpSession",
    "HTTPError",
    "Headers",
    "HttpSession",
    "Request",
    "RequestInfo",
    "Response",
    "ResponseContextManager",
    "ResponseHeaders",
    "RestResponseContextManager",
    "TooManyRedirects",
]
