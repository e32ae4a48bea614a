"""The log lines the TUI's Logs view shows: the master's own (INFO and up) and those its workers send.

A worker's line is text, never terminal control: control characters (ANSI escapes among them) are
shown escaped, and one record stays one line, so a worker can neither clear the master's screen nor
forge a master log line. Plain logging and re; may import tswarm.protocol and controller.snapshot.
"""

from __future__ import annotations

import contextlib
import logging
import re
from collections import deque

from tswarm.controller.snapshot import LogLine
from tswarm.protocol import MASTER_NODE_ID

__all__ = ["LOG_LINES_KEPT", "MAX_LINE_CHARS", "RunLog", "printable", "worker_log"]

#: log lines kept for the TUI
LOG_LINES_KEPT = 500
#: log lines forwarded by the workers are logged here, prefixed with the worker's node id
worker_log = logging.getLogger("tswarm.worker")
#: a worker's log message is cut after this many characters (a frame may carry megabytes)
MAX_LINE_CHARS = 10_000

# C0 and C1 controls, DEL, and the invisible format characters that reorder or hide text (bidi
# overrides, zero-width marks, line and paragraph separators)
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    named = _NAMED.get(char)
    if named is not None:
        return named
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(text: str, limit: int = MAX_LINE_CHARS) -> str:
    """``text`` as one line of plain text: control characters escaped (``\\x1b``, ``\\n``), cut at ``limit``."""
    if len(text) > limit:
        text = text[:limit] + f"... ({len(text) - limit} more characters)"
    return _CONTROL.sub(_escape, text)


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
        node_id = printable(node_id, 200)
        for timestamp, level, message in lines:
            level = printable(level, 20)
            message = printable(message)
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
            # the master's own lines may quote what a peer sent (a node id, a message type)
            message = printable(record.getMessage())
            self.lines.append(LogLine(record.created, MASTER_NODE_ID, record.levelname, message))
