"""The Workers view: one row per worker, missing ones and hot CPUs highlighted."""

from __future__ import annotations

from rich.text import Text

from tswarm.controller.formatting import format_age, format_bytes, format_count, format_percent, format_rps
from tswarm.controller.snapshot import RunSnapshot, WorkerState
from tswarm.tui.widgets.synced_table import Cell, ColumnSpec, SyncedTable

__all__ = ["LATE_BEATS", "WorkersView"]

#: a heartbeat older than this many intervals is shown as late (amber)
LATE_BEATS = 2

_COLUMNS = (
    ColumnSpec("id", "ID"),
    ColumnSpec("host", "Host"),
    ColumnSpec("state", "State"),
    ColumnSpec("users", Text("Users", justify="right")),
    ColumnSpec("cpu", Text("CPU", justify="right")),
    ColumnSpec("memory", Text("Memory", justify="right")),
    ColumnSpec("heartbeat", Text("Heartbeat", justify="right")),
    ColumnSpec("rps", Text("RPS", justify="right")),
)


class WorkersView(SyncedTable):
    """One row per worker. A heartbeat older than two beats is amber; a missing worker's figures are its
    last ones, greyed, and counted in no total (the header leaves them out too)."""

    COMPONENT_CLASSES = {
        "workers-view--missing",
        "workers-view--stale",
        "workers-view--late",
        "workers-view--cpu-warning",
    }

    DEFAULT_CSS = """
    WorkersView {
        height: 1fr;
        & > .workers-view--missing { color: $text-error; text-style: bold; }
        & > .workers-view--stale { color: $text-disabled; }
        & > .workers-view--late { color: $text-warning; text-style: bold; }
        & > .workers-view--cpu-warning { color: $text-warning; text-style: bold; }
    }
    """

    def update_snapshot(self, snapshot: RunSnapshot) -> None:
        rows: list[tuple[str, list[Cell]]] = []
        late_after = LATE_BEATS * snapshot.heartbeat_interval
        for worker in sorted(snapshot.workers, key=lambda w: w.index):
            missing = worker.state is WorkerState.MISSING
            stale = self.get_component_rich_style("workers-view--stale", partial=True) if missing else ""
            state = Text(worker.state.value)
            if missing:
                state.stylize(self.get_component_rich_style("workers-view--missing", partial=True))
            cpu = Text(format_percent(worker.cpu_percent / 100), style=stale, justify="right")
            if worker.cpu_warning and not missing:
                cpu.stylize(self.get_component_rich_style("workers-view--cpu-warning", partial=True))
            heartbeat = Text(format_age(worker.heartbeat_age), justify="right")
            if missing or worker.heartbeat_age > late_after:
                heartbeat.stylize(self.get_component_rich_style("workers-view--late", partial=True))
            rows.append(
                (
                    worker.node_id,
                    [
                        Text(worker.node_id, style=stale),
                        Text(worker.host, style=stale),
                        state,
                        Text(format_count(worker.user_count), style=stale, justify="right"),
                        cpu,
                        Text(format_bytes(worker.memory_bytes), style=stale, justify="right"),
                        heartbeat,
                        Text(format_rps(worker.rps), style=stale, justify="right"),
                    ],
                )
            )
        self.sync(_COLUMNS, rows)
