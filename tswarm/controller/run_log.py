"""The log lines the TUI's Logs view shows: the master's own (INFO and up) and those its workers send.

Plain logging; may import tswarm.protocol and controller.snapshot.
"""

from __future__ import annotations

import contextlib
import logging
from collections import deque

from tswarm.controller.snapshot import LogLine
from tswarm.protocol import MASTER_NODE_ID

__all__ = ["LOG_LINES_KEPT", "RunLog", "worker_log"]

#: log lines kept for the TUI
LOG_LINES_KEPT = 500
#: log lines forwarded by the workers are logged here, prefixed with the worker's node id
worker_log = logging.getLogger("tswarm.worker")


class RunLog:
    """The newest :data:`LOG_LINES_KEPT` lines; thread-safe to append to (a deque)."""

    def __init__(self) -> None:
        self.lines: deque[LogLine] = deque(maxlen=LOG_LINES_KEPT)
        self._collector = _LogCollector(self.lines)

    def capture(self) -> None:
        """Keep this process's log lines from now on."""
        logging.getLogger().addHandler(self._collector)

    def release(self) -> None:
        """Stop keeping this process's log lines."""
        logging.getLogger().removeHandler(self._collector)

    def add_worker_lines(self, node_id: str, lines: list[tuple[float, str, str]]) -> None:
        """Keep (and log) the ``[timestamp, level, message]`` lines a worker sent (checked when decoded)."""
        for timestamp, level, message in lines:
            self.lines.append(LogLine(float(timestamp), node_id, level, message))
            level_no = logging.getLevelName(level.upper())
            worker_log.log(
                level_no if isinstance(level_no, int) else logging.INFO, "[%s] %s", node_id, message
            )


class _LogCollector(logging.Handler):
    """Keeps this process's log lines (INFO and up)."""

    def __init__(self, lines: deque[LogLine]) -> None:
        super().__init__(level=logging.INFO)
        self.lines = lines

    def emit(self, record: logging.LogRecord) -> None:
        if record.name == worker_log.name:
            return  # worker lines are kept with their worker's id when they arrive
        with contextlib.suppress(Exception):  # a log handler must never raise
            self.lines.append(LogLine(record.created, MASTER_NODE_ID, record.levelname, record.getMessage()))
