"""The Locust-compatible user model: tasks, task sets, wait times, tags, shapes, and stopping.

Users run in this process as gevent greenlets without monkey-patching: gevent.sleep, events and
groups work unpatched, and every wait below is bounded.
"""

from __future__ import annotations

import logging
import random
from collections import Counter
from typing import Any

import gevent
import pytest
from gevent.event import Event
from gevent.pool import Group

from tswarm.events import Events
from tswarm.exceptions import (
    MissingWaitTimeError,
    RescheduleTask,
    RescheduleTaskImmediately,
    StopTest,
    StopUser,
)
from tswarm.runner import wait_time as wait_time_module
from tswarm.runner.shape import LoadTestShape, is_shape_class
from tswarm.runner.tags import tags_of
from tswarm.runner.tasks import (
    STATE_STOPPING,
    NoTasksError,
    SequentialTaskSet,
    TaskSet,
    UserTaskLoop,
    filter_tasks_by_tags,
    tag,
    task,
)
from tswarm.runner.users import FastHttpUser, HttpUser, MissingHostError, User, is_user_class
from tswarm.runner.wait_time import STARTED_AT_ATTR, between, constant, constant_pacing, constant_throughput

JOIN_TIMEOUT = 3.0


class FakeRunner:
    def __init__(self) -> None:
        self.stop_requests = 0
        self.user_count = 0

    def request_test_stop(self) -> None:
        self.stop_requests += 1


class FakeEnvironment:
    """The attributes of the lead's Environment that the user model relies on."""

    def __init__(self, *, catch_exceptions: bool = True, host: str | None = None) -> None:
        self.events = Events()
        self.host = host
        self.catch_exceptions = catch_exceptions
        self.runner = FakeRunner()
        self.parsed_options = None
        self.stop_timeout = None


def run_to_end(user: User) -> gevent.Greenlet:
    greenlet = user.start(Group())
    greenlet.join(timeout=JOIN_TIMEOUT)
    assert greenlet.dead, "the user did not stop in time"
    return greenlet


def wait_for(event: Event) -> None:
    assert event.wait(timeout=JOIN_TIMEOUT), "timed out waiting for the user"


# --- declaring tasks ------------------------------------------------------------------------------


def test_task_decorator_weights_expand_into_the_task_list() -> None:
    class MyUser(User):
        @task(3)
        def often(self) -> None: ...

        @task
        def once(self) -> None: ...

    counts = Counter(t.__name__ for t in MyUser.tasks)
    assert counts == {"often": 3, "once": 1}


def test_tasks_attribute_as_list_tuples_and_dict() -> None:
    def a(user: Any) -> None: ...

    def b(user: Any) -> None: ...

    class ListUser(User):
        tasks = [a, b, b]

    class TupleUser(User):
        tasks = [(a, 2), (b, 1)]

    class DictUser(User):
        tasks = {a: 4, b: 0}

    assert ListUser.tasks == [a, b, b]
    assert TupleUser.tasks == [a, a, b]
    assert DictUser.tasks == [a, a, a, a]


def test_subclass_tasks_include_base_tasks() -> None:
    class Base(User):
        abstract = True

        @task
        def base_task(self) -> None: ...

    class Child(Base):
        pass

    class Extended(Base):
        @task(2)
        def own_task(self) -> None: ...

    assert [t.__name__ for t in Child.tasks] == ["base_task"]
    assert Counter(t.__name__ for t in Extended.tasks) == {"base_task": 1, "own_task": 2}


def test_bad_task_declarations_are_rejected() -> None:
    with pytest.raises(ValueError):
        task(-1)
    with pytest.raises(ValueError):
        tag()
    with pytest.raises(Exception, match="must be a list"):

        class Ordered(SequentialTaskSet):
            tasks = {lambda ts: None: 1}  # noqa: RUF012


