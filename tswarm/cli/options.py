"""The options of a run, checked once, and the test file's custom options (init_command_line_parser).

Imports only ``cli.config``, ``cli.locust_config`` and ``cli.locust_cli`` from the command line: every
other cli module may import this one.
"""

from __future__ import annotations

import argparse
import math
import os
import re
import tempfile
from argparse import Namespace
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from tswarm.checks import Check, CheckError, parse_checks, split_check_list
from tswarm.cli.config import suggest
from tswarm.cli.locust_config import LOCUST_OPTION_NAMES
from tswarm.exceptions import ConfigError, UsageError
from tswarm.timespan import parse_timespan


@dataclass(frozen=True)
class CommandContext:
    """What :func:`tswarm.cli.app.main` knows before typer parses a command; a command finds it as
    click's ``ctx.obj``."""

    #: the config file in use, as found (relative to the working directory), or None
    config_path: str | None = None
    #: command -> config-file keys that are no built-in option of any command (the test file's own?)
    config_extras: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: every ``--long`` option name of every command, for the hint after an unknown option
    builtin_option_names: frozenset[str] = frozenset()
    #: command -> option -> the Locust setting that gave its default (``users in locust.conf``,
    #: ``LOCUST_USERS``), for the options no source of tswarm's own set
    locust_sources: dict[str, dict[str, str]] = field(default_factory=dict)
    #: command -> config_extras key -> its source when not the config file (a Locust setting)
    config_extra_sources: dict[str, dict[str, str]] = field(default_factory=dict)


