"""A test file with 60 endpoints whose long REST names share their start and differ at the end.

For the TUI (issue 11): names that are cut from the right all read ``/api/v2/tenants/{tenant_id}/pro``.
Requests go to the built-in target server (``--host``): most to ``/fast``, some to ``/status/404``,
``/status/500`` and ``/flaky`` for failures with several status codes; one task raises ValueErrors with
varying messages from one place, for the Exceptions view.
"""

from __future__ import annotations

import itertools
import random

from tswarm import FastHttpUser, between, task

_PREFIX = "/api/v2/tenants/{tenant_id}/projects/{project_id}"
_RESOURCES = ("deployments", "environments", "pipelines", "artifacts", "secrets", "webhooks")
_ENDPOINTS = (
    ("GET", "/{resource}"),
    ("POST", "/{resource}"),
    ("GET", "/{resource}/{{id}}"),
    ("PUT", "/{resource}/{{id}}"),
    ("DELETE", "/{resource}/{{id}}"),
    ("GET", "/{resource}/{{id}}/history"),
    ("GET", "/{resource}/{{id}}/permissions"),
    ("POST", "/{resource}/{{id}}/permissions/grant"),
    ("GET", "/{resource}/{{id}}/audit-log/entries"),
    ("GET", "/{resource}/{{id}}/audit-log/entries/{{entry_id}}"),
)

#: (method, name): 6 resources x 10 endpoints = 60
NAMES: tuple[tuple[str, str], ...] = tuple(
    (method, _PREFIX + path.format(resource=resource))
    for resource, (method, path) in itertools.product(_RESOURCES, _ENDPOINTS)
)
assert len(NAMES) == 60 and len(set(NAMES)) == 60

#: the path actually requested for a name, by its index: failures with a few status codes
_PATHS = ("/fast",) * 7 + ("/status/404", "/status/500", "/flaky")


class RestApiUser(FastHttpUser):
    wait_time = between(0.05, 0.2)

    @task(20)
    def call_endpoint(self) -> None:
        index = random.randrange(len(NAMES))
        method, name = NAMES[index]
        self.client.request(method, _PATHS[index % len(_PATHS)], name=name)

    @task(1)
    def parse_reply(self) -> None:
        # One place, many messages: the Exceptions view groups them under one row.
        raise ValueError(f"unexpected field 'item_{random.randrange(150)}' in the reply")
