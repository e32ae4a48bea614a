"""Where option values come from: config file < TSWARM_* environment variables < command line.

The config file is ``--config FILE``, else ``tswarm.toml`` in the working directory, else the
``[tool.tswarm]`` table of ``pyproject.toml`` there. Keys are option names (``spawn-rate`` or
``spawn_rate``); a table named after a command (``[worker]``) applies to that command only. A
``--config`` file that is not ``.toml`` is in Locust's format: :mod:`tswarm.cli.locust_config` reads
it, with Locust's other sources, below all of these.

Imports nothing from the command line.
"""

from __future__ import annotations

import difflib
import tomllib
from pathlib import Path
from typing import Any

from tswarm.exceptions import ConfigError

__all__ = ["COMMANDS", "find_config_path", "is_locust_format", "load_config", "suggest"]

#: the commands a config file configures
COMMANDS = ("run", "master", "worker", "demo")


def find_config_path(argv: list[str]) -> Path | None:
    """The config file named by ``--config`` in ``argv``, or the default one in the working directory."""
    for i, arg in enumerate(argv):
        if arg == "--config":
            if i + 1 >= len(argv):
                raise ConfigError("--config needs a file name")
            return _must_exist(argv[i + 1])
        if arg.startswith("--config="):
            return _must_exist(arg.split("=", 1)[1])
    for default in (Path("tswarm.toml"), Path("pyproject.toml")):
        if default.is_file():
            return default
    return None


def _must_exist(name: str) -> Path:
    path = Path(name)
    if not path.is_file():
        raise ConfigError(f"config file {name} not found")
    return path


def is_locust_format(path: Path) -> bool:
    """Whether a ``--config`` file is in Locust's ``key = value`` format rather than TOML: any name
    that does not end in ``.toml`` (``locust.conf``, ``staging.conf``, ...)."""
    return path.suffix != ".toml"


def load_config(path: Path | None) -> dict[str, dict[str, Any]]:
    """Read the config file into ``{command: {option_name: value}}`` (option names with underscores).

    A file in Locust's format gives nothing here: it is Locust's source, read below tswarm's own."""
    if path is None or is_locust_format(path):
        return {}
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"config file {path} is not valid TOML: {e}") from None
    except OSError as e:
        raise ConfigError(f"cannot read config file {path}: {e.strerror}") from None
    tool = data.get("tool")
    if isinstance(tool, dict) and ("tswarm" in tool or "locust" in tool):
        # a project file: [tool.tswarm] is tswarm's; [tool.locust] is Locust's, read with its sources
        data = tool.get("tswarm", {})
    elif path.name == "pyproject.toml" and path.parent == Path("."):
        data = {}
    common = {_key(k): v for k, v in data.items() if k not in COMMANDS}
    result: dict[str, dict[str, Any]] = {}
    for command in COMMANDS:
        section = data.get(command, {})
        if not isinstance(section, dict):
            raise ConfigError(f"[{command}] in {path} must be a table")
        result[command] = {**common, **{_key(k): v for k, v in section.items()}}
    return result


def _key(name: str) -> str:
    return name.replace("-", "_")


def suggest(name: str, candidates: set[str] | list[str]) -> str:
    """' (did you mean --x?)' for the closest candidate, or ''."""
    bare = name.lstrip("-").replace("_", "-")
    names = {c.lstrip("-").replace("_", "-") for c in candidates}
    match = difflib.get_close_matches(bare, names, n=1, cutoff=0.6)
    return f" (did you mean --{match[0]}?)" if match else ""
