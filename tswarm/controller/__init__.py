"""The master side (asyncio, no Textual, no gevent): coordination, stats aggregation, outputs; may import protocol, stats, ramp.

``master`` holds :class:`~tswarm.controller.master.MasterRunner`, the coordinator. Its parts:
``link`` (the ROUTER socket and frame checks), ``bridge`` (calls from other threads), ``workers`` (the
worker registry), ``worker_messages`` (the handshake, heartbeats and a handler per message type),
``distribution`` (users per worker, at the spawn rate of :mod:`tswarm.ramp`), ``custom_messages``,
``run_log`` and ``snapshot_builder``. ``snapshot`` and ``api`` are what the front-ends see; ``outputs``,
``report`` and ``formatting`` write the results.
"""