@dataclass
class RunOptions:
    """Every option of every command; a command leaves the ones it lacks at their defaults."""

    command: str
    locustfile: str = "locustfile.py"
    host: str | None = None
    users: int = 1
    spawn_rate: float = 1.0
    run_time: float | None = None
    headless: bool = False
    stop_timeout: float = 0.0
    tags: list[str] = field(default_factory=list)
    exclude_tags: list[str] = field(default_factory=list)
    csv: str | None = None
    csv_full_history: bool = False
    json: str | None = None
    #: Locust's ``--json`` (a bare flag): its statistics list on stdout at the end
    locust_json: bool = False
    #: Locust's ``--json-file NAME``: that list written to NAME.json at the end
    json_file: str | None = None
    #: Locust's --show-task-ratio / --show-task-ratio-json: print the tables and exit, running nothing
    show_task_ratio: bool = False
    show_task_ratio_json: bool = False
    #: Locust's --equal-weights: every User class and task weighs the same
    equal_weights: bool = False
    #: Locust's --config-users, parsed: attributes to set on User classes, each naming its class
    config_users: list[dict[str, Any]] = field(default_factory=list)
    #: Locust's --profile: a label that groups runs, kept in the reports' metadata
    profile: str | None = None
    #: whether -u (or a config source) gave the user count, rather than its default
    users_given: bool = False
    #: the HTML report's path, Locust's tags ({u}, {r}, {t}) already expanded
    html: str | None = None
    markdown: str | None = None
    #: pass/fail checks (--check, ``check = [...]`` in the config file, TSWARM_CHECK), parsed
    checks: list[Check] = field(default_factory=list)
    #: stop the test at the first breached check after ``check_grace`` seconds
    check_abort: bool = False
    check_grace: float = 10.0
    #: write the checks and the failing endpoints as JUnit XML to this file
    junit: str | None = None
    reset_stats: bool = False
    only_summary: bool = False
    #: accepted for Locust command lines, with nothing to do here (see its help); test files may read it
    print_stats: bool = False
    loglevel: str = "INFO"
    logfile: str | None = None
    exit_code_on_error: int = 1
    list_classes: bool = False
    processes: int = 0
    autostart: bool = False
    autoquit: float = -1.0
    #: the TUI's percentile columns, as fractions
    percentiles: tuple[float, ...] = (0.5, 0.9, 0.95, 0.99)
    master_bind_host: str = "*"
    master_bind_port: int = 5557
    expect_workers: int = 1
    expect_workers_max_wait: float = 0.0
    master_host: str = "127.0.0.1"
    master_port: int = 5557
    heartbeat_interval: float = 1.0
    heartbeat_timeout: float = 3.0
    master_timeout: float = 60.0
    #: a file holding the cluster's shared secret (else TSWARM_SECRET; see tswarm.secret)
    secret_file: str | None = None
    #: the secret itself, once read (or made for a run's own workers); never shown
    secret: str | None = field(default=None, repr=False)
    #: a worker that is the LocalRunner of a local run shown in the TUI
    linked_local: bool = False
    #: what typer did not know: USER_CLASS names and the test file's custom options
    extra_args: list[str] = field(default_factory=list)
    #: config-file keys that are no built-in option (maybe the test file's own), and their file
    config_extra: dict[str, Any] = field(default_factory=dict)
    config_path: str | None = None
    #: every built-in ``--long`` option name, for the hint after an unknown option
    builtin_option_names: frozenset[str] = frozenset()
    #: field -> where a value that did not come from the command line came from (``config``, ``env``),
    #: so that a bad value is blamed on the config file's key or the variable that really set it
    value_sources: dict[str, str] = field(default_factory=dict)
    #: field -> the Locust setting that gave its value (where ``value_sources`` says ``locust``)
    locust_sources: dict[str, str] = field(default_factory=dict)
    #: config_extra key -> its source when that is not ``config_path`` (a Locust setting)
    config_extra_sources: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_params(cls, ctx: Any, command: str, params: dict[str, Any]) -> RunOptions:
        """The options of ``command`` from typer's ``params`` (its ``locals()``), checked; what typer did
        not know (``ctx.args``) and the config file's other keys are kept for the test file's parser."""
        context = ctx.obj if isinstance(ctx.obj, CommandContext) else CommandContext()
        values = {k: v for k, v in params.items() if k in cls.__dataclass_fields__ and k != "command"}
        sources = _value_sources(ctx, params)
        locust_sources = dict(context.locust_sources.get(command, {}))
        for name in locust_sources:
            if sources.get(name) == "config":  # typer's default_map holds Locust's values too, below ours
                sources[name] = "locust"
        where = _OptionNames(sources, context.config_path, locust_sources)
        if params.get("run_time") not in (None, ""):
            values["run_time"] = parse_timespan(params["run_time"], where("run_time"))
            if not values["run_time"]:
                # 0 would mean "no limit" below, the opposite of what was asked
                raise ConfigError(
                    f"{where('run_time')} must be more than 0 (leave it out to run until stopped)"
                )
        if "stop_timeout" in params:
            values["stop_timeout"] = parse_timespan(params["stop_timeout"], where("stop_timeout"))
        values["checks"] = _checks(params.get("check"), sources.get("check"), where("check"))
        if "check_grace" in params:
            values["check_grace"] = parse_timespan(params["check_grace"], where("check_grace"))
        values["tags"] = _split(params.get("tags"))
        values["exclude_tags"] = _split(params.get("exclude_tags"))
        values["processes"] = _processes(params.get("processes"), where("processes"))
        values["config_users"] = _config_users(params.get("config_users"), where("config_users"))
        values["users_given"] = _given(ctx, "users")
        if params.get("percentiles") is not None:
            values["percentiles"] = _percentiles(params["percentiles"])
        else:
            values.pop("percentiles", None)
        options = cls(
            command=command,
            extra_args=list(ctx.args),
            config_extra=dict(context.config_extras.get(command, {})),
            config_path=context.config_path,
            builtin_option_names=context.builtin_option_names,
            value_sources=sources,
            locust_sources=locust_sources,
            config_extra_sources=dict(context.config_extra_sources.get(command, {})),
            **values,
        )
        options.validate()
        return options

    def validate(self) -> None:
        """Refuse, with one line naming the option (or the config key or variable that set it), a
        value that makes no sense: negative, not a number, infinite, out of range, or an output path
        that cannot be written. Nothing has run yet."""
        where = _OptionNames(self.value_sources, self.config_path, self.locust_sources)
        if not 0 <= self.users <= MAX_USERS:
            raise ConfigError(f"{where('users')} must be 0 or more, up to {MAX_USERS:,}; not {self.users}")
        _positive(where("spawn_rate"), self.spawn_rate)
        if self.host is not None:
            check_host(self.host, where("host"))
        if self.loglevel.upper() not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
            raise ConfigError(
                f"invalid {where('loglevel')} {self.loglevel!r}: use DEBUG, INFO, WARNING, ERROR or CRITICAL"
            )
        if self.expect_workers < 1:
            raise ConfigError(f"{where('expect_workers')} must be 1 or more, not {self.expect_workers}")
        for name in ("heartbeat_interval", "heartbeat_timeout", "master_timeout"):
            _positive(where(name), getattr(self, name))
        if self.heartbeat_timeout <= self.heartbeat_interval:
            raise ConfigError(
                f"{where('heartbeat_timeout')} must be longer than {where('heartbeat_interval')}"
            )
        if self.run_time is not None:
            _positive(where("run_time"), self.run_time)
        if not math.isfinite(self.stop_timeout):
            raise ConfigError(f"{where('stop_timeout')} must be a number of seconds, not {self.stop_timeout}")
        if not math.isfinite(self.expect_workers_max_wait) or self.expect_workers_max_wait < 0:
            raise ConfigError(
                f"{where('expect_workers_max_wait')} must be 0 (wait forever) or more,"
                f" not {self.expect_workers_max_wait:g}"
            )
        if not math.isfinite(self.autoquit) or self.autoquit < -1:
            raise ConfigError(f"{where('autoquit')} must be -1 (stay) or 0 or more, not {self.autoquit:g}")
        for name in ("master_bind_port", "master_port"):
            port = getattr(self, name)
            # 0 binds to any free port; a worker needs a real one, which its default (5557) is
            if not 0 <= port <= 65535:
                raise ConfigError(f"{where(name)} must be a port from 0 to 65535, not {port}")
        if not 0 <= self.exit_code_on_error <= 255:
            raise ConfigError(
                f"{where('exit_code_on_error')} must be from 0 to 255, not {self.exit_code_on_error}"
            )
        if self.csv:
            for kind in CSV_FILE_KINDS:
                check_output_path(f"{self.csv}_{kind}.csv", where("csv"))
        if self.json and self.json != "-":
            check_output_path(self.json, where("json"))
        if self.locust_json and self.json == "-":
            raise ConfigError(
                "--json - and Locust's bare --json would both print on stdout: give one of them"
            )
        if self.json_file is not None and not self.json_file.strip():
            raise ConfigError(f"{where('json_file')} needs a file name (Locust adds .json)")
        if self.html:
            self.html = expand_html_path(self.html, self.users, self.spawn_rate, self.run_time)
            check_output_path(self.html, where("html"))
        if self.markdown:
            check_output_path(self.markdown, where("markdown"))
        if self.logfile:
            check_output_path(self.logfile, where("logfile"))
        if self.junit:
            check_output_path(self.junit, where("junit"))
        if not math.isfinite(self.check_grace) or self.check_grace < 0:
            raise ConfigError(f"{where('check_grace')} must be 0 or more seconds, not {self.check_grace:g}")


