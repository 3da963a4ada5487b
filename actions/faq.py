"""Answers every faq_* intent from the answer files, in the user's language."""

from __future__ import annotations

import logging
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions import common
from actions.common import FAQ_PREFIX, button, finish, ui, user_language
from bot import texts
from bot.protocol import DETAILS_PAYLOAD, OFFICER_PAYLOAD, VOTE_PAYLOAD

log = logging.getLogger(__name__)


class ActionAnswerFaq(Action):
    def name(self) -> str:
        return "action_answer_faq"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[dict[str, Any]]:
        lang = user_language(tracker)
        topic = (tracker.latest_message.get("intent") or {}).get("name") or ""
        answered_in = utter_answer(dispatcher, lang, topic)
        return finish(dispatcher, tracker, lang, answer_language=answered_in)


def utter_answer(dispatcher: CollectingDispatcher, lang: str, topic: str) -> str | None:
    """The answer on ``topic`` with its buttons; the language it was given in, if any."""
    answer = common.answer_store().get(topic, lang) if topic.startswith(FAQ_PREFIX) else None
    if answer is None:
        dispatcher.utter_message(text=ui(lang, texts.NO_ANSWER_YET))
        return None
    body = f"{answer.title}\n\n{answer.text}"
    if answer.language != lang:
        # Also counted for editors: the gateway stores the answer's language.
        log.warning("answer fallback to English: topic=%s language=%s", topic, lang)
        body = f"{ui(lang, texts.ANSWER_IN_ENGLISH)}\n\n{body}"
    store = common.answer_store()
    buttons = []
    if answer.details:
        # The rest of the answer, shown by the gateway (bot.pipeline.handlers.details).
        buttons.append(button(ui(lang, texts.MORE_DETAILS), f"{DETAILS_PAYLOAD}{topic}"))
    buttons += [button(store.title(t, lang), f"/{t}") for t in answer.follow_up]
    buttons.append(button(ui(lang, texts.MENU), "/help"))
    if lang != "zh":
        # The same answer in Chinese, to show at a counter (handled by the gateway).
        buttons.append(button(ui(lang, texts.SHOW_OFFICER), f"{OFFICER_PAYLOAD}{topic}"))
    buttons.append(button(ui(lang, texts.HELPFUL), f"{VOTE_PAYLOAD}{topic} 1"))
    buttons.append(button(ui(lang, texts.NOT_HELPFUL), f"{VOTE_PAYLOAD}{topic} 0"))
    dispatcher.utter_message(text=body, buttons=buttons)
    return answer.language
