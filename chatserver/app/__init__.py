"""The program around the chat: its command line, the interactive host, and being found on the LAN."""
