"""The transports, as one stack: listening (``listener.py``), admission (``admission.py``), the byte
stream with TLS and deadlines (``stream.py``), the dialects (``dialects/``), and the ``Session``: one
connection, which holds the connected person's ``Participant`` (the rules') and is its outlet."""