#: more users than any test could run: a bigger number is a typo (and no longer fits the protocol)
MAX_USERS = 10_000_000

#: the files ``--csv PREFIX`` writes, as ``PREFIX_<kind>.csv``
CSV_FILE_KINDS = ("stats", "stats_history", "failures", "exceptions")


def expand_html_path(path: str, users: int | None, spawn_rate: float | None, run_time: float | None) -> str:
    """``path`` with Locust's tags replaced: ``{u}`` by the user count, ``{r}`` by the spawn rate and
    ``{t}`` by the run time in seconds; whole numbers lose their ``.0`` and a value that is not set
    (no ``-t``) leaves its tag as it is, as Locust does."""
    for tag, value in (("{u}", users), ("{r}", spawn_rate), ("{t}", run_time)):
        if value is not None:
            number = float(value)
            path = path.replace(tag, str(int(number)) if number.is_integer() else str(value))
    return path


def check_output_path(path: str, option: str) -> None:
    """Refuse, before the test starts, a file that an output option (``option``, as the user gave it)
    could not write at the end: its folder is missing, is a file, or is not writable, or the path is
    a folder or a file that is not writable.

    Writability is tried, not read from mode bits: an existing file is opened for appending (and
    left as it was), a new one is probed with a temporary file in its folder that is removed at once.
    """
    target = Path(path)
    if target.is_dir():
        raise ConfigError(f"{option} {path}: is a folder, not a file")
    folder = target.parent
    if not folder.is_dir():
        # the nearest thing on the way that exists says why: a file where a folder should be, or nothing
        nearest = next((p for p in (folder, *folder.parents) if p.exists()), None)
        if nearest is not None and not nearest.is_dir():
            raise ConfigError(f"{option} {path}: {nearest} is a file, not a folder")
        raise ConfigError(f"{option} {path}: the folder {folder} does not exist")
    # Try it rather than read mode bits: root writes through a read-only mode, but not into a
    # read-only file system or a folder like /sys. Appending nothing leaves an existing file as it was.
    try:
        if target.exists():
            with open(target, "ab"):
                pass
        else:
            with tempfile.NamedTemporaryFile(dir=folder, prefix=".tswarm-check-"):
                pass
    except OSError as e:
        what = "the file" if target.exists() else f"the folder {folder}"
        raise ConfigError(f"{option} {path}: {what} is not writable ({e.strerror})") from None


