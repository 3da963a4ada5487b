"""An empty message, or one of only symbols or emoji: nothing for Rasa to understand."""

from __future__ import annotations

from bot import texts
from bot.answers.ui import say
from bot.pipeline.turn import Outcome, Turn
from bot.protocol import TICKET_AWAITING_PREFIX


class EmptyMessage:
    async def __call__(self, turn: Turn) -> Outcome | None:
        if turn.text and turn.has_words:
            return None
        if turn.text and (turn.awaiting or "").startswith(TICKET_AWAITING_PREFIX):
            # "..." for a complaint's description: the form says what it needs, and asks
            # its question again (actions/tickets.py).
            return None
        msgid = texts.EMPTY_MESSAGE if not turn.text else texts.NO_WORDS
        return Outcome(
            "rejected", [say(turn.language, msgid)], language=turn.language, settles=turn.settles
        )
