"""Regenerate screenshots/*.png from a REAL run.

Starts the built-in target server, a master with the TUI in front (built as ``tswarm master`` builds
it) and two real ``tswarm worker`` processes running :data:`TEST_FILE` (which produces failures, an
exception and log lines, so that no view is empty), drives the app with Textual's Pilot at 120x40,
saves each view as SVG and converts it to PNG with ``rsvg-convert``. The run is bounded (about 30 s)
and every process it starts is ended by its PID.

    apt-get install -y librsvg2-bin fonts-firacode      # rsvg-convert and the font the SVGs name
    python screenshots/make_screenshots.py [--keep-svg]
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

OUT = Path(__file__).resolve().parent
SIZE = (120, 40)
#: seconds of load before the first view is saved, so that the charts have a history
WARM_UP = 20.0

TEST_FILE = """
import logging
import random

from tswarm import FastHttpUser, between, events, task

log = logging.getLogger("shop")


class Shopper(FastHttpUser):
    wait_time = between(0.05, 0.15)

    @task(6)
    def home(self):
        self.client.get("/")

    @task(8)
    def item(self):
        self.client.get(f"/items/{random.randint(1, 500)}", name="/items/[id]")

    @task(4)
    def catalog(self):
        self.client.get("/json", name="/api/catalog")

    @task(3)
    def search(self):
        self.client.get("/latency", name="/api/search")

    @task(2)
    def flaky(self):
        self.client.get("/flaky", name="/api/recommendations")

    @task(1)
    def checkout(self):
        with self.client.get("/status/500", name="/api/checkout", catch_response=True) as response:
            response.failure("checkout refused: HTTP 500")

    @task(1)
    def broken(self):
        if random.random() < 0.2:
            raise ValueError("cart total does not add up")
        self.client.get("/fast", name="/api/cart")


@events.test_start.add_listener
def on_test_start(environment, **_kwargs):
    log.info("test started against %s", environment.host)


@events.test_stop.add_listener
def on_test_stop(environment, **_kwargs):
    log.info("test stopped")
"""


def start_target() -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "tswarm.target", "--host", "127.0.0.1", "--port", "0"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.startswith("tswarm target listening on http://"):
            return proc, line.strip().rsplit(" ", 1)[1]
    raise RuntimeError(f"the target server exited with {proc.wait()}")


async def until(pilot: Any, condition: Callable[[Any], bool], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not (pilot.app.snapshot is not None and condition(pilot.app.snapshot)):
        if time.monotonic() > deadline:
            raise RuntimeError(f"not within {timeout}s: {what}")
        await pilot.pause(0.1)


async def drive(tui: Any, svg_dir: Path) -> list[str]:
    from textual.widgets import Input

    from tswarm.controller.snapshot import RunState
    from tswarm.tui.screens.help import HelpScreen
    from tswarm.tui.screens.spawn import SpawnScreen

    app = tui.app
    saved: list[str] = []

    async def shot(name: str) -> None:
        await pilot.pause(1.2)  # one redraw tick of the app, so the view shows the newest snapshot
        app.save_screenshot(f"{name}.svg", str(svg_dir))
        saved.append(name)

    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda s: s.workers_ready == 2, "two workers connected")
        if not isinstance(app.screen, SpawnScreen):
            await pilot.press("n")
        app.screen.query_one("#spawn-users", Input).value = "40"
        app.screen.query_one("#spawn-rate", Input).value = "10"
        app.screen.query_one("#spawn-run-time", Input).value = "5m"
        await shot("start-dialog")
        await pilot.press("enter")
        await until(pilot, lambda s: s.user_count == 40, "40 users running")
        await pilot.pause(WARM_UP)
        await until(pilot, lambda s: s.exceptions and s.failures, "failures and exceptions")
        for key, name in (
            ("2", "charts"),
            ("3", "workers"),
            ("4", "failures"),
            ("5", "exceptions"),
            ("6", "logs"),
            ("7", "distributions"),
            ("8", "checks"),
        ):
            await pilot.press(key)
            await shot(name)
        await pilot.press("1")
        await shot("statistics")
        # the drill-down of the endpoint with failures of several kinds, after a few seconds of its charts
        await pilot.press("slash", *"checkout", "enter")
        await pilot.pause(1.2)  # the filter applies on the next redraw tick
        await pilot.press("up", "up", "up", "enter")  # the first row: its one endpoint, not Aggregated
        await pilot.pause(5.0)
        await shot("endpoint")
        await pilot.press("escape", "slash", "ctrl+u", "enter")
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        await shot("help")
        await pilot.press("escape")
        await pilot.press("x")
        await until(pilot, lambda s: s.state is RunState.STOPPED, "the test stopped")
        await pilot.press("q")
    return saved


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--keep-svg", action="store_true", help="keep the SVGs next to the PNGs")
    args = parser.parse_args()
    if shutil.which("rsvg-convert") is None:
        sys.exit("rsvg-convert not found: apt-get install -y librsvg2-bin fonts-firacode")

    from tswarm.checks import parse_checks
    from tswarm.cli.distributed import create_master, start_local_workers, stop_processes
    from tswarm.cli.frontend import build_master_tui
    from tswarm.cli.options import RunOptions

    work = Path(tempfile.mkdtemp(prefix="tswarm-shots-"))
    testfile = work / "shop.py"
    testfile.write_text(TEST_FILE)
    target, url = start_target()
    workers: list[subprocess.Popen[bytes]] = []
    tui = None
    try:
        options = RunOptions(
            command="master",
            locustfile=str(testfile),
            host=url,
            users=40,
            spawn_rate=10,
            stop_timeout=2,
            master_bind_host="127.0.0.1",
            master_bind_port=0,
            heartbeat_timeout=10,
            checks=parse_checks(["p95<500ms", "fail_ratio<5%", "GET /items/*: p99<100ms", "rps>=20"]),
        )
        master = create_master(options)
        tui = build_master_tui(options, master)
        workers = start_local_workers(options, master.bind_port, 2, work)
        saved = asyncio.run(drive(tui, work))
    finally:
        if tui is not None:
            tui.master.shutdown()
        stop_processes([*workers, target], timeout=0)  # ours, by PID: SIGTERM now, SIGKILL after 5 s
    for name in saved:
        # the app writes SVGs that rsvg-convert renders as they are (plain preserved spaces)
        svg = work / f"{name}.svg"
        subprocess.run(
            ["rsvg-convert", "--zoom", "1.5", "-o", str(OUT / f"{name}.png"), str(svg)], check=True
        )
        if args.keep_svg:
            shutil.copy(svg, OUT / svg.name)
        print(f"screenshots/{name}.png")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