def _positive(option: str, value: float) -> None:
    """Refuse ``value`` unless it is a finite number above 0 (NaN fails every comparison: ask first)."""
    if not math.isfinite(value) or value <= 0:
        raise ConfigError(f"{option} must be more than 0, not {value:g}")


def _value_sources(ctx: Any, params: dict[str, Any]) -> dict[str, str]:
    """Which of ``params`` came from the config file (``config``) or a TSWARM_* variable (``env``)."""
    get_source = getattr(ctx, "get_parameter_source", None)
    sources: dict[str, str] = {}
    for name in params:
        source = get_source(name) if get_source else None
        kind = getattr(source, "name", "")
        if kind == "DEFAULT_MAP":
            sources[name] = "config"
        elif kind == "ENVIRONMENT":
            sources[name] = "env"
    return sources


class _OptionNames:
    """How to name an option in an error: ``--spawn-rate``, ``spawn-rate in tswarm.toml``,
    ``TSWARM_SPAWN_RATE``, ``spawn-rate in locust.conf`` or ``LOCUST_SPAWN_RATE``, after where its
    value came from."""

    def __init__(
        self, sources: dict[str, str], config_path: str | None, locust_sources: dict[str, str] | None = None
    ) -> None:
        self.sources = sources
        self.config_path = config_path
        self.locust_sources = locust_sources or {}

    def __call__(self, name: str) -> str:
        dashed = name.replace("_", "-")
        source = self.sources.get(name)
        if source == "locust" and name in self.locust_sources:
            return self.locust_sources[name]
        if source == "config":
            return f"{dashed} in {self.config_path or 'the config file'}"
        if source == "env":
            return f"TSWARM_{name.upper()}"
        return f"--{dashed}"


def check_host(host: str, option: str = "--host") -> None:
    """Refuse a host that is no http(s) URL; ``option`` names where it came from."""
    parsed = urlparse(host)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise ConfigError(f"invalid {option} {host!r}: give a URL like http://127.0.0.1:8080")


def _split(values: list[str] | str | None) -> list[str]:
    if not values:
        return []
    if isinstance(values, str):
        values = [values]
    return [t.strip() for v in values for t in v.split(",") if t.strip()]


def _checks(value: list[str] | str | None, source: str | None, option: str) -> list[Check]:
    """The checks of a run: the command line's ``--check``s, else TSWARM_CHECK (comma- or
    newline-separated), else the config file's ``check`` (a list, or one string like the variable)."""
    expressions: list[str]
    if (
        source in (None, "config", "locust")
        and os.environ.get("TSWARM_CHECK", "").strip()
        and not (value and source is None)
    ):
        expressions, option = split_check_list(os.environ["TSWARM_CHECK"]), "TSWARM_CHECK"
    elif isinstance(value, str):
        expressions = split_check_list(value)
    else:
        expressions = [e for v in value or [] for e in ([v] if source is None else split_check_list(str(v)))]
    try:
        return parse_checks(expressions)
    except CheckError as e:
        raise ConfigError(f"invalid {option}: {e}") from None


def _given(ctx: Any, name: str) -> bool:
    """Whether option ``name`` had a value from anywhere but its default."""
    get_source = getattr(ctx, "get_parameter_source", None)
    source = get_source(name) if get_source else None
    return source is not None and getattr(source, "name", "DEFAULT") != "DEFAULT"


def _config_users(value: list[str] | str | None, option: str) -> list[dict[str, Any]]:
    """--config-users: JSON objects or .json files (repeatable; a config source gives a list)."""
    if not value:
        return []
    from tswarm.cli.locust_cli import parse_config_users

    return parse_config_users([value] if isinstance(value, str) else [str(v) for v in value], option)


def _percentiles(value: str) -> tuple[float, ...]:
    """``"50,95,99.9"`` (a TOML list arrives as ``"[50, 95, 99.9]"``) as fractions, in order."""
    words = re.findall(r"[^,\[\]\s]+", str(value))
    try:
        numbers = [float(word) for word in words]
    except ValueError:
        numbers = []
    if not numbers or not all(0 < n <= 100 for n in numbers):
        raise ConfigError(
            f"invalid --percentiles {value!r}: give percentages above 0 and up to 100, like 50,95,99.9"
        )
    return tuple(dict.fromkeys(round(n / 100, 8) for n in numbers))


