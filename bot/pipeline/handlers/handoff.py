"""A person, please ("/human", a button): the chat is queued for staff when the bot has it.
Back to the bot ("/bot", typed or a button): ends the conversation with a person. Both
change the chat's mode in the transaction that stores the message's outcome
(bot.pipeline.assistant, bot.handoff.handoffs); while a person has the chat, "/start",
"/help" or "restart" are messages for them and do not bring the bot back."""

from __future__ import annotations

from bot.handoff.modes import BOT
from bot.pipeline.turn import Outcome, Turn
from bot.protocol import BOT_PAYLOAD, HUMAN_PAYLOAD


def _command(turn: Turn) -> str:
    if turn.kind not in ("text", "button"):
        return ""
    return turn.text.strip().split("@", 1)[0].lower()


class HandoffRequest:
    async def __call__(self, turn: Turn) -> Outcome | None:
        if _command(turn) != HUMAN_PAYLOAD or turn.mode != BOT:
            return None  # with a person already: the message goes to them
        return Outcome(
            "answered", language=turn.language, settles=turn.settles, start_handoff="button"
        )


class EndHandoff:
    async def __call__(self, turn: Turn) -> Outcome | None:
        if _command(turn) != BOT_PAYLOAD or turn.mode == BOT:
            return None
        return Outcome("answered", language=turn.language, settles=turn.settles, end_handoff=True)
