"""``locust.log``: the logging helpers Locust files call (``setup_logging``, ``greenlet_exception_logger``).

tswarm sets up its own logging before a test file loads; these only adjust it. Imports only the stdlib.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

__all__ = ["greenlet_exception_logger", "setup_logging", "unhandled_greenlet_exception"]

#: set when a greenlet given :func:`greenlet_exception_logger` died of an exception (as in Locust)
unhandled_greenlet_exception = False


def setup_logging(loglevel: str, logfile: str | None = None) -> None:
    """Set the level of the log (e.g. ``"DEBUG"``) and, with ``logfile``, also write it to that file.

    tswarm's own handler and line format stay. An unknown level raises ValueError, as Locust's does.
    """
    root = logging.getLogger()
    root.setLevel(loglevel.upper())
    if logfile:
        handler = logging.FileHandler(logfile)
        # the same line format as the handler tswarm already installed, when there is one
        formatter = next((h.formatter for h in root.handlers if h.formatter is not None), None)
        if formatter is not None:
            handler.setFormatter(formatter)
        root.addHandler(handler)


def greenlet_exception_logger(logger: logging.Logger, level: int = logging.CRITICAL) -> Callable[[Any], None]:
    """A callback for ``greenlet.link_exception()`` that logs the greenlet's exception with its traceback."""

    def log_exception(greenlet: Any) -> None:
        global unhandled_greenlet_exception
        unhandled_greenlet_exception = True
        error = greenlet.exception
        logger.log(
            level,
            "Unhandled exception in greenlet: %s",
            greenlet,
            exc_info=(type(error), error, error.__traceback__) if error is not None else None,
        )

    return log_exception
