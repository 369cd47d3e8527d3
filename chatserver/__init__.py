"""Multi-threaded LAN chat server: a thread per connection, a hub for fan-out."""

from chatserver.net.server import ChatServer, ServerConfig

__all__ = ["ChatServer", "ServerConfig"]
