"""The import rules of DESIGN.md: imports only go down the layers."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO_ROOT, repo_env

PACKAGE = REPO_ROOT / "tswarm"

#: folder or module -> top-level packages it must never import
FORBIDDEN = {
    "stats": {
        "gevent",
        "textual",
        "zmq",
        "geventhttpclient",
        "tswarm.runner",
        "tswarm.controller",
        "tswarm.tui",
    },
    "protocol": {"gevent", "textual", "zmq", "tswarm.runner", "tswarm.controller", "tswarm.tui"},
    "controller": {"gevent", "textual", "geventhttpclient", "tswarm.tui", "tswarm.cli", "tswarm.runner"},
    "tui": {"gevent", "zmq", "geventhttpclient", "tswarm.runner", "tswarm.cli"},
    "headless": {"gevent", "textual", "tswarm.tui", "tswarm.runner"},
    "runner": {"textual", "tswarm.tui", "tswarm.controller", "tswarm.cli"},
    "dispatch.py": {"gevent", "textual", "zmq"},
    "events.py": {"gevent", "textual", "zmq"},
    "env.py": {"gevent", "textual", "zmq"},
    "ramp.py": {"gevent", "textual", "zmq", "asyncio", "tswarm.runner", "tswarm.controller"},
    "roles.py": {"gevent", "textual", "zmq", "tswarm.runner", "tswarm.controller", "tswarm.env"},
    "checks.py": {"gevent", "textual", "zmq", "asyncio", "tswarm.runner", "tswarm.controller", "tswarm.cli"},
}


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def violations(files: list[Path], forbidden: set[str]) -> list[str]:
    found = []
    for file in files:
        for name in imported_modules(file):
            for bad in forbidden:
                if name == bad or name.startswith(bad + "."):
                    found.append(f"{file.relative_to(REPO_ROOT)} imports {name}")
    return found


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_layer_imports_only_go_down(layer: str) -> None:
    target = PACKAGE / layer
    files = sorted(target.rglob("*.py")) if target.is_dir() else [target]
    assert files
    assert violations(files, FORBIDDEN[layer]) == []


#: folder or module -> what it must never reach at run time, through any chain of imports (function-level
#: imports included, ``if TYPE_CHECKING:`` blocks left out): DESIGN.md's layers, followed all the way down
REACHES_NEVER = {
    "stats": {
        "gevent",
        "textual",
        "zmq",
        "geventhttpclient",
        "tswarm.runner",
        "tswarm.clients",
        "tswarm.controller",
    }
    | {"tswarm.tui", "tswarm.headless", "tswarm.cli"},
    "protocol": {"gevent", "textual", "zmq", "geventhttpclient", "tswarm.runner", "tswarm.clients"}
    | {"tswarm.controller", "tswarm.tui", "tswarm.headless", "tswarm.cli"},
    "controller": {"gevent", "textual", "geventhttpclient", "tswarm.runner", "tswarm.clients", "tswarm.tui"}
    | {"tswarm.headless", "tswarm.cli"},
    "headless": {"gevent", "textual", "geventhttpclient", "tswarm.runner", "tswarm.clients", "tswarm.tui"}
    | {"tswarm.cli"},
    "tui": {"gevent", "geventhttpclient", "tswarm.runner", "tswarm.clients", "tswarm.headless", "tswarm.cli"},
    "runner": {"textual", "tswarm.controller", "tswarm.tui", "tswarm.headless", "tswarm.cli"},
    "clients": {"textual", "zmq", "tswarm.runner", "tswarm.controller", "tswarm.tui", "tswarm.headless"}
    | {"tswarm.cli"},
    # the declared shapes' checker sits below every layer that checks data: stdlib only
    "shapes": {"gevent", "textual", "zmq", "msgpack", "tswarm.protocol", "tswarm.stats", "tswarm.runner"}
    | {"tswarm.clients", "tswarm.controller", "tswarm.tui", "tswarm.headless", "tswarm.cli"},
    # the Environment is the test file's view of a run: it builds the runner of its process (so it may
    # reach runner/ and controller/, lazily), but no front-end
    "env": {"textual", "tswarm.tui", "tswarm.headless", "tswarm.cli"},
    # shared by the master (asyncio) and the local runner (gevent): plain logic, neither event loop
    "ramp": {"gevent", "asyncio", "textual", "zmq", "tswarm.runner", "tswarm.controller", "tswarm.tui"}
    | {"tswarm.cli"},
    "roles": {"gevent", "textual", "zmq", "tswarm.env", "tswarm.runner", "tswarm.controller", "tswarm.cli"},
    "events": {"gevent", "textual", "zmq", "tswarm.runner", "tswarm.controller", "tswarm.tui", "tswarm.cli"},
    "dispatch": {
        "gevent",
        "textual",
        "zmq",
        "tswarm.runner",
        "tswarm.controller",
        "tswarm.tui",
        "tswarm.cli",
    },
    # pass/fail checks: plain logic on the stats, read by the command line, the controller and front-ends
    "checks": {"gevent", "asyncio", "textual", "zmq", "msgpack", "tswarm.protocol", "tswarm.runner"}
    | {"tswarm.clients", "tswarm.controller", "tswarm.tui", "tswarm.headless", "tswarm.cli"},
    # how both ends notice a vanished peer: zmq only, used by master and worker alike
    "liveness": {"gevent", "textual", "msgpack", "tswarm.protocol", "tswarm.stats", "tswarm.runner"}
    | {"tswarm.clients", "tswarm.controller", "tswarm.tui", "tswarm.headless", "tswarm.cli", "tswarm.secret"},
    # the shared secret and its keys: zmq and the standard library, used by master and worker alike
    "secret": {"gevent", "textual", "msgpack", "tswarm.protocol", "tswarm.stats", "tswarm.runner"}
    | {"tswarm.clients", "tswarm.controller", "tswarm.tui", "tswarm.headless", "tswarm.cli"},
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO_ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def runtime_imports(path: Path) -> set[str]:
    """The absolute names a module can import when it runs, wherever the import statement sits."""
    module = module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1] + ([base] if base else []))
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(path.read_text(), filename=str(path)))
    return found


def import_graph() -> dict[str, set[str]]:
    """tswarm module -> the tswarm modules and the third-party top-level packages it imports."""
    modules = {module_name(path): path for path in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        edges: set[str] = set()
        for imported in runtime_imports(path):
            if imported.split(".")[0] != "tswarm":
                edges.add(imported.split(".")[0])
                continue
            while imported not in modules:  # `from pkg import name`: the module that defines name
                imported = imported.rpartition(".")[0]
            if imported != name:
                edges.add(imported)
        graph[name] = edges
    return graph


def import_chain(graph: dict[str, set[str]], start: str, forbidden: set[str]) -> list[str] | None:
    """The first chain of imports from ``start`` to a forbidden package, or None when there is none."""
    seen = {start}
    paths = [[start]]
    while paths:  # breadth first: the shortest chain is the one worth reading
        path = paths.pop(0)
        for nxt in sorted(graph.get(path[-1], ())):
            if any(nxt == bad or nxt.startswith(bad + ".") for bad in forbidden):
                return [*path, nxt]
            if nxt not in seen and nxt in graph:
                seen.add(nxt)
                paths.append([*path, nxt])
    return None


def test_the_import_graph_sees_function_level_imports_and_skips_type_checking_blocks() -> None:
    graph = import_graph()
    # users.py imports the HTTP client inside a function; local.py imports Environment only for type hints
    assert "tswarm.clients.http" in graph["tswarm.runner.users"]
    assert "tswarm.env" not in graph["tswarm.runner.local"] and "gevent" in graph["tswarm.runner.local"]
    assert import_chain({"a": {"b"}, "b": {"c"}, "c": {"gevent"}}, "a", {"gevent"}) == [
        "a",
        "b",
        "c",
        "gevent",
    ]
    assert import_chain({"a": {"b"}, "b": set()}, "a", {"gevent"}) is None


@pytest.mark.parametrize("layer", sorted(REACHES_NEVER))
def test_layers_never_reach_up_through_any_chain_of_imports(layer: str) -> None:
    graph = import_graph()
    prefix = f"tswarm.{layer}"
    chains = []
    for module in sorted(graph):
        if module == prefix or module.startswith(prefix + "."):
            chain = import_chain(graph, module, REACHES_NEVER[layer])
            if chain:
                chains.append(" -> ".join(chain))
    assert chains == []


def test_importing_tswarm_and_the_master_never_loads_gevent() -> None:
    code = (
        "import sys\n"
        "import tswarm\n"
        "from tswarm.controller.master import MasterRunner\n"
        "from tswarm.tui.app import TswarmApp\n"
        "from tswarm.headless.reporter import HeadlessReporter\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('gevent', 'geventhttpclient')))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], env=repo_env(), capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_public_api() -> None:
    """`tswarm.__all__` is exactly the public surface, and a star import brings every name of it."""
    import tswarm

    expected = {
        # Locust's test-file API
        "User",
        "HttpUser",
        "FastHttpUser",
        "task",
        "tag",
        "between",
        "constant",
        "constant_pacing",
        "constant_throughput",
        "poisson",
        "TaskSet",
        "SequentialTaskSet",
        "LoadTestShape",
        "events",
        "Events",
        "EventHook",
        "Environment",
        "StopUser",
        "StopTest",
        "RescheduleTask",
        "RescheduleTaskImmediately",
        "InterruptTaskSet",
        "run_single_user",
        "__version__",
    }
    assert sorted(tswarm.__all__) == sorted(expected)
    namespace: dict[str, object] = {}
    exec("from tswarm import *", namespace)  # AttributeError if __all__ names something missing
    assert set(namespace) - {"__builtins__"} == expected
    assert tswarm.HttpUser.__module__ == "tswarm.runner.users" and issubclass(tswarm.HttpUser, tswarm.User)
    from tswarm.runners import LocalRunner, MasterRunner, WorkerRunner

    assert not issubclass(LocalRunner, (MasterRunner, WorkerRunner))