def test_weighted_choice_follows_the_weights() -> None:
    class MyUser(User):
        @task(3)
        def heavy(self) -> None: ...

        @task(1)
        def light(self) -> None: ...

    random.seed(12345)
    loop = UserTaskLoop(MyUser(FakeEnvironment()))
    picks = Counter(loop.get_next_task().__name__ for _ in range(4000))
    assert 2700 < picks["heavy"] < 3300
    assert picks["heavy"] + picks["light"] == 4000


# --- the task loop --------------------------------------------------------------------------------


def test_user_runs_on_start_tasks_and_on_stop_in_order() -> None:
    calls: list[str] = []

    class MyUser(User):
        wait_time = constant(0)

        def on_start(self) -> None:
            calls.append("start")

        @task
        def work(self) -> None:
            calls.append("task")
            if calls.count("task") == 3:
                raise StopUser()

        def on_stop(self) -> None:
            calls.append("stop")

    greenlet = run_to_end(MyUser(FakeEnvironment()))
    assert greenlet.successful()
    assert calls == ["start", "task", "task", "task", "stop"]


def test_user_without_tasks_fails_at_start() -> None:
    class Empty(User):
        pass

    with pytest.raises(NoTasksError, match="Empty has no tasks"):
        Empty(FakeEnvironment()).start(Group())


def test_missing_wait_time_is_a_clear_error() -> None:
    class NoWait(User):
        wait_time = None  # type: ignore[assignment]

        @task
        def work(self) -> None: ...

    greenlet = run_to_end(NoWait(FakeEnvironment()))
    assert isinstance(greenlet.exception, MissingWaitTimeError)


def test_nested_task_set_runs_until_interrupted() -> None:
    calls: list[str] = []
    seen: dict[str, Any] = {}

    class Inner(TaskSet):
        def on_start(self) -> None:
            calls.append("inner-start")
            if calls.count("inner-start") == 3:
                raise StopUser()

        @task
        def inner_task(self) -> None:
            seen["user"], seen["parent"] = self.user, self.parent
            calls.append("inner-task")
            if calls.count("inner-task") % 2 == 0:
                self.interrupt()

        def on_stop(self) -> None:
            calls.append("inner-stop")

    class Outer(TaskSet):
        tasks = [Inner]

        def on_start(self) -> None:
            seen["outer"] = self

        def on_stop(self) -> None:
            calls.append("outer-stop")

    class MyUser(User):
        wait_time = constant(0)
        tasks = [Outer]

    user = MyUser(FakeEnvironment())
    run_to_end(user)
    # Inner's on_stop runs on interrupt; StopUser from its third on_start leaves through Outer's.
    assert calls == ["inner-start", "inner-task", "inner-task", "inner-stop"] * 2 + [
        "inner-start",
        "outer-stop",
    ]
    assert seen["user"] is user
    assert seen["parent"] is seen["outer"]
    assert seen["outer"].parent is user


@pytest.mark.parametrize(("reschedule", "parent_waits"), [(True, 0), (False, 3)])
def test_interrupt_reschedule_decides_whether_the_parent_waits(reschedule: bool, parent_waits: int) -> None:
    user_waits: list[float] = []
    entries: list[int] = []

    class Inner(TaskSet):
        wait_time = constant(0)

        def on_start(self) -> None:
            entries.append(1)
            if len(entries) > 3:
                raise StopUser()

        @task
        def leave(self) -> None:
            self.interrupt(reschedule=reschedule)

    class MyUser(User):
        tasks = [Inner]

        def wait_time(self) -> float:
            user_waits.append(0.0)
            return 0.0

    run_to_end(MyUser(FakeEnvironment()))
    assert len(user_waits) == parent_waits


def test_task_set_without_wait_time_uses_the_users() -> None:
    waits: list[str] = []

    class Inner(TaskSet):
        @task
        def work(self) -> None:
            if len(waits) >= 2:
                raise StopUser()

    class MyUser(User):
        tasks = [Inner]

        def wait_time(self) -> float:
            waits.append("user")
            return 0.0

    run_to_end(MyUser(FakeEnvironment()))
    assert waits == ["user", "user"]


