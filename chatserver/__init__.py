"""Multi-threaded LAN chat server: a thread per connection, a hub for fan-out.

Layers, lowest first: ``backends`` < ``core`` < ``rules`` < ``net`` < ``app``.
The package itself imports none of them, so that importing a lower layer
(the rules, say) does not bring in the transports: the server is
``chatserver.net.server.ChatServer``, its settings ``chatserver.config.ServerConfig``.
"""
