"""Every key of the app, from the same table as the bindings."""

from __future__ import annotations

from rich.table import Table
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from tswarm.tui.bindings import KEY_ACTIONS, VIEWS

__all__ = ["HelpScreen"]

#: keys that belong to one widget rather than to the app
_LOCAL_KEYS = (
    ("escape", "Leave the filter box / close a dialog"),
    ("enter", "Start (in the start dialog)"),
    ("up/down, pgup/pgdn", "Move in a table"),
    ("tab", "Next field or widget"),
    ("ctrl+p", "Command palette (every action by name)"),
)


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,q,question_mark", "close", "close")]
    AUTO_FOCUS = "#help-box"

    DEFAULT_CSS = """
    HelpScreen {
        align: center middle;
        #help-box {
            width: 72;
            max-width: 100%;
            height: auto;
            max-height: 100%;
            border: thick $primary;
            border-title-align: center;
            background: $surface;
            padding: 0 1;
        }
    }
    """

    def compose(self) -> ComposeResult:
        table = Table(box=None, show_header=False, padding=(0, 1), expand=True)
        table.add_column("keys", style="bold", no_wrap=True)
        table.add_column("what")
        for entry in KEY_ACTIONS:
            if entry.action.startswith("view("):
                continue
            table.add_row(entry.keys_display, entry.help)
        table.add_row(
            f"1 … {len(VIEWS)}",
            "Switch view: " + ", ".join(f"{n} {title}" for n, (_, title) in enumerate(VIEWS, 1)),
        )
        for keys, what in _LOCAL_KEYS:
            table.add_row(keys, what)
        with VerticalScroll(id="help-box") as box:
            box.border_title = "Keys (escape to close)"
            yield Static(table)

    def action_close(self) -> None:
        self.dismiss(None)
