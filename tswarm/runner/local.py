"""The runner of a one-process test: users run here, and this process holds the test's state."""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

import gevent
import gevent.event

from tswarm.dispatch import class_counts
from tswarm.protocol import Message, RunState, custom_payload
from tswarm.ramp import SHAPE_TICK, ShapeStepper, SpawnRamp, describe_counts, pending_moves
from tswarm.runner.base import UserRunner

if TYPE_CHECKING:
    from tswarm.roles import RunEnvironment

log = logging.getLogger("tswarm.runner")

#: how often the spawner moves the user counts towards the target
SPAWN_TICK = 0.1
#: the sender (``msg.node_id``) of the custom messages a local runner sends itself, as in Locust
LOCAL_SENDER = "local"


class LocalRunner(UserRunner):
    """Runs every user in this process; custom messages it sends are handled by itself.

    Neither a MasterRunner nor a WorkerRunner, as in Locust.
    """

    def __init__(self, environment: RunEnvironment) -> None:
        super().__init__(environment)
        self.target_user_count = 0
        self.started_at: float | None = None
        self._target: dict[str, int] = {}
        self._ramp = SpawnRamp()
        self._spawner: gevent.Greenlet | None = None
        self._shape_greenlet: gevent.Greenlet | None = None
        self._run_timer: gevent.Greenlet | None = None
        self.stopped = gevent.event.Event()
        self._quitted = gevent.event.Event()
        self._greenlet: gevent.Greenlet | None = None
        self.worker_index = 0
        self.worker_count = 1

    # -- control ------------------------------------------------------------------------------------

    def start(self, user_count: int, spawn_rate: float, user_classes: list[type] | None = None) -> None:
        """Move to ``user_count`` users at ``spawn_rate`` users/s; starts the test if it is not running."""
        if user_count < 0:
            raise ValueError("user_count must be >= 0")
        if spawn_rate <= 0:
            raise ValueError("spawn_rate must be > 0")
        self.target_user_count = user_count  # already known to test_start listeners, as in Locust
        if self.state in (RunState.READY, RunState.STOPPED):
            self.stopped.clear()
            self.started_at = time.time()
            self.environment.stats.reset_all()
            self.environment.events.test_start.fire(environment=self.environment)
        classes = user_classes or self.environment.user_classes
        self._target = class_counts(classes, user_count)
        self._ramp.restart(spawn_rate)
        self.state = RunState.SPAWNING
        if self._spawner is None or self._spawner.dead:
            self._spawner = gevent.spawn(self._spawn_loop)

    @property
    def spawn_rate(self) -> float:
        """Users started or stopped per second on the way to the target."""
        return self._ramp.spawn_rate

    def _spawn_loop(self) -> None:
        last = time.monotonic()
        while True:
            now = time.monotonic()
            current = {"local": dict(self.assigned)}
            desired = {"local": self.reachable(self._target)}
            if not pending_moves(current, desired):
                break
            new = self._ramp.advance(now - last, current, desired)
            last = now
            if new != current:
                self.set_users(new["local"])
            gevent.sleep(SPAWN_TICK)
        self.state = RunState.RUNNING
        count = self.user_count
        log.info("All users spawned: %s (%d total)", describe_counts(self._target), count)
        self.environment.events.spawning_complete.fire(user_count=count)
        if self.environment.reset_stats:
            log.info("Resetting stats (--reset-stats)")
            self.reset_stats()

    def reset_stats(self) -> None:
        self.environment.stats.reset_all()
        self.environment.events.reset_stats.fire()

    def start_shape(self) -> None:
        """Let the environment's LoadTestShape drive users and spawn rate until its tick() says stop."""
        shape = self.environment.shape_class
        if shape is None:
            raise ValueError("the environment has no LoadTestShape")
        self._shape_greenlet = gevent.spawn(self._shape_loop, ShapeStepper(shape, self))

    def _shape_loop(self, stepper: ShapeStepper) -> None:
        while self.state != RunState.STOPPED:
            step = stepper.tick()
            if stepper.ended:
                log.info("The load shape ended the test")
                gevent.spawn(self.stop)
                return
            if step is not None:
                self.start(step.user_count, step.spawn_rate, user_classes=step.user_classes)
            gevent.sleep(SHAPE_TICK)

    def stop_after(self, seconds: float) -> None:
        """End the test ``seconds`` from now (-t/--run-time)."""
        self._run_timer = gevent.spawn_later(seconds, self._time_limit_reached)

    def _time_limit_reached(self) -> None:
        log.info("Run time limit reached, stopping the test")
        self.stop()

    def request_test_stop(self) -> None:
        """Stop the test soon; safe to call from a user's greenlet (StopTest)."""
        gevent.spawn(self.stop)

    def _hand_over_if_called_by_a_user(self, action: Any) -> bool:
        """Run ``action`` in a greenlet of its own when a user's greenlet called it, and yield to it.

        ``runner.stop()``/``runner.quit()`` from a task or from a listener that runs in a user (a common
        way to end a test on a condition): the user cannot kill the group it belongs to and wait for it,
        so another greenlet does the stopping; the calling user then ends with the others (at this
        switch when the stop is immediate, after its task with --stop-timeout), as in Locust.
        """
        if gevent.getcurrent() not in self.user_greenlets:
            return False
        gevent.spawn(action)
        gevent.sleep(0)
        return True

    def stop(self) -> None:
        """Stop all users (gracefully within the stop timeout) and end the test."""
        if self._hand_over_if_called_by_a_user(self.stop):
            return
        if self.state in (RunState.STOPPING, RunState.STOPPED) or self.started_at is None:
            self.stopped.set()
            return
        self.state = RunState.STOPPING
        for greenlet in (self._spawner, self._shape_greenlet, self._run_timer):
            if greenlet is not None and greenlet is not gevent.getcurrent():
                greenlet.kill(block=False)
        self.environment.events.test_stopping.fire(environment=self.environment)
        self.stop_all_users()
        self.state = RunState.STOPPED
        self.environment.events.test_stop.fire(environment=self.environment)
        self.stopped.set()

    def quit(self) -> None:
        """Stop the test (see :meth:`stop`) and release the runner; ``runner.greenlet`` ends."""
        if self._hand_over_if_called_by_a_user(self.quit):
            return
        self.stop()
        self.close()
        self._quitted.set()

    @property
    def greenlet(self) -> gevent.Greenlet:
        """A greenlet that ends when the runner quits: ``runner.greenlet.join()`` as in Locust, for a
        test driven from Python."""
        if self._greenlet is None:
            self._greenlet = gevent.spawn(self._quitted.wait)
        return self._greenlet

    # -- custom messages: a local runner handles what it sends ---------------------------------------

    def send_message(self, msg_type: str, data: Any = None, client_id: str | None = None) -> None:
        """Hand a custom message to this runner's own handler of ``msg_type`` (any name), at once.

        Raises:
            TypeError: ``msg_type`` is not a str, as it would be refused on the wire.
        """
        custom_payload(msg_type, data)
        self._handle_custom_message(Message(msg_type, data, LOCAL_SENDER))
