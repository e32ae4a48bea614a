"""Every key of the app, in one table.

The App's ``BINDINGS``, the help screen and the command palette are all built from
:data:`KEY_ACTIONS`, so a key cannot be added to one of them and forgotten in the others.

Keys are chosen to survive SSH and tmux: plain printable characters first; ``ctrl+up`` /
``ctrl+down`` are extra aliases only, because many terminals and tmux setups swallow them.
"""

from __future__ import annotations

from dataclasses import dataclass

from textual.binding import Binding

__all__ = ["KEY_ACTIONS", "KeyAction", "VIEWS", "app_bindings"]

#: (pane id, title) in the order of the number keys 1-7
VIEWS: tuple[tuple[str, str], ...] = (
    ("stats", "Statistics"),
    ("charts", "Charts"),
    ("workers", "Workers"),
    ("failures", "Failures"),
    ("exceptions", "Exceptions"),
    ("logs", "Logs"),
    ("checks", "Checks"),
)

_USERS = Binding.Group("users", compact=True)
_SORT = Binding.Group("sort", compact=True)
_VIEWS = Binding.Group("view", compact=True)


@dataclass(frozen=True)
class KeyAction:
    """One action of the app and the keys that run it."""

    #: Textual key names, comma separated (the first one is the main key)
    keys: str
    #: the App action, e.g. ``"users(10)"``
    action: str
    #: short text for the footer
    footer: str
    #: what it does, for the help screen and the command palette
    help: str
    #: how the help screen spells the keys
    keys_display: str
    group: Binding.Group | None = None
    #: offered in the command palette
    palette: bool = True


KEY_ACTIONS: tuple[KeyAction, ...] = (
    KeyAction("n", "spawn", "start", "Start a new test (asks users, rate, host, run time)", "n"),
    KeyAction("e", "edit", "edit", "Change the running test (same dialog, prefilled)", "e"),
    KeyAction("plus,equals_sign", "users(1)", "+1", "Add 1 user", "+ (or =)", _USERS),
    KeyAction("minus", "users(-1)", "-1", "Remove 1 user", "-", _USERS),
    KeyAction("right_square_bracket,ctrl+up", "users(10)", "+10", "Add 10 users", "] (or ctrl+up)", _USERS),
    KeyAction(
        "left_square_bracket,ctrl+down", "users(-10)", "-10", "Remove 10 users", "[ (or ctrl+down)", _USERS
    ),
    KeyAction("x", "stop", "stop", "Stop the test (the numbers stay)", "x"),
    KeyAction("r", "reset", "reset", "Reset the statistics", "r"),
    KeyAction("w", "write", "write", "Write the CSV/JSON outputs now", "w"),
    KeyAction("ctrl+s", "screenshot", "shot", "Save a screenshot (SVG in the current dir)", "ctrl+s"),
    KeyAction("question_mark", "help", "help", "Show the keys", "?"),
    KeyAction("q,ctrl+q", "quit", "quit", "Quit (asks first while a test runs)", "q (or ctrl+q)"),
    KeyAction("slash", "filter", "filter", "Filter the statistics by name", "/"),
    KeyAction("s", "sort", "sort", "Sort the statistics by the next column", "s", _SORT),
    KeyAction("S", "reverse_sort", "rev", "Reverse the sort order", "S", _SORT),
    *(
        KeyAction(str(number), f"view('{pane}')", title, f"Show {title}", str(number), _VIEWS)
        for number, (pane, title) in enumerate(VIEWS, start=1)
    ),
)


def app_bindings() -> list[Binding]:
    """The App's BINDINGS built from :data:`KEY_ACTIONS` (only the main key shows in the footer)."""
    bindings: list[Binding] = []
    for entry in KEY_ACTIONS:
        main, *aliases = entry.keys.split(",")
        bindings.append(Binding(main, entry.action, entry.footer, group=entry.group, priority=False))
        bindings.extend(Binding(alias, entry.action, entry.footer, show=False) for alias in aliases)
    return bindings
