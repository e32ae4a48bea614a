"""The Logs view under a stream of tracebacks: following, folding, filters, search, re-wrapping."""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field

import pytest
from tui_fixtures import T0, FakeController

from tswarm.controller.snapshot import LogLine, RunSnapshot
from tswarm.tui import TswarmApp
from tswarm.tui.widgets import log_view
from tswarm.tui.widgets.log_view import LogLines, LogView

SMALL = (80, 24)


def traceback_line(n: int, source: str = "worker-a1", *, same: bool = False) -> LogLine:
    """A task's traceback as run_log keeps it: one record, its line breaks escaped."""
    what = "cart total does not add up" if same else f"cart {n} does not add up"
    message = (
        "ValueError raised in a task of Shopper:\\nTraceback (most recent call last):\\n"
        '  File "/srv/tests/locustfile.py", line 41, in checkout\\n'
        f"    check(cart)\\nValueError: {what}"
    )
    return LogLine(T0 + n * 0.125, source, "ERROR", message)


@dataclass
class LoggingController(FakeController):
    """The fixture's run, whose log the test extends (the controller keeps the newest 500 lines)."""

    extra: list[LogLine] = field(default_factory=list)

    def snapshot(self) -> RunSnapshot:
        snapshot = super().snapshot()
        return dataclasses.replace(snapshot, logs=(snapshot.logs + tuple(self.extra))[-500:])

    def log(self, lines: list[LogLine]) -> None:
        self.extra.extend(lines)


def _logs_app(controller: LoggingController) -> TswarmApp:
    return TswarmApp(controller)


def _top_entry(lines: LogLines) -> log_view.LogEntry:
    return lines._line_entries[int(lines.scroll_y)]


async def test_following_stops_when_scrolled_up_under_a_stream_of_tracebacks_and_resumes_with_end() -> None:
    controller = LoggingController.running()
    controller.log([traceback_line(n) for n in range(80)])
    app = _logs_app(controller)
    async with app.run_test(size=SMALL) as pilot:
        await pilot.press("6")
        await pilot.pause()
        lines = app.query_one(LogLines)
        assert lines.has_focus and lines.following
        assert lines.scroll_y == lines.max_scroll_y > 0
        await pilot.press(*["up"] * 12)
        await pilot.pause()
        assert not lines.following
        paused_at = lines.scroll_y
        top = _top_entry(lines)
        # ~8 tracebacks a second for 5 seconds, one refresh a second
        for second in range(5):
            controller.log([traceback_line(100 + second * 8 + n) for n in range(8)])
            app.refresh_snapshot()
            await pilot.pause()
        assert not lines.following
        assert lines.scroll_y == paused_at
        assert _top_entry(lines) is top
        assert lines.unseen == 40
        assert "paused: 40 new, End to follow" in str(app.query_one("#logs-state").render())
        await pilot.press("end")
        await pilot.pause()
        assert lines.following and lines.unseen == 0
        assert lines.scroll_y == lines.max_scroll_y
        controller.log([traceback_line(200 + n) for n in range(8)])
        app.refresh_snapshot()
        await pilot.pause()
        assert lines.scroll_y == lines.max_scroll_y
        assert "following the newest" in str(app.query_one("#logs-state").render())


async def test_the_view_stays_still_while_old_entries_are_dropped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(log_view, "MAX_ENTRIES", 60)
    controller = LoggingController.running()
    controller.log([traceback_line(n) for n in range(40)])
    app = _logs_app(controller)
    async with app.run_test(size=SMALL) as pilot:
        await pilot.press("6")
        await pilot.pause()
        lines = app.query_one(LogLines)
        for _ in range(10):
            await pilot.press("up")
        await pilot.pause()
        top = _top_entry(lines)
        controller.log([traceback_line(100 + n) for n in range(25)])  # 60 entries kept: 5+ of the oldest go
        app.refresh_snapshot()
        await pilot.pause()
        assert len(lines.entries) == 60
        assert _top_entry(lines) is top


