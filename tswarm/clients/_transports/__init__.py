"""Transports: what puts a ``Request`` on the network and reads the response back.

The session only calls ``Transport.send`` and ``close``; a different way to reach servers (a proxy,
a mounted adapter, a fake network for tests) is another transport beside ``PoolTransport``.
"""

from __future__ import annotations

from tswarm.clients._transports.base import PoolSettings, RawResponse, Transport
from tswarm.clients._transports.pool import HostPool, PoolTransport, shared_transport

__all__ = ["HostPool", "PoolSettings", "PoolTransport", "RawResponse", "Transport", "shared_transport"]
