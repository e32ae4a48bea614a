"""The Workers view: one row per worker, missing ones and hot CPUs highlighted."""

from __future__ import annotations

from rich.text import Text

from tswarm.controller.formatting import format_age, format_bytes, format_count, format_percent, format_rps
from tswarm.controller.snapshot import RunSnapshot, WorkerState
from tswarm.tui.widgets.synced_table import Cell, ColumnSpec, SyncedTable

__all__ = ["WorkersView"]

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
    COMPONENT_CLASSES = {"workers-view--missing", "workers-view--cpu-warning"}

    DEFAULT_CSS = """
    WorkersView {
        height: 1fr;
        & > .workers-view--missing { color: $text-error; text-style: bold; }
        & > .workers-view--cpu-warning { color: $text-warning; text-style: bold; }
    }
    """

    def update_snapshot(self, snapshot: RunSnapshot) -> None:
        rows: list[tuple[str, list[Cell]]] = []
        for worker in sorted(snapshot.workers, key=lambda w: w.index):
            state = Text(worker.state.value)
            if worker.state is WorkerState.MISSING:
                state.stylize(self.get_component_rich_style("workers-view--missing", partial=True))
            cpu = Text(format_percent(worker.cpu_percent / 100), justify="right")
            if worker.cpu_warning:
                cpu.stylize(self.get_component_rich_style("workers-view--cpu-warning", partial=True))
            rows.append(
                (
                    worker.node_id,
                    [
                        worker.node_id,
                        worker.host,
                        state,
                        Text(format_count(worker.user_count), justify="right"),
                        cpu,
                        Text(format_bytes(worker.memory_bytes), justify="right"),
                        Text(format_age(worker.heartbeat_age), justify="right"),
                        Text(format_rps(worker.rps), justify="right"),
                    ],
                )
            )
        self.sync(_COLUMNS, rows)
