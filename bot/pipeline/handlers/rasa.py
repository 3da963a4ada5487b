"""Last in the chain: everything no earlier rule answered goes to Rasa.

Platform commands and known button payloads go to Rasa as intents ("/start" is greet);
an unknown "/something" goes as text, never as an intent name. When Rasa or the action
server fails, the user gets an apology in their language and the message ends ``failed``.
"""

from __future__ import annotations

import logging

from babel.numbers import format_decimal

from bot import metrics, texts
from bot.answers.ui import say
from bot.errors import AssistantUnavailable, NoReply
from bot.i18n import gettext
from bot.messages import Button
from bot.pipeline.rasa_client import RasaClient
from bot.pipeline.turn import Outcome, Turn
from bot.protocol import HUMAN_PAYLOAD, KEPT_WHOLE

log = logging.getLogger(__name__)

# Commands of the chat platforms, mapped onto intents so that they take the Rasa path.
COMMAND_INTENTS = {
    "/start": "greet",
    "/help": "help",
    "/menu": "help",
    "/language": "change_language",
    "/link": "link_account",
    "/cancel": "deny",
    "/tickets": "ticket_status",
    "/complaint": "open_dispute",
}


class AskRasa:
    def __init__(self, rasa: RasaClient, *, intents: frozenset[str], max_chars: int) -> None:
        self._rasa = rasa
        self._intents = intents
        self._max_chars = max_chars

    def rasa_text(self, text: str) -> str:
        """Known commands and button payloads go to Rasa as intents; anything else as text."""
        first = text.split(maxsplit=1)[0].split("@", 1)[0].lower()
        if first in COMMAND_INTENTS:
            return "/" + COMMAND_INTENTS[first]
        if text.startswith("/"):
            intent = text[1:].split("{", 1)[0].strip()
            if intent in self._intents:
                # Only the intent: entities in a payload ("/link_account{...}") would set
                # Rasa's slots straight from what the client sent. No button of ours has any.
                return "/" + intent
            # An unknown "/something" must not reach Rasa as an intent name.
            return text.lstrip("/") or text
        return text

    async def __call__(self, turn: Turn) -> Outcome:
        lang = turn.language
        try:
            answer = await self._rasa.send(
                sender=turn.sender,
                text=self.rasa_text(turn.text),
                language=lang,
                channel=turn.channel,
                message_id=turn.message_id,
            )
        except AssistantUnavailable as exc:
            log.warning("message %s unanswered: %s", turn.message_id, exc)
            kind = "no_reply" if isinstance(exc, NoReply) else "unavailable"
            metrics.RASA_ERRORS.labels(kind).inc()
            person = (Button(gettext(lang, texts.TALK_TO_A_PERSON), HUMAN_PAYLOAD),)
            return Outcome(
                "failed",
                [say(lang, texts.NOT_ANSWERED, person)],
                language=lang,
                settles=turn.settles,
            )
        notices = []
        if turn.truncated and turn.awaiting not in KEPT_WHOLE:
            limit = format_decimal(self._max_chars, locale=lang)
            notices.append(say(lang, texts.TOO_LONG, limit=limit))
        return Outcome(
            "answered",
            notices + answer.replies,
            language=lang,
            settles=turn.settles,
            report=answer.report,
            by_bot=True,
            start_handoff=answer.report.handoff,
        )
