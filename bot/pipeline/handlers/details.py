"""The "More details" button under a policy answer: the rest of the answer, in the
user's language (English, with the usual notice, where that language lacks it)."""

from __future__ import annotations

from bot import texts
from bot.answers.store import AnswerStore
from bot.i18n import DEFAULT_LANGUAGE, gettext
from bot.messages import Outbound
from bot.pipeline.turn import Outcome, Turn
from bot.protocol import DETAILS_PAYLOAD


class AnswerDetails:
    def __init__(self, answers: AnswerStore | None) -> None:
        self._answers = answers

    async def __call__(self, turn: Turn) -> Outcome | None:
        if self._answers is None or not turn.text.startswith(DETAILS_PAYLOAD):
            return None
        topic = turn.text[len(DETAILS_PAYLOAD) :].strip()
        lang = turn.chosen or turn.conversation_language or DEFAULT_LANGUAGE
        answer = self._answers.get(topic, lang)
        if answer is None or not answer.details:
            # An old button whose answer lost its details, or a typed payload: Rasa
            # answers it as any other message would be.
            return None
        body = f"{answer.title}\n\n{answer.details}"
        if answer.language != lang:
            body = f"{gettext(lang, texts.ANSWER_IN_ENGLISH)}\n\n{body}"
        return Outcome("answered", [Outbound(text=body, language=answer.language)])
