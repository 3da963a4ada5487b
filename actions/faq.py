"""Answers every faq_* intent from the answer files, in the user's language."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.common import FAQ_PREFIX, answer_store, button, finish, ui, user_language
from bot import texts


class ActionAnswerFaq(Action):
    def name(self) -> str:
        return "action_answer_faq"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[dict[str, Any]]:
        lang = user_language(tracker)
        topic = (tracker.latest_message.get("intent") or {}).get("name") or ""
        answer = answer_store().get(topic, lang) if topic.startswith(FAQ_PREFIX) else None
        if answer is None:
            dispatcher.utter_message(text=ui(lang, texts.NO_ANSWER_YET))
        else:
            dispatcher.utter_message(
                text=f"{answer.title}\n\n{answer.text}",
                buttons=[button(ui(lang, texts.MENU), "/help")],
            )
        return finish(dispatcher, tracker, lang)
