"""Make ``import locust`` (and its common submodules) resolve to tswarm's API while test files load.

Test files written for Locust run unchanged. A part of Locust's API that tswarm does not provide fails
with an error that names it, instead of a confusing attribute error deep inside the test.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
from types import ModuleType
from typing import Any

#: locust module -> (tswarm module, names it exposes; None = every public name of that module)
_ALIASES: dict[str, tuple[str, tuple[str, ...] | None]] = {
    "locust": ("tswarm", None),
    "locust.env": ("tswarm.env", ("Environment",)),
    "locust.runners": ("tswarm.runners", None),
    "locust.event": ("tswarm.events", ("EventHook", "Events", "events")),
    "locust.exception": ("tswarm.compat.exceptions", None),
    "locust.shape": ("tswarm.runner.shape", ("LoadTestShape",)),
    "locust.user": ("tswarm.compat.user", None),
    "locust.user.task": ("tswarm.runner.tasks", ("task", "tag", "TaskSet", "SequentialTaskSet")),
    "locust.user.users": ("tswarm.runner.users", ("User", "HttpUser", "RestMixin")),
    "locust.user.wait_time": (
        "tswarm.runner.wait_time",
        ("between", "constant", "constant_pacing", "constant_throughput", "poisson"),
    ),
    "locust.wait_time": (
        "tswarm.runner.wait_time",
        ("between", "constant", "constant_pacing", "constant_throughput", "poisson"),
    ),
    "locust.clients": (
        "tswarm.clients.http",
        ("HttpSession", "ResponseContextManager", "RestResponseContextManager", "Response"),
    ),
    "locust.debug": ("tswarm.debug", ("run_single_user",)),
    "locust.log": ("tswarm.compat.log", None),
    "locust.stats": ("tswarm.compat.stats", None),
    "locust.contrib": ("tswarm.compat.contrib", None),
    "locust.contrib.fasthttp": ("tswarm.compat.fasthttp", None),
}

SUPPORTED = tuple(sorted(_ALIASES))

#: the last part of Locust's module names: ``from locust import X`` with any other X names an attribute
_LOCUST_MODULE_NAMES = frozenset(
    [
        "argument_parser",
        "clients",
        "contrib",
        "debug",
        "dispatch",
        "dns",
        "env",
        "event",
        "exception",
        "fasthttp",
        "html",
        "inherit",
        "input_events",
        "log",
        "main",
        "markov_taskset",
        "mongodb",
        "mqtt",
        "oai",
        "postgres",
        "rpc",
        "runners",
        "sequential_taskset",
        "shape",
        "socketio",
        "stats",
        "task",
        "user",
        "users",
        "util",
        "wait_time",
        "web",
        "webui",
    ]
)
#: Locust's names from before 1.0, and what replaced them
_RENAMED = {
    "HttpLocust": "HttpUser",
    "Locust": "User",
    "TaskSequence": "SequentialTaskSet",
    "seq_task": "task",
}


class _AliasModule(ModuleType):
    """A stand-in for a Locust module that forwards the supported names to tswarm."""

    def __init__(self, name: str, target: str, names: tuple[str, ...] | None) -> None:
        super().__init__(name)
        self._target = target
        self._names = names
        self.__path__: list[str] = []  # a package, so that submodules import

    def __getattr__(self, attr: str) -> Any:
        if attr.startswith("__"):
            raise AttributeError(attr)
        module = importlib.import_module(self._target)
        allowed = self._names is None or attr in self._names
        if allowed and hasattr(module, attr):
            value = getattr(module, attr)
            setattr(self, attr, value)
            return value
        raise AttributeError(f"{attr!r} from {self.__name__} is not supported by tswarm")

    def __dir__(self) -> list[str]:
        module = importlib.import_module(self._target)
        return list(self._names or getattr(module, "__all__", dir(module)))


class _UnsupportedLocustModule(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Fails the import of any other ``locust.*`` module with a message that names it."""

    def find_spec(
        self, fullname: str, path: Any, target: Any = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname.startswith("locust.") and fullname not in _ALIASES:
            return importlib.machinery.ModuleSpec(fullname, self)
        return None

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        parent, _, last = spec.name.rpartition(".")
        if parent in _ALIASES and last not in _LOCUST_MODULE_NAMES:
            # `from locust import X` looks for a submodule once the attribute is missing: X is a name
            renamed = f" (Locust renamed it {_RENAMED[last]} in 1.0)" if last in _RENAMED else ""
            raise ImportError(f"{last!r} from {parent} is not supported by tswarm{renamed}", name=spec.name)
        raise ImportError(
            f"{spec.name} is not supported by tswarm (supported Locust modules: {', '.join(SUPPORTED)})",
            name=spec.name,
        )

    def exec_module(self, module: ModuleType) -> None:  # pragma: no cover - create_module raised
        pass


_finder = _UnsupportedLocustModule()


def install_locust_aliases() -> None:
    """Put the Locust stand-ins into ``sys.modules`` (idempotent)."""
    import tswarm

    for name, (target, names) in _ALIASES.items():
        if not isinstance(sys.modules.get(name), _AliasModule):
            sys.modules[name] = _AliasModule(name, target, names)
    locust = sys.modules["locust"]
    locust.__version__ = tswarm.__version__  # type: ignore[attr-defined]
    for name in _ALIASES:
        if "." in name:
            parent, child = name.rsplit(".", 1)
            setattr(sys.modules[parent], child, sys.modules[name])
    if _finder not in sys.meta_path:
        sys.meta_path.insert(0, _finder)
