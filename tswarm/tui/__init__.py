"""The full-screen Textual front-end; may import controller (never gevent, zmq or the runner): it talks to a RunController."""

from __future__ import annotations

from tswarm.tui.app import TswarmApp

__all__ = ["TswarmApp"]
