"""Locust's own configuration, read so that a directory Locust runs from runs under tswarm too.

Locust reads (lowest first) ``~/.locust.conf``, ``./locust.conf``, ``[tool.locust]`` in
``./pyproject.toml``, the file of its ``--config``, then ``LOCUST_*`` environment variables. Each
setting found is mapped to a tswarm option here; all of them rank below tswarm's own sources
(config file, ``TSWARM_*``, command line), which :mod:`tswarm.cli.app` puts on top.

Imports nothing from the command line.
"""

from __future__ import annotations

import json
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from tswarm.exceptions import ConfigError

__all__ = ["LOCUST_OPTION_NAMES", "LocustConfig", "LocustSetting", "parse_locust_conf", "read_locust_config"]

Kind = Literal["value", "flag", "list"]

#: why a Locust option does nothing here, shown in the one notice line that names such options
WEB_UI = "web UI"
NOT_IN_TSWARM = "not in tswarm"


@dataclass(frozen=True)
class _LocustOption:
    """One of Locust's options: its variable, the kind of value it takes, and what it is in tswarm."""

    env: str | None
    kind: Kind
    #: the tswarm option it sets (a typer parameter name), or None
    target: str | None = None
    #: for an option with no tswarm equivalent: WEB_UI or NOT_IN_TSWARM, and a hint
    ignored: str = ""
    hint: str = ""


def _same(kind: Kind, env: str | None, target: str) -> _LocustOption:
    return _LocustOption(env, kind, target)


