"""File sharing (issue 24): names made safe, files kept on disk with their records, upload tokens, byte ranges.

``names`` (what a file is called and shown as), ``ranges`` (HTTP ``Range``),
``store`` (the files on disk beside the chat store, with quotas), ``sharing``
(tokens the chat connection hands out, and the message an upload becomes).
The HTTP side is ``chatserver/net/transfers.py``, on the page's port.
"""
