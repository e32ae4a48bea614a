"""Locust's command line under tswarm: ``tswarm -f x.py --headless ...`` with no subcommand, Locust's
``--json`` flag beside tswarm's ``--json FILE``, and the options that change the User classes
(``--equal-weights``, ``--config-users``) or only show them (``--show-task-ratio[-json]``).

Imports nothing from the command line, and nothing that runs users.
"""

from __future__ import annotations

import inspect
import itertools
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tswarm.exceptions import ConfigError

__all__ = [
    "LOCUST_JSON_FLAG",
    "LocustCommandLine",
    "apply_config_users",
    "assign_equal_weights",
    "parse_config_users",
    "rewrite_json_flag",
    "task_ratio",
    "task_ratio_json",
    "task_ratio_text",
    "translate_locust_command_line",
]

#: the hidden option a bare ``--json`` (Locust's flag) becomes before typer parses the command line
LOCUST_JSON_FLAG = "--locust-json"

#: Locust's web-UI options, by name, and whether each takes a value: tswarm shows a TUI instead, so a
#: Locust command line that has them runs with one notice saying they were left aside
WEB_UI_OPTIONS: dict[str, bool] = {
    "--web-host": True,
    "--web-port": True,
    "-P": True,
    "--web-host-display-name": True,
    "--web-base-path": True,
    "--web-login": False,
    "--web-auth": True,
    "--tls-cert": True,
    "--tls-key": True,
    "--class-picker": False,
    "--legacy-ui": False,
    "--headful": False,
    "--build-path": True,
}

#: Locust options of features tswarm does not have: a command line with one is refused (exit 1), since
#: running without it would not be the test that was asked for
UNSUPPORTED_OPTIONS: dict[str, str] = {
    "--otel": "OpenTelemetry instrumentation",
    "--enable-rebalancing": "rebalancing users when workers join mid-test",
    "--skip-log-setup": "leaving logging to the test file",
    "--slave": "renamed --worker in Locust 1.0",
    "--expect-slaves": "renamed --expect-workers in Locust 1.0",
}

#: Locust's options that take any number of values (``-T a b``)
_MANY_VALUE_OPTIONS = frozenset({"-T", "--tags", "-E", "--exclude-tags", "--config-users"})

#: the commands that have Locust's --json flag (a run's outputs); ``demo --json`` stays tswarm's report
_COMMANDS_WITH_LOCUST_JSON = frozenset({"run", "master"})

#: what tswarm itself answers when there is no subcommand: its help and version, not a Locust run
_TSWARM_ROOT_OPTIONS = frozenset({"-h", "--help", "-V", "--version"})


def rewrite_json_flag(args: Sequence[str]) -> list[str]:
    """Tell Locust's ``--json`` (a flag) from tswarm's ``--json FILE``.

    ``--json`` is the flag when nothing follows it or the next word is an option (starts with ``-``
    and is not ``-`` itself, which means stdout for tswarm's report); anything else is tswarm's FILE.
    ``--json=VALUE`` is always tswarm's. A ``--`` ends the options: nothing after it is looked at.
    """
    result: list[str] = []
    for i, arg in enumerate(args):
        if arg == "--":
            return [*result, *args[i:]]
        if arg == "--json":
            following = args[i + 1] if i + 1 < len(args) else None
            if following is None or (following.startswith("-") and following != "-"):
                result.append(LOCUST_JSON_FLAG)
                continue
        result.append(arg)
    return result


@dataclass
class LocustCommandLine:
    """A Locust command line turned into a tswarm one."""

    args: list[str]
    #: one line each for what was left aside (web-UI options, options a worker takes from its master)
    notices: list[str] = field(default_factory=list)