# Locust 2.47's options by their long name (the config-file key), read from its argument parser.
_LOCUST_OPTIONS: dict[str, _LocustOption] = {
    "locustfile": _same("value", "LOCUST_LOCUSTFILE", "locustfile"),
    "host": _same("value", "LOCUST_HOST", "host"),
    "users": _same("value", "LOCUST_USERS", "users"),
    "spawn-rate": _same("value", "LOCUST_SPAWN_RATE", "spawn_rate"),
    "run-time": _same("value", "LOCUST_RUN_TIME", "run_time"),
    "list": _same("flag", None, "list_classes"),
    "headless": _same("flag", "LOCUST_HEADLESS", "headless"),
    # web-UI options with a TUI equivalent
    "autostart": _same("flag", "LOCUST_AUTOSTART", "autostart"),
    "autoquit": _same("value", "LOCUST_AUTOQUIT", "autoquit"),
    # the role: the tswarm command (run, master, worker) picks it
    "master": _same("flag", "LOCUST_MODE_MASTER", "master"),
    "worker": _same("flag", "LOCUST_MODE_WORKER", "worker"),
    "master-bind-host": _same("value", "LOCUST_MASTER_BIND_HOST", "master_bind_host"),
    "master-bind-port": _same("value", "LOCUST_MASTER_BIND_PORT", "master_bind_port"),
    "expect-workers": _same("value", "LOCUST_EXPECT_WORKERS", "expect_workers"),
    "expect-workers-max-wait": _same("value", "LOCUST_EXPECT_WORKERS_MAX_WAIT", "expect_workers_max_wait"),
    "processes": _same("value", "LOCUST_PROCESSES", "processes"),
    "master-host": _same("value", "LOCUST_MASTER_NODE_HOST", "master_host"),
    "master-port": _same("value", "LOCUST_MASTER_NODE_PORT", "master_port"),
    "tags": _same("list", "LOCUST_TAGS", "tags"),
    "exclude-tags": _same("list", "LOCUST_EXCLUDE_TAGS", "exclude_tags"),
    "csv": _same("value", "LOCUST_CSV", "csv"),
    "csv-full-history": _same("flag", "LOCUST_CSV_FULL_HISTORY", "csv_full_history"),
    "print-stats": _same("flag", "LOCUST_PRINT_STATS", "print_stats"),
    "only-summary": _same("flag", "LOCUST_ONLY_SUMMARY", "only_summary"),
    "reset-stats": _same("flag", "LOCUST_RESET_STATS", "reset_stats"),
    "html": _same("value", "LOCUST_HTML", "html"),
    # Locust's statistics list: --json prints it to stdout, --json-file X writes X.json (tswarm's own
    # report is tswarm's --json FILE, which no Locust setting names)
    "json": _same("flag", None, "locust_json"),
    "json-file": _same("value", None, "json_file"),
    "loglevel": _same("value", "LOCUST_LOGLEVEL", "loglevel"),
    "logfile": _same("value", "LOCUST_LOGFILE", "logfile"),
    "exit-code-on-error": _same("value", "LOCUST_EXIT_CODE_ON_ERROR", "exit_code_on_error"),
    "stop-timeout": _same("value", "LOCUST_STOP_TIMEOUT", "stop_timeout"),
    # Locust's web UI: tswarm shows a TUI instead
    "web-host": _LocustOption("LOCUST_WEB_HOST", "value", ignored=WEB_UI),
    "web-host-display-name": _LocustOption("LOCUST_WEB_HOST_DISPLAY_NAME", "value", ignored=WEB_UI),
    "web-port": _LocustOption("LOCUST_WEB_PORT", "value", ignored=WEB_UI),
    "web-base-path": _LocustOption("LOCUST_WEB_BASE_PATH", "value", ignored=WEB_UI),
    "headful": _LocustOption("LOCUST_HEADFUL", "flag", ignored=WEB_UI),
    "web-login": _LocustOption("LOCUST_WEB_LOGIN", "flag", ignored=WEB_UI),
    "web-auth": _LocustOption("LOCUST_WEB_AUTH", "value", ignored=WEB_UI),
    "tls-cert": _LocustOption("LOCUST_TLS_CERT", "value", ignored=WEB_UI),
    "tls-key": _LocustOption("LOCUST_TLS_KEY", "value", ignored=WEB_UI),
    "class-picker": _LocustOption("LOCUST_USERCLASS_PICKER", "flag", ignored=WEB_UI),
    "build-path": _LocustOption("LOCUST_BUILD_PATH", "value", ignored=WEB_UI),
    "legacy-ui": _LocustOption("LOCUST_LEGACY_UI", "flag", ignored=WEB_UI),
    # the User classes, and how a run is labelled
    "config-users": _same("list", "LOCUST_CONFIG_USERS", "config_users"),
    "show-task-ratio": _same("flag", None, "show_task_ratio"),
    "show-task-ratio-json": _same("flag", None, "show_task_ratio_json"),
    "equal-weights": _same("flag", None, "equal_weights"),
    "profile": _same("value", None, "profile"),
    # Locust features tswarm does not have
    "enable-rebalancing": _LocustOption(None, "flag", ignored=NOT_IN_TSWARM),
    "skip-log-setup": _LocustOption("LOCUST_SKIP_LOG_SETUP", "flag", ignored=NOT_IN_TSWARM),
    "otel": _LocustOption("LOCUST_ENABLE_OPENTELEMETRY", "flag", ignored=NOT_IN_TSWARM),
    "expect-slaves": _LocustOption(None, "value", ignored=NOT_IN_TSWARM, hint="now expect-workers"),
    "slave": _LocustOption(None, "flag", ignored=NOT_IN_TSWARM, hint="now worker"),
}

#: every option name Locust knows, for the hint after a misspelt key
LOCUST_OPTION_NAMES = frozenset(_LOCUST_OPTIONS)

#: keys that mean nothing in a config file (Locust reads them only from the command line)
_SILENT_KEYS = frozenset({"config", "help", "version"})

_TRUE = ("true", "yes", "on", "1")
_FALSE = ("false", "no", "off", "0")


@dataclass(frozen=True)
class LocustSetting:
    """One ``key = value`` of a Locust source, with the name of that source for messages."""

    key: str
    value: str | list[str]
    #: ``locust.conf``, ``~/.locust.conf``, ``[tool.locust] in pyproject.toml``, or ``LOCUST_HOST``
    source: str
    from_env: bool = False

    def label(self) -> str:
        """How to name this setting in a message: ``users in locust.conf`` or ``LOCUST_USERS``."""
        return self.source if self.from_env else f"{self.key} in {self.source}"


