"""Every key of the app, from the same table as the bindings."""

from __future__ import annotations

from rich.table import Table
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from tswarm.tui.bindings import CHART_KEYS_HELP, KEY_ACTIONS, SORT_KEYS, VIEWS

__all__ = ["HelpScreen"]

#: keys that belong to one widget rather than to the app
_LOCAL_KEYS = (
    ("escape", "Leave the filter box / close a dialog"),
    ("enter", "Open the endpoint under the cursor (Statistics); start (in the start dialog)"),
    ("up/down, pgup/pgdn", "Move in a table"),
    ("tab", "Next field or widget"),
    ("ctrl+p", "Command palette (every action by name; the theme too, remembered)"),
)
#: the Logs view's own keys
_LOG_KEYS = (
    ("up, pgup, wheel", "Logs: stop following the newest line, to read"),
    ("end (or G)", "Logs: follow the newest line again"),
    ("l / o", "Logs: show all levels, warnings+, errors+ / every node, or one"),
    ("/, escape", "Logs: search (enter keeps it) / clear the search"),
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
            if entry.action.startswith(("view(", "sort_by(")):
                continue
            table.add_row(entry.keys_display, entry.help)
        table.add_row(
            f"1 … {len(VIEWS)}",
            "Switch view: " + ", ".join(f"{n} {title}" for n, (_, title) in enumerate(VIEWS, 1)),
        )
        table.add_row(
            f"{SORT_KEYS[0][0]} … {SORT_KEYS[-1][0]}",
            "Sort the statistics by a column: "
            + ", ".join(f"{key} {title.split(' (')[0]}" for key, _, title in SORT_KEYS)
            + " (again: reverse; or click a header)",
        )
        for keys, what in (*_LOCAL_KEYS, *_LOG_KEYS):
            table.add_row(keys, what)
        for keys, what in CHART_KEYS_HELP:
            table.add_row(keys, what)
        with VerticalScroll(id="help-box") as box:
            box.border_title = "Keys (escape to close)"
            yield Static(table)

    def action_close(self) -> None:
        self.dismiss(None)
