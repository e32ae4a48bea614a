"""What the local and the worker runner share: users as greenlets, stats logging, CPU watch, messages.

Only processes that run users import this module, after ``gevent.monkey.patch_all()``.
"""

from __future__ import annotations

import logging
import os
import time
import traceback
from collections import defaultdict
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import gevent
import gevent.pool
import psutil

from tswarm.exceptions import UsageError
from tswarm.protocol import Message, RunState

if TYPE_CHECKING:
    from tswarm.roles import RunEnvironment
    from tswarm.runner.users import User

log = logging.getLogger("tswarm.runner")

CPU_WARNING_THRESHOLD = 90.0
CPU_MONITOR_INTERVAL = 5.0
#: names of custom messages without a listener that are logged (beyond that, they are dropped silently)
MAX_UNKNOWN_NAMES_LOGGED = 1000


class UserRunner:
    """Holds the users of this process and brings them to the counts it is asked for.

    Users that are asked to go stop gracefully (they finish their task) when the environment has a
    stop timeout, else at once, as in Locust.
    """

    node_id = "local"

    def __init__(self, environment: RunEnvironment) -> None:
        self.environment = environment
        self.user_greenlets = gevent.pool.Group()
        self._users: dict[str, list[User]] = defaultdict(list)
        #: users per class that this runner started and has not asked to stop
        self.assigned: dict[str, int] = {}
        #: classes whose users failed to start in this test (name to error): no more are tried
        self.unstartable: dict[str, str] = {}
        self.state: RunState = RunState.READY
        #: the most users this runner ran at once
        self.peak_user_count = 0
        self._closed = False
        self.custom_messages: dict[str, tuple[Callable[..., Any], bool]] = {}
        self._unknown_message_types: set[str] = set()
        self.cpu_usage = 0.0
        self.memory_usage = 0
        self._cpu_warning_active = False
        self._process = psutil.Process(os.getpid())
        self._process.cpu_percent()  # the first call only starts the measurement
        stats = environment.stats
        log_request = stats.log_request
        log_error = stats.log_error

        # The hot path: called once per request, so it binds what it needs up front.
        def on_request(
            request_type: str,
            name: str,
            response_time: float,
            response_length: int,
            exception: Any = None,
            response: Any = None,
            **_: Any,
        ) -> None:
            # the HTTP clients' responses carry status_code (0 when none arrived); a custom client's
            # event may carry no response, or one without a code: then no code is counted
            log_request(
                request_type,
                name,
                response_time,
                response_length,
                None,
                getattr(response, "status_code", None),
            )
            if exception is not None:
                log_error(request_type, name, exception)

        self._on_request = on_request
        environment.events.request.add_listener(on_request)
        environment.events.user_error.add_listener(self._on_user_error)
        self._monitor = gevent.spawn(self._monitor_cpu)

    # -- users ---------------------------------------------------------------------------------------

    @property
    def user_count(self) -> int:
        return len(self.user_greenlets)

    @property
    def user_classes_count(self) -> dict[str, int]:
        counts = {}
        for name, users in self._users.items():
            alive = [u for u in users if u.greenlet is not None and not u.greenlet.dead]
            self._users[name] = alive
            counts[name] = len(alive)
        return counts

    @property
    def stats(self) -> Any:
        """The environment's statistics (``runner.stats`` in Locust)."""
        return self.environment.stats

    def set_users(self, target: dict[str, int]) -> None:
        """Start or stop users at once so that each class has the count in ``target``.

        Counts are of users this runner started and has not asked to stop: a user that stopped by
        itself (StopUser) is not replaced, as in Locust.
        """
        classes = self.environment.user_classes_by_name
        for name, count in target.items():
            if name not in classes:
                log.error(
                    "Asked to run users of an unknown class %r; is the test file the same everywhere?", name
                )
                continue
            missing = count - self.assigned.get(name, 0)
            if missing > 0 and name not in self.unstartable:
                cls = classes[name]
                users = self._users[name]
                for _ in range(missing):
                    try:
                        user = cls(self.environment)
                        user.start(self.user_greenlets)
                    except Exception as e:
                        self._cannot_start(name, e)
                        break
                    users.append(user)
                    self.assigned[name] = self.assigned.get(name, 0) + 1
        self.peak_user_count = max(self.peak_user_count, len(self.user_greenlets))
        for name, assigned in list(self.assigned.items()):
            extra = assigned - target.get(name, 0)
            if extra > 0:
                users = [u for u in self._users[name] if u.greenlet is not None and not u.greenlet.dead]
                leaving = users[-extra:] if extra < len(users) else users
                self._users[name] = users[: len(users) - len(leaving)]
                self.assigned[name] = assigned - extra
                self._stop_users(leaving)

    def reachable(self, target: dict[str, int]) -> dict[str, int]:
        """``target`` with the classes that cannot start held at what runs of them."""
        return {
            name: self.assigned.get(name, 0) if name in self.unstartable else count
            for name, count in target.items()
        }

    def _cannot_start(self, name: str, error: Exception) -> None:
        """A user of class ``name`` failed to start: say so once, count it as an exception of the test
        (so the exit code shows it), and start no more users of that class in this test."""
        self.unstartable[name] = f"{type(error).__name__}: {error}"
        text = "".join(traceback.format_exception(type(error), error, error.__traceback__))
        self.environment.stats.log_exception(self.node_id, f"{type(error).__name__}({error})", text)
        if isinstance(error, UsageError):
            log.error("Cannot start users of %s: %s", name, error)
        else:
            log.error("Cannot start users of %s:\n%s", name, text)

    def _stop_users(self, users: list[User]) -> None:
        graceful = bool(self.environment.stop_timeout)
        for user in users:
            user.stop(force=not graceful)
        if graceful:
            gevent.spawn(self._kill_after_timeout, users, self.environment.stop_timeout)

    @staticmethod
    def _kill_after_timeout(users: list[User], timeout: float) -> None:
        gevent.joinall([u.greenlet for u in users if u.greenlet is not None], timeout=timeout)
        for user in users:
            if user.greenlet is not None and not user.greenlet.dead:
                user.stop(force=True)

    def stop_all_users(self) -> None:
        """Stop every user and wait: within the stop timeout for graceful stops, then by force."""
        for users in self._users.values():
            for user in users:
                user.stop(force=not self.environment.stop_timeout)
        self._users.clear()
        self.assigned.clear()
        self.unstartable.clear()  # the next test may have what was missing (a host from the TUI)
        if self.environment.stop_timeout:
            self.user_greenlets.join(timeout=self.environment.stop_timeout)
        self.user_greenlets.kill(block=True, timeout=5)

    # -- errors and CPU ----------------------------------------------------------------------------

    def _on_user_error(self, user_instance: Any, exception: BaseException, tb: Any, **_: Any) -> None:
        text = "".join(traceback.format_exception(type(exception), exception, tb))
        self.environment.stats.log_exception(self.node_id, f"{type(exception).__name__}({exception})", text)

    def _monitor_cpu(self) -> None:
        while True:
            gevent.sleep(CPU_MONITOR_INTERVAL)
            self.sample_usage()

    def sample_usage(self) -> None:
        self.cpu_usage = self._process.cpu_percent()
        self.memory_usage = self._process.memory_info().rss
        self.environment.events.usage_monitor.fire(
            environment=self.environment, cpu_usage=self.cpu_usage, memory_usage=self.memory_usage
        )
        if self.cpu_episode_starts(self.cpu_usage):
            self.warn_cpu(self.cpu_usage)

    def cpu_episode_starts(self, cpu: float) -> bool:
        """Note a CPU reading; True when it starts an episode above the threshold (warn once per episode).

        Plain attribute updates only: the worker's native heartbeat thread calls it too.
        """
        if cpu <= CPU_WARNING_THRESHOLD:
            self._cpu_warning_active = False
            return False
        if self._cpu_warning_active:
            return False
        self._cpu_warning_active = True
        return True

    def warn_cpu(self, cpu: float) -> None:
        """Log the warning and fire ``cpu_warning`` (on the gevent side: never from a native thread)."""
        message = (
            f"CPU usage of {self.node_id} is {cpu:.0f}% (above {CPU_WARNING_THRESHOLD:.0f}%): "
            "its request rate is capped and its response times are getting less reliable"
        )
        log.warning(message)
        self.environment.events.cpu_warning.fire(
            environment=self.environment, cpu_usage=cpu, message=message, timestamp=time.time()
        )

    # -- custom messages ---------------------------------------------------------------------------

    def register_message(self, msg_type: str, listener: Callable[..., Any], concurrent: bool = False) -> None:
        """Call ``listener(environment=..., msg=...)`` for each message named ``msg_type``.

        Any name is the test file's own (custom messages travel in an envelope of their own, so
        ``"stop"`` or ``"stats"`` never meet tswarm's messages of that type). With ``concurrent=True``
        each call runs in its own greenlet, so a slow listener does not hold up the messages behind it.
        """
        self.custom_messages[msg_type] = (listener, concurrent)

    def _handle_custom_message(self, msg: Message) -> None:
        """Hand a test file's message (out of its envelope) to its listener; a name without one is
        logged once (up to MAX_UNKNOWN_NAMES_LOGGED names), and its messages are dropped."""
        entry = self.custom_messages.get(msg.type)
        if entry is None:
            unknown = self._unknown_message_types
            if msg.type not in unknown and len(unknown) < MAX_UNKNOWN_NAMES_LOGGED:
                unknown.add(msg.type)
                log.warning(
                    "Ignored a custom message %r from %s: no handler is registered for it "
                    "(runner.register_message); further ones are ignored silently",
                    msg.type,
                    msg.node_id,
                )
            return
        listener, concurrent = entry
        if concurrent:
            gevent.spawn(self._call_listener, listener, msg)
        else:
            self._call_listener(listener, msg)

    def _call_listener(self, listener: Callable[..., Any], msg: Message) -> None:
        try:
            listener(environment=self.environment, msg=msg)
        except Exception:
            log.error("Listener of message %r raised:\n%s", msg.type, traceback.format_exc())

    def close(self) -> None:
        """Stop the runner's background work and listeners; idempotent (a test file's ``runner.quit()``
        closes it before the command does)."""
        if self._closed:
            return
        self._closed = True
        self._monitor.kill(block=False)
        self.environment.events.request.remove_listener(self._on_request)
        self.environment.events.user_error.remove_listener(self._on_user_error)
