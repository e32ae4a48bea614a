"""The master/worker wire protocol: msgpack frames over ZeroMQ. See docs/protocol.md.

Plain Python: imports neither gevent nor Textual, so both sides share it.
"""

from tswarm.protocol.messages import (
    MAX_FRAME_BYTES,
    PROTOCOL_VERSION,
    RESERVED_TYPES,
    Message,
    ProtocolError,
    decode,
    encode,
)

__all__ = [
    "MAX_FRAME_BYTES",
    "PROTOCOL_VERSION",
    "RESERVED_TYPES",
    "Message",
    "ProtocolError",
    "decode",
    "encode",
]
