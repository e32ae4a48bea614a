"""What a front-end may ask of the controller that holds the test.

The controller runs its own asyncio loop (in a thread behind the TUI, or as the main loop when
headless). Every method here is safe to call from another thread and, but for ``write_outputs``,
non-blocking: commands are queued into the controller's loop, and ``snapshot()`` returns the
newest ready-made picture.
"""

from __future__ import annotations

from typing import Protocol

from tswarm.controller.snapshot import RunSnapshot


class RunController(Protocol):
    def snapshot(self) -> RunSnapshot:
        """The newest picture of the run (rebuilt by the controller about once a second)."""
        ...

    def start(
        self,
        user_count: int,
        spawn_rate: float,
        host: str | None = None,
        run_time: float | None = None,
    ) -> None:
        """Start a test, or change the running one to these figures."""
        ...

    def stop(self) -> None:
        """Stop the users; the numbers stay."""
        ...

    def reset_stats(self) -> None: ...

    def watch_entry(self, key: tuple[str, str] | None) -> None:
        """Put the detail of the entry ``(method, name)`` into the snapshots (``RunSnapshot.detail``)
        from now on, or no entry's with None. One entry at a time: the drill-down that is open."""
        ...

    def write_outputs(self, prefix: str | None = None) -> list[str]:
        """Write the outputs the command line asked for (--csv, --json, --html, ...) now; returns the
        paths written ([] when it asked for none).

        ``prefix``: write the CSV files, the JSON and the HTML report under this path prefix instead
        (``PREFIX_stats.csv``, ..., ``PREFIX.json``, ``PREFIX.html``). Raises OSError when a file
        cannot be written. The one method that waits (for the files): a front-end calls it off its
        event loop.
        """
        ...

    def shutdown(self) -> None:
        """Stop the test, tell the workers to quit and end the controller's loop."""
        ...
