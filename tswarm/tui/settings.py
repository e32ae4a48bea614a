"""What the TUI remembers between runs (the theme), in ``$XDG_CONFIG_HOME/tswarm/tui.toml``.

A missing, unreadable or hand-broken file is no error: the defaults apply, and the next change
writes a good one. Standard library only.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import tomllib
from pathlib import Path

__all__ = ["load_theme", "save_theme", "settings_path"]


def settings_path() -> Path:
    """``$XDG_CONFIG_HOME/tswarm/tui.toml`` (``~/.config/tswarm/tui.toml`` without the variable)."""
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return Path(base) / "tswarm" / "tui.toml"


def load_theme(path: Path) -> str | None:
    """The theme saved in ``path``, or None."""
    try:
        with path.open("rb") as settings_file:
            theme = tomllib.load(settings_file).get("theme")
    except (OSError, tomllib.TOMLDecodeError):
        return None
    return theme if isinstance(theme, str) and theme else None


def save_theme(path: Path, theme: str) -> None:
    """Remember ``theme`` in ``path`` (written whole, atomically); a failure is ignored: it is a nicety."""
    # a TOML basic string is a JSON string for the names themes have
    text = f"# written by the tswarm TUI\ntheme = {json.dumps(theme)}\n"
    with contextlib.suppress(OSError):
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix="tui.", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as settings_file:
                settings_file.write(text)
            os.replace(tmp, path)
        except OSError:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