@dataclass
class LocustConfig:
    """What Locust's sources set, in tswarm's terms, after Locust's precedence among them."""

    #: tswarm parameter name -> value (strings as written; flags as bools; lists as lists)
    values: dict[str, Any] = field(default_factory=dict)
    #: tswarm parameter name -> the setting that gave its value (for messages)
    origins: dict[str, LocustSetting] = field(default_factory=dict)
    #: keys no Locust or tswarm option has: the test file's own options, or a typo (checked later)
    extras: dict[str, Any] = field(default_factory=dict)
    extra_origins: dict[str, LocustSetting] = field(default_factory=dict)
    #: Locust options that do nothing here, by key, with the setting that named them
    ignored: dict[str, LocustSetting] = field(default_factory=dict)

    def notices(self, command: str) -> list[str]:
        """The lines (at most three) that say what of Locust's configuration ``command`` leaves aside."""
        lines = []
        for role in ("master", "worker"):
            setting = self.origins.get(role)
            if setting is None or not self.values.get(role) or command == role:
                continue
            said = f"{setting.source}=true" if setting.from_env else f"{role} = true in {setting.source}"
            lines.append(
                f"{said} asks Locust for a {role}; tswarm's command picks the role (`tswarm {role}`),"
                f" so this `tswarm {command}` leaves it aside"
            )
        if command == "worker":  # a worker runs what its master sends: the rest is the master's business
            return lines
        web = [s.label() for s in self.ignored.values() if _LOCUST_OPTIONS[s.key].ignored == WEB_UI]
        if web:
            lines.append(f"ignoring Locust's web-UI options (tswarm shows a TUI instead): {', '.join(web)}")
        missing = []
        for setting in self.ignored.values():
            option = _LOCUST_OPTIONS[setting.key]
            if option.ignored == NOT_IN_TSWARM:
                missing.append(setting.label() + (f" ({option.hint})" if option.hint else ""))
        if missing:
            lines.append(f"ignoring Locust options tswarm does not have: {', '.join(missing)}")
        return lines


def read_locust_config(
    *, explicit_config: Path | None, environ: Mapping[str, str], home: Path | None = None
) -> LocustConfig:
    """Read Locust's sources from the working directory, ``home`` (default: the user's) and
    ``environ``; ``explicit_config`` is a ``--config`` file in Locust's format or a TOML file whose
    ``[tool.locust]`` is read."""
    home = home if home is not None else Path(os.path.expanduser("~"))
    settings: list[LocustSetting] = []
    user_file = home / ".locust.conf"
    if user_file.is_file():
        settings += _read_conf_file(user_file, "~/.locust.conf")
    if Path("locust.conf").is_file():
        settings += _read_conf_file(Path("locust.conf"), "locust.conf")
    if Path("pyproject.toml").is_file():
        settings += _read_tool_locust(Path("pyproject.toml"))
    if explicit_config is not None:
        if explicit_config.suffix == ".toml":
            settings += _read_tool_locust(explicit_config)
        else:
            settings += _read_conf_file(explicit_config, str(explicit_config))
    settings += _read_environment(environ)
    return _combine(settings)


def parse_locust_conf(text: str, source: str) -> list[LocustSetting]:
    """The settings of a file in Locust's config format (configargparse's): ``key = value``,
    ``key: value`` or ``key value``; a bare ``key`` means true; ``[a, b]`` is a list; lines
    starting with ``#``, ``;``, ``[`` or ``---`` and a `` # comment`` after a value are left out."""
    settings = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line[0] in "#;[" or line.startswith("---"):
            continue
        match = _CONF_LINE.match(line)
        if match is None:
            raise ConfigError(f"{source} line {number}: cannot read {line!r}: write key = value")
        key, rest = match.group("key"), match.group("rest")
        separated = bool(match.group("sep").strip())
        if not separated and rest[:1] in ("#", ";"):
            rest = ""  # "headless  # comment": a flag, then a comment
        value = _unquote_and_uncomment(rest)
        if value == "" and not separated:
            value = "true"  # a bare key is a flag that is set
        if value == "":
            continue  # "key =" sets nothing, as for Locust
        settings.append(LocustSetting(_bare_key(key), _maybe_list(value), source))
    return settings


_CONF_LINE = re.compile(r"(?P<key>[^\s:=;#]+)(?P<sep>\s*[:=]\s*|\s+|$)(?P<rest>.*)$")


