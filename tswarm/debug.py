"""``run_single_user``: one user of a test file, in this process, printing each request (for debugging).

A test file can end with::

    if __name__ == "__main__":
        run_single_user(MyUser)

and run under a debugger with ``python locustfile.py``: breakpoints in tasks work, and an exception in
a task stops the run with its traceback instead of being counted.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

__all__ = ["run_single_user"]


def run_single_user(
    user_class: type,
    include_length: bool = False,
    include_time: bool = False,
    include_context: bool = False,
    include_url: bool = False,
    loglevel: str | None = "WARNING",
) -> None:
    """Run one ``user_class`` user until it stops (or Ctrl+C), printing a line per request.

    The request lines show type, name, response time (ms) and the exception of a failure; the
    ``include_*`` flags add the response length, start time, context and URL. ``init``,
    ``test_start``, ``test_stop`` and ``quitting`` fire as in a run.
    """
    from gevent import monkey

    if not monkey.is_module_patched("socket"):
        # `import tswarm` never patches; a test file run directly needs it for its users
        monkey.patch_all()

    from tswarm.env import Environment
    from tswarm.events import events

    if loglevel:
        logging.basicConfig(level=loglevel.upper(), format="%(levelname)s %(name)s: %(message)s")
    environment = Environment(
        user_classes=[user_class],
        events=events,
        host=getattr(user_class, "host", None),
        catch_exceptions=False,
    )
    runner = environment.create_local_runner()

    def show(
        request_type: str,
        name: str,
        response_time: float,
        response_length: int,
        exception: Any = None,
        context: Any = None,
        start_time: float = 0.0,
        url: str | None = None,
        **_: Any,
    ) -> None:
        fields = [f"{request_type:<7}", f"{name:<40}", f"{response_time:10.1f}"]
        if include_length:
            fields.append(f"{response_length:10d}")
        if include_time:
            fields.append(f"{start_time:.3f}")
        if include_url:
            fields.append(url or "")
        if include_context:
            fields.append(repr(context or {}))
        fields.append(repr(exception) if exception else "ok")
        print("  ".join(fields), flush=True)

    environment.events.request.add_listener(show)
    environment.events.init.fire(environment=environment, runner=runner, web_ui=None)
    environment.events.test_start.fire(environment=environment)
    user = user_class(environment)
    try:
        user.run()
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
    finally:
        environment.events.request.remove_listener(show)
        environment.events.test_stop.fire(environment=environment)
        environment.events.quitting.fire(environment=environment)
