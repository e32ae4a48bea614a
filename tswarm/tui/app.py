"""The tswarm full-screen app: draws the controller's snapshots and sends it the user's commands.

The app only talks to a :class:`~tswarm.controller.api.RunController`. The controller's commands
only queue work, so the app calls them straight from its handlers; ``write_outputs`` waits until the
files are written, so it runs on a worker thread and reports with a notification. The app reads
``snapshot()`` on a timer (about once a second) and redraws the visible view from it.
"""

from __future__ import annotations

import dataclasses
import os
import time
from pathlib import Path

from textual import work
from textual.app import App, ComposeResult
from textual.css.query import NoMatches
from textual.events import Resize
from textual.theme import Theme
from textual.timer import Timer
from textual.widgets import DataTable, Footer, TabbedContent, TabPane
from textual.worker import Worker, WorkerState

from tswarm.controller.api import RunController
from tswarm.controller.snapshot import RunSnapshot, RunState
from tswarm.tui.bindings import KEY_ACTIONS, VIEWS, app_bindings
from tswarm.tui.commands import TswarmCommands
from tswarm.tui.screens.endpoint import EndpointScreen, entry_for_row_key
from tswarm.tui.screens.help import HelpScreen
from tswarm.tui.screens.quit import QuitScreen
from tswarm.tui.screens.spawn import SpawnRequest, SpawnScreen
from tswarm.tui.screens.too_small import TooSmallScreen, too_small
from tswarm.tui.screens.write import WriteScreen
from tswarm.tui.settings import load_theme, save_theme
from tswarm.tui.svg import svg_for_every_renderer
from tswarm.tui.widgets.charts_view import ChartsView
from tswarm.tui.widgets.checks_view import ChecksView
from tswarm.tui.widgets.distributions_view import DistributionsView
from tswarm.tui.widgets.exceptions_view import ExceptionsView
from tswarm.tui.widgets.failures_view import FailuresView
from tswarm.tui.widgets.log_view import LogView
from tswarm.tui.widgets.stats_view import TOTAL_KEY, StatsView
from tswarm.tui.widgets.status_bar import StatusBar
from tswarm.tui.widgets.workers_view import WorkersView

__all__ = ["TswarmApp"]

#: states in which users are (being) run: the test can be stopped, edited, grown or shrunk
_ACTIVE = frozenset({RunState.SPAWNING, RunState.RUNNING})
#: actions that only mean something on the Statistics view
_STATS_ACTIONS = frozenset({"filter", "sort", "reverse_sort", "sort_by"})
#: from this width on, the footer also shows the command palette key and the secondary keys
WIDE_FOOTER = 100
#: the footer's secondary keys: the view keys are on the tabs, filter and sort in the filter box
_SECONDARY_KEYS = frozenset(
    entry.keys.split(",")[0]
    for entry in KEY_ACTIONS
    if entry.action in _STATS_ACTIONS or entry.action.startswith("view(")
)
#: the footer's keys that give way to the Charts view's keys in a narrow footer
_ROOM_FOR_CHART_KEYS = frozenset({"ctrl+s"})
#: the tab labels when the terminal is too narrow for the titles
_SHORT_TITLES = {
    "stats": "Stats",
    "charts": "Chart",
    "workers": "Work",
    "failures": "Fail",
    "exceptions": "Exc",
    "logs": "Logs",
    "distributions": "Dist",
    "checks": "Chk",
}
#: seconds a +/-/]/[ target waits to show in a snapshot before the snapshot's target counts again
REQUESTED_TARGET_PATIENCE = 5.0
#: the worker group of the thread that writes the --csv/--json files
_WRITE_GROUP = "write-outputs"


