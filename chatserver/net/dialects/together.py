"""Room messages a peer sent in one go, handed to the rules together (``say_many``), for every dialect."""

from __future__ import annotations

from chatserver.rules.participant import Participant
from common import messages as m

#: Room messages handed over together, at most (a long paste is taken in such steps).
MAX_SAY_BATCH = 256


class Together:
    """What was read together and not yet handed over; ``flush`` before anything else is done."""

    def __init__(self, participant: Participant) -> None:
        self._participant = participant
        self._said: list[m.Message] = []

    def add(self, msg: m.Message) -> None:
        if len(self._said) >= MAX_SAY_BATCH:
            self.flush()
        self._said.append(msg)

    def flush(self) -> None:
        if self._said:
            said, self._said = self._said, []
            self._participant.say_many(said)
