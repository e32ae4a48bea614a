"""The spawn-rate ramp and the load-shape stepper shared by the master and the local runner: pure logic."""

from __future__ import annotations

from typing import Any

import pytest

from tswarm.controller.distribution import UserDistribution
from tswarm.controller.workers import WorkerNode
from tswarm.ramp import ShapeStep, ShapeStepper, SpawnRamp, describe_counts, pending_moves


def total(assignment: dict[str, dict[str, int]]) -> int:
    return sum(sum(counts.values()) for counts in assignment.values())


def test_pending_moves_counts_starts_and_stops_on_every_node() -> None:
    current = {"a": {"U": 3}, "b": {"U": 1, "V": 2}}
    desired = {"a": {"U": 1}, "c": {"V": 4}}
    # a: 2 stop; b: 3 stop; c: 4 start
    assert pending_moves(current, desired) == 9
    assert pending_moves(desired, desired) == 0
    assert pending_moves({}, {}) == 0


def test_describe_counts() -> None:
    assert describe_counts({"Reader": 80, "Writer": 40}) == "Reader: 80, Writer: 40"
    assert describe_counts({}) == "no users"


def test_first_user_starts_at_once_then_the_rate_paces_the_rest() -> None:
    ramp = SpawnRamp()
    ramp.restart(2.0)
    desired = {"local": {"U": 10}}
    now = ramp.advance(0.0, {"local": {}}, desired)
    assert now == {"local": {"U": 1}}
    now = ramp.advance(0.25, now, desired)  # half a user in the budget: nothing yet
    assert now == {"local": {"U": 1}}
    now = ramp.advance(0.25, now, desired)
    assert now == {"local": {"U": 2}}
    for _ in range(8):
        now = ramp.advance(0.5, now, desired)
    assert now == desired


def test_a_simulated_ramp_takes_as_long_as_the_rate_says() -> None:
    ramp = SpawnRamp()
    ramp.restart(10.0)
    desired = {"a": {"U": 25, "V": 25}, "b": {"U": 25, "V": 25}}
    current: dict[str, dict[str, int]] = {"a": {}, "b": {}}
    seen = [total(current)]
    ticks = 0
    current = ramp.advance(0.0, current, desired)
    while current != desired:
        current = ramp.advance(0.1, current, desired)
        seen.append(total(current))
        ticks += 1
        assert ticks < 1000
    # 100 users at 10/s, the first at once: 99 more take about 99 ticks of 0.1 s (one user each, or
    # none then two where the fractions of the budget round down)
    assert ticks == pytest.approx(99, abs=2)
    assert seen == sorted(seen)  # never a step back
    assert all(b - a <= 2 for a, b in zip(seen, seen[1:], strict=False))


def test_the_budget_holds_at_most_a_second_of_moves() -> None:
    ramp = SpawnRamp()
    ramp.restart(5.0)
    desired = {"local": {"U": 100}}
    now = ramp.advance(0.0, {"local": {}}, desired)
    now = ramp.advance(3600.0, now, desired)  # a loop that stalled for an hour
    assert total(now) == 1 + 5


def test_a_slow_rate_still_moves_one_user_at_a_time() -> None:
    ramp = SpawnRamp()
    ramp.restart(0.5)
    desired = {"local": {"U": 3}}
    now = ramp.advance(0.0, {"local": {}}, desired)
    assert total(now) == 1
    now = ramp.advance(1.0, now, desired)
    assert total(now) == 1
    now = ramp.advance(1.0, now, desired)
    assert total(now) == 2


def test_idle_ticks_return_a_copy_and_leftover_budget_carries_over() -> None:
    ramp = SpawnRamp()
    ramp.restart(10.0)
    current = {"local": {"U": 2}}
    same = ramp.advance(1.0, current, current)
    assert same == current and same is not current and same["local"] is not current["local"]
    # one move pending, ten in the budget: one is spent, the rest stays
    moved = ramp.advance(0.0, current, {"local": {"U": 3}})
    assert moved == {"local": {"U": 3}}
    assert ramp.budget == pytest.approx(9.0)


