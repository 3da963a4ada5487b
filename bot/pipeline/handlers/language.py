"""The language of the reply (bot.nlu.langid): decided here for every handler after it.

It never answers a message itself. Only a choice or a detection may become the
conversation's language (``settles``): a language taken from the conversation and
written back could undo a switch.
"""

from __future__ import annotations

from bot.nlu import langid
from bot.pipeline.turn import Outcome, Turn
from bot.protocol import NOT_LANGUAGE


class DecideLanguage:
    async def __call__(self, turn: Turn) -> Outcome | None:
        # A pressed button's payload ("landlord", "USD") is ours, not the user's words, and
        # a name, a booth, a phone number, an amount or a date says nothing of the language
        # the user reads ("Golden Star Trading", "5000元"): neither tells it.
        plain = turn.kind == "button" or (turn.awaiting or "") in NOT_LANGUAGE
        decision = langid.decide(
            "" if plain else turn.text,
            chosen=turn.chosen,
            conversation=turn.conversation_language,
            client=turn.client_language,
        )
        turn.language = decision.language
        turn.settles = decision.source in ("chosen", "detected")
        return None
