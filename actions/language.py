"""The language picker (intent change_language, command /language)."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.common import button, finish, ui, user_language
from bot import texts
from bot.i18n import SUPPORTED_LANGUAGES, language_name
from bot.protocol import LANGUAGE_PAYLOAD


class ActionChangeLanguage(Action):
    def name(self) -> str:
        return "action_change_language"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[dict[str, Any]]:
        lang = user_language(tracker)
        # The gateway handles the chosen button itself: it owns the language decision.
        buttons = [
            button(language_name(code), f"{LANGUAGE_PAYLOAD}{code}") for code in SUPPORTED_LANGUAGES
        ]
        dispatcher.utter_message(text=ui(lang, texts.CHOOSE_LANGUAGE), buttons=buttons)
        return finish(dispatcher, tracker, lang)
