"""The SQLite backend, one module per concern, as Synapse splits its storage.

``database`` owns the writer connection (opening, the lock, transactions,
saying when writing fails), ``schema`` the tables and their migrations,
``checkpoints`` the thread that copies the WAL into the file, ``readers``
the read connections, ``files`` the file's privacy, ``staging`` what waits
for the next commit, ``rooms`` the rooms and their numbering, ``messages``
the room messages, ``search`` the word index and searching it,
``indexing`` the thread that fills it behind the commits, ``moderation``
bans, mutes and grants, ``secret`` the resume secret, ``pruning`` what retention
deletes. ``chatserver.backends.store.SqliteStore`` puts them together
behind the interfaces of ``ports.py``.
"""
