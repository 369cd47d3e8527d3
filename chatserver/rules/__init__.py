"""The chat rules: what a person's commands do, who may do what, and the room and moderation policies."""
