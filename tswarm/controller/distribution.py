"""Which users each worker is to run while a test goes on, moved towards the goal at the spawn rate.

Plain logic over :mod:`tswarm.dispatch` and the shared :class:`~tswarm.ramp.SpawnRamp`: it says what to
send, the master sends it. May import tswarm.dispatch, tswarm.ramp and controller.workers.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from tswarm.controller.workers import WorkerNode
from tswarm.dispatch import assign, worker_order
from tswarm.ramp import SpawnRamp

__all__ = ["UserDistribution"]


class UserDistribution:
    """The users per class of the test, and the share each live worker was told to run.

    Each :meth:`tick` moves the workers' targets one ramp step towards an even share of
    :attr:`class_counts` over the live workers, so ramp-up, ramp-down and rebalancing (a worker joined
    or went missing) all go at the spawn rate.
    """

    def __init__(self) -> None:
        #: users per class the test asks for
        self.class_counts: dict[str, int] = {}
        #: node id -> users per class that worker was last told to run
        self.targets: dict[str, dict[str, int]] = {}
        #: node id -> users per class at the end of the ramp, as of the last tick
        self.desired: dict[str, dict[str, int]] = {}
        self.ramp = SpawnRamp()
        self._resend: set[str] = set()

    @property
    def spawn_rate(self) -> float:
        return self.ramp.spawn_rate

    def new_test(self) -> None:
        """A test starts: no worker has been told anything yet."""
        self.targets = {}
        self._resend = set()

    def set_goal(self, class_counts: dict[str, int], spawn_rate: float) -> None:
        """Go to ``class_counts`` users at ``spawn_rate`` users/s (the first user at once)."""
        self.class_counts = class_counts
        self.ramp.restart(spawn_rate)

    def clear(self) -> None:
        """The test stops: no users anywhere."""
        self.targets = {}
        self.class_counts = {}

    def forget(self, node_id: str) -> None:
        """The worker went missing, quit or restarted: it runs nothing of ours."""
        self.targets.pop(node_id, None)

    def adopt(self, node_id: str, counts: Mapping[str, int]) -> None:
        """A missing worker is back, probably still running ``counts``: start from them, and send it its
        target at the next tick even if that did not change."""
        self.targets[node_id] = dict(counts)
        self._resend.add(node_id)

    def tick(self, elapsed: float, live: Iterable[WorkerNode]) -> dict[str, dict[str, int]]:
        """One ramp step, ``elapsed`` seconds after the previous one, over the ``live`` workers.

        Returns:
            node id -> users per class (non-zero counts only), for each worker whose target changed
            (or that is to be told again): the ``spawn`` messages to send.
        """
        order = worker_order([(w.node_id, w.host) for w in live])
        desired = assign(self.class_counts, order)
        current = {node: self.targets.get(node, {}) for node in order}
        new = self.ramp.advance(elapsed, current, desired)
        self.targets = {node: new[node] for node in order}
        self.desired = desired
        changed = {
            node: _nonzero(new[node])
            for node in order
            if node in self._resend or _nonzero(new[node]) != _nonzero(current[node])
        }
        self._resend.clear()
        return changed

    def complete(self, live: Iterable[WorkerNode]) -> bool:
        """True once every live worker was told its final share and reports running exactly that."""
        for worker in live:
            target = _nonzero(self.targets.get(worker.node_id, {}))
            if target != _nonzero(self.desired.get(worker.node_id, {})):
                return False
            if target != _nonzero(worker.user_classes_count):
                return False
        told = sum(sum(counts.values()) for counts in self.targets.values())
        return told == sum(self.class_counts.values())


def _nonzero(counts: Mapping[str, int]) -> dict[str, int]:
    return {cls: n for cls, n in counts.items() if n}
