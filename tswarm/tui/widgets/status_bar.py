"""The line (or two, when narrow) at the top: host, state, users, workers, throughput, time."""

from __future__ import annotations

from rich.text import Text
from textual.geometry import Size
from textual.widget import Widget

from tswarm.controller.formatting import format_count, format_duration, format_percent, format_rps
from tswarm.controller.snapshot import CheckStatus, RunSnapshot, RunState, WorkerState

__all__ = ["StatusBar"]

_SEPARATOR = " │ "

_ACTIVE = (RunState.SPAWNING, RunState.RUNNING)
#: the worker states that count as running users in the header
_WORKER_RUNNING = (WorkerState.SPAWNING, WorkerState.RUNNING)

_STATE_CLASS = {
    RunState.WAITING: "status-bar--waiting",
    RunState.READY: "status-bar--idle",
    RunState.SPAWNING: "status-bar--running",
    RunState.RUNNING: "status-bar--running",
    RunState.STOPPING: "status-bar--waiting",
    RunState.STOPPED: "status-bar--idle",
}


class StatusBar(Widget):
    """Packs the run's headline figures into as few lines as the width allows, never splitting one."""

    COMPONENT_CLASSES = {
        "status-bar--label",
        "status-bar--running",
        "status-bar--waiting",
        "status-bar--idle",
        "status-bar--bad",
        "status-bar--warn",
    }

    DEFAULT_CSS = """
    StatusBar {
        height: auto;
        padding: 0 1;
        background: $panel;
        & > .status-bar--label { color: $text-muted; }
        & > .status-bar--running { color: $text-success; text-style: bold; }
        & > .status-bar--waiting { color: $text-warning; text-style: bold; }
        & > .status-bar--idle { color: $text-accent; text-style: bold; }
        & > .status-bar--bad { color: $text-error; text-style: bold; }
        & > .status-bar--warn { color: $text-warning; }
    }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._snapshot: RunSnapshot | None = None

    def update_snapshot(self, snapshot: RunSnapshot) -> None:
        """Draw ``snapshot`` (re-lays out only when the number of lines may change)."""
        self._snapshot = snapshot
        self.refresh(layout=True)

    def _segments(self) -> list[Text]:
        snap = self._snapshot
        if snap is None:
            return [Text("connecting…")]
        label = self.get_component_rich_style("status-bar--label")

        def field(name: str, value: str | Text) -> Text:
            return Text.assemble((name + " ", label), value)

        state = Text(snap.state.value.upper(), self.get_component_rich_style(_STATE_CLASS[snap.state]))
        active = snap.state in _ACTIVE
        live_rows = [w for w in snap.workers if w.state is not WorkerState.MISSING]
        if active and not snap.workers_ready:
            # a started test with no worker to run it waits, it does not spawn
            state = Text(
                RunState.WAITING.value.upper(), self.get_component_rich_style(_STATE_CLASS[RunState.WAITING])
            )
        # The counts leave missing workers out: they run nothing that is counted (see the Workers view).
        if active:
            running = sum(1 for w in live_rows if w.state in _WORKER_RUNNING)
            workers = Text(f"{running}/{snap.workers_ready}")
        else:
            workers = Text(f"{snap.workers_ready}")
        if snap.workers_missing:
            workers.append(
                f" ({snap.workers_missing} missing)", self.get_component_rich_style("status-bar--bad")
            )
        fail_percent = snap.total.fail_ratio * 100
        fails = Text(format_percent(snap.total.fail_ratio))
        if fail_percent > 0:
            fails.stylize(
                self.get_component_rich_style("status-bar--bad" if fail_percent > 5 else "status-bar--warn")
            )
        segments = [state]
        if snap.state is RunState.STOPPED and snap.started_at is not None:
            state.append(f" after {format_duration(snap.elapsed)}", label)
            elapsed = None
        else:
            elapsed = Text(format_duration(snap.elapsed))
            if snap.remaining is not None and active:
                elapsed.append(f" ({format_duration(snap.remaining)} left)", label)
        # After a stop nothing runs: the current rate is 0, not the last second's.
        rps = snap.total.current_rps if active or snap.state is RunState.STOPPING else 0.0
        segments += [
            Text(snap.host or "no host"),
            field("users", f"{format_count(snap.user_count)}/{format_count(snap.target_user_count)}"),
            field("workers", workers),
            Text.assemble(format_rps(rps), (" RPS", label)),
            Text.assemble(format_count(snap.total.num_requests), (" reqs", label)),
            Text.assemble(fails, (" failed", label)),
        ]
        if elapsed is not None:
            segments.append(elapsed)
        return segments + self._check_segments(snap)

    def _check_segments(self, snap: RunSnapshot) -> list[Text]:
        """The --check badge (none without checks), and why the test stopped when a check stopped it."""
        if not snap.checks:
            return []
        total = len(snap.checks)
        breached = sum(1 for c in snap.checks if c.status is CheckStatus.BREACHED)
        pending = sum(1 for c in snap.checks if c.status is CheckStatus.PENDING)
        if breached:
            badge = Text(
                f"✗ {breached} of {total} breached", self.get_component_rich_style("status-bar--bad")
            )
        elif pending:
            badge = Text(
                f"✓ {total - pending}/{total}, {pending} waiting",
                self.get_component_rich_style("status-bar--warn"),
            )
        else:  # the running state's green: all good
            badge = Text(f"✓ {total}/{total}", self.get_component_rich_style("status-bar--running"))
        segments = [Text.assemble(("checks ", self.get_component_rich_style("status-bar--label")), badge)]
        if snap.stopped_by_check and snap.state in (RunState.STOPPING, RunState.STOPPED):
            segments.append(
                Text(
                    f"stopped by check {snap.stopped_by_check}",
                    self.get_component_rich_style("status-bar--bad"),
                )
            )
        return segments

    def _lines(self, width: int) -> list[Text]:
        lines: list[Text] = []
        line = Text()
        for segment in self._segments():
            if line and line.cell_len + len(_SEPARATOR) + segment.cell_len > width:
                lines.append(line)
                line = Text()
            if line:
                line.append(_SEPARATOR, self.get_component_rich_style("status-bar--label"))
            line.append_text(segment)
        lines.append(line)
        return lines

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        return len(self._lines(width))

    def render(self) -> Text:
        return Text("\n").join(self._lines(self.content_size.width or 80))
