"""Unit and property-style tests of tswarm.dispatch (pure functions, no network)."""

from __future__ import annotations

import random

import pytest

from tswarm.dispatch import assign, class_counts, step_towards, weighted_sequence, worker_order


def make_class(name: str, weight: float = 1, fixed_count: int = 0) -> type:
    return type(name, (), {"weight": weight, "fixed_count": fixed_count})


def changes(a: dict[str, dict[str, int]], b: dict[str, dict[str, int]]) -> int:
    nodes = set(a) | set(b)
    return sum(
        abs(a.get(n, {}).get(c, 0) - b.get(n, {}).get(c, 0))
        for n in nodes
        for c in set(a.get(n, {})) | set(b.get(n, {}))
    )


def totals(a: dict[str, dict[str, int]]) -> list[int]:
    return [sum(v.values()) for v in a.values()]


# -- class_counts ------------------------------------------------------------------------------


def test_class_counts_by_weight() -> None:
    a, b = make_class("A", 3), make_class("B", 1)
    assert class_counts([a, b], 4) == {"A": 3, "B": 1}
    assert class_counts([a, b], 400) == {"A": 300, "B": 100}
    assert class_counts([a, b], 0) == {"A": 0, "B": 0}


def test_class_counts_fixed_first() -> None:
    fixed, w1, w2 = make_class("Fixed", fixed_count=3), make_class("W1"), make_class("W2")
    assert class_counts([w1, fixed, w2], 2) == {"W1": 0, "Fixed": 2, "W2": 0}
    assert class_counts([w1, fixed, w2], 3) == {"W1": 0, "Fixed": 3, "W2": 0}
    assert class_counts([w1, fixed, w2], 7) == {"W1": 2, "Fixed": 3, "W2": 2}


def test_class_counts_only_fixed_stops_at_their_sum() -> None:
    a, b = make_class("A", fixed_count=2), make_class("B", fixed_count=1)
    assert class_counts([a, b], 10) == {"A": 2, "B": 1}


def test_class_counts_zero_weights() -> None:
    a, b = make_class("A", 0), make_class("B", 2)
    assert class_counts([a, b], 5) == {"A": 0, "B": 5}
    c, d = make_class("C", 0), make_class("D", 0)
    assert class_counts([c, d], 4) == {"C": 2, "D": 2}


@pytest.mark.parametrize("seed", range(20))
def test_class_counts_monotone_exact_and_close_to_share(seed: int) -> None:
    rng = random.Random(seed)
    classes = [
        make_class(
            f"C{i}", weight=rng.choice([1, 2, 3, 0.5, 7.25, 10]), fixed_count=rng.choice([0, 0, 0, 2, 5])
        )
        for i in range(rng.randint(1, 6))
    ]
    fixed_sum = sum(c.fixed_count for c in classes)
    has_weighted = any(not c.fixed_count for c in classes)
    weight_sum = sum(c.weight for c in classes if not c.fixed_count)
    previous = class_counts(classes, 0)
    for total in range(1, 400):
        counts = class_counts(classes, total)
        assert counts == class_counts(classes, total)  # deterministic
        assert all(counts[k] >= previous[k] for k in counts), (total, previous, counts)
        expected_total = total if has_weighted else min(total, fixed_sum)
        assert sum(counts.values()) == expected_total
        rest = total - min(total, fixed_sum)
        for c in classes:
            if c.fixed_count:
                assert counts[c.__name__] <= c.fixed_count
                if total >= fixed_sum:
                    assert counts[c.__name__] == c.fixed_count
            else:
                assert abs(counts[c.__name__] - rest * c.weight / weight_sum) < 1.0 + 1e-6
        previous = counts


def test_weighted_sequence_interleaves() -> None:
    assert weighted_sequence([1, 1], 4) == [0, 1, 0, 1]
    assert weighted_sequence([5, 1, 1], 7) == [0, 0, 1, 0, 2, 0, 0]


def test_class_counts_large_total_is_fast() -> None:
    classes = [make_class("A", 1), make_class("B", 3), make_class("C", 0.5)]
    counts = class_counts(classes, 200_000)
    assert sum(counts.values()) == 200_000


# -- worker_order ------------------------------------------------------------------------------


def test_worker_order_interleaves_hosts() -> None:
    workers = [("a1", "A"), ("a2", "A"), ("a3", "A"), ("b1", "B"), ("c1", "C"), ("b2", "B")]
    assert worker_order(workers) == ["a1", "b1", "c1", "a2", "b2", "a3"]
    assert worker_order([]) == []


# -- assign ------------------------------------------------------------------------------------


def test_assign_small() -> None:
    result = assign({"A": 5, "B": 5}, ["w0", "w1", "w2"])
    assert result == {"w0": {"A": 2, "B": 2}, "w1": {"A": 2, "B": 1}, "w2": {"A": 1, "B": 2}}
    assert assign({"A": 3}, []) == {}


def test_assign_odd_users_go_to_hosts_first() -> None:
    order = worker_order([("a1", "A"), ("a2", "A"), ("b1", "B"), ("b2", "B")])
    result = assign({"X": 2}, order)
    assert result["a1"]["X"] == 1 and result["b1"]["X"] == 1


