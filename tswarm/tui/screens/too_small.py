"""Shown instead of the app while the terminal is smaller than the app can be drawn in."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import ModalScreen
from textual.widgets import Static

__all__ = ["MIN_HEIGHT", "MIN_WIDTH", "TooSmallScreen", "too_small"]

#: the smallest terminal the views are laid out for
MIN_WIDTH = 60
MIN_HEIGHT = 16


def too_small(width: int, height: int) -> bool:
    """Whether a terminal of ``width`` x ``height`` cells is below the minimum."""
    return width < MIN_WIDTH or height < MIN_HEIGHT


class TooSmallScreen(ModalScreen[None]):
    """Says how big the terminal has to be; the app takes it away once the terminal is big enough.

    The test goes on meanwhile; the app's keys wait (a dialog would not fit either), but ``q`` quits
    (asking first while a test runs) and ``ctrl+s`` saves a screenshot.
    """

    BINDINGS = [Binding("q,ctrl+q", "app.quit", "quit")]

    DEFAULT_CSS = """
    TooSmallScreen {
        align: center middle;
        background: $background;
        #too-small { width: auto; max-width: 100%; height: auto; text-align: center; }
    }
    """

    def compose(self) -> ComposeResult:
        yield Static(self._message(), id="too-small", markup=False)

    def _message(self) -> str:
        width, height = self.app.size
        return f"terminal too small (need {MIN_WIDTH}x{MIN_HEIGHT})\nthis one is {width}x{height}\n\nq quits"

    def on_resize(self) -> None:
        self.query_one("#too-small", Static).update(self._message())

    def on_screen_resume(self) -> None:
        # back from a dialog opened over this screen (q's question) at a size that now fits
        if not too_small(*self.app.size):
            self.dismiss()
