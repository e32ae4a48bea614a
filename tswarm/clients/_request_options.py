"""requests' options that take a request off the plain path: hooks, auth objects (digest included),
session params, and retries; what each hop of such a request does besides sending.

Imports the client's private modules (and ``requests`` when a custom auth object is used). The
session builds a ``RequestExtras`` only when the request or the session uses one of these, so the
plain request path never comes here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from tswarm.clients._auth import AuthPlan, plan_auth
from tswarm.clients._digest import parse_challenge
from tswarm.clients._headers import Headers, RequestFields, combine, request_fields
from tswarm.clients._hooks import ResponseHook, response_hooks
from tswarm.clients._models import REDIRECT_STATUSES, Response
from tswarm.clients._urls import Origin, origin_for, split_url, wire_target

if TYPE_CHECKING:
    from tswarm.clients._connections import RequestOptions
    from tswarm.clients._session import HttpSession

_NOTHING: frozenset[str] = frozenset()


def with_field(own: RequestFields | None, name: str, value: str) -> RequestFields:
    """``own`` with the field ``name`` set to ``value`` (replacing one of that name)."""
    lower = name.lower()
    if own is None:
        return RequestFields(((name, value),), frozenset((lower,)), "", False)
    pairs = tuple(pair for pair in own.pairs if pair[0].lower() != lower) + ((name, value),)
    return RequestFields(pairs, own.names | {lower}, own.cookie, own.replaces_cookie)


def merge_params(session_params: Any, params: Any) -> Any:
    """The query parameters of a request on a session with default ``params``, merged as requests
    merges them: the request's mapping over the session's; a string or pairs are added after."""
    if not session_params:
        return params
    if params is None:
        return session_params
    if isinstance(params, Mapping) and isinstance(session_params, Mapping):
        merged = {**session_params, **params}
        return {k: v for k, v in merged.items() if v is not None}
    # requests cannot merge these either: it keeps the request's own
    return params


class RequestExtras:
    """What one request that uses hooks, an auth object or retries carries through its hops."""

    __slots__ = ("auth", "connection", "dropped", "hook_kwargs", "hooks", "session", "stream", "user_error")

    def __init__(self, session: HttpSession, hooks: Any, auth: Any, send_kwargs: dict[str, Any]) -> None:
        self.session = session
        #: an exception a hook or an auth object raised: it propagates out of request(), as in requests
        self.user_error: BaseException | None = None
        self.hooks: list[ResponseHook] = response_hooks(hooks, session._hooks)
        self.auth: AuthPlan | None = plan_auth(auth, session._digest_credentials)
        # hooks are called with the keyword arguments requests' Session.send passes them: the
        # request's own, else the session's
        session_kwargs = {
            "timeout": None,
            "verify": session.verify,
            "proxies": dict(session.proxies),
            "stream": session.stream,
            "cert": session.cert,
        }
        self.hook_kwargs = {
            key: session_kwargs[key] if send_kwargs.get(key) is None else send_kwargs[key]
            for key in session_kwargs
        }
        # the request's connection options and stream, for every hop (set by ``send``)
        self.connection: RequestOptions | None = None
        self.stream = False
        #: header names of the session's an auth object removed from the request
        self.dropped = _NOTHING

    @property
    def authorization(self) -> str | None:
        """The ``Authorization`` value sent as is (basic auth), if any."""
        return self.auth.authorization if self.auth is not None else None

    @property
    def prepares(self) -> bool:
        """Whether an auth object must see (and may change) the prepared request."""
        return self.auth is not None and self.auth.custom is not None

    def prepare(
        self, method: str, origin: Origin, target: str, own: RequestFields | None, body: bytes | None
    ) -> tuple[str, Origin, str, RequestFields | None, bytes | None]:
        """Call the auth object with a ``requests.PreparedRequest`` of this request and take what it changed."""
        import requests

        assert self.auth is not None
        defaults = self.session._headers
        pairs, _, cookie = combine(defaults, own, _NOTHING, own.cookie if own is not None else "")
        prepared = requests.PreparedRequest()
        prepared.method = method
        prepared.url = origin.url + target
        prepared.headers = requests.structures.CaseInsensitiveDict(pairs)
        if cookie:
            prepared.headers["Cookie"] = cookie
        if body is not None:
            prepared.headers["Content-Length"] = str(len(body))
        prepared.body = body
        prepared.hooks = {"response": []}
        try:
            changed = self.auth.custom(prepared)
        except BaseException as e:
            self.user_error = e
            raise
        prepared = changed if changed is not None else prepared
        # hooks the auth object registered run first, as requests registers them before the request's
        self.hooks = list(prepared.hooks.get("response", [])) + self.hooks
        url = prepared.url or ""
        if url != origin.url + target:
            scheme, host, port, target = split_url(url)
            origin = origin_for(scheme, host, port)
        new_body: bytes | None
        if prepared.body is None or isinstance(prepared.body, bytes):
            new_body = prepared.body
        elif isinstance(prepared.body, str):
            new_body = prepared.body.encode()
        else:
            raise TypeError(
                f"an auth object set a {type(prepared.body).__name__} body: tswarm sends bytes or str"
            )
        sent = Headers({k: v for k, v in prepared.headers.items() if k.lower() != "content-length"})
        own = request_fields(Headers(), sent, None, None, None)
        self.dropped = frozenset(name for name in defaults.lower_names() if name not in sent)
        return str(prepared.method or method).upper(), origin, target, own, new_body

    def send(
        self,
        method: str,
        origin: Origin,
        target: str,
        own: RequestFields | None,
        body: bytes | None,
        allow_redirects: bool,
        connection: RequestOptions | None = None,
        stream: bool = False,
    ) -> Response:
        """The request's first hop and, with ``allow_redirects``, the redirects after it (each hop with
        the request's ``connection`` options; only the last one ``stream``s)."""
        self.connection, self.stream = connection, stream
        response = self.hop(method, origin, target, own, body, self.dropped)
        if allow_redirects and response.status_code in REDIRECT_STATUSES:
            response = self.session._follow(response, own, body, connection, stream, send=self.hop)
        return response

    def hop(
        self,
        method: str,
        origin: Origin,
        target: str,
        own: RequestFields | None,
        body: bytes | None,
        dropped: frozenset[str],
    ) -> Response:
        """One hop: sent (with retries where an adapter or max_retries asks), a digest challenge
        answered, then the response hooks."""
        session = self.session
        policy = session._retry_policy_for(origin.url + target)
        digest = self.auth.digest if self.auth is not None else None
        # the digest covers the target as the server reads it off the request line
        uri = wire_target(target)

        connection, stream = self.connection, self.stream

        def send_hop(
            method: str,
            origin: Origin,
            target: str,
            own: RequestFields | None,
            body: bytes | None,
            dropped: frozenset[str],
        ) -> Response:
            return session._send(method, origin, target, own, body, dropped, connection, stream)

        def send_once(own: RequestFields | None, dropped: frozenset[str]) -> Response:
            if policy is None:
                return send_hop(method, origin, target, own, body, dropped)
            return policy.send(send_hop, method, origin, target, own, body, dropped)

        if digest is not None and digest.challenged:
            # a nonce from an earlier challenge: answer it at once (the server may still say it is stale)
            value = digest.authorization(method, uri)
            if value is not None:
                own, dropped = with_field(own, "Authorization", value), dropped - {"authorization"}
        response = send_once(own, dropped)
        if digest is not None and response.status_code == 401:
            challenge = parse_challenge(response.header("www-authenticate") or "")
            if challenge is not None:
                digest.accept(challenge)
                value = digest.authorization(method, uri)
                if value is not None:
                    answered = send_once(with_field(own, "Authorization", value), dropped - {"authorization"})
                    answered.history = [response]
                    response = answered
        for hook in self.hooks:
            try:
                replaced = hook(response, **self.hook_kwargs)
            except BaseException as e:
                self.user_error = e
                raise
            if replaced is not None:
                if not isinstance(replaced, Response):
                    error = TypeError(
                        f"a response hook returned a {type(replaced).__name__}: tswarm can use only a "
                        "response of its session (self.client.get(...)) or None"
                    )
                    self.user_error = error
                    raise error
                response = replaced
        return response
