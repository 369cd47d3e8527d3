"""Where rooms' messages, topics and moderation are kept: the room-log interface and its SQLite store."""
