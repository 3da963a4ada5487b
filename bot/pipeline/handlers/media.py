"""Photos, stickers, voice, files, locations: the assistant reads only text, and says so."""

from __future__ import annotations

from bot import texts
from bot.answers.ui import say
from bot.pipeline.turn import Outcome, Turn


class UnsupportedMedia:
    async def __call__(self, turn: Turn) -> Outcome | None:
        if turn.kind in ("text", "button"):
            return None
        return Outcome(
            "rejected",
            [say(turn.language, texts.UNSUPPORTED_MEDIA)],
            language=turn.language,
            settles=turn.settles,
        )