def test_sequential_task_set_runs_in_declared_order() -> None:
    calls: list[str] = []

    def listed(ts: Any) -> None:
        calls.append("listed")

    class Steps(SequentialTaskSet):
        @task
        def first(self) -> None:
            calls.append("first")

        tasks = [listed]

        @task(2)
        def twice(self) -> None:
            calls.append("twice")
            if len(calls) >= 8:
                raise StopUser()

    class MyUser(User):
        wait_time = constant(0)
        tasks = [Steps]

    run_to_end(MyUser(FakeEnvironment()))
    assert calls == ["first", "listed", "twice", "twice"] * 2


def test_task_set_client_is_the_users_client() -> None:
    class Inner(TaskSet):
        @task
        def work(self) -> None:
            self.user.seen_client = self.client
            raise StopUser()

    class MyUser(User):
        tasks = [Inner]

    user = MyUser(FakeEnvironment())
    user.client = object()
    run_to_end(user)
    assert user.seen_client is user.client
    assert user.context() == {}


def test_reschedule_task_waits_and_reschedule_immediately_does_not() -> None:
    waits: list[str] = []
    runs: list[str] = []

    class MyUser(User):
        def wait_time(self) -> float:
            waits.append(runs[-1])
            return 0.0

        @task
        def work(self) -> None:
            runs.append(["reschedule", "immediately", "normal", "stop"][len(runs)])
            if runs[-1] == "reschedule":
                raise RescheduleTask()
            if runs[-1] == "immediately":
                raise RescheduleTaskImmediately()
            if runs[-1] == "stop":
                raise StopUser()

    run_to_end(MyUser(FakeEnvironment()))
    assert waits == ["reschedule", "normal"]


def test_task_error_is_reported_and_the_user_continues(caplog: pytest.LogCaptureFixture) -> None:
    env = FakeEnvironment()
    errors: list[dict[str, Any]] = []
    env.events.user_error.add_listener(lambda **kw: errors.append(kw))
    runs: list[int] = []

    class MyUser(User):
        @task
        def work(self) -> None:
            runs.append(1)
            if len(runs) == 1:
                raise ValueError("boom")
            raise StopUser()

    user = MyUser(env)
    with caplog.at_level(logging.ERROR, logger="tswarm.user"):
        greenlet = run_to_end(user)
    assert greenlet.successful()
    assert len(runs) == 2
    assert len(errors) == 1
    assert errors[0]["user_instance"] is user
    assert isinstance(errors[0]["exception"], ValueError)
    assert errors[0]["tb"] is not None
    assert "boom" in caplog.text and "Traceback" in caplog.text


def test_task_error_stops_the_user_when_exceptions_are_not_caught() -> None:
    class MyUser(User):
        @task
        def work(self) -> None:
            raise ValueError("boom")

    greenlet = run_to_end(MyUser(FakeEnvironment(catch_exceptions=False)))
    assert isinstance(greenlet.exception, ValueError)


def test_stop_test_asks_the_runner_to_stop_and_stops_the_user() -> None:
    env = FakeEnvironment()
    calls: list[str] = []

    class MyUser(User):
        @task
        def work(self) -> None:
            calls.append("task")
            raise StopTest()

        def on_stop(self) -> None:
            calls.append("stop")

    greenlet = run_to_end(MyUser(env))
    assert greenlet.successful()
    assert calls == ["task", "stop"]
    assert env.runner.stop_requests == 1


# --- stopping -------------------------------------------------------------------------------------


