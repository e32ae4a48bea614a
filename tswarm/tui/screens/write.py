"""Asks where to write the reports when the command line gave no output (the write key, ``w``)."""

from __future__ import annotations

import os
import time

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Static

__all__ = ["WriteScreen", "default_prefix"]


def default_prefix(now: float | None = None) -> str:
    """``tswarm_<date>-<time>`` in local time: a new name for each write, sorted by when."""
    return time.strftime("tswarm_%Y%m%d-%H%M%S", time.localtime(now))


class WriteScreen(ModalScreen[str | None]):
    """Dismisses with the prefix typed (Enter or Write), or None (Escape or Cancel)."""

    BINDINGS = [Binding("escape", "cancel", "cancel")]
    AUTO_FOCUS = "#write-prefix"

    DEFAULT_CSS = """
    WriteScreen {
        align: center middle;
        #write-dialog {
            width: 72;
            max-width: 100%;
            height: auto;
            max-height: 100%;
            border: thick $primary;
            background: $surface;
            padding: 0 1;
        }
        #write-title { text-style: bold; width: 1fr; content-align: center middle; }
        #write-help { color: $text-muted; margin-top: 1; }
        #write-prefix { margin-top: 1; }
        #write-error { color: $text-error; height: auto; min-height: 1; margin-top: 1; }
        #write-buttons { height: auto; align-horizontal: right; }
        #write-buttons Button { margin-left: 2; }
    }
    """

    def __init__(self, prefix: str | None = None) -> None:
        super().__init__()
        self._prefix = prefix or default_prefix()

    def compose(self) -> ComposeResult:
        with Vertical(id="write-dialog"):
            yield Static("Write the reports", id="write-title")
            yield Static(
                "No output was given on the command line. Write CSV (stats, failures, exceptions), "
                f"JSON and HTML files named PREFIX_stats.csv ... PREFIX.html, relative to {os.getcwd()}",
                id="write-help",
                markup=False,
            )
            yield Input(self._prefix, placeholder="path prefix", id="write-prefix", compact=True)
            yield Static("", id="write-error", markup=False)
            with Horizontal(id="write-buttons"):
                yield Button("Cancel", id="write-cancel", compact=True)
                yield Button("Write", variant="primary", id="write-ok", compact=True)

    @on(Input.Submitted)
    @on(Button.Pressed, "#write-ok")
    def submit(self) -> None:
        """Dismiss with the prefix, or say what is wrong with it."""
        prefix = self.query_one("#write-prefix", Input).value.strip()
        problem = _problem(prefix)
        if problem:
            self.query_one("#write-error", Static).update(problem)
            return
        self.dismiss(os.path.expanduser(prefix))

    @on(Button.Pressed, "#write-cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)


def _problem(prefix: str) -> str:
    if not prefix:
        return "Type a prefix, e.g. reports/run1"
    path = os.path.expanduser(prefix)
    if path.endswith(os.sep) or os.path.isdir(path):
        return "That is a folder: add a file name prefix, e.g. reports/run1"
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        return f"No such folder: {folder}"
    return ""
