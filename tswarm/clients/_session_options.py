"""requests' session-level options on tswarm's session: ``auth``, ``hooks``, ``params``,
``mount()``/``adapters``, and FastHttpUser's ``max_retries``.

A mixin of ``HttpSession``; imports the client's hooks, digest and retries modules. Any of these
options set raises one flag (``_extended``) that the plain request path tests instead of each option.
"""

from __future__ import annotations

from typing import Any

from tswarm.clients._digest import DigestCredentials
from tswarm.clients._hooks import default_hooks
from tswarm.clients._retries import MountedAdapters, RetryPolicy, TemporaryErrorRetries


class RequestsSessionOptions:
    """The attributes requests' ``Session`` has and Locust files set, with requests' meaning."""

    _auth: Any
    _hooks: dict[str, Any] | None
    _params: Any
    _mounted: MountedAdapters | None
    _fast_retries: TemporaryErrorRetries | None
    _extended: bool
    _digest_credentials: dict[tuple[str, str], DigestCredentials]

    def _init_requests_options(self, max_retries: int) -> None:
        self._auth = None
        self._hooks = None
        self._params = None
        self._mounted = None
        self._fast_retries = None
        self._extended = False
        # each user's digest state (nonce and count) per (user, password), as requests keeps it per thread
        self._digest_credentials = {}
        self.max_retries = max_retries

    @property
    def auth(self) -> Any:
        """Default authentication for every request, as requests' ``Session.auth``: a ``(user, password)``
        tuple or a ``requests.auth.AuthBase`` (a request's own ``auth=`` wins)."""
        return self._auth

    @auth.setter
    def auth(self, value: Any) -> None:
        self._auth = value
        self._refresh_extended()

    @property
    def hooks(self) -> dict[str, Any]:
        """Hooks for every request, as requests' ``Session.hooks``: ``{"response": [callables]}``."""
        if self._hooks is None:
            # the caller may append to it: from now on every request looks
            self._hooks = default_hooks()
            self._refresh_extended()
        return self._hooks

    @hooks.setter
    def hooks(self, value: dict[str, Any]) -> None:
        self._hooks = value
        self._refresh_extended()

    @property
    def params(self) -> Any:
        """Query parameters added to every request, as requests' ``Session.params`` (a request's own win)."""
        if self._params is None:
            self._params = {}
            self._refresh_extended()
        return self._params

    @params.setter
    def params(self, value: Any) -> None:
        self._params = value
        self._refresh_extended()

    @property
    def max_retries(self) -> int:
        """FastHttpUser's retries of passing network errors (Locust's FastHttpSession meaning)."""
        return self._fast_retries.max_retries if self._fast_retries is not None else 0

    @max_retries.setter
    def max_retries(self, value: int) -> None:
        self._fast_retries = TemporaryErrorRetries(int(value)) if value else None
        self._refresh_extended()

    @property
    def adapters(self) -> dict[str, Any]:
        """The adapters ``mount()`` was given, by prefix (requests' defaults are not listed)."""
        return dict(self._mounted.adapters) if self._mounted is not None else {}

    def mount(self, prefix: str, adapter: Any) -> None:
        """Use ``adapter`` for URLs that start with ``prefix``, as requests does; tswarm honours a
        ``requests.adapters.HTTPAdapter``'s ``max_retries`` and refuses any other adapter (``TypeError``)."""
        if self._mounted is None:
            self._mounted = MountedAdapters()
        self._mounted.mount(prefix, adapter)
        self._refresh_extended()

    def get_adapter(self, url: str) -> Any:
        """The adapter mounted for ``url`` (a default ``HTTPAdapter`` where none was mounted)."""
        if self._mounted is not None:
            for prefix, adapter in sorted(self._mounted.adapters.items(), key=lambda i: -len(i[0])):
                if url.lower().startswith(prefix.lower()):
                    return adapter
        from requests.adapters import HTTPAdapter

        return HTTPAdapter()

    def _refresh_extended(self) -> None:
        # one flag for the plain path to test instead of one per option
        self._extended = bool(
            self._auth is not None
            or self._hooks is not None
            or self._params
            or self._fast_retries is not None
            or (self._mounted is not None and self._mounted.retries_anything)
        )

    def _retry_policy_for(self, url: str) -> RetryPolicy | None:
        """The retries for a hop to ``url``: its mounted adapter's, else FastHttpUser's ``max_retries``."""
        if self._mounted is not None:
            matched, policy = self._mounted.match(url)
            if matched:
                return policy
        return self._fast_retries
