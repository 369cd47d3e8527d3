"""Full-duplex terminal chat client (prompt_toolkit UI, or line mode for scripts)."""
