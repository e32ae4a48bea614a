"""Loading test files: Locust-style Python files that define User classes and maybe a LoadTestShape.

Every failure is a ``TestFileError`` with one line that names the file (and line) and the problem.
"""

from __future__ import annotations

import importlib.util
import inspect
import logging
import sys
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from tswarm.compat.locust import install_locust_aliases
from tswarm.compat.stats import warn_about_changed_settings
from tswarm.exceptions import TestFileError

log = logging.getLogger(__name__)


@dataclass
class LoadedTest:
    """What a test file (or several) defines."""

    paths: list[Path]
    user_classes: dict[str, type] = field(default_factory=dict)
    shape_classes: dict[str, type] = field(default_factory=dict)
    modules: list[ModuleType] = field(default_factory=list)

    def select_user_classes(self, names: list[str]) -> list[type]:
        """The classes named on the command line, or all of them when none are named."""
        if not names:
            return list(self.user_classes.values())
        unknown = [n for n in names if n not in self.user_classes]
        if unknown:
            available = ", ".join(sorted(self.user_classes)) or "none"
            raise TestFileError(
                f"unknown User class {', '.join(unknown)} (the test file defines: {available})"
            )
        return [self.user_classes[n] for n in names]

    def select_shape(self, name: str | None = None) -> Any | None:
        """An instance of the test's LoadTestShape, if it defines exactly one (or the one named)."""
        if name:
            if name not in self.shape_classes:
                raise TestFileError(f"unknown LoadTestShape class {name}")
            return self.shape_classes[name]()
        if not self.shape_classes:
            return None
        first, *others = self.shape_classes
        if others:
            # Locust runs the first shape class the file defines (files often keep alternatives
            # side by side and comment nothing out): do the same, and say which one it is.
            log.warning(
                "the test file defines several LoadTestShape classes; using the first, %s (not %s)",
                first,
                ", ".join(others),
            )
        return self.shape_classes[first]()


def expand_paths(spec: str) -> list[Path]:
    """Turn ``-f`` into files: a file, a directory (its ``*.py`` files) or a comma-separated list."""
    paths: list[Path] = []
    for part in (p.strip() for p in spec.split(",")):
        if not part:
            continue
        path = Path(part)
        if path.is_dir():
            found = sorted(p for p in path.glob("*.py") if not p.name.startswith("_"))
            if not found:
                raise TestFileError(f"no .py test files in directory {part}")
            paths.extend(found)
        elif path.is_file():
            paths.append(path)
        elif not path.suffix and Path(part + ".py").is_file():
            paths.append(Path(part + ".py"))
        else:
            raise TestFileError(f"test file {part} not found")
    if not paths:
        raise TestFileError("no test file given (-f)")
    return paths


def load_testfiles(spec: str) -> LoadedTest:
    """Import the test files of ``spec`` and collect their User and LoadTestShape classes."""
    from tswarm.runner.shape import is_shape_class
    from tswarm.runner.users import is_user_class

    install_locust_aliases()
    loaded = LoadedTest(paths=expand_paths(spec))
    for path in loaded.paths:
        module = _import_file(path)
        loaded.modules.append(module)
        for value in vars(module).values():
            if inspect.isclass(value):
                if is_user_class(value):
                    loaded.user_classes.setdefault(value.__name__, value)
                elif is_shape_class(value):
                    loaded.shape_classes.setdefault(value.__name__, value)
    warn_about_changed_settings(sys.modules.get("locust.stats"))
    if not loaded.user_classes:
        files = ", ".join(str(p) for p in loaded.paths)
        raise TestFileError(
            f"no User class found in {files} (define a subclass of User, HttpUser or FastHttpUser)"
        )
    return loaded


def _import_file(path: Path) -> ModuleType:
    path = path.resolve()
    directory = str(path.parent)
    if directory not in sys.path:
        sys.path.insert(0, directory)
    module_name = path.stem if path.stem not in sys.modules else f"tswarm_testfile_{path.stem}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise TestFileError(f"cannot import {path.name}: not a Python file")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except SyntaxError as e:
        del sys.modules[module_name]
        where = f"{Path(e.filename or path).name}:{e.lineno}" if e.lineno else path.name
        raise TestFileError(f"syntax error in {where}: {e.msg}") from None
    except Exception as e:
        del sys.modules[module_name]
        raise TestFileError(f"error importing {_where(e, path)}: {type(e).__name__}: {e}") from None
    return module


def _where(error: BaseException, path: Path) -> str:
    """``file:line`` of the deepest frame of the traceback that is in the test file."""
    line = None
    for frame in traceback.extract_tb(error.__traceback__):
        if Path(frame.filename).resolve() == path:
            line = frame.lineno
    return f"{path.name}:{line}" if line else path.name
