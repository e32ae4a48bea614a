"""Tasks and task sets: what a simulated user does, and the loop that does it.

The loop follows Locust's rules: pick a task (weighted random, or in order for a
SequentialTaskSet), run it, wait, repeat. Control-flow exceptions steer it:

- ``RescheduleTask`` ends the task early; the usual wait follows.
- ``RescheduleTaskImmediately`` ends the task early; the next one starts without a wait.
- ``InterruptTaskSet`` (``self.interrupt()``) leaves a nested task set and returns to its parent,
  which picks its next task at once (``reschedule=True``) or after a wait (``reschedule=False``).
- ``StopUser`` and ``StopTest`` stop the user; every task set on the way out runs its ``on_stop``.
- Any other exception is reported (``user_error`` event and the log) and the loop goes on after
  the usual wait, unless ``environment.catch_exceptions`` is False.
"""

from __future__ import annotations

import logging
import random
import traceback
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar, overload

import gevent
from gevent import GreenletExit, getcurrent
from gevent.exceptions import InvalidSwitchError
from gevent.hub import get_hub

from tswarm.exceptions import (
    InterruptTaskSet,
    MissingWaitTimeError,
    RescheduleTask,
    RescheduleTaskImmediately,
    StopTest,
    StopUser,
    UsageError,
)
from tswarm.runner.tags import filter_tasks_by_tags, tag
from tswarm.runner.wait_time import STARTED_AT_ATTR, _clock

if TYPE_CHECKING:
    from tswarm.runner.users import User

log = logging.getLogger(__name__)

T = TypeVar("T")

__all__ = [
    "STATE_RUNNING",
    "STATE_STOPPING",
    "STATE_WAITING",
    "NoTasksError",
    "SequentialTaskSet",
    "TaskSet",
    "filter_tasks_by_tags",
    "tag",
    "task",
]

#: the user is running a task (or on_start)
STATE_RUNNING = "running"
#: the user is sleeping between tasks (inside ``wait()``); stopping it kills it at once
STATE_WAITING = "waiting"
#: the user was asked to stop and will do so when its current task ends
STATE_STOPPING = "stopping"
# Locust's names for the same states, for test files that compare against them.
LOCUST_STATE_RUNNING, LOCUST_STATE_WAITING, LOCUST_STATE_STOPPING = (
    STATE_RUNNING,
    STATE_WAITING,
    STATE_STOPPING,
)

#: attribute holding the weight given by ``@task`` on a function or TaskSet class
WEIGHT_ATTR = "tswarm_task_weight"

# Exceptions that steer the task loop rather than report a broken task.
_STOPPING = (StopUser, StopTest, GreenletExit)


class NoTasksError(UsageError):
    """A User class or TaskSet has no tasks to run."""


@overload
def task(weight: T) -> T: ...
@overload
def task(weight: int = 1) -> Callable[[T], T]: ...
def task(weight: Any = 1) -> Any:
    """Mark a method (or a nested TaskSet class) as a task, optionally with a weight.

    ``@task`` gives weight 1; ``@task(3)`` makes the task three times as likely as a weight-1 task.
    """

    def mark(func: T) -> T:
        name = getattr(func, "__name__", "")
        if name == "run":
            raise UsageError("a task may not be called 'run': User.run and TaskSet.run drive the task loop")
        if name in ("on_start", "on_stop"):
            log.warning("@task on %s: it will run as a task as well as at %s", name, name.replace("on_", ""))
        setattr(func, WEIGHT_ATTR, weight)
        return func

    if callable(weight):
        func, weight = weight, 1
        return mark(func)
    if not isinstance(weight, int) or isinstance(weight, bool) or weight < 0:
        raise ValueError(f"@task weight must be a whole number >= 0, not {weight!r}")
    return mark


def _own_weight(value: Any) -> int | None:
    # Only the object's own attribute counts: a subclass of a @task-decorated TaskSet class,
    # declared elsewhere, is not itself a task.
    weight = getattr(value, "__dict__", {}).get(WEIGHT_ATTR)
    return weight if isinstance(weight, int) else None