@pytest.mark.parametrize("seed", range(30))
def test_assign_properties(seed: int) -> None:
    rng = random.Random(seed)
    counts = {f"C{i}": rng.randint(0, 60) for i in range(rng.randint(1, 6))}
    order = [f"w{i}" for i in range(rng.randint(1, 17))]
    result = assign(counts, order)
    assert list(result) == order
    t = totals(result)
    assert max(t) - min(t) <= 1
    assert sum(t) == sum(counts.values())
    for cls, n in counts.items():
        per = [result[w][cls] for w in order]
        assert sum(per) == n
        assert max(per) - min(per) <= 1


# -- step_towards ------------------------------------------------------------------------------


def test_step_towards_ramp_up_is_balanced_and_bounded() -> None:
    order = [f"w{i}" for i in range(3)]
    desired = assign({"A": 20, "B": 10}, order)
    current: dict[str, dict[str, int]] = {}
    steps = 0
    while changes(current, desired):
        new = step_towards(current, desired, 4)
        assert changes(current, new) <= 4
        t = totals(new)
        assert max(t) - min(t) <= 1
        a = sum(v.get("A", 0) for v in new.values())
        b = sum(v.get("B", 0) for v in new.values())
        assert abs(a - 2 * b) <= 2  # the classes ramp up in proportion
        current = new
        steps += 1
    assert steps == 8  # ceil(30 / 4)
    assert current == desired


def test_step_towards_ramp_down_removes_from_fullest() -> None:
    current = {"w0": {"A": 4}, "w1": {"A": 4}, "w2": {"A": 3}}
    desired = {"w0": {"A": 1}, "w1": {"A": 1}, "w2": {"A": 1}}
    new = step_towards(current, desired, 2)
    assert sorted(totals(new)) == [3, 3, 3]


def test_step_towards_rebalance_alternates() -> None:
    # w2 went missing: its users go to the others (additions only)
    desired = assign({"A": 9}, ["w0", "w1"])
    new = step_towards({"w0": {"A": 3}, "w1": {"A": 3}}, desired, 1)
    assert changes({"w0": {"A": 3}, "w1": {"A": 3}}, new) == 1
    # a new worker joined: users move from the others to it, starts and stops alternating
    current = {"w0": {"A": 6}, "w1": {"A": 6}}
    desired = assign({"A": 12}, ["w0", "w1", "w2"])
    new = step_towards(current, desired, 2)
    assert totals(new) in ([6, 5, 1], [5, 6, 1])


def test_step_towards_big_budget_jumps_and_keeps_inputs() -> None:
    current = {"w0": {"A": 1}, "gone": {"A": 5}}
    desired = {"w0": {"A": 3, "B": 2}}
    snapshot = {k: dict(v) for k, v in current.items()}
    assert step_towards(current, desired, 100) == {"w0": {"A": 3, "B": 2}, "gone": {"A": 0}}
    assert current == snapshot
    assert step_towards(current, desired, 0) == {"w0": {"A": 1, "B": 0}, "gone": {"A": 5}}


@pytest.mark.parametrize("seed", range(40))
def test_step_towards_properties(seed: int) -> None:
    rng = random.Random(seed)
    nodes = [f"w{i}" for i in range(rng.randint(1, 12))]
    classes = [f"C{i}" for i in range(rng.randint(1, 4))]
    current = {
        n: {c: rng.randint(0, 8) for c in classes} for n in rng.sample(nodes, rng.randint(0, len(nodes)))
    }
    desired = assign({c: rng.randint(0, 50) for c in classes}, nodes)
    todo = changes(current, desired)
    budget = rng.randint(1, 15)
    rounds = 0
    while changes(current, desired):
        new = step_towards(current, desired, budget)
        used = changes(current, new)
        assert used == min(budget, changes(current, desired))
        for n in new:
            for c in new[n]:
                lo, hi = sorted((current.get(n, {}).get(c, 0), desired.get(n, {}).get(c, 0)))
                assert lo <= new[n][c] <= hi
        current = new
        rounds += 1
    assert rounds == -(-todo // budget)


def test_classes_are_shared_in_name_order_as_locust_does() -> None:
    """Seen in a public locustfile: weights 5/2/2/1 at 5 users. Locust orders the classes by name and
    starts one of each (Aggressive 1, Heavy 2, Mid 1 + 1); in file order the weight-1 class got none."""
    heavy = type("Heavy", (), {"weight": 5})
    mid_b = type("MidB", (), {"weight": 2})
    mid_a = type("MidA", (), {"weight": 2})
    aggressive = type("Aggressive", (), {"weight": 1})
    counts = class_counts([heavy, mid_b, mid_a, aggressive], 5)
    assert counts == {"Heavy": 2, "MidB": 1, "MidA": 1, "Aggressive": 1}
    # the file's order does not matter, only the names
    assert class_counts([aggressive, mid_a, heavy, mid_b], 5) == counts
