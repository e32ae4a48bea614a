"""Time charts stacked on one time axis: zoomed and panned together, one of them maximised at will."""

from __future__ import annotations

from textual import events
from textual.containers import Vertical

from tswarm.tui.bindings import chart_bindings
from tswarm.tui.widgets.chart_buckets import TimeWindow, pan, zoom
from tswarm.tui.widgets.time_chart import TimeChart

__all__ = ["ChartGroup"]


class ChartGroup(Vertical, can_focus=True):
    """A column of :class:`TimeChart` widgets that always show the same window of the run.

    The group, not each chart, takes the focus (so a view switch or a closed dialog focuses it like a
    table); it keeps one chart *selected* (its title reversed while the group has the focus). Keys
    (:data:`tswarm.tui.bindings.CHART_KEY_ACTIONS`): ``z``/``Z`` zoom in and out, left/right pan,
    home/end jump, up/down select, ``m`` or enter maximise the selected chart; escape (Textual's own
    key for a maximised widget) brings the others back. Maximising maximises the group and hides the
    other charts, so the keys keep working on the big chart.
    """

    BINDINGS = chart_bindings()  # type: ignore[assignment]  # list[Binding] is what BINDINGS holds

    DEFAULT_CSS = """
    ChartGroup.-maximized > TimeChart { display: none; }
    ChartGroup.-maximized > TimeChart.-alone { display: block; height: 1fr; }
    """

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self._window = TimeWindow()
        self._selected = 0

    @property
    def charts(self) -> list[TimeChart]:
        return list(self.query_children(TimeChart))

    @property
    def selected(self) -> TimeChart | None:
        """The chart that ``m`` maximises."""
        charts = self.charts
        return charts[min(self._selected, len(charts) - 1)] if charts else None

    @property
    def window(self) -> TimeWindow:
        """The part of the run every chart of the group shows."""
        return self._window

    @window.setter
    def window(self, window: TimeWindow) -> None:
        self._window = window
        for chart in self.charts:
            chart.window = window

    # ---- selection and maximising ---------------------------------------------------------------

    def _mark(self) -> None:
        selected, maximized = self.selected, self.has_class("-maximized")
        for chart in self.charts:
            chart.set_class(chart is selected and self.has_focus, "-selected")
            chart.set_class(chart is selected and maximized, "-alone")
            chart.refresh()

    def on_mount(self) -> None:
        self.watch(self.screen, "maximized", lambda _: self._mark(), init=False)

    def watch_has_focus(self, _has_focus: bool) -> None:
        self._mark()

    def on_click(self, event: events.Click) -> None:
        widget = event.widget
        charts = self.charts
        if isinstance(widget, TimeChart) and widget in charts:
            self._selected = charts.index(widget)
            self._mark()

    def action_focus_chart(self, step: int) -> None:
        """Select the chart above (-1) or below (+1)."""
        charts = self.charts
        if charts and not self.has_class("-maximized"):
            self._selected = (min(self._selected, len(charts) - 1) + step) % len(charts)
            self._mark()

    def action_maximize(self) -> None:
        """Show the selected chart alone, as big as the screen allows; escape restores the others."""
        if self.selected is not None:
            self.screen.maximize(self, container=False)
            self._mark()

    # ---- the window of time ---------------------------------------------------------------------

    def _reference(self) -> tuple[float, float, int] | None:
        """(first, last, columns) of the selected chart, or of the first with data."""
        selected = self.selected
        for chart in [selected, *self.charts] if selected is not None else []:
            extent = chart.extent()
            if extent is not None:
                columns = chart.plot_columns or max(1, chart.content_size.width - 6)
                return extent[0], extent[1], columns
        return None

    def action_zoom(self, steps: int) -> None:
        """Zoom every chart in (``steps`` > 0) or out."""
        reference = self._reference()
        if reference is not None:
            self.window = zoom(self._window, steps, *reference)

    def action_pan(self, direction: int) -> None:
        """Move the window by half its width, back (-1) or forward (+1) in time."""
        reference = self._reference()
        if reference is not None:
            self.window = pan(self._window, direction, *reference)

    def action_pan_start(self) -> None:
        """Show the start of the run (at the current zoom)."""
        reference = self._reference()
        if reference is not None and self._window.span is not None:
            self.window = TimeWindow(self._window.span, reference[0] + self._window.span)

    def action_follow(self) -> None:
        """Follow the newest point again (at the current zoom)."""
        self.window = TimeWindow(self._window.span)