def _expand_declared_tasks(declared: Any, owner: str, *, ordered: bool) -> list[Any]:
    """Turn a ``tasks`` attribute (list, list of (task, weight), or dict) into a flat list."""
    if declared is None:
        return []
    if isinstance(declared, dict):
        if ordered:
            raise UsageError(f"{owner}.tasks must be a list: a SequentialTaskSet runs its tasks in order")
        items: list[Any] = list(declared.items())
    elif isinstance(declared, list | tuple):
        items = list(declared)
    else:
        raise UsageError(
            f"{owner}.tasks must be a list or a dict of task -> weight, not {type(declared).__name__}"
        )
    expanded: list[Any] = []
    for item in items:
        func, weight = item if isinstance(item, tuple) else (item, 1)
        if not callable(func):
            raise UsageError(
                f"{owner}.tasks contains {func!r}, which is neither a function nor a TaskSet class"
            )
        if not isinstance(weight, int) or weight < 0:
            raise UsageError(
                f"{owner}.tasks gives {func!r} the weight {weight!r}; weights are whole numbers >= 0"
            )
        expanded.extend([func] * weight)
    return expanded


def collect_tasks(cls: type, *, ordered: bool = False) -> list[Any]:
    """The flat task list of a User or TaskSet class, each task repeated as often as its weight.

    Tasks of the base classes come first, then the class's own in the order they are declared
    (the ``tasks`` attribute and ``@task`` methods interleaved), which is the order a
    SequentialTaskSet runs them in.
    """
    collected: list[Any] = []
    for base in cls.__bases__:
        collected.extend(getattr(base, "tasks", None) or ())
    for name, value in list(vars(cls).items()):
        if name == "tasks":
            collected.extend(_expand_declared_tasks(value, cls.__name__, ordered=ordered))
            continue
        weight = _own_weight(value)
        if weight is not None:
            collected.extend([value] * weight)
    return collected


def _is_task_set_class(obj: Any) -> bool:
    return isinstance(obj, type) and issubclass(obj, TaskSet)


def _interrupt_to_reschedule(error: InterruptTaskSet) -> Exception:
    # Locust's rule: interrupt(reschedule=True) lets the parent pick its next task at once.
    return RescheduleTaskImmediately() if error.reschedule else RescheduleTask()


#: what the timer of a waiting user passes when it wakes the user up
_WOKEN = object()


def _sleep(seconds: float) -> None:
    """``gevent.sleep(seconds)`` for a user between tasks, keeping less while it sleeps.

    Most users spend most of their time here, and a sleeping greenlet keeps the C stack it was
    switched out from: going to the hub straight from a timer, without the ``Waiter`` and the two
    calls of ``gevent.sleep`` -> ``hub.wait``, saves about 1 KB per user (benchmarks/README.md). A
    kill or a ``gevent.Timeout`` is raised from ``hub.switch()`` as it is from ``gevent.sleep``.
    """
    if seconds <= 0:
        gevent.sleep(0)  # gevent's own yield: the other ready greenlets run first
        return
    hub = get_hub()
    timer = hub.loop.timer(seconds)
    try:
        timer.start(getcurrent().switch, _WOKEN)
        woken = hub.switch()
        if woken is not _WOKEN:
            # as gevent.sleep would: something switched into a sleeping user with a value
            raise InvalidSwitchError(f"a sleeping user was woken by {woken!r}")
    finally:
        timer.close()


