"""The modal that starts a test, or edits the running one."""

from __future__ import annotations

from dataclasses import dataclass

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static

from tswarm.controller.formatting import format_duration
from tswarm.timespan import TimespanError, parse_timespan

__all__ = ["SpawnRequest", "SpawnScreen", "parse_duration"]


def parse_duration(text: str) -> float | None:
    """Parse a run time typed by the user.

    Args:
        text: "30s", "5m", "1h30m", a bare number of seconds, or empty for no limit.

    Returns:
        Seconds, or None when ``text`` is empty.

    Raises:
        ValueError: if ``text`` is not a duration, or is zero.
    """
    if not text.strip():
        return None
    try:
        seconds = parse_timespan(text, "run time")
    except TimespanError:
        raise ValueError(f"not a duration: {text.strip()!r} (try 30s, 5m, 1h30m)") from None
    if seconds <= 0:
        raise ValueError("run time must be more than 0 s")
    return seconds


@dataclass(frozen=True)
class SpawnRequest:
    """What the user asked for; the arguments of ``RunController.start``."""

    user_count: int
    spawn_rate: float
    host: str | None
    run_time: float | None


class SpawnScreen(ModalScreen[SpawnRequest | None]):
    """Users, spawn rate, host and run time; Enter or Start submits, Escape cancels."""

    BINDINGS = [Binding("escape", "cancel", "cancel")]
    AUTO_FOCUS = "#spawn-users"

    DEFAULT_CSS = """
    SpawnScreen {
        align: center middle;
        #spawn-dialog {
            width: 64;
            max-width: 100%;
            height: auto;
            max-height: 100%;
            border: thick $primary;
            background: $surface;
            padding: 0 1;
        }
        #spawn-title { text-style: bold; width: 1fr; content-align: center middle; }
        .spawn-field { height: auto; margin-top: 1; }
        .spawn-field Label { width: 14; }
        .spawn-field Input { width: 1fr; }
        #spawn-error { color: $text-error; height: auto; min-height: 1; margin-top: 1; }
        #spawn-buttons { height: auto; align-horizontal: right; }
        #spawn-buttons Button { margin-left: 2; }
    }
    """

    def __init__(
        self,
        *,
        editing: bool,
        user_count: int,
        spawn_rate: float,
        host: str,
        run_time: float | None,
    ) -> None:
        super().__init__()
        self.editing = editing
        self._initial = (user_count, spawn_rate, host, run_time)

    def compose(self) -> ComposeResult:
        users, rate, host, run_time = self._initial
        with Vertical(id="spawn-dialog"):
            yield Static("Edit the running test" if self.editing else "Start a new test", id="spawn-title")
            with Horizontal(classes="spawn-field"):
                yield Label("Users")
                yield Input(str(users), type="integer", id="spawn-users", compact=True)
            with Horizontal(classes="spawn-field"):
                yield Label("Spawn rate/s")
                yield Input(_number(rate), type="number", id="spawn-rate", compact=True)
            with Horizontal(classes="spawn-field"):
                yield Label("Host")
                yield Input(host, placeholder="http://…", id="spawn-host", compact=True)
            with Horizontal(classes="spawn-field"):
                yield Label("Run time")
                yield Input(
                    format_duration(run_time) if run_time else "",
                    placeholder="30s, 5m, 1h30m; empty = no limit",
                    id="spawn-run-time",
                    compact=True,
                )
            yield Static("", id="spawn-error", markup=False)
            with Horizontal(id="spawn-buttons"):
                yield Button("Cancel", id="spawn-cancel", compact=True)
                yield Button(
                    "Update" if self.editing else "Start", variant="primary", id="spawn-start", compact=True
                )

    @on(Input.Submitted)
    @on(Button.Pressed, "#spawn-start")
    def submit(self) -> None:
        """Validate the form; dismiss with a :class:`SpawnRequest`, or show what is wrong."""
        try:
            request = self._read()
        except ValueError as error:
            self.query_one("#spawn-error", Static).update(str(error))
            return
        self.dismiss(request)

    @on(Button.Pressed, "#spawn-cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)

    def _read(self) -> SpawnRequest:
        users_text = self.query_one("#spawn-users", Input).value.strip()
        rate_text = self.query_one("#spawn-rate", Input).value.strip()
        try:
            users = int(users_text)
        except ValueError:
            raise ValueError("Users must be a whole number") from None
        if users < 0:
            raise ValueError("Users must be 0 or more")
        try:
            rate = float(rate_text)
        except ValueError:
            raise ValueError("Spawn rate must be a number") from None
        if rate <= 0:
            raise ValueError("Spawn rate must be more than 0")
        try:
            run_time = parse_duration(self.query_one("#spawn-run-time", Input).value)
        except ValueError as error:
            raise ValueError(f"Run time: {error}") from None
        host = self.query_one("#spawn-host", Input).value.strip() or None
        return SpawnRequest(users, rate, host, run_time)


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)
