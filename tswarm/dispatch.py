"""How many users of each class run, and where: pure functions shared by the master and the local runner.

The master works in three steps, each one a function here::

    counts = class_counts(user_classes, 120)            # {"Reader": 80, "Writer": 40}
    order = worker_order([(node_id, host), ...])         # hosts interleaved: A1 B1 A2 B2 ...
    desired = assign(counts, order)                      # {node_id: {"Reader": 27, ...}, ...}
    current = step_towards(current, desired, budget)     # at most ``budget`` users started or stopped

and repeats the last step a few times a second with a budget that grows with the spawn rate
(:class:`tswarm.ramp.SpawnRamp`, which the local runner uses too), so ramp-up, ramp-down and
rebalancing (a worker joined or went missing) all happen at the spawn rate.

Plain Python: no ZeroMQ, gevent or asyncio.
"""

from __future__ import annotations

import heapq
from collections.abc import Hashable, Iterable, Mapping, Sequence
from typing import Any

__all__ = ["assign", "class_counts", "step_towards", "weighted_sequence", "worker_order"]

#: node id -> class name -> number of users
Assignment = dict[str, dict[str, int]]


def weighted_sequence(weights: Sequence[float], length: int) -> list[int]:
    """The first ``length`` picks of a smooth weighted round-robin over ``weights`` (indexes).

    Each pick adds every weight to its index's credit and takes the index with the most credit
    (the first one on ties), which then pays back the sum of the weights. Over any prefix every index
    has been picked within one of its exact share, and prefixes only grow: that is what makes
    :func:`class_counts` monotone in the total.
    """
    total = float(sum(weights))
    if length <= 0 or total <= 0:
        return []
    credit = [0.0] * len(weights)
    picks: list[int] = []
    for _ in range(length):
        best = 0
        best_credit = float("-inf")
        for i, w in enumerate(weights):
            credit[i] += w
            if credit[i] > best_credit + 1e-9:
                best, best_credit = i, credit[i]
        credit[best] -= total
        picks.append(best)
    return picks


def _counts_of(weights: Sequence[float], length: int) -> list[int]:
    # The counts after ``length`` picks. The sequence is periodic when the weights are integers, so
    # long prefixes are whole periods plus a short tail: linear in the period, not in ``length``.
    counts = [0] * len(weights)
    if length <= 0:
        return counts
    if all(float(w).is_integer() for w in weights):
        period = int(sum(weights))
        if 0 < period < length:
            whole, length = divmod(length, period)
            counts = [int(w) * whole for w in weights]
    for i in weighted_sequence(weights, length):
        counts[i] += 1
    return counts


def class_counts(user_classes: Iterable[Any], total: int) -> dict[str, int]:
    """How many users of each class (by ``__name__``) make up ``total`` users.

    Classes with a ``fixed_count`` come first, with their fixed counts as far as ``total`` allows
    (shared by a smooth round-robin when it does not); the rest is shared by ``weight``. The result is
    deterministic and monotone: when ``total`` grows by one, one class gains a user and none loses one.
    When every class has a fixed count, the counts stop at the sum of them (as in Locust).
    Classes whose weight is not positive get no users, unless all weights are 0 (then equal shares).
    """
    classes = list(user_classes)
    counts = {_name(cls): 0 for cls in classes}
    total = max(0, int(total))
    fixed = [cls for cls in classes if int(getattr(cls, "fixed_count", 0) or 0) > 0]
    # by name, as Locust orders them: which classes get the first users (a class may get none while
    # the total is below the number of classes) is then the same under both tools
    weighted = sorted((cls for cls in classes if not int(getattr(cls, "fixed_count", 0) or 0) > 0), key=_name)
    fixed_weights = [int(cls.fixed_count) for cls in fixed]
    fixed_total = min(total, sum(fixed_weights))
    for cls, n in zip(fixed, _counts_of(fixed_weights, fixed_total), strict=True):
        counts[_name(cls)] = n
    rest = total - fixed_total
    if rest and weighted:
        weights = [max(0.0, float(getattr(cls, "weight", 1) or 0)) for cls in weighted]
        if sum(weights) <= 0:
            weights = [1.0] * len(weighted)
        for cls, n in zip(weighted, _counts_of(weights, rest), strict=True):
            counts[_name(cls)] = n
    return counts


def _name(cls: Any) -> str:
    return cls if isinstance(cls, str) else cls.__name__


def worker_order(workers: Iterable[tuple[str, Hashable]]) -> list[str]:
    """Node ids with their hosts interleaved (A1 B1 C1 A2 B2 ...), so that shares spread across machines.

    Hosts keep the order of their first worker, and workers the order given (stable).
    """
    by_host: dict[Hashable, list[str]] = {}
    for node_id, host in workers:
        by_host.setdefault(host, []).append(node_id)
    order: list[str] = []
    rounds = max((len(ids) for ids in by_host.values()), default=0)
    for r in range(rounds):
        for ids in by_host.values():
            if r < len(ids):
                order.append(ids[r])
    return order


