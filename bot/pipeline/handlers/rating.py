"""The user's rating of a person's help ("/rate <handoff> <1-5>", the buttons sent when
staff hand the chat back): counted once, and only for a handoff of this chat."""

from __future__ import annotations

from sqlalchemy.orm import Session, sessionmaker

from bot import texts
from bot.answers.ui import say
from bot.db import in_transaction
from bot.handoff import handoffs
from bot.i18n import DEFAULT_LANGUAGE
from bot.pipeline.turn import Outcome, Turn
from bot.protocol import RATE_PAYLOAD

REPLIES = {
    "thanks": texts.RATING_THANKS,
    "already": texts.RATING_ALREADY,
    "not_counted": texts.RATING_NOT_COUNTED,
}


class Rating:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    async def __call__(self, turn: Turn) -> Outcome | None:
        if not turn.text.startswith(RATE_PAYLOAD):
            return None
        parts = turn.text[len(RATE_PAYLOAD) :].split()
        if len(parts) != 2 or not all(p.isascii() and p.isdigit() and len(p) < 10 for p in parts):
            return None  # not a rating: just text
        handoff_id, score = int(parts[0]), int(parts[1])
        lang = turn.chosen or turn.conversation_language or DEFAULT_LANGUAGE
        result = await in_transaction(
            self._sessions,
            lambda s: handoffs.rate(
                s, identity_id=turn.identity_id, handoff_id=handoff_id, score=score
            ),
        )
        reply = [say(lang, REPLIES[result])]
        return Outcome("answered", reply) if result == "thanks" else Outcome("rejected", reply)
