"""The master/worker wire protocol: msgpack frames over ZeroMQ (docs/protocol.md); may import msgpack and tswarm.shapes only.

Plain Python: imports neither gevent nor Textual, so both sides share it.
"""

from tswarm.protocol.custom import CUSTOM_TYPE, custom_payload, open_custom
from tswarm.protocol.identities import (
    FETCH_SUFFIX,
    HEARTBEAT_SUFFIX,
    MASTER_NODE_ID,
    fetch_identity,
    heartbeat_identity,
    split_identity,
)
from tswarm.protocol.messages import (
    MAX_FRAME_BYTES,
    PROTOCOL_VERSION,
    RESERVED_TYPES,
    Message,
    ProtocolError,
    decode,
    encode,
)
from tswarm.protocol.states import RunState, WorkerState

__all__ = [
    "CUSTOM_TYPE",
    "FETCH_SUFFIX",
    "HEARTBEAT_SUFFIX",
    "MASTER_NODE_ID",
    "MAX_FRAME_BYTES",
    "PROTOCOL_VERSION",
    "RESERVED_TYPES",
    "Message",
    "ProtocolError",
    "RunState",
    "WorkerState",
    "custom_payload",
    "decode",
    "encode",
    "fetch_identity",
    "heartbeat_identity",
    "open_custom",
    "split_identity",
]
