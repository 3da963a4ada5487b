"""A language picked with a button or typed as "/language ru": remembered for the chat."""

from __future__ import annotations

from bot import texts
from bot.answers.ui import say
from bot.i18n import normalise_language
from bot.pipeline.turn import Outcome, Turn
from bot.protocol import LANGUAGE_PAYLOAD


class LanguageChoice:
    async def __call__(self, turn: Turn) -> Outcome | None:
        if not turn.text.startswith(LANGUAGE_PAYLOAD):
            return None
        lang = normalise_language(turn.text[len(LANGUAGE_PAYLOAD) :])
        if lang is None:
            return None  # "/language klingon": just text, for the chain to go on
        return Outcome("answered", [say(lang, texts.LANGUAGE_CHANGED)], language=lang, chosen=True)
