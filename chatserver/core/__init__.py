"""The hub: rooms and who is in them, names, and the dispatcher that keeps and fans out each batch."""
