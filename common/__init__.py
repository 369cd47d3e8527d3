"""The chat wire protocol, with no sockets: framing, messages, rules.

Server and client both speak through this package; see docs/protocol.md.
"""

from .errors import FrameTooLarge, InvalidFrame, LocalProtocolError, ProtocolError, RemoteProtocolError
from .messages import PROTOCOL_VERSION

__all__ = [
    "PROTOCOL_VERSION",
    "FrameTooLarge",
    "InvalidFrame",
    "LocalProtocolError",
    "ProtocolError",
    "RemoteProtocolError",
]

__version__ = "0.1.0"