class InFlightUser(User):
    """A user whose task is a 'request' that completes only when the test releases it."""

    abstract = True
    wait_time = constant(0)

    def __init__(self, environment: Any) -> None:
        super().__init__(environment)
        self.in_task = Event()
        self.release = Event()
        self.started_tasks = 0
        self.reported = 0
        self.stopped = 0

    @task
    def request(self) -> None:
        self.started_tasks += 1
        self.in_task.set()
        self.release.wait()
        self.reported += 1

    def on_stop(self) -> None:
        self.stopped += 1


def test_graceful_stop_lets_the_request_in_flight_complete() -> None:
    class MyUser(InFlightUser):
        pass

    user = MyUser(FakeEnvironment())
    greenlet = user.start(Group())
    wait_for(user.in_task)
    assert user.stop() is False
    assert user.state == STATE_STOPPING
    assert not greenlet.dead
    user.release.set()
    greenlet.join(timeout=JOIN_TIMEOUT)
    assert greenlet.dead
    assert (user.started_tasks, user.reported, user.stopped) == (1, 1, 1)


def test_force_stop_kills_the_user_at_once() -> None:
    class MyUser(InFlightUser):
        pass

    user = MyUser(FakeEnvironment())
    greenlet = user.start(Group())
    wait_for(user.in_task)
    assert user.stop(force=True) is True
    assert greenlet.dead
    assert (user.reported, user.stopped) == (0, 1)


def test_stopping_a_waiting_user_is_immediate() -> None:
    done = Event()

    class Sleepy(User):
        wait_time = constant(60)

        @task
        def work(self) -> None:
            done.set()

        def on_stop(self) -> None:
            self.stopped = True

    user = Sleepy(FakeEnvironment())
    greenlet = user.start(Group())
    wait_for(done)
    gevent.sleep(0)  # let the user enter its wait
    assert user.stop() is True
    assert greenlet.dead
    assert user.stopped is True


def test_stopping_a_user_that_has_not_started_yet() -> None:
    class MyUser(InFlightUser):
        pass

    user = MyUser(FakeEnvironment())
    greenlet = user.start(Group())
    assert user.stop() is True
    assert greenlet.dead
    assert user.started_tasks == 0


# --- wait times -----------------------------------------------------------------------------------


def test_constant_and_between() -> None:
    assert constant(2.5)(None) == 2.5
    random.seed(7)
    values = [between(1, 3)(None) for _ in range(200)]
    assert all(1 <= v <= 3 for v in values)
    assert max(values) - min(values) > 1
    with pytest.raises(ValueError):
        between(3, 1)


