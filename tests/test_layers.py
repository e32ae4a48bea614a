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
    import tswarm

    expected = {
        "User",
        "HttpUser",
        "FastHttpUser",
        "task",
        "tag",
        "between",
        "constant",
        "constant_pacing",
        "constant_throughput",
        "TaskSet",
        "SequentialTaskSet",
        "LoadTestShape",
        "events",
        "StopUser",
        "StopTest",
        "RescheduleTask",
        "InterruptTaskSet",
    }
    assert expected <= set(tswarm.__all__)
    for name in tswarm.__all__:
        assert getattr(tswarm, name) is not None
    from tswarm.runners import LocalRunner, MasterRunner, WorkerRunner

    assert not issubclass(LocalRunner, (MasterRunner, WorkerRunner))