def translate_locust_command_line(
    args: Sequence[str],
    *,
    subcommands: Iterable[str],
    worker_option_names: Iterable[str],
    role_from_config: str | None = None,
) -> LocustCommandLine:
    """``args`` as tswarm's: a command line with no subcommand is Locust's, and runs what ``locust``
    would have run: ``--master`` is ``tswarm master``, ``--worker`` is ``tswarm worker``, anything
    else ``tswarm run`` (headless with ``--headless``, else the TUI where Locust opens its web UI).

    ``role_from_config``: ``master`` or ``worker`` when Locust's config sources (``master = true`` in
    locust.conf, ``LOCUST_MODE_MASTER``) ask for one and the command line does not.
    ``worker_option_names``: the ``--long`` options ``tswarm worker`` has; a Locust worker command line's
    other options (``--headless``, ``-u``) are its master's business, and left aside with a notice.

    A command line that starts with a subcommand, is empty or asks tswarm for its help or version is
    left as it is (but for :func:`rewrite_json_flag` on ``run`` and ``master``).

    Raises:
        ConfigError: ``--master`` with ``--worker``, or a Locust option tswarm does not have.
    """
    args = list(args)
    if args and args[0] in _COMMANDS_WITH_LOCUST_JSON:
        return LocustCommandLine(rewrite_json_flag(args))
    if (
        not args
        or args[0] in set(subcommands)
        or not args[0].startswith("-")
        or args[0] in _TSWARM_ROOT_OPTIONS
    ):
        return LocustCommandLine(args)
    options, rest = _split_at_double_dash(args)
    master, worker = "--master" in options, "--worker" in options
    if master and worker:
        raise ConfigError("--master cannot be combined with --worker (as in Locust)")
    role = "master" if master else "worker" if worker else (role_from_config or "run")
    kept: list[str] = []
    ignored_web: list[str] = []
    i = 0
    while i < len(options):
        arg = options[i]
        name = arg.split("=", 1)[0]
        if arg in ("--master", "--worker"):
            i += 1
            continue
        if name in UNSUPPORTED_OPTIONS:
            raise ConfigError(f"Locust's {name} ({UNSUPPORTED_OPTIONS[name]}) is not supported by tswarm")
        if name in WEB_UI_OPTIONS:
            takes_value = WEB_UI_OPTIONS[name] and "=" not in arg
            ignored_web.append(" ".join(options[i : i + 2]) if takes_value else arg)
            i += 2 if takes_value else 1
            continue
        if arg in _MANY_VALUE_OPTIONS:
            # Locust's argparse takes every following word up to the next option (nargs="*");
            # tswarm's option takes one value a time, and is repeated
            values = list(itertools.takewhile(lambda word: not word.startswith("-"), options[i + 1 :]))
            kept += [part for value in values for part in (arg, value)] or [arg]
            i += 1 + len(values)
            continue
        kept.append(arg)
        i += 1
    notices = []
    if ignored_web:
        notices.append(
            f"ignoring Locust's web-UI options (tswarm shows a TUI instead): {', '.join(ignored_web)}"
        )
    kept = rewrite_json_flag(kept)
    if role == "worker":
        kept, left_aside = _worker_options(kept, set(worker_option_names))
        if left_aside:
            shown = " ".join("--json" if a == LOCUST_JSON_FLAG else a for a in left_aside)
            notices.append(f"a worker takes these from its master, ignoring: {shown}")
    return LocustCommandLine([role, *kept, *rest], notices)


def _split_at_double_dash(args: list[str]) -> tuple[list[str], list[str]]:
    if "--" in args:
        i = args.index("--")
        return args[:i], args[i:]
    return args, []


#: options of ``tswarm run``/``master`` that take a value, for leaving them (and it) out of a worker's
#: command line; a flag is left out alone
_VALUE_OPTIONS_A_WORKER_LACKS = frozenset(
    {
        "-u", "--users", "-r", "--spawn-rate", "-t", "--run-time", "-H", "--host", "--stop-timeout",
        "-T", "--tags", "-E", "--exclude-tags", "--csv", "--json", "--json-file", "--html",
        "--markdown", "--check", "--check-grace", "--junit", "--exit-code-on-error", "--autoquit",
        "--percentiles", "--master-bind-host", "--master-bind-port", "--expect-workers",
        "--expect-workers-max-wait", "--heartbeat-timeout", "--profile",
    }
)  # fmt: skip
_FLAGS_A_WORKER_LACKS = frozenset(
    {
        "--headless", "--csv-full-history", "--reset-stats", "--only-summary", "--print-stats",
        "--autostart", "--check-abort", LOCUST_JSON_FLAG, "--show-task-ratio", "--show-task-ratio-json",
    }
)  # fmt: skip


def _worker_options(args: list[str], worker_option_names: set[str]) -> tuple[list[str], list[str]]:
    kept: list[str] = []
    left_aside: list[str] = []
    i = 0
    while i < len(args):
        arg = args[i]
        name = arg.split("=", 1)[0]
        if name in worker_option_names:
            kept.append(arg)
        elif name in _VALUE_OPTIONS_A_WORKER_LACKS:
            takes_next = "=" not in arg and i + 1 < len(args)
            left_aside += args[i : i + 2] if takes_next else [arg]
            i += 2 if takes_next else 1
            continue
        elif name in _FLAGS_A_WORKER_LACKS:
            left_aside.append(arg)
        else:
            kept.append(arg)  # the test file's own option, or a USER_CLASS: the worker's parser decides
        i += 1
    return kept, left_aside


# --- the User classes -------------------------------------------------------------------------------


def parse_config_users(values: Iterable[str], option: str = "--config-users") -> list[dict[str, Any]]:
    """The settings of ``--config-users``: each value a JSON object or array of objects, or the name of
    a ``.json`` file holding one; every object names its class in ``user_class_name``."""
    settings: list[dict[str, Any]] = []
    for value in values:
        text = value
        if value.strip().endswith(".json") and not value.lstrip().startswith(("{", "[")):
            try:
                text = Path(value).read_text(encoding="utf-8")
            except OSError as e:
                raise ConfigError(f"{option} {value}: cannot read it ({e.strerror or e})") from None
        try:
            document = json.loads(text)
        except json.JSONDecodeError as e:
            raise ConfigError(f"{option} {value!r} is no JSON object or file: {e}") from None
        items = document if isinstance(document, list) else [document]
        for item in items:
            if not isinstance(item, dict) or not isinstance(item.get("user_class_name"), str):
                raise ConfigError(f"{option}: each setting must be a JSON object with a user_class_name")
            settings.append(item)
    return settings