def _unquote_and_uncomment(rest: str) -> str:
    rest = rest.strip()
    if rest[:1] in ("'", '"'):
        end = rest.find(rest[0], 1)
        if end > 0:
            return rest[1:end]
    # a comment needs a blank before it: "http://host/#anchor" keeps its '#'
    return re.split(r"\s[#;]", rest, maxsplit=1)[0].strip()


def _maybe_list(value: str) -> str | list[str]:
    if not (value.startswith("[") and value.endswith("]")):
        return value
    try:
        items = json.loads(value)
    except ValueError:
        # "[a, b]" is no JSON, and the usual way to write it; quotes around an item are not its own
        items = [item.strip().strip("'\"") for item in value[1:-1].split(",")]
    if not isinstance(items, list):
        return value
    return [_item_text(item) for item in items if _item_text(item)]


def _item_text(item: Any) -> str:
    # an object in a list (config-users' settings) stays JSON, not Python's repr of a dict
    return json.dumps(item) if isinstance(item, dict | list) else str(item).strip()


def _bare_key(key: str) -> str:
    # Locust also takes "--spawn-rate" as a key; tswarm's own files take "spawn_rate" too
    return key.lstrip("-").replace("_", "-")


def _read_conf_file(path: Path, source: str) -> list[LocustSetting]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"cannot read {source}: {getattr(e, 'strerror', None) or e}") from None
    return parse_locust_conf(text, source)


def _read_tool_locust(path: Path) -> list[LocustSetting]:
    source = f"[tool.locust] in {path}"
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path} is not valid TOML: {e}") from None
    except OSError as e:
        raise ConfigError(f"cannot read {path}: {e.strerror}") from None
    table = data.get("tool", {}).get("locust", {}) if isinstance(data.get("tool"), dict) else {}
    if not isinstance(table, dict):
        raise ConfigError(f"{source} must be a table")
    settings = []
    for key, value in table.items():
        if isinstance(value, dict):
            raise ConfigError(f"{key} in {source} must be a value, not a table")
        if isinstance(value, list):
            settings.append(LocustSetting(_bare_key(key), [_item_text(v) for v in value], source))
        elif isinstance(value, bool):
            settings.append(LocustSetting(_bare_key(key), "true" if value else "false", source))
        else:
            settings.append(LocustSetting(_bare_key(key), str(value), source))
    return settings


def _read_environment(environ: Mapping[str, str]) -> list[LocustSetting]:
    """The ``LOCUST_*`` variables of Locust's options; others are left alone (Locust ignores them,
    and a test file's own options read theirs through ``env_var``)."""
    settings = []
    for key, option in _LOCUST_OPTIONS.items():
        if option.env is None or option.env not in environ:
            continue
        value = environ[option.env]
        if value == "":
            continue  # an empty variable sets nothing (Helm charts leave unused ones empty)
        settings.append(
            LocustSetting(
                key, _maybe_list(value) if option.kind == "list" else value, option.env, from_env=True
            )
        )
    return settings


def _combine(settings: list[LocustSetting]) -> LocustConfig:
    """Settings in rising precedence: each one replaces what an earlier one set."""
    config = LocustConfig()
    for setting in settings:
        option = _LOCUST_OPTIONS.get(setting.key)
        if setting.key in _SILENT_KEYS:
            continue
        if option is None:
            config.extras[setting.key.replace("-", "_")] = setting.value
            config.extra_origins[setting.key.replace("-", "_")] = setting
            continue
        if option.target is None:
            config.ignored[setting.key] = setting
            continue
        value = _convert(setting, option.kind)
        if setting.key == "processes" and value == "-1":
            value = "auto"  # Locust's "one per core"
        config.values[option.target] = value
        config.origins[option.target] = setting
    return config


def _convert(setting: LocustSetting, kind: Kind) -> Any:
    value = setting.value
    if kind == "list":
        return value if isinstance(value, list) else [value]
    if isinstance(value, list):
        raise ConfigError(f"{setting.label()} takes one value, not a list")
    if kind == "flag":
        if value.lower() in _TRUE:
            return True
        if value.lower() in _FALSE:
            return False
        raise ConfigError(f"invalid {setting.label()} {value!r}: use true or false")
    return value
