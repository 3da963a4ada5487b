"""A chat writing faster than a person can is told once to slow down; its messages are
stored (they got here) and rejected, and Rasa is not asked (bot.pipeline.flood)."""

from __future__ import annotations

from bot import texts
from bot.answers.ui import say
from bot.pipeline.flood import FloodGuard, Verdict
from bot.pipeline.turn import Outcome, Turn


class Flood:
    def __init__(self, guard: FloodGuard) -> None:
        self._guard = guard

    async def __call__(self, turn: Turn) -> Outcome | None:
        verdict = await self._guard.check(turn.identity_id)
        if verdict is Verdict.OK:
            return None
        replies = [say(turn.language, texts.SLOW_DOWN)] if verdict is Verdict.NOTICE else []
        return Outcome("rejected", replies, language=turn.language)