def apply_config_users(available: Mapping[str, type], settings: Sequence[Mapping[str, Any]]) -> None:
    """Set each setting's attributes on its User class (as Locust does); ``tasks`` keeps only the
    class's tasks of those names, with their weights.

    Raises:
        ConfigError: a setting names a class the test file does not have.
    """
    for setting in settings:
        name = setting["user_class_name"]
        cls = available.get(name)
        if cls is None:
            known = ", ".join(sorted(available)) or "none"
            raise ConfigError(
                f"--config-users names the User class {name!r}, which the test file lacks ({known})"
            )
        for key, value in setting.items():
            if key == "user_class_name":
                continue
            if key == "tasks":
                wanted = set(value) if isinstance(value, list) else {value}
                cls.tasks = [t for t in cls.tasks if getattr(t, "__name__", None) in wanted]  # type: ignore[attr-defined]
            else:
                setattr(cls, key, value)


def assign_equal_weights(user_classes: Iterable[type]) -> None:
    """``--equal-weights``: every class weighs 1 and runs each of its tasks, nested TaskSets' included,
    as often as any other (the TaskSets themselves are flattened away, as in Locust)."""
    for cls in user_classes:
        cls.weight = 1  # type: ignore[attr-defined]
        flat: list[Any] = []
        pending = list(cls.tasks)  # type: ignore[attr-defined]
        while pending:
            task = pending.pop()
            nested = getattr(task, "tasks", None) if inspect.isclass(task) else None
            if nested is not None:
                pending.extend(nested)
            elif task not in flat:
                flat.append(task)
        cls.tasks = flat  # type: ignore[attr-defined]


def _users_per_class(user_classes: Sequence[type], users: int) -> dict[str, int]:
    """Locust's split for the ratio tables: fixed counts first, the rest by weight, each rounded."""
    fixed = sum(getattr(c, "fixed_count", 0) or 0 for c in user_classes)
    total_weight = sum(getattr(c, "weight", 1) for c in user_classes if not getattr(c, "fixed_count", 0))
    users = users or (total_weight if not fixed else 1)
    weighted = max(0, users - fixed)
    counts: dict[str, int] = {}
    for cls in user_classes:
        fixed_count = getattr(cls, "fixed_count", 0) or 0
        share = fixed_count or (getattr(cls, "weight", 1) / total_weight * weighted if total_weight else 0)
        counts[cls.__name__] = round(share)
    return counts


def _task_shares(tasks: Sequence[Any], parent: float, *, total: bool) -> dict[str, dict[str, Any]]:
    scale = parent if total else 1.0
    occurrences: dict[Any, int] = {}
    for task in tasks:
        occurrences[task] = occurrences.get(task, 0) + 1
    shares: dict[str, dict[str, Any]] = {}
    for task, count in occurrences.items():
        ratio = count * scale / len(tasks)
        node: dict[str, Any] = {"ratio": ratio}
        if inspect.isclass(task) and hasattr(task, "tasks"):
            node["tasks"] = _task_shares(task.tasks, ratio, total=total)
        shares[task.__name__] = node
    return shares


def task_ratio(user_classes: Sequence[type], users: int, *, total: bool) -> dict[str, dict[str, Any]]:
    """Each User class's share of the users and its tasks' shares: of the class's time (``total``
    False) or of all users' time (``total`` True); nested TaskSets hold their own ``tasks``."""
    counts = _users_per_class(user_classes, users)
    spawned = sum(counts.values()) or 1
    result: dict[str, dict[str, Any]] = {}
    for cls in user_classes:
        share = counts.get(cls.__name__, 0) / spawned
        result[cls.__name__] = {"ratio": share, "tasks": _task_shares(cls.tasks, share, total=total)}  # type: ignore[attr-defined]
    return result


def _ratio_lines(tree: Mapping[str, Mapping[str, Any]], depth: int = 0) -> list[str]:
    indent = "  " * depth
    lines = []
    for name, node in tree.items():
        percent = f"{node.get('ratio', 1) * 100:<6.1f}"
        lines.append(f" {indent + percent:<10} {indent + name:<50}")
        if "tasks" in node:
            lines += _ratio_lines(node["tasks"], depth + 1)
    return lines


def task_ratio_text(user_classes: Sequence[type], users: int) -> str:
    """``--show-task-ratio``: the per-class and the total tables, laid out as Locust prints them."""
    rule = "-" * 80
    return "\n".join(
        [
            "",
            " Task ratio per User class",
            rule,
            *_ratio_lines(task_ratio(user_classes, users, total=False)),
            "",
            " Total task ratio",
            rule,
            *_ratio_lines(task_ratio(user_classes, users, total=True)),
        ]
    )


def task_ratio_json(user_classes: Sequence[type], users: int) -> str:
    """``--show-task-ratio-json``: both tables as Locust's JSON (``per_class`` and ``total``)."""
    document = {
        "per_class": task_ratio(user_classes, users, total=False),
        "total": task_ratio(user_classes, users, total=True),
    }
    return json.dumps(document, indent=4)