def test_constant_pacing_makes_task_plus_wait_the_period(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [100.0]
    monkeypatch.setattr(wait_time_module, "_clock", lambda: now[0])

    class Holder:
        pass

    holder = Holder()
    setattr(holder, STARTED_AT_ATTR, 100.0)
    pacing = constant_pacing(1.0)

    now[0] = 100.3  # the first task took 0.3 s
    assert pacing(holder) == pytest.approx(0.7)
    now[0] = 101.0 + 1.5  # the next cycle starts at 101.0; its task takes 1.5 s: no wait
    assert pacing(holder) == 0.0
    now[0] = 102.5 + 0.2  # the next cycle starts when the long task ended
    assert pacing(holder) == pytest.approx(0.8)

    throughput = constant_throughput(4)  # = constant_pacing(0.25)
    other = Holder()
    setattr(other, STARTED_AT_ATTR, now[0])
    now[0] += 0.05
    assert throughput(other) == pytest.approx(0.2)
    with pytest.raises(ValueError):
        constant_throughput(0)


def test_constant_pacing_on_a_running_user() -> None:
    stamps: list[float] = []

    class Paced(User):
        wait_time = constant_pacing(0.05)

        @task
        def work(self) -> None:
            stamps.append(wait_time_module._clock())
            if len(stamps) == 3:
                raise StopUser()

    run_to_end(Paced(FakeEnvironment()))
    gaps = [b - a for a, b in zip(stamps, stamps[1:], strict=False)]
    assert all(0.04 < gap < 0.5 for gap in gaps)


# --- tags -----------------------------------------------------------------------------------------


def make_tagged_user() -> tuple[type[User], type[TaskSet]]:
    class Tagged(TaskSet):
        @task
        def inner_plain(self) -> None: ...

        @tag("slow")
        @task
        def inner_slow(self) -> None: ...

    tag("checkout")(Tagged)

    class MyUser(User):
        tasks = [Tagged]

        @tag("browse")
        @task
        def browse(self) -> None: ...

        @task
        @tag("browse", "slow")
        def search(self) -> None: ...

        @task
        def untagged(self) -> None: ...

    return MyUser, Tagged


def names(tasks: list[Any]) -> set[str]:
    return {t.__name__ for t in tasks}


def test_tag_decorator_on_tasks_and_task_sets() -> None:
    user_class, tagged = make_tagged_user()
    assert tags_of(user_class.browse) == {"browse"}
    assert tags_of(user_class.search) == {"browse", "slow"}
    assert tags_of(tagged.inner_plain) == {"checkout"}
    assert tags_of(tagged.inner_slow) == {"checkout", "slow"}
    assert tags_of(user_class.untagged) == frozenset()


def test_filter_by_tags_keeps_only_tagged_tasks() -> None:
    user_class, tagged = make_tagged_user()
    filter_tasks_by_tags([user_class], tags={"browse"}, exclude_tags=None)
    assert names(user_class.tasks) == {"browse", "search"}

    user_class, tagged = make_tagged_user()
    filter_tasks_by_tags([user_class], tags={"checkout"}, exclude_tags=None)
    assert user_class.tasks == [tagged]
    assert names(tagged.tasks) == {"inner_plain", "inner_slow"}


def test_filter_by_exclude_tags_drops_tagged_tasks() -> None:
    user_class, tagged = make_tagged_user()
    filter_tasks_by_tags([user_class], tags=None, exclude_tags={"slow"})
    assert names(user_class.tasks) == {"Tagged", "browse", "untagged"}
    assert names(tagged.tasks) == {"inner_plain"}

    user_class, tagged = make_tagged_user()
    filter_tasks_by_tags([user_class], tags={"browse", "checkout"}, exclude_tags={"slow"})
    assert names(user_class.tasks) == {"Tagged", "browse"}
    assert names(tagged.tasks) == {"inner_plain"}


def test_filter_drops_a_task_set_left_empty() -> None:
    user_class, tagged = make_tagged_user()
    filter_tasks_by_tags([user_class], tags=None, exclude_tags={"checkout"})
    assert tagged not in user_class.tasks
    assert tagged.tasks == []


# --- classes --------------------------------------------------------------------------------------


def test_abstract_classes_and_spawn_attributes() -> None:
    class Base(User):
        abstract = True

    class Concrete(Base):
        weight = 3
        fixed_count = 2

        @task
        def work(self) -> None: ...

    assert User.abstract and HttpUser.abstract and FastHttpUser.abstract and Base.abstract
    assert Concrete.abstract is False
    assert not is_user_class(User) and not is_user_class(Base) and not is_user_class(HttpUser)
    assert is_user_class(Concrete)
    assert not is_user_class(Concrete(FakeEnvironment()))
    assert (User.weight, User.fixed_count, User.host) == (1, 0, None)
    assert (Concrete.weight, Concrete.fixed_count) == (3, 2)
    assert Concrete.fullname().endswith("Concrete")


def test_host_from_the_command_line_overrides_the_class() -> None:
    class MyUser(User):
        host = "http://class.example"

        @task
        def work(self) -> None: ...

    assert MyUser(FakeEnvironment()).host == "http://class.example"
    assert MyUser(FakeEnvironment(host="http://cli.example")).host == "http://cli.example"


@pytest.mark.parametrize("base", [HttpUser, FastHttpUser])
def test_http_user_without_host_is_a_clear_error(base: type[User]) -> None:
    class Api(base):  # type: ignore[valid-type, misc]
        @task
        def work(self) -> None: ...

    with pytest.raises(MissingHostError, match="--host"):
        Api(FakeEnvironment())


# --- shapes ---------------------------------------------------------------------------------------


def test_load_test_shape() -> None:
    class Steps(LoadTestShape):
        def tick(self) -> tuple[int, float] | None:
            run_time = self.get_run_time()
            return None if run_time > 10 else (int(run_time) + 1, 1.0)

    class AbstractShape(LoadTestShape):
        abstract = True

        def tick(self) -> None:
            return None

    with pytest.raises(TypeError):
        LoadTestShape()  # type: ignore[abstract]
    assert is_shape_class(Steps)
    assert (
        not is_shape_class(LoadTestShape) and not is_shape_class(AbstractShape) and not is_shape_class(User)
    )
    assert Steps.use_common_options is False

    shape = Steps()
    shape.runner = FakeRunner()
    shape.runner.user_count = 7
    assert shape.get_current_user_count() == 7
    shape.reset_time()
    assert 0 <= shape.get_run_time() < 1
    assert shape.tick() == (1, 1.0)
    shape.start_time -= 4.5
    assert shape.tick() == (5, 1.0)
    shape.start_time -= 10
    assert shape.tick() is None


def test_stop_called_from_the_users_own_task_takes_effect_after_it() -> None:
    calls: list[str] = []

    class SelfStopping(User):
        @task
        def work(self) -> None:
            calls.append("task")
            assert self.stop() is False
            calls.append("task-end")

        def on_stop(self) -> None:
            calls.append("stop")

    run_to_end(SelfStopping(FakeEnvironment()))
    assert calls == ["task", "task-end", "stop"]


def test_on_start_error_is_reported_and_ends_the_user() -> None:
    env = FakeEnvironment()
    errors: list[Any] = []
    env.events.user_error.add_listener(lambda **kw: errors.append(kw["exception"]))

    class Broken(User):
        def on_start(self) -> None:
            raise KeyError("login")

        @task
        def work(self) -> None:
            raise AssertionError("no task may run after a failed on_start")

    greenlet = run_to_end(Broken(env))
    assert greenlet.successful()
    assert [type(e) for e in errors] == [KeyError]


@pytest.mark.parametrize("base", [HttpUser, FastHttpUser])
def test_http_users_get_a_client_for_their_host(base: type[User]) -> None:
    class Api(base):  # type: ignore[valid-type, misc]
        host = "http://127.0.0.1:1"
        network_timeout = 3.0
        default_headers = {"X-Test": "1"}  # noqa: RUF012

        @task
        def work(self) -> None: ...

    env = FakeEnvironment()
    user = Api(env)
    assert user.client.base_url == "http://127.0.0.1:1"
    assert user.client.user is user
    assert user.client.request_event is env.events.request
    if base is FastHttpUser:
        assert user.client.network_timeout == 3.0
        assert user.client.headers["X-Test"] == "1"


def test_driven_from_python_as_in_locust() -> None:
    """Environment, create_local_runner, start, quit later, runner.greenlet.join(): Locust's library use."""
    from tswarm.env import Environment
    from tswarm.runners import STATE_STOPPED

    ran = Counter()

    class Worker(User):
        wait_time = constant(0.01)

        @task
        def work(self) -> None:
            ran["tasks"] += 1

    environment = Environment(user_classes=[Worker], events=Events())
    runner = environment.create_local_runner()
    runner.start(3, spawn_rate=100)
    gevent.spawn_later(0.3, runner.quit)
    runner.greenlet.join(timeout=10)
    assert runner.greenlet.dead
    assert runner.state == STATE_STOPPED and runner.user_count == 0
    assert ran["tasks"] > 3
