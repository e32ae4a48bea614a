"""The TUI's tables (issue 11): names you can tell apart at every size, sorting by header and key, the
status line after a stop and without workers, honest worker figures, failures and grouped exceptions.

Pilot tests against deterministic snapshots; the 60 REST names come from tests/locustfiles/rest_api_60.py.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import io
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console
from rich.text import Text
from textual.widgets import DataTable, Static
from tui_fixtures import FakeController, make_snapshot

from tswarm.controller.elide import common_stem, elide_middle, elide_name
from tswarm.controller.formatting import format_rps
from tswarm.controller.snapshot import EntryRow, ExceptionRow, FailureRow, RunSnapshot, RunState, WorkerState
from tswarm.tui import TswarmApp
from tswarm.tui.widgets.exceptions_view import ExceptionsView, group_exceptions
from tswarm.tui.widgets.failures_view import FailuresView, status_of
from tswarm.tui.widgets.stats_view import TOTAL_KEY, StatsView
from tswarm.tui.widgets.status_bar import StatusBar
from tswarm.tui.widgets.workers_view import WorkersView


def _load_rest_names() -> tuple[tuple[str, str], ...]:
    path = Path(__file__).parent / "locustfiles" / "rest_api_60.py"
    spec = importlib.util.spec_from_file_location("rest_api_60", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    names: tuple[tuple[str, str], ...] = module.NAMES
    return names


REST_NAMES = _load_rest_names()


def _rest_entry(index: int, method: str, name: str) -> EntryRow:
    requests = 1000 + 37 * index
    return EntryRow(
        method=method,
        name=name,
        num_requests=requests,
        num_failures=index % 7,
        median_response_time=10.0 + index,
        avg_response_time=12.5 + index,
        min_response_time=1.0,
        max_response_time=900.0 + index,
        avg_content_length=2048.0,
        current_rps=12345.6 if index == 0 else 3.0 + index / 10,  # a wide number must not be clipped
        current_fail_per_sec=0.1 * (index % 7),
        total_rps=3.0,
        percentiles={0.5: 10.0 + index, 0.9: 20.0 + index, 0.95: 30.0 + index, 0.99: 40.0 + 2 * index},
    )


def rest_snapshot(**overrides: Any) -> RunSnapshot:
    entries = tuple(_rest_entry(i, method, name) for i, (method, name) in enumerate(REST_NAMES))
    return dataclasses.replace(make_snapshot(), entries=entries, **overrides)


@dataclasses.dataclass
class SnapshotController(FakeController):
    """A running FakeController that shows a given snapshot."""

    shown: RunSnapshot | None = None

    def snapshot(self) -> RunSnapshot:
        assert self.shown is not None
        return self.shown


def app_showing(snapshot: RunSnapshot) -> TswarmApp:
    return TswarmApp(SnapshotController.running(shown=snapshot))


def plain(cell: object) -> str:
    return cell.plain if isinstance(cell, Text) else str(cell)


# -- names -----------------------------------------------------------------------------------------------


def test_elide_middle_keeps_the_start_and_the_distinctive_end() -> None:
    name = "/api/v2/tenants/{tenant_id}/projects/{project_id}/deployments/{id}/audit-log/entries"
    assert elide_middle(name, len(name)) == name
    for width in (10, 16, 24, 40):
        short = elide_middle(name, width)
        assert len(short) <= width and "…" in short
        head, tail = short.split("…")
        assert name.startswith(head) and name.endswith(tail) and head
        assert len(tail) >= len(head)  # the end is where REST paths differ
    assert elide_middle(name, 24).endswith("/entries")  # a path segment is kept whole
    assert elide_middle("abc", 1) == "…" and elide_middle("abc", 0) == ""


@pytest.mark.parametrize("width", [12, 16, 20, 30])
def test_the_60_rest_names_stay_distinct_when_elided(width: int) -> None:
    names = {name for _, name in REST_NAMES}  # 42 paths; the method has a column of its own
    stem = common_stem(names)
    assert REST_NAMES[0][1][:stem] == "/api/v2/tenants/{tenant_id}/projects/{project_id}"
    shown = {elide_name(name, width, stem) for name in names}
    assert len(shown) == len(names)
    assert all(len(name) <= width for name in shown)
    assert elide_name("/api/v2/short", 20, stem) == "/api/v2/short"
    assert common_stem(["/only/one"]) == 0


@pytest.mark.parametrize("size", [(80, 24), (120, 40), (160, 48)], ids=["80x24", "120x40", "160x48"])
async def test_statistics_names_can_be_told_apart_and_every_column_fits(size: tuple[int, int]) -> None:
    app = app_showing(rest_snapshot())
    async with app.run_test(size=size) as pilot:
        await pilot.pause()
        view = app.query_one(StatsView)
        table = view.table
        columns = list(table.ordered_columns)
        # no column is cut: the table is not wider than its room (scrollbar counted)
        needed = sum(c.get_render_width(table) for c in columns)
        assert needed <= table.size.width - 1, (needed, table.size.width)
        assert "Average" in [c.label.plain for c in columns]
        labels = [c.label.plain for c in columns]
        assert "RPS" in labels and "Name" in labels
        for column in columns:
            assert column.width >= len(column.label.plain), column.label
        keys = [c.key.value for c in columns]
        name_index = keys.index("name")
        type_index = keys.index("type")
        rows = [table.get_row(key) for key in table.row_keys_shown[:-1]]
        names = [plain(row[name_index]) for row in rows]
        assert len({(plain(row[type_index]), plain(row[name_index])) for row in rows}) == 60, names
        assert all(
            name.endswith(full.rsplit("/", 1)[1]) for name, (_, full) in zip(names, REST_NAMES, strict=True)
        )
        width = columns[name_index].width
        assert all(len(name) <= width for name in names)
        rps_index = keys.index("rps")
        rps = [plain(table.get_row(key)[rps_index]) for key in table.row_keys_shown]
        assert all(len(value) <= columns[rps_index].width for value in rps)
        # the cursor row's name in full, below the table
        await pilot.press("down", "down")
        await pilot.pause()
        assert view.full_name_line == table.cursor_key == f"{REST_NAMES[2][0]} {REST_NAMES[2][1]}"
        # sorted: the arrow is counted in the column's width
        await pilot.press("C")
        await pilot.pause()
        rps_column = next(c for c in table.ordered_columns if c.key.value == "rps")
        assert rps_column.label.plain == "RPS ▼" and rps_column.width >= len("RPS ▼")
        needed = sum(c.get_render_width(table) for c in table.ordered_columns)
        assert needed <= table.size.width - 1


async def test_at_60_columns_names_are_cut_further_rather_than_pushing_rps_off_the_edge() -> None:
    app = app_showing(rest_snapshot())
    async with app.run_test(size=(60, 20)) as pilot:
        await pilot.pause()
        table = app.query_one(StatsView).table
        columns = list(table.ordered_columns)
        assert sum(c.get_render_width(table) for c in columns) <= table.size.width - 1
        assert [c.label.plain for c in columns][-1] == "RPS"


# -- sorting -------------------------------------------------------------------------------------------


async def test_header_click_sorts_and_clicking_again_reverses() -> None:
    app = TswarmApp(FakeController.running())
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        view = app.query_one(StatsView)
        table = view.table
        x = 0
        for column in table.ordered_columns:
            if column.key.value == "requests":
                break
            x += column.get_render_width(table)
        await pilot.click("#stats-table", offset=(x + 2, 0))
        await pilot.pause()
        assert view.sort_key == "requests" and not view.sort_reverse
        assert view.table.row_keys_shown[0] == "GET /api/products/[id]"  # most requests first
        await pilot.click("#stats-table", offset=(x + 2, 0))
        await pilot.pause()
        assert view.sort_reverse
        assert view.table.row_keys_shown[0] == "PUT /api/profile"
        assert view.table.row_keys_shown[-1] == TOTAL_KEY


async def test_a_key_per_column_sorts_and_the_help_lists_them() -> None:
    app = TswarmApp(FakeController.running())
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        view = app.query_one(StatsView)
        await pilot.press("M")
        assert view.sort_key == "median" and not view.sort_reverse
        assert view.table.row_keys_shown[0] == "POST /api/checkout"  # the slowest first
        await pilot.press("M")
        assert view.sort_reverse
        await pilot.press("P")
        assert view.sort_key == "p0.95"  # the percentile kept longest first
        await pilot.press("P")
        assert view.sort_key == "p0.99"
        await pilot.press("N")
        assert view.sort_key == "name" and view.table.row_keys_shown[0] == "GET /"
        await pilot.press("s")  # the old keys still work
        assert view.sort_key != "name"
        await pilot.press("question_mark")
        await pilot.pause()
        console = Console(width=200, record=True, file=io.StringIO())
        for static in app.screen.query(Static):
            console.print(static.content)
        help_text = console.export_text()
        help_text = " ".join(help_text.split())
        assert "T Type" in help_text and "C RPS" in help_text and "click a header" in help_text, help_text


async def test_aggregated_says_it_is_over_all_endpoints_when_filtered() -> None:
    app = TswarmApp(FakeController.running())
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        view = app.query_one(StatsView)
        table = view.table
        name_index = [c.key.value for c in table.ordered_columns].index("name")
        assert plain(table.get_row(TOTAL_KEY)[name_index]) == "Aggregated"
        await pilot.press("slash", *"static", "enter")
        await pilot.pause()
        assert plain(table.get_row(TOTAL_KEY)[name_index]) == "Aggregated (all)"
        table.move_cursor(row=len(table.row_keys_shown) - 1)
        await pilot.pause()
        assert view.full_name_line.startswith("Aggregated: all 12 endpoints (2 match the filter")


# -- the status line -----------------------------------------------------------------------------------


def status_text(app: TswarmApp) -> str:
    return app.query_one(StatusBar).render().plain


async def test_status_after_a_stop_says_how_long_it_ran_with_no_rate_and_no_time_left() -> None:
    app = app_showing(make_snapshot(state=RunState.STOPPED, elapsed=134.0, run_time=600.0))
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.pause()
        text = status_text(app)
        assert "STOPPED after 2m14s" in text
        assert "left" not in text
        assert f" {format_rps(0.0)} RPS" in text, text
        stats = app.query_one(StatsView).table
        rps_index = [c.key.value for c in stats.ordered_columns].index("rps")
        assert {plain(stats.get_row(key)[rps_index]) for key in stats.row_keys_shown} == {format_rps(0.0)}


async def test_status_while_running_counts_running_workers_and_leaves_missing_ones_out() -> None:
    app = app_showing(make_snapshot())
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.pause()
        text = status_text(app)
        assert "RUNNING" in text and "(8m25s left)" in text
        assert "workers 2/2 (1 missing)" in text


async def test_status_without_workers_says_waiting_for_workers_not_spawning() -> None:
    app = app_showing(
        make_snapshot(state=RunState.SPAWNING, user_count=0, target_user_count=1, workers=(), workers_ready=0)
    )
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        text = status_text(app)
        assert "WAITING FOR WORKERS" in text and "SPAWNING" not in text
        assert app.check_action("stop", ())  # it can still be stopped


# -- workers -------------------------------------------------------------------------------------------


async def test_missing_worker_is_greyed_and_a_late_heartbeat_is_amber() -> None:
    base = make_snapshot()
    late = dataclasses.replace(base.workers[1], heartbeat_age=2.5)
    app = app_showing(dataclasses.replace(base, workers=(base.workers[0], late, base.workers[2])))
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        await pilot.press("3")
        await pilot.pause()
        table = app.query_one(WorkersView)
        keys = [c.key.value for c in table.ordered_columns]
        heartbeat, users = keys.index("heartbeat"), keys.index("users")
        warning = table.get_component_rich_style("workers-view--late", partial=True)
        stale = table.get_component_rich_style("workers-view--stale", partial=True)

        def styles(cell: Any) -> set[Any]:
            assert isinstance(cell, Text)
            return {span.style for span in cell.spans} | ({cell.style} if cell.style else set())

        fresh_row, late_row, missing_row = (table.get_row(w.node_id) for w in app.snapshot.workers)
        assert warning not in styles(fresh_row[heartbeat])  # 0.4 s: on time
        assert warning in styles(late_row[heartbeat])  # 2.5 s: two beats missed
        assert stale in styles(missing_row[users]) and stale not in styles(fresh_row[users])
        assert app.snapshot.workers[2].state is WorkerState.MISSING


# -- failures and exceptions ---------------------------------------------------------------------------


def test_status_code_is_read_from_the_error() -> None:
    assert status_of("HTTPError('500 Server Error: Internal Server Error')") == "500"
    assert status_of("HTTPError('404 Client Error: Not Found for url: /x')") == "404"
    assert status_of("CatchResponseError('status code 429')") == "429"
    assert status_of("ConnectionResetError(104, 'Connection reset by peer')") == ""


@pytest.mark.parametrize("size", [(80, 24), (160, 48)], ids=["80x24", "160x48"])
async def test_failures_show_count_status_error_then_the_name(size: tuple[int, int]) -> None:
    failures = tuple(
        FailureRow(
            method, name, "HTTPError('500 Server Error: Internal Server Error for url: /x')", 10, 0.0, 1.0
        )
        for method, name in REST_NAMES[:20]
    )
    app = app_showing(dataclasses.replace(make_snapshot(), failures=failures))
    async with app.run_test(size=size) as pilot:
        await pilot.pause()
        await pilot.press("4")
        await pilot.pause()
        await pilot.pause()
        table = app.query_one(FailuresView).query_one(DataTable)
        columns = list(table.ordered_columns)
        assert [c.label.plain for c in columns] == ["Count", "Status", "Error", "Name"]
        assert 0 < sum(c.get_render_width(table) for c in columns) <= table.size.width - 1
        rows = [[plain(cell) for cell in table.get_row(key)] for key in table.rows]
        assert {row[1] for row in rows} == {"500"}
        assert all(row[2].startswith("HTTPError('500 Server Error") for row in rows)
        assert len({row[3] for row in rows}) == 20  # the names stay distinct
        if size[0] >= 160:
            assert rows[0][2] == "HTTPError('500 Server Error: Internal Server Error for url: /x')"


def _value_error(index: int, line: int = 52) -> ExceptionRow:
    message = f"ValueError(unexpected field 'item_{index}' in the reply)"
    traceback = (
        "Traceback (most recent call last):\n"
        '  File "/srv/tswarm/runner/users.py", line 200, in run_task\n    task(self)\n'
        f'  File "/srv/tests/rest_api_60.py", line {line}, in parse_reply\n    raise ValueError(...)\n'
        f"ValueError: unexpected field 'item_{index}' in the reply\n"
    )
    return ExceptionRow(index + 1, message, traceback, (f"worker-{index % 3}",))


def test_exceptions_are_grouped_by_type_and_place() -> None:
    rows = (*(_value_error(i) for i in range(150)), _value_error(0, line=60))
    groups = group_exceptions(rows)
    assert [(g.type, g.where) for g in groups] == [
        ("ValueError", "rest_api_60.py:52 in parse_reply"),
        ("ValueError", "rest_api_60.py:60 in parse_reply"),
    ]
    assert groups[0].count == sum(range(1, 151)) and len(groups[0].variants) == 150
    assert groups[0].variants[0].count == 150  # most frequent message first
    assert groups[0].nodes == ("worker-0", "worker-1", "worker-2")


async def test_exceptions_view_shows_one_row_per_group_and_the_variants_below() -> None:
    exceptions = tuple(_value_error(i) for i in range(150))
    app = app_showing(dataclasses.replace(make_snapshot(), exceptions=exceptions))
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        await pilot.press("5")
        await pilot.pause()
        view = app.query_one(ExceptionsView)
        table = view.query_one(DataTable)
        assert table.row_count == 1
        detail = view.detail(group_exceptions(exceptions)[0])
        assert detail.startswith("150 messages of ValueError at rest_api_60.py:52 in parse_reply:")
        assert "… and 130 more" in detail and "Traceback (most recent call last)" in detail


# -- the controller's side -----------------------------------------------------------------------------


def test_snapshot_leaves_missing_workers_out_and_the_clock_stands_still_after_a_stop() -> None:
    from types import SimpleNamespace

    from tswarm.controller.snapshot_builder import build_snapshot
    from tswarm.controller.workers import WorkerNodes
    from tswarm.stats import RequestStats, StatsHistory

    workers = WorkerNodes()
    alive = workers.add("w-alive", "host-a", 1, 1, b"a")
    gone = workers.add("w-gone", "host-b", 2, 1, b"b")
    alive.user_count, gone.user_count = 7, 5
    workers.mark_missing(gone, "connection closed")
    environment = SimpleNamespace(stats=RequestStats(), host="http://target", user_classes=[])
    common: dict[str, Any] = dict(
        environment=environment,
        workers=workers,
        started_at=1000.0,
        run_time=None,
        target_user_count=12,
        spawn_rate=1.0,
        history=StatsHistory(),
        logs=(),
        percentiles=(0.5, 0.95),
    )
    running = build_snapshot(state=RunState.RUNNING, heartbeat_interval=2.0, **common)
    assert running.user_count == 7 and running.workers_ready == 1 and running.workers_missing == 1
    assert running.heartbeat_interval == 2.0
    assert {w.node_id: w.state for w in running.workers}["w-gone"] is WorkerState.MISSING
    # stopped at 1134 and reset (no last request): 2m14s, not a clock that runs on
    stopped = build_snapshot(state=RunState.STOPPED, stopped_at=1134.0, **common)
    assert stopped.elapsed == 134.0
