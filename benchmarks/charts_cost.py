"""CPU of one Charts refresh with a long history (a benchmark, not a test).

The TUI headless (Pilot) at 120x40 on the Charts view; the controller is the tests' fake, whose
snapshot carries N history points (2,048 is the most the controller keeps: about 34 minutes at one a
second, then thinned, so a run of any length). Each refresh moves every timestamp, so every chart
buckets and redraws its whole history, as in a run. Reports the app's CPU per refresh (buckets,
render and Textual's paint), without building the snapshot (the master's cost).

    python benchmarks/charts_cost.py [--points 2048] [--size 120x40] [--refreshes 30]
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import math
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from tui_fixtures import T0, FakeController, make_snapshot  # noqa: E402

from tswarm.controller.snapshot import HistoryPoint, RunSnapshot  # noqa: E402
from tswarm.tui import TswarmApp  # noqa: E402


@dataclasses.dataclass
class GrowingHistory(FakeController):
    points: int = 2048
    tick: int = 0

    def snapshot(self) -> RunSnapshot:
        self.tick += 1
        history = tuple(
            HistoryPoint(T0 + 2 * i + self.tick, 50, 100 + 10 * math.sin(i / 7), 1.0, 40.0, 120.0, 300.0)
            for i in range(self.points)
        )
        return dataclasses.replace(make_snapshot(), history=history)


async def measure(points: int, size: tuple[int, int], refreshes: int) -> float:
    controller = GrowingHistory.running(points=points)
    app = TswarmApp(controller)
    app.REFRESH_INTERVAL = 3600.0  # only the refreshes below
    async with app.run_test(size=size) as pilot:
        await pilot.pause()
        await pilot.press("2")
        await pilot.pause()
        spent = 0.0
        for _ in range(refreshes):
            snapshot = controller.snapshot()
            controller.snapshot = lambda snapshot=snapshot: snapshot  # type: ignore[method-assign]
            started = time.process_time()
            app.refresh_snapshot()
            await pilot.pause()
            spent += time.process_time() - started
            del controller.snapshot
        app.exit()
    return 1000.0 * spent / refreshes


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--points", type=int, default=2048)
    parser.add_argument("--size", default="120x40")
    parser.add_argument("--refreshes", type=int, default=30)
    args = parser.parse_args()
    width, height = (int(part) for part in args.size.split("x"))
    ms = asyncio.run(measure(args.points, (width, height), args.refreshes))
    print(f"{args.points} history points at {width}x{height}: {ms:.1f} ms CPU per Charts refresh")


if __name__ == "__main__":
    main()