def test_ramping_down_and_rebalancing_go_at_the_rate_too() -> None:
    ramp = SpawnRamp()
    ramp.restart(1.0)
    current = {"a": {"U": 4}}
    desired = {"a": {"U": 2}, "b": {"U": 2}}
    now = ramp.advance(0.0, current, desired)
    # one move: a start on b (starts and stops alternate, so the total stays near its target)
    assert now == {"a": {"U": 4}, "b": {"U": 1}} and pending_moves(now, desired) == 3
    for _ in range(3):
        now = ramp.advance(1.0, now, desired)
    assert now == desired


def test_restart_keeps_a_bigger_budget_and_sets_the_rate() -> None:
    ramp = SpawnRamp()
    ramp.restart(1.0)
    assert ramp.budget == 1.0 and ramp.spawn_rate == 1.0
    ramp.advance(5.0, {}, {})  # idle: the budget fills up to one second of moves
    ramp.restart(20.0)
    assert ramp.spawn_rate == 20.0 and ramp.budget == 1.0


class ScriptedShape:
    """A LoadTestShape stand-in whose tick() returns the figures given, one per call."""

    def __init__(self, *ticks: Any) -> None:
        self.ticks = list(ticks)
        self.calls = 0
        self.runner: Any = None
        self.time_reset = 0

    def reset_time(self) -> None:
        self.time_reset += 1

    def tick(self) -> Any:
        self.calls += 1
        return self.ticks.pop(0)


class UserA:
    pass


def test_the_shape_stepper_reports_changes_only_and_the_end() -> None:
    shape = ScriptedShape((10, 2.0), (10, 2.0), (20, 5), (20, 5, [UserA]), (5, 1.0, None), None)
    runner = object()
    stepper = ShapeStepper(shape, runner)
    assert shape.runner is runner and shape.time_reset == 1
    assert stepper.tick() == ShapeStep(10, 2.0, None)
    assert stepper.tick() is None  # the same figures: nothing to do
    step = stepper.tick()
    assert step == ShapeStep(20, 5.0, None) and isinstance(step.spawn_rate, float)
    assert stepper.tick() == ShapeStep(20, 5.0, [UserA])
    assert stepper.tick() == ShapeStep(5, 1.0, None)
    assert not stepper.ended
    assert stepper.tick() is None and stepper.ended
    # once ended, the shape is not asked again
    assert stepper.tick() is None and shape.calls == 6


def worker(node_id: str, host: str = "h", index: int = 0) -> WorkerNode:
    return WorkerNode(node_id=node_id, host=host, index=index)


def test_the_distribution_sends_only_changed_targets_and_knows_when_it_is_complete() -> None:
    a, b = worker("a", "h1", 0), worker("b", "h2", 1)
    dist = UserDistribution()
    dist.new_test()
    dist.set_goal({"U": 4}, 100.0)
    sent = dist.tick(0.0, [a, b])
    assert sent == {"a": {"U": 1}}  # the first user at once, to the first worker
    sent = dist.tick(1.0, [a, b])
    assert sent == {"a": {"U": 2}, "b": {"U": 2}}
    assert not dist.complete([a, b])  # the workers have not said they run them
    a.user_classes_count = {"U": 2}
    b.user_classes_count = {"U": 2}
    assert dist.complete([a, b])
    assert dist.tick(1.0, [a, b]) == {}  # nothing changed: nothing to send
    # b went missing: its users go to a
    dist.forget("b")
    assert dist.tick(1.0, [a]) == {"a": {"U": 4}}
    # b is back, still running its two: it is told again, even though its target did not change
    dist.adopt("b", {"U": 2})
    assert dist.tick(0.0, [a, b]) == {"a": {"U": 2}, "b": {"U": 2}}
    dist.clear()
    assert dist.targets == {} and dist.class_counts == {}
