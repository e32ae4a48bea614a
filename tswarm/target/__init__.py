"""The built-in HTTP target server: ``tswarm target``, ``tswarm demo`` and the test suite aim load at it."""

from __future__ import annotations

from tswarm.target.server import RequestCounts, serve, start_server

__all__ = ["RequestCounts", "serve", "start_server"]