class TaskSet:
    """A group of tasks a user runs until one of them calls :meth:`interrupt`.

    Put a TaskSet class in a User's (or another TaskSet's) ``tasks`` to nest it. Without a
    ``wait_time`` of its own, it waits as its user's ``wait_time`` says.
    """

    tasks: list[Any] = []
    _ordered = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.tasks = collect_tasks(cls, ordered=cls._ordered)

    def __init__(self, parent: Any) -> None:
        self._parent = parent
        self._user: User = parent.user if isinstance(parent, TaskSet) else parent
        self._task_queue: list[Any] = []
        setattr(self, STARTED_AT_ATTR, _clock())

    @property
    def user(self) -> User:
        """The User instance that runs this task set."""
        return self._user

    @property
    def parent(self) -> Any:
        """The TaskSet (or, at the top, the User) that started this task set."""
        return self._parent

    @property
    def client(self) -> Any:
        """The user's client (``self.user.client``)."""
        return self._user.client

    def on_start(self) -> None:
        """Called when the user enters this task set."""

    def on_stop(self) -> None:
        """Called when the user leaves this task set (interrupt, or the user stops)."""

    def wait_time(self) -> float:
        """Seconds to wait after a task: the user's ``wait_time`` unless the class sets its own."""
        user_wait_time = getattr(self._user, "wait_time", None)
        if user_wait_time is None:
            raise MissingWaitTimeError(
                f"no wait_time on {type(self._user).__name__} or {type(self).__name__}: "
                "set one, e.g. wait_time = between(1, 5) or constant(0)"
            )
        return float(user_wait_time())

    def wait(self) -> None:
        """Sleep for ``wait_time()`` seconds; a stop request while sleeping takes effect at once."""
        user = self._user
        if user._state == STATE_STOPPING:
            raise StopUser()
        seconds = self.wait_time()
        user._state = STATE_WAITING
        _sleep(seconds)
        if user._state == STATE_STOPPING:
            raise StopUser()
        user._state = STATE_RUNNING

    def interrupt(self, reschedule: bool = True) -> None:
        """Leave this task set and hand control back to the parent.

        Args:
            reschedule: True: the parent picks its next task at once; False: it waits first.
        """
        raise InterruptTaskSet(reschedule)

    def schedule_task(self, task_callable: Callable[..., Any], first: bool = False) -> None:
        """Run ``task_callable`` next (``first=True``) or after the tasks already scheduled."""
        if first:
            self._task_queue.insert(0, task_callable)
        else:
            self._task_queue.append(task_callable)

    def get_next_task(self) -> Any:
        """Pick the next task: weighted random over ``tasks``."""
        if not self.tasks:
            raise NoTasksError(
                f"{type(self).__name__} has no tasks: decorate methods with @task or set its 'tasks' attribute"
            )
        return random.choice(self.tasks)

    def execute_task(self, task: Any) -> None:
        """Run one task: a nested TaskSet class, a method bound to this set, or a function."""
        if _is_task_set_class(task):
            task(self).run()
        elif getattr(task, "__self__", None) is self:
            task()
        else:
            task(self)

    def _next_task(self) -> Any:
        return self._task_queue.pop(0) if self._task_queue else self.get_next_task()

    def _call_on_stop(self) -> None:
        try:
            self.on_stop()
        except (StopUser, GreenletExit):
            raise
        except Exception:
            log.error("%s.on_stop raised:\n%s", type(self).__name__, traceback.format_exc())

    def run(self) -> None:
        """Run tasks until interrupted or the user stops. Called by the parent; do not override."""
        try:
            self.on_start()
        except InterruptTaskSet as e:
            raise _interrupt_to_reschedule(e) from e

        while True:
            try:
                try:
                    if self._user._state == STATE_STOPPING:
                        raise StopUser()
                    self.execute_task(self._next_task())
                except RescheduleTaskImmediately:
                    continue
                except RescheduleTask:
                    pass
                except (InterruptTaskSet, *_STOPPING):
                    raise
                except Exception as e:
                    self._user._report_error(e)
                self.wait()
            except InterruptTaskSet as e:
                self._call_on_stop()
                raise _interrupt_to_reschedule(e) from e
            except _STOPPING:
                self._call_on_stop()
                raise


class SequentialTaskSet(TaskSet):
    """A TaskSet that runs its tasks in the order they are declared, then starts over.

    ``@task(3)`` runs that task three times in a row; ``tasks`` must be a list.
    """

    _ordered = True

    def __init__(self, parent: Any) -> None:
        super().__init__(parent)
        self._position = 0

    def get_next_task(self) -> Any:
        if not self.tasks:
            raise NoTasksError(
                f"{type(self).__name__} has no tasks: decorate methods with @task or set its 'tasks' attribute"
            )
        chosen = self.tasks[self._position % len(self.tasks)]
        self._position += 1
        return chosen


class UserTaskLoop(TaskSet):
    """The top-level loop of a user: runs ``User.tasks`` with the user as the tasks' ``self``."""

    def __init__(self, user: User) -> None:
        super().__init__(user)

    def get_next_task(self) -> Any:
        tasks = self._user.tasks
        if not tasks:
            raise NoTasksError(no_tasks_message(type(self._user)))
        return random.choice(tasks)

    def execute_task(self, task: Any) -> None:
        if _is_task_set_class(task):
            task(self._user).run()
        elif getattr(task, "__self__", None) is self._user:
            task()
        else:
            task(self._user)

    def run(self) -> None:
        # A User has no parent to hand control back to: an interrupt that reaches the top only
        # reschedules, as it would in a task set's parent.
        while True:
            try:
                super().run()
            except RescheduleTaskImmediately:
                continue
            except RescheduleTask:
                self.wait()


def no_tasks_message(user_class: type) -> str:
    hint = ""
    if getattr(user_class, "task", None) is not None:
        hint = " (it has a 'task' attribute: did you mean 'tasks'?)"
    return (
        f"{user_class.__name__} has no tasks{hint}: decorate methods with @task, set its 'tasks' attribute, "
        "or mark it abstract = True if it is only a base class"
    )
