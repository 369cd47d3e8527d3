"""What a session speaks above its byte stream: one module per dialect, each a ``session.Dialect``.

The chat port starts in ``chatport.py``, which sniffs TLS and then chooses
between the native JSON lines (``native.py``) and plain text (``plain.py``,
which also turns away an HTTP request); the page's port speaks HTTP
(``http.py``, a table of routes), and its ``/ws`` route carries the native
frames as WebSocket messages (``websocket.py``). Another way in (an IRC
port) is another module here and another port, touching none of these.

The interface they implement is ``net.session.Dialect``: the session owns
what it needs of a dialect, and the dialects, above it, import it (never the
other way round, so no import runs in a circle).
"""
