"""Who answers the chat: while a person has it (mode ``queued`` or ``human``, set by the
staff console through bot.handoff.modes), every message goes to staff and Rasa is not
asked, whatever it holds."""

from __future__ import annotations

from bot.handoff.modes import BOT
from bot.pipeline.turn import Outcome, Turn


class ModeRouting:
    async def __call__(self, turn: Turn) -> Outcome | None:
        if turn.mode == BOT:
            return None
        return Outcome("with_staff", [], language=turn.language, settles=turn.settles)