def assign(class_counts: Mapping[str, int], order: Sequence[str]) -> Assignment:
    """Share the users of each class among the workers in ``order``.

    Users are dealt one by one round the workers, class after class, carrying on where the previous
    class stopped. So every worker's total differs from any other's by at most one, each class is
    spread as evenly as it can be, and the odd users go to the first workers of ``order`` (hosts first).
    Every worker gets every class as a key (0 included); an empty ``order`` gives ``{}``.
    """
    n = len(order)
    result: Assignment = {node: {} for node in order}
    if not n:
        return result
    start = 0
    for cls, count in class_counts.items():
        base, extra = divmod(max(0, int(count)), n)
        for i, node in enumerate(order):
            # worker i gets one of the ``extra`` odd users when it lies within them, counting from start
            result[node][cls] = base + (1 if (i - start) % n < extra else 0)
        start = (start + extra) % n
    return result


def step_towards(
    current: Mapping[str, Mapping[str, int]], desired: Mapping[str, Mapping[str, int]], budget: int
) -> Assignment:
    """Move ``current`` towards ``desired``, starting or stopping at most ``budget`` users in all.

    A worker present in only one of the two counts as having no users in the other. Additions go to the
    workers with the fewest users first and removals come from those with the most, and the classes
    progress in proportion to what each still has to do, so that the partial assignments of a ramp
    stay balanced. When users must both start and stop (a rebalance), the two alternate so the total
    stays near its target. Every count of the result lies between its current and its desired value.

    Returns:
        a new assignment with every worker of ``current`` and ``desired`` (inputs are not changed).
    """
    nodes = list(dict.fromkeys([*desired, *current]))
    result: Assignment = {node: dict(current.get(node, {})) for node in nodes}
    for node in nodes:
        for cls in desired.get(node, {}):
            result[node].setdefault(cls, 0)
    budget = max(0, int(budget))
    adds: dict[str, dict[str, int]] = {}
    removes: dict[str, dict[str, int]] = {}
    for node in nodes:
        want = desired.get(node, {})
        for cls, have in result[node].items():
            diff = int(want.get(cls, 0)) - have
            if diff > 0:
                adds.setdefault(cls, {})[node] = diff
            elif diff < 0:
                removes.setdefault(cls, {})[node] = -diff
    pending = sum(sum(d.values()) for d in adds.values()) + sum(sum(d.values()) for d in removes.values())
    if budget >= pending:
        # the common case of a small change or a fast spawn rate: jump straight there
        return {
            node: {cls: max(0, int(desired.get(node, {}).get(cls, 0))) for cls in result[node]}
            for node in nodes
        }
    position = {node: i for i, node in enumerate(nodes)}
    totals = {node: sum(result[node].values()) for node in nodes}
    adder = _Mover(adds, position, totals, +1)
    remover = _Mover(removes, position, totals, -1)
    added = removed = 0
    for _ in range(budget):
        if adder.left and (not remover.left or added <= removed):
            node, cls = adder.take()
            result[node][cls] += 1
            added += 1
        elif remover.left:
            node, cls = remover.take()
            result[node][cls] -= 1
            removed += 1
        else:
            break
    return result


class _Mover:
    """Hands out the single-user moves of one direction (all additions, or all removals) in a good order."""

    def __init__(
        self, todo: dict[str, dict[str, int]], position: dict[str, int], totals: dict[str, int], sign: int
    ):
        self.todo = todo
        self.position = position
        self.totals = totals
        self.sign = sign
        self.initial = {cls: sum(per_node.values()) for cls, per_node in todo.items()}
        self.remaining = dict(self.initial)
        self.left = sum(self.initial.values())
        # per class, a heap of (key, node), checked lazily against the live totals: a worker's key only
        # grows as moves are made, so a top entry whose key is current is the true best
        self.heaps: dict[str, list[tuple[tuple[int, int], str]]] = {
            cls: [(self._key(node), node) for node in per_node] for cls, per_node in todo.items()
        }
        for heap in self.heaps.values():
            heapq.heapify(heap)

    def _key(self, node: str) -> tuple[int, int]:
        # additions to the emptiest worker first (first in order on ties), removals from the fullest
        # (last in order on ties)
        if self.sign > 0:
            return self.totals[node], self.position[node]
        return -self.totals[node], -self.position[node]

    def take(self) -> tuple[str, str]:
        # the class with the largest share of its work still to do; declared order on ties
        cls = max(self.remaining, key=lambda c: self.remaining[c] / self.initial[c])
        heap = self.heaps[cls]
        todo = self.todo[cls]
        while True:
            key, node = heap[0]
            if todo[node] == 0:
                heapq.heappop(heap)
                continue
            fresh = self._key(node)
            if fresh != key:
                heapq.heapreplace(heap, (fresh, node))
                continue
            break
        todo[node] -= 1
        self.totals[node] += self.sign
        self.remaining[cls] -= 1
        if self.remaining[cls] == 0:
            del self.remaining[cls]
        self.left -= 1
        return node, cls
