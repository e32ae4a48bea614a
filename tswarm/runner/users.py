"""User classes: one instance is one simulated user, run by a gevent greenlet.

What a runner does with a user class::

    user = UserClass(environment)
    greenlet = user.start(group)     # spawns the task loop in ``group``
    ...
    user.stop(force=False)           # graceful: the task in progress (and its request) completes
"""

from __future__ import annotations

import contextlib
import inspect
import logging
import time
import traceback
from collections.abc import Callable, Iterator
from typing import Any

from gevent import GreenletExit, getcurrent
from gevent.greenlet import Greenlet
from gevent.pool import Group

from tswarm.exceptions import (
    InterruptTaskSet,
    RescheduleTask,
    RescheduleTaskImmediately,
    StopTest,
    StopUser,
    UsageError,
)
from tswarm.runner.tasks import (
    STATE_RUNNING,
    STATE_STOPPING,
    STATE_WAITING,
    NoTasksError,
    TaskSet,
    UserTaskLoop,
    collect_tasks,
    no_tasks_message,
)
from tswarm.runner.wait_time import STARTED_AT_ATTR, _clock, constant

#: where task errors are logged, with their tracebacks
user_log = logging.getLogger("tswarm.user")


class MissingHostError(UsageError):
    """An HttpUser has no host to send its requests to."""


class User:
    """A simulated user. Subclass it, give it tasks and a ``wait_time``.

    A subclass is a real (spawnable) user class unless it sets ``abstract = True`` itself.
    """

    #: base URL of the system under test; ``--host`` on the command line overrides it
    host: str | None = None
    #: seconds to wait after each task (Locust's default: no wait)
    wait_time = constant(0)
    #: the tasks: functions taking the user, TaskSet classes, or a dict of task -> weight
    tasks: list[Any] = []
    #: how likely this class is to be picked when users are spawned, relative to the others
    weight: float = 1
    #: when > 0, exactly this many users of the class are spawned (first), and weight is ignored
    fixed_count: int = 0
    #: an abstract class is only a base class; no users of it are spawned
    abstract: bool = True
    #: set by HttpUser/FastHttpUser (or by the test file for a custom protocol)
    client: Any

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.tasks = collect_tasks(cls)
        if "abstract" not in vars(cls):
            cls.abstract = False

    def __init__(self, environment: Any) -> None:
        self.environment = environment
        override = getattr(environment, "host", None)
        if override:
            self.host = override
        self._state: str | None = None
        self._greenlet: Greenlet | None = None
        self._group: Group | None = None
        self._task_loop: UserTaskLoop | None = None
        setattr(self, STARTED_AT_ATTR, _clock())

    # --- hooks for test files -------------------------------------------------------------------

    def on_start(self) -> None:
        """Called once when the user starts, before its first task."""

    def on_stop(self) -> None:
        """Called once when the user stops (gracefully, or killed while waiting)."""

    def context(self) -> dict[str, Any]:
        """Extra fields for the ``context`` of every request this user makes."""
        return {}

    def wait(self) -> None:
        """Sleep for ``wait_time()`` seconds. A stop request while sleeping stops the user at once."""
        if self._task_loop is None:
            self._task_loop = UserTaskLoop(self)
        self._task_loop.wait()

    @classmethod
    def fullname(cls) -> str:
        """``module.QualifiedName`` of the class, without ``<locals>``."""
        parts = f"{cls.__module__}.{cls.__qualname__}".split(".")
        return ".".join(part for part in parts if part != "<locals>")

    # --- runner-facing interface --------------------------------------------------------------

    @property
    def state(self) -> str | None:
        """``running``, ``waiting``, ``stopping``, or None before the greenlet has started."""
        return self._state

    @property
    def greenlet(self) -> Greenlet | None:
        return self._greenlet

    @property
    def group(self) -> Group | None:
        return self._group

    def start(self, group: Group) -> Greenlet:
        """Spawn the greenlet that runs this user in ``group`` and return it.

        The greenlet's ``args[0]`` is this user, so a runner can map greenlets back to users.

        Raises:
            NoTasksError: the class has no tasks to run.
        """
        if not self.tasks:
            raise NoTasksError(no_tasks_message(type(self)))
        self._group = group
        self._greenlet = group.spawn(_run_user, self)
        return self._greenlet

    def stop(self, force: bool = False) -> bool:
        """Stop this user.

        A user sleeping between tasks (or not yet started) is killed at once and its ``on_stop``
        runs before this returns. A user in the middle of a task is only marked as stopping: it
        finishes the task, so a request in flight completes and is reported, then runs ``on_stop``
        and ends. ``force=True`` kills it at once, whatever it is doing.

        Returns:
            True when the user was stopped now, False when it will stop after its current task.
        """
        greenlet = self._greenlet
        if greenlet is None or greenlet.dead:
            return True
        if greenlet is getcurrent():
            # Called from the user's own task (e.g. via runner.request_test_stop()): a greenlet
            # cannot wait for its own death, so it stops when the task returns.
            self._state = STATE_STOPPING
            return False
        if force or self._state in (STATE_WAITING, None):
            assert self._group is not None
            self._group.killone(greenlet, block=True)
            return True
        self._state = STATE_STOPPING
        return False

    # --- the loop -----------------------------------------------------------------------------

    def run(self) -> None:
        """The body of the user's greenlet: on_start, the task loop, on_stop. Do not override."""
        self._state = STATE_RUNNING
        self._task_loop = UserTaskLoop(self)
        stop_test = False
        try:
            try:
                self.on_start()
            except (StopUser, StopTest, GreenletExit):
                raise
            except Exception as e:
                # The user cannot run its tasks without what on_start set up: report and end it.
                self._report_error(e, where="on_start")
                return
            self._task_loop.run()
        except StopTest:
            stop_test = True
            self._call_on_stop()
        except (StopUser, GreenletExit):
            self._call_on_stop()
        finally:
            self._state = STATE_STOPPING
        if stop_test:
            self._request_test_stop()

    def _call_on_stop(self) -> None:
        self._state = STATE_STOPPING
        try:
            self.on_stop()
        except (StopUser, StopTest):
            pass
        except Exception as e:
            self._report_error(e, where="on_stop", reraise=False)

    def _report_error(self, error: Exception, where: str = "a task", reraise: bool = True) -> None:
        """Fire ``user_error``, log the traceback, and re-raise unless the environment catches."""
        env = self.environment
        env.events.user_error.fire(user_instance=self, exception=error, tb=error.__traceback__)
        formatted = "".join(traceback.format_exception(type(error), error, error.__traceback__))
        user_log.error(
            "%s raised in %s of %s:\n%s", type(error).__name__, where, type(self).__name__, formatted
        )
        if reraise and not getattr(env, "catch_exceptions", True):
            raise error

    def _request_test_stop(self) -> None:
        runner = getattr(self.environment, "runner", None)
        if runner is None:
            user_log.warning("StopTest raised by %s, but there is no runner to stop", type(self).__name__)
            return
        runner.request_test_stop()


