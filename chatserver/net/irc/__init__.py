"""The IRC port: IRC clients (irssi, weechat, bots) in the same rooms, through the same rules (issue 21).

``names`` maps lanchat names to IRC nicks and back; ``lines`` builds and
splits IRC lines; ``wire`` is the fan-out's IRC wire formats (a room's
frames encoded once per format per batch); ``replies`` renders what is sent
to one IRC client alone (``answers`` the answers to questions, ``errors``
refusals as numerics); ``dialect`` reads a client and hands each line to its
command (``registration``, ``messages``, ``commands``) and so to the rules;
``port`` opens the port. See docs/irc.md.
"""
