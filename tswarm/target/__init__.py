"""The built-in HTTP target server that ``tswarm target``, ``tswarm demo`` and the tests aim at; imports nothing else of tswarm."""

from __future__ import annotations

from tswarm.target.server import RequestCounts, serve, start_server

__all__ = ["RequestCounts", "serve", "start_server"]