def _run_user(user: User) -> None:
    # Module-level so that greenlet.args[0] is the user.
    user.run()


class RestMixin:
    """``rest()`` and ``rest_()`` for the HTTP users, as in Locust: JSON requests checked in a with-block."""

    client: Any

    @contextlib.contextmanager
    def rest(
        self, method: str, url: str, headers: dict[str, str] | None = None, **kwargs: Any
    ) -> Iterator[Any]:
        """Send a JSON request with ``catch_response=True`` and yield the response with the parsed body
        in ``.js``.

        ``Content-Type`` and ``Accept`` default to ``application/json``. A body that is not JSON fails
        the request. In the with-block, a failed ``assert`` fails the request with its message (one
        ending in a comma gets the start of the response appended), and any other exception fails it
        naming the exception and where it was raised, instead of ending the task unreported.
        """
        headers = dict(headers or {})
        given = {key.lower() for key in headers}
        if "content-type" not in given:
            headers["Content-Type"] = "application/json"
        if "accept" not in given:
            headers["Accept"] = "application/json"
        with self.client.request(method, url, catch_response=True, headers=headers, **kwargs) as response:
            if response.text:
                try:
                    response.js = response.json()
                except ValueError as e:
                    response.failure(
                        f"the response is not JSON ({e}); HTTP {response.status_code}: {response.text[:250]!r}"
                    )
            try:
                yield response
            except _PASS_THROUGH:
                raise
            except AssertionError as e:
                message = str(e.args[0]) if e.args else "assertion failed"
                if message.endswith(","):
                    message = f"{message[:-1]}, response was {response.text[:200]}"
                response.failure(message)
            except Exception as e:
                where = traceback.extract_tb(e.__traceback__)[-1]
                response.failure(
                    f"{type(e).__name__}: {e} at {where.filename}:{where.lineno}; "
                    f"response was {response.text[:200]}"
                )

    @contextlib.contextmanager
    def rest_(self, method: str, url: str, name: str | None = None, **kwargs: Any) -> Iterator[Any]:
        """:meth:`rest` with a ``_=<milliseconds>`` query parameter that defeats caches; reported as
        ``url?_=...`` unless ``name`` is given."""
        separator = "&" if "?" in url else "?"
        with self.rest(
            method,
            f"{url}{separator}_={int(time.time() * 1000)}",
            name=name or f"{url}{separator}_=...",
            **kwargs,
        ) as response:
            yield response


