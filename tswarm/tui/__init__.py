"""The full-screen Textual front-end. Imports neither gevent nor zmq: it only talks to a RunController."""

from __future__ import annotations

from tswarm.tui.app import TswarmApp

__all__ = ["TswarmApp"]