async def test_repeated_tracebacks_are_folded_with_a_count() -> None:
    controller = LoggingController.running()
    controller.log([traceback_line(n, "worker-a1" if n % 2 else "worker-b2", same=True) for n in range(30)])
    app = _logs_app(controller)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("6")
        await pilot.pause()
        lines = app.query_one(LogLines)
        folded = [entry for entry in lines.entries if entry.count > 1]
        assert len(folded) == 1
        assert folded[0].count == 30 and folded[0].sources == {"worker-a1", "worker-b2"}
        drawn = "\n".join(strip.text for strip in lines._lines)
        assert re.search(
            r"\[x30 on 2 nodes, last \d\d:\d\d:\d\d\] ValueError raised in a task of Shopper:", drawn
        )
        # the escaped line breaks of the record are shown as lines
        assert '\n    File "/srv/tests/locustfile.py", line 41, in checkout\n      check(cart)\n' in drawn
        # an equal line further back than the fold window starts a new entry
        controller.log(
            [LogLine(T0 + 10 + n, "master", "INFO", f"line {n}") for n in range(log_view.FOLD_WINDOW)]
        )
        controller.log([traceback_line(999, same=True)])
        app.refresh_snapshot()
        await pilot.pause()
        assert [entry.count for entry in lines.entries if "ValueError" in entry.line.message] == [30, 1]


async def test_filter_by_level_and_node_and_search() -> None:
    controller = LoggingController.running()
    app = _logs_app(controller)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("6")
        await pilot.pause()
        lines = app.query_one(LogLines)

        def shown() -> list[LogLine]:
            return [entry.line for entry in lines.entries if lines._shown(entry)]

        assert len(shown()) == 20
        await pilot.press("l")  # warnings and up
        assert {line.level for line in shown()} == {"WARNING", "ERROR"}
        await pilot.press("l")  # errors
        assert {line.level for line in shown()} == {"ERROR"}
        await pilot.press("l")  # all again
        assert len(shown()) == 20
        await pilot.press("o")  # the master alone
        assert {line.source for line in shown()} == {"master"}
        await pilot.press("o")
        assert {line.source for line in shown()} == {"worker-a1"}
        await pilot.press("o", "o", "o")  # worker-b2, worker-c3, all
        assert len(shown()) == 20
        # "/" searches the logs on this view (it filters the statistics on theirs)
        await pilot.press("slash", *"LATE")
        await pilot.pause()
        assert shown() and all("late" in line.message for line in shown())
        assert len(lines._lines) == len(shown())
        await pilot.press("enter")
        assert lines.has_focus and lines.search == "LATE"
        await pilot.press("escape")
        assert lines.search == "" and len(shown()) == 20
        assert app.active_view == "logs"


async def test_lines_are_rewrapped_when_the_terminal_is_resized() -> None:
    controller = LoggingController.running()
    controller.log([LogLine(T0 + 200, "master", "INFO", "word " * 60)])
    app = _logs_app(controller)
    async with app.run_test(size=(160, 40)) as pilot:
        await pilot.press("6")
        await pilot.pause()
        lines = app.query_one(LogLines)
        wide = len(lines._lines)
        await pilot.resize_terminal(80, 24)
        await pilot.pause()
        assert len(lines._lines) > wide
        assert max(strip.cell_length for strip in lines._lines) <= lines.scrollable_content_region.width
        assert lines.scroll_y == lines.max_scroll_y


async def test_a_log_view_is_a_log_view() -> None:
    app = _logs_app(LoggingController.running())
    async with app.run_test(size=SMALL) as pilot:
        await pilot.press("6")
        assert isinstance(app.query_one("#logs-view"), LogView)


async def test_lines_that_arrive_as_the_view_is_shown_are_drawn() -> None:
    controller = LoggingController.running()
    app = _logs_app(controller)
    async with app.run_test(size=SMALL) as pilot:
        await pilot.pause()
        await pilot.press("6")
        await pilot.pause()
        lines = app.query_one(LogLines)
        await pilot.press("1")
        await pilot.pause()
        controller.log([traceback_line(n) for n in range(3)])
        app.refresh_snapshot()  # taken while another view shows: the Logs view is not drawn
        await pilot.press("6")  # the view is handed the new lines before it is laid out again
        await pilot.pause()
        drawn = "\n".join(strip.text for strip in lines._lines)
        assert drawn.count("ValueError raised in a task") == 3