#: what a with-block of ``rest()`` lets through: the task and user control flow
_PASS_THROUGH = (
    StopUser,
    StopTest,
    RescheduleTask,
    RescheduleTaskImmediately,
    InterruptTaskSet,
    GreenletExit,
)


class HttpUser(User, RestMixin):
    """A user with an HTTP client (``self.client``) that keeps cookies between requests."""

    abstract = True

    def __init__(self, environment: Any) -> None:
        super().__init__(environment)
        if not self.host:
            raise MissingHostError(missing_host_message(type(self)))
        from tswarm.clients.http import HttpSession  # lazily: the client pulls in the network stack

        # like requests, which Locust's HttpUser uses: https certificates are checked unless
        # ``self.client.verify = False``, and 30 redirects are followed (requests' Session.max_redirects)
        self.client = HttpSession(
            base_url=self.host,
            request_event=environment.events.request,
            user=self,
            insecure=False,
            max_redirects=30,
        )


class FastHttpUser(User, RestMixin):
    """An HttpUser with Locust's FastHttpUser options; tswarm has one HTTP client core for both.

    The class attributes below are read when a user is made, as in Locust; ``self.client`` then takes
    requests' names too (``self.client.verify``, ``proxies``, ``timeout=`` per request, ...).
    """

    abstract = True

    #: seconds to wait for data from the server (between bytes), Locust's default
    network_timeout: float = 60.0
    #: seconds to wait for a connection (TCP, a proxy's tunnel and TLS)
    connection_timeout: float = 60.0
    #: redirects followed before giving up
    max_redirects: int = 5
    #: retries of timeouts and other passing socket errors (idempotent methods only), as in Locust
    max_retries: int = 0
    #: skip TLS certificate and hostname checks (Locust's default: True)
    insecure: bool = True
    #: headers sent with every request
    default_headers: dict[str, str] | None = None
    #: keep-alive connections per host a user may have open at once (for greenlets it spawns itself)
    concurrency: int = 10
    #: a callable returning the ``ssl.SSLContext`` for https connections (with ``insecure``, as in
    #: Locust, its hostname check is turned off)
    ssl_context_factory: Callable[..., Any] | None = None
    #: an http proxy every request goes through (https ones through a CONNECT tunnel), and its port
    proxy_host: str | None = None
    proxy_port: int | None = None
    #: a geventhttpclient ``HTTPClientPool`` the users of the class share: their requests go through one
    #: set of connections made with its settings (this class's timeouts, insecure, concurrency and proxy
    #: do not apply then, as in Locust)
    client_pool: Any = None

    def __init__(self, environment: Any) -> None:
        super().__init__(environment)
        if not self.host:
            raise MissingHostError(missing_host_message(type(self)))
        from tswarm.clients.http import FastHttpSession

        # Locust's FastHttpUser reads no proxy or CA bundle from the environment: trust_env=False
        self.client = FastHttpSession(
            base_url=self.host,
            request_event=environment.events.request,
            user=self,
            network_timeout=self.network_timeout,
            connection_timeout=self.connection_timeout,
            max_redirects=self.max_redirects,
            max_retries=self.max_retries,
            insecure=self.insecure,
            concurrency=self.concurrency,
            trust_env=False,
            ssl_context_factory=self.ssl_context_factory,
            proxy_host=self.proxy_host,
            proxy_port=self.proxy_port,
            client_pool=self.client_pool,
        )
        if self.default_headers:
            self.client.headers.update(self.default_headers)


def missing_host_message(user_class: type) -> str:
    return (
        f"{user_class.__name__} has no host to test: set host = 'http://...' on the class "
        "or pass --host on the command line"
    )


def is_user_class(obj: Any) -> bool:
    """True for a User subclass that may be spawned (not abstract), as the test-file loader wants."""
    return inspect.isclass(obj) and issubclass(obj, User) and not obj.abstract


__all__ = [
    "FastHttpUser",
    "HttpUser",
    "MissingHostError",
    "RestMixin",
    "TaskSet",
    "User",
    "is_user_class",
]
