"""Asks before quitting while a test runs."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Static

__all__ = ["QuitScreen"]


class QuitScreen(ModalScreen[bool]):
    """Dismisses with True to quit; ``y``/``q``/Enter on Quit confirm, ``n``/Escape cancel."""

    BINDINGS = [
        Binding("y,q", "answer(True)", "quit"),
        Binding("n,escape", "answer(False)", "stay"),
    ]

    AUTO_FOCUS = "#quit-no"

    DEFAULT_CSS = """
    QuitScreen {
        align: center middle;
        #quit-dialog {
            width: 50;
            max-width: 100%;
            height: auto;
            border: thick $error;
            background: $surface;
            padding: 1 2;
        }
        #quit-buttons { height: auto; align-horizontal: right; margin-top: 1; }
        #quit-buttons Button { margin-left: 2; }
    }
    """

    def compose(self) -> ComposeResult:
        with Vertical(id="quit-dialog"):
            yield Static("A test is running. Stop it, tell the workers to quit and exit?")
            with Horizontal(id="quit-buttons"):
                yield Button("Stay (n)", id="quit-no", compact=True)
                yield Button("Quit (y)", variant="error", id="quit-yes", compact=True)

    @on(Button.Pressed, "#quit-yes")
    def _yes(self) -> None:
        self.dismiss(True)

    @on(Button.Pressed, "#quit-no")
    def _no(self) -> None:
        self.dismiss(False)

    def action_answer(self, quit_: bool) -> None:
        self.dismiss(quit_)