class TswarmApp(App[None]):
    """The master's front-end.

    Args:
        controller: the test's controller (real, or a fake in tests).
        autostart: ``(users, spawn_rate)`` to start at once instead of asking.
        defaults: the figures the start dialog offers first (the command line's -u, -r, -H, -t);
            ``defaults.run_time`` also limits an autostarted test.
        autoquit: seconds to wait after the test stopped (having run) before quitting; None = stay.
        title: shown in the terminal title and screenshots.
        percentiles: the percentile columns of the statistics (default: the snapshot's).
        settings_file: remembers the theme chosen (``tui.settings.settings_path()``); None: not kept.
    """

    CSS_PATH = "app.tcss"
    # No auto-focus: on closing a dialog it would focus the statistics table when the view shown has
    # nothing to focus (Charts), and focusing it switches to Statistics. on_mount focuses it once.
    AUTO_FOCUS = ""
    BINDINGS = app_bindings()  # type: ignore[assignment]  # list[Binding] is what App.BINDINGS holds
    COMMANDS = App.COMMANDS | {TswarmCommands}
    #: seconds between two snapshots
    REFRESH_INTERVAL = 1.0

    def __init__(
        self,
        controller: RunController,
        *,
        autostart: tuple[int, float] | None = None,
        autoquit: float | None = None,
        title: str = "tswarm",
        percentiles: tuple[float, ...] | None = None,
        defaults: SpawnRequest | None = None,
        settings_file: Path | None = None,
    ) -> None:
        super().__init__()
        #: where the chosen theme is remembered (None: nowhere, as in tests)
        self.settings_file = settings_file
        self.controller = controller
        self.autostart = autostart
        self.autoquit = autoquit if autoquit is None or autoquit >= 0 else None
        self.title = title
        self.percentiles = percentiles
        self.snapshot: RunSnapshot | None = None
        self._has_run = False
        self._autoquit_timer: Timer | None = None
        #: the user target asked for with +/-/]/[ until a snapshot shows it, so quick presses add up
        #: (the controller's snapshot is rebuilt about once a second, after the app's own refresh)
        self._requested_target: int | None = None
        #: monotonic time of the last +/-/]/[ press
        self._requested_at = 0.0
        #: the last start request, to prefill the start dialog
        self._last_request: SpawnRequest | None = defaults

    # ---- layout and refresh -------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield StatusBar(id="status")
        with TabbedContent(initial="stats", id="views"):
            for number, (pane, title) in enumerate(VIEWS, start=1):
                with TabPane(f"{number} {title}", id=pane):
                    yield self._make_view(pane)
        yield Footer(compact=True)

    def _make_view(
        self, pane: str
    ) -> (
        StatsView
        | ChartsView
        | WorkersView
        | FailuresView
        | ExceptionsView
        | LogView
        | DistributionsView
        | ChecksView
    ):
        match pane:
            case "stats":
                return StatsView(percentiles=self.percentiles, id="stats-view")
            case "charts":
                return ChartsView(id="charts-view")
            case "workers":
                return WorkersView(id="workers-view")
            case "failures":
                return FailuresView(id="failures-view")
            case "exceptions":
                return ExceptionsView(id="exceptions-view")
            case "logs":
                return LogView(id="logs-view")
            case "distributions":
                return DistributionsView(id="distributions-view")
            case "checks":
                return ChecksView(id="checks-view")
        raise ValueError(pane)

    def on_mount(self) -> None:
        self._remember_theme()
        if self.autostart is not None:
            users, rate = self.autostart
            defaults = self._last_request
            self.controller.start(
                users, rate, defaults.host if defaults else None, defaults.run_time if defaults else None
            )
            self._has_run = True
        self.refresh_snapshot()
        self.set_interval(self.REFRESH_INTERVAL, self.refresh_snapshot)
        # The panes of the TabbedContent are not focusable until laid out; focus the table after that.
        self.call_after_refresh(self._focus_first_table)
        if self.autostart is None and self.snapshot is not None and self.snapshot.state is RunState.READY:
            self.action_spawn()

    def _focus_first_table(self) -> None:
        # unless a key (say 6) has already moved the focus to another view; the start dialog may be
        # open over the main screen: the table gets the main screen's focus for when it closes
        main = self.screen_stack[0]
        if main.focused is None and self.active_view == "stats":
            main.set_focus(main.query_one("#stats-table"))

    @property
    def active_view(self) -> str:
        return self.query_one("#views", TabbedContent).active

    def refresh_snapshot(self) -> None:
        """Take a new snapshot from the controller and redraw the status bar and the visible view."""
        try:
            status_bar = self.screen_stack[0].query_one(StatusBar)
        except (IndexError, NoMatches):
            return  # the interval can fire once more while the app takes its screens down
        previous = self.snapshot
        snapshot = self.controller.snapshot()
        self.snapshot = snapshot
        self._forget_reached_target(snapshot)
        with self.batch_update():
            status_bar.update_snapshot(snapshot)
            self._draw_view(self.active_view)
        if previous is None or previous.state is not snapshot.state:
            self.refresh_bindings()
        self._check_autoquit(snapshot)

    def _forget_reached_target(self, snapshot: RunSnapshot) -> None:
        requested = self._requested_target
        if requested is None:
            return
        # Reached, or the test stopped, or the controller settled elsewhere (a shape, a clamp): the
        # snapshot is the truth again.
        stale = time.monotonic() - self._requested_at > REQUESTED_TARGET_PATIENCE
        if snapshot.target_user_count == requested or snapshot.state not in _ACTIVE or stale:
            self._requested_target = None

    def _draw_view(self, pane: str) -> None:
        if self.snapshot is None or not pane:
            return
        self.query_one(f"#{pane}-view").update_snapshot(self.snapshot)  # type: ignore[attr-defined]

    def on_resize(self, event: Resize) -> None:
        self._fit_to_terminal(event.size.width, event.size.height)
        # At 80 columns the footer cannot hold every key: keep the room for the run's commands; the
        # palette (ctrl+p) is listed in the help screen, the view keys on the tabs and the filter and
        # sort keys in the filter box.
        wide = event.size.width >= WIDE_FOOTER
        self.screen_stack[0].query_one(Footer).show_command_palette = wide
        try:
            view = self.active_view
        except NoMatches:
            view = ""
        self._show_footer_keys(wide, view)

    def _fit_to_terminal(self, width: int, height: int) -> None:
        """Below the minimum size, a screen that says so; short tab labels when the long ones do not fit."""
        if too_small(width, height):
            if not any(isinstance(screen, TooSmallScreen) for screen in self.screen_stack):
                # after this refresh: pushed while the first layout is under way, it stays blank
                self.call_after_refresh(self._show_too_small)
        elif isinstance(self.screen, TooSmallScreen):
            self.pop_screen()
        try:
            tabs = self.screen_stack[0].query_one("#views", TabbedContent)
        except (IndexError, NoMatches):
            return
        # the longest labels that fit: titles, short titles, then numbers with two letters
        for titles in (
            [title for _, title in VIEWS],
            [_SHORT_TITLES.get(pane, title[:4]) for pane, title in VIEWS],
            [_SHORT_TITLES.get(pane, title)[:2] for pane, title in VIEWS],
        ):
            labels = [f"{number} {title}" for number, title in enumerate(titles, start=1)]
            if sum(len(label) + 2 for label in labels) <= width:  # each tab has a cell of padding a side
                break
        for (pane, _), label in zip(VIEWS, labels, strict=True):
            tab = tabs.get_tab(pane)
            if tab.label.plain != label:
                tab.label = label

    def _show_too_small(self) -> None:
        if too_small(*self.size) and not any(
            isinstance(screen, TooSmallScreen) for screen in self.screen_stack
        ):
            self.push_screen(TooSmallScreen())

    def _remember_theme(self) -> None:
        settings_file = self.settings_file
        if settings_file is None:
            return
        saved = load_theme(settings_file)
        if saved is not None and saved in self.available_themes:
            self.theme = saved

        def changed(theme: Theme) -> None:
            save_theme(settings_file, theme.name)

        self.theme_changed_signal.subscribe(self, changed)

    def _show_footer_keys(self, wide: bool, view: str) -> None:
        """The secondary keys only in a wide footer; in a narrow one on Charts, whose keys take the
        room, the screenshot key (listed in the help) gives way too, so that ``q quit`` stays."""
        shown = dict.fromkeys(_SECONDARY_KEYS, wide)
        shown.update(dict.fromkeys(_ROOM_FOR_CHART_KEYS, wide or view != "charts"))
        # The footer lists the bindings whose ``show`` is set; bindings are frozen, so swap in copies.
        # (Textual 8.2 keeps an App's bindings in ``_bindings.key_to_bindings``.)
        table = self._bindings.key_to_bindings
        changed = False
        for key, show in shown.items():
            entries = table.get(key, [])
            if any(binding.show != show for binding in entries):
                table[key] = [dataclasses.replace(binding, show=show) for binding in entries]
                changed = True
        if changed:
            self.refresh_bindings()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        """Enter on a statistics row opens that endpoint's drill-down."""
        if event.data_table.id != "stats-table" or self.snapshot is None:
            return
        entry = entry_for_row_key(self.snapshot, str(event.row_key.value), TOTAL_KEY)
        if entry is not None:
            self.push_screen(EndpointScreen(entry.key))

    def on_tabbed_content_tab_activated(self, event: TabbedContent.TabActivated) -> None:
        # Hidden views are not redrawn each tick; bring the newly shown one up to date at once.
        self._draw_view(event.pane.id or "")
        self._show_footer_keys(self.size.width >= WIDE_FOOTER, event.pane.id or "")
        self.refresh_bindings()

    def _check_autoquit(self, snapshot: RunSnapshot) -> None:
        if snapshot.state in _ACTIVE:
            self._has_run = True
        if (
            self.autoquit is not None
            and self._has_run
            and snapshot.state is RunState.STOPPED
            and self._autoquit_timer is None
        ):
            self._autoquit_timer = self.set_timer(self.autoquit, self.shutdown_and_exit)

    # ---- which keys apply now --------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        state = self.snapshot.state if self.snapshot else None
        if action in ("edit", "stop", "users"):
            return state in _ACTIVE
        if action == "spawn":
            return state not in _ACTIVE
        if action == "filter":
            return self.active_view in ("stats", "logs")
        if action in _STATS_ACTIONS:
            return self.active_view == "stats"
        return True

    # ---- actions ----------------------------------------------------------------------------

    def _start(self, request: SpawnRequest | None) -> None:
        if request is None:
            return
        self._last_request = request
        self._requested_target = None
        self.controller.start(request.user_count, request.spawn_rate, request.host, request.run_time)
        self._has_run = True
        self.refresh_snapshot()

    def _spawn_dialog(self, editing: bool) -> SpawnScreen:
        snapshot = self.snapshot
        last = self._last_request
        if editing and snapshot is not None:
            return SpawnScreen(
                editing=True,
                user_count=snapshot.target_user_count,
                spawn_rate=snapshot.spawn_rate,
                host=snapshot.host,
                run_time=snapshot.run_time,
            )
        return SpawnScreen(
            editing=False,
            user_count=last.user_count
            if last
            else (snapshot.target_user_count if snapshot and snapshot.target_user_count else 1),
            spawn_rate=last.spawn_rate
            if last
            else (snapshot.spawn_rate if snapshot and snapshot.spawn_rate else 1.0),
            host=(last.host if last and last.host else (snapshot.host if snapshot else "")),
            run_time=last.run_time if last else (snapshot.run_time if snapshot else None),
        )

    def action_spawn(self) -> None:
        """Ask for users, spawn rate, host and run time; start the test."""
        self.push_screen(self._spawn_dialog(editing=False), self._start)

    def action_edit(self) -> None:
        """Change the running test in the same dialog, prefilled."""
        self.push_screen(self._spawn_dialog(editing=True), self._start)

    def action_users(self, delta: int) -> None:
        """Grow or shrink the running test by ``delta`` users, at the current spawn rate."""
        snapshot = self.snapshot
        if snapshot is None:
            return
        base = self._requested_target if self._requested_target is not None else snapshot.target_user_count
        target = max(0, base + delta)
        self._requested_target = target
        self._requested_at = time.monotonic()
        self.controller.start(target, snapshot.spawn_rate or 1.0)

    def action_stop(self) -> None:
        self.controller.stop()
        self.notify("Stopping the test")
        self.refresh_snapshot()

    def action_reset(self) -> None:
        self.controller.reset_stats()
        self.notify("Statistics reset")
        self.refresh_snapshot()

    def action_write(self) -> None:
        """Write the outputs now, off the event loop; without any given, ask for a prefix first.

        A notification says where (absolute paths), or what failed."""
        if any(worker.group == _WRITE_GROUP and not worker.is_finished for worker in self.workers):
            self.notify("Still writing the outputs", title="Outputs", severity="warning")
            return
        self._write_outputs(None)

    def _write_under(self, prefix: str | None) -> None:
        if prefix is not None:
            self._write_outputs(prefix)

    # The controller waits for the files (up to a minute on a busy master): never on the event loop.
    @work(thread=True, group=_WRITE_GROUP, exit_on_error=False)
    def _write_outputs(self, prefix: str | None) -> tuple[str | None, list[str]]:
        written = self.controller.write_outputs() if prefix is None else self.controller.write_outputs(prefix)
        return prefix, [os.path.abspath(path) for path in written]

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        worker = event.worker
        if worker.group != _WRITE_GROUP:
            return
        if event.state is WorkerState.SUCCESS and worker.result is not None:
            prefix, paths = worker.result
            if paths:
                self.notify("Wrote\n" + "\n".join(paths), title="Outputs", markup=False, timeout=10)
            elif prefix is None:
                self.push_screen(WriteScreen(), self._write_under)
        elif event.state is WorkerState.ERROR:
            error = worker.error
            reason = (str(error) or type(error).__name__) if error is not None else "unknown error"
            self.notify(
                f"Could not write the outputs: {reason}",
                title="Outputs",
                severity="error",
                timeout=30,
                markup=False,
            )

    def action_screenshot(self, filename: str | None = None, path: str | None = None) -> None:
        path = self.save_screenshot(filename, path)
        self.notify(f"Screenshot saved to {os.path.abspath(path)}", title="Screenshot", markup=False)

    def save_screenshot(
        self, filename: str | None = None, path: str | None = None, time_format: str | None = None
    ) -> str:
        """Save an SVG of the screen that renders the same in browsers and in ``rsvg-convert``."""
        svg_path = super().save_screenshot(filename, path, time_format)
        with open(svg_path, encoding="utf-8") as svg_file:
            svg = svg_file.read()
        with open(svg_path, "w", encoding="utf-8") as svg_file:
            svg_file.write(svg_for_every_renderer(svg))
        return svg_path

    def action_view(self, pane: str) -> None:
        """Show view ``pane`` and focus its table, if it has one."""
        self.query_one("#views", TabbedContent).active = pane
        # Focusing a widget in another pane would make the TabbedContent switch back to that pane.
        focusable = [widget for widget in self.query_one(f"#{pane}", TabPane).query("*") if widget.can_focus]
        self.set_focus(focusable[-1] if focusable else None)

    def action_filter(self) -> None:
        """``/``: search the logs on the Logs view, else filter the statistics."""
        if self.active_view == "logs":
            self.query_one(LogView).open_search()
            return
        self.action_view("stats")
        self.query_one(StatsView).focus_filter()

    def action_sort(self) -> None:
        self.query_one(StatsView).cycle_sort()

    def action_reverse_sort(self) -> None:
        self.query_one(StatsView).reverse_sort()

    def action_sort_by(self, column: str) -> None:
        """Sort the statistics by ``column``; again on the same one, reverse."""
        self.query_one(StatsView).sort_by(column)

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())

    async def action_quit(self) -> None:
        """Quit; while a test runs, ask first."""
        if self.snapshot is not None and self.snapshot.state in _ACTIVE:

            def answered(quit_: bool | None) -> None:
                if quit_:
                    self.shutdown_and_exit()

            self.push_screen(QuitScreen(), answered)
        else:
            self.shutdown_and_exit()

    def shutdown_and_exit(self) -> None:
        """Tell the controller to shut down (stop, release workers) and leave the app."""
        self.controller.shutdown()
        self.exit()