def _processes(value: str | int | None, option: str = "--processes") -> int:
    if value in (None, "", 0, "0"):
        return 0
    if value == "auto" or value == -1:
        return os.cpu_count() or 1
    try:
        count = int(value)
    except ValueError:
        raise ConfigError(f"invalid {option} {value!r}: give a number or 'auto'") from None
    if count < 0:
        raise ConfigError(f"{option} must be a positive number or 'auto'")
    return count


class TestFileOptionParser(argparse.ArgumentParser):
    """The parser handed to ``init_command_line_parser`` listeners.

    Accepts Locust's extra keyword arguments: ``env_var`` (read the default from that variable),
    ``include_in_web_ui`` and ``is_secret`` (no web UI here; accepted and ignored).
    """

    __test__ = False

    def __init__(self) -> None:
        super().__init__(prog="tswarm", add_help=False, allow_abbrev=False)
        #: dests whose default came from an environment variable: config files rank below those
        self.set_from_environment: set[str] = set()
        # Locust's LOCUST_USER_CLASSES: the classes to run when the command line names none
        self.add_argument(
            "user_classes",
            nargs="*",
            metavar="USER_CLASS",
            default=os.environ.get("LOCUST_USER_CLASSES", "").split(),
        )

    def add_argument(self, *args: Any, **kwargs: Any) -> argparse.Action:
        env_var = kwargs.pop("env_var", None)
        kwargs.pop("include_in_web_ui", None)
        kwargs.pop("is_secret", None)
        long_names = [a for a in args if isinstance(a, str) and a.startswith("--")]
        candidates = [env_var] if env_var else []
        candidates += ["TSWARM_" + n[2:].upper().replace("-", "_") for n in long_names]
        from_environment = next((name for name in candidates if name and name in os.environ), None)
        if from_environment is not None:
            kwargs["default"] = os.environ[from_environment]
        action = super().add_argument(*args, **kwargs)
        if from_environment is not None:
            self.set_from_environment.add(action.dest)
        return action

    def error(self, message: str) -> Any:  # argparse would print usage and exit 2
        raise UsageError(message)


#: RunOptions fields that are the command line's bookkeeping, not options a test file reads
_NOT_PARSED_OPTIONS = frozenset(
    {
        "extra_args",
        "config_extra",
        "config_path",
        "builtin_option_names",
        "value_sources",
        "locust_sources",
        "config_extra_sources",
    }
)


def parse_test_options(options: RunOptions, events: Any) -> tuple[Namespace, list[str]]:
    """Parse the extra arguments with the test file's custom options.

    Returns the parsed options (built-in ones included, under Locust's names too) and the USER_CLASS
    names. An option nobody knows gets one line with the closest known name.
    """
    parser = TestFileOptionParser()
    events.init_command_line_parser.fire(parser=parser)
    custom = {a.dest: a for a in parser._actions if a.dest != "user_classes"}
    builtin_names = set(options.builtin_option_names)
    for key, value in options.config_extra.items():
        if key not in custom:
            source = options.config_extra_sources.get(key) or options.config_path or "the config file"
            known = builtin_names | set(custom)
            shown = key
            if key in options.config_extra_sources:  # a Locust file: its own option names count too
                known |= LOCUST_OPTION_NAMES
                shown = key.replace("_", "-")  # as Locust's keys are written
            raise ConfigError(f"unknown option {shown!r} in {source}{suggest(key, known)}")
        if key not in parser.set_from_environment:  # a variable outranks any config file
            parser.set_defaults(**{key: value})
    known_flags = builtin_names | {o for a in custom.values() for o in a.option_strings}
    parsed, unknown = parser.parse_known_args(options.extra_args)
    if unknown:
        flag = next((u for u in unknown if u.startswith("-")), unknown[0])
        raise UsageError(f"unknown option {flag.split('=')[0]}{suggest(flag.split('=')[0], known_flags)}")
    for key, value in vars(options).items():
        if key not in _NOT_PARSED_OPTIONS:
            setattr(parsed, key, value)
    # Locust's attribute names, for test files that read them
    parsed.num_users = options.users
    parsed.csv_prefix = options.csv
    parsed.json_file = options.json_file
    parsed.json = options.locust_json
    parsed.master = options.command == "master"
    parsed.worker = options.command == "worker"
    return parsed, list(parsed.user_classes)
