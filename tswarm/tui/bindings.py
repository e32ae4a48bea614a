"""Every key of the app, in one table.

The App's ``BINDINGS``, the help screen and the command palette are all built from
:data:`KEY_ACTIONS`, so a key cannot be added to one of them and forgotten in the others.

Keys are chosen to survive SSH and tmux: plain printable characters first; ``ctrl+up`` /
``ctrl+down`` are extra aliases only, because many terminals and tmux setups swallow them.
"""

from __future__ import annotations

from dataclasses import dataclass

from textual.binding import Binding

__all__ = [
    "CHART_KEYS_HELP",
    "CHART_KEY_ACTIONS",
    "KEY_ACTIONS",
    "SORT_KEYS",
    "KeyAction",
    "VIEWS",
    "app_bindings",
    "chart_bindings",
]

#: (pane id, title) in the order of the number keys 1-7
VIEWS: tuple[tuple[str, str], ...] = (
    ("stats", "Statistics"),
    ("charts", "Charts"),
    ("workers", "Workers"),
    ("failures", "Failures"),
    ("exceptions", "Exceptions"),
    ("logs", "Logs"),
    ("distributions", "Distributions"),
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
    #: shown in the footer (the per-column sort keys are many: the help lists them)
    footer_shown: bool = True
    #: also works while a dialog (a modal screen) or an input has the keys
    priority: bool = False


#: (key, statistics column, its title): a key per column sorts by it, again reverses
SORT_KEYS: tuple[tuple[str, str, str], ...] = (
    ("T", "type", "Type"),
    ("N", "name", "Name"),
    ("R", "requests", "Requests"),
    ("F", "fails", "Fails"),
    ("M", "median", "Median"),
    ("A", "average", "Average"),
    ("I", "min", "Min"),
    ("X", "max", "Max"),
    ("P", "percentile", "a percentile (again: the next)"),
    ("Z", "size", "Avg size"),
    ("C", "rps", "RPS (current)"),
    ("E", "fails_per_sec", "Fails/s"),
)


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
    KeyAction("w", "write", "write", "Write the reports now (CSV, JSON, HTML)", "w"),
    KeyAction(
        "ctrl+s", "screenshot", "shot", "Save a screenshot (SVG in the current dir)", "ctrl+s", priority=True
    ),
    KeyAction("question_mark", "help", "help", "Show the keys", "?"),
    KeyAction("q,ctrl+q", "quit", "quit", "Quit (asks first while a test runs)", "q (or ctrl+q)"),
    KeyAction("slash", "filter", "filter", "Filter the statistics by name / search the logs", "/"),
    KeyAction("s", "sort", "sort", "Sort the statistics by the next column", "s", _SORT),
    KeyAction("S", "reverse_sort", "rev", "Reverse the sort order", "S", _SORT),
    *(
        KeyAction(
            key,
            f"sort_by('{column}')",
            title,
            f"Sort the statistics by {title} (again: reverse)",
            key,
            _SORT,
            footer_shown=False,
        )
        for key, column, title in SORT_KEYS
    ),
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
        bindings.append(
            Binding(
                main,
                entry.action,
                entry.footer,
                show=entry.footer_shown,
                group=entry.group,
                priority=entry.priority,
            )
        )
        bindings.extend(
            Binding(alias, entry.action, entry.footer, show=False, priority=entry.priority)
            for alias in aliases
        )
    return bindings


_ZOOM = Binding.Group("zoom", compact=True)
_PAN = Binding.Group("pan", compact=True)

#: keys of the Charts view (and of any ChartGroup), active while one of its charts has the focus;
#: an empty footer text keeps a key out of the footer
CHART_KEY_ACTIONS: tuple[KeyAction, ...] = (
    KeyAction("z", "zoom(1)", "in", "Charts: zoom in (a narrower window of time)", "z", _ZOOM),
    KeyAction("Z", "zoom(-1)", "out", "Charts: zoom out, up to the whole run", "Z", _ZOOM),
    KeyAction("left,h", "pan(-1)", "back", "Charts: move the window back in time", "left (or h)", _PAN),
    KeyAction("right,l", "pan(1)", "fwd", "Charts: move the window forward in time", "right (or l)", _PAN),
    KeyAction("home", "pan_start", "", "Charts: the window at the run's start", "home"),
    KeyAction("end", "follow", "", "Charts: the window follows the newest point", "end"),
    KeyAction(
        "m,enter", "maximize", "max", "Charts: maximise the selected chart (escape: back)", "m (or enter)"
    ),
    KeyAction("up", "focus_chart(-1)", "", "Charts: select the chart above", "up"),
    KeyAction("down", "focus_chart(1)", "", "Charts: select the chart below", "down"),
)

#: the chart keys as the help screen lists them, in pairs (same keys as CHART_KEY_ACTIONS)
CHART_KEYS_HELP: tuple[tuple[str, str], ...] = (
    ("z / Z", "Charts: zoom in / out (out to the whole run)"),
    ("left/right (h/l)", "Charts: move back / forward in time"),
    ("home / end", "Charts: the run's start / follow the newest"),
    ("up / down", "Charts: select a chart"),
    ("m (or enter)", "Charts: maximise the selected chart (escape)"),
)


def chart_bindings() -> list[Binding]:
    """A ChartGroup's BINDINGS built from :data:`CHART_KEY_ACTIONS`."""
    bindings: list[Binding] = []
    for entry in CHART_KEY_ACTIONS:
        main, *aliases = entry.keys.split(",")
        bindings.append(Binding(main, entry.action, entry.footer, show=bool(entry.footer), group=entry.group))
        bindings.extend(Binding(alias, entry.action, entry.footer, show=False) for alias in aliases)
    return bindings
