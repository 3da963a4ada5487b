"""Greetings, help, honesty about being a bot, and what is out of scope."""

from __future__ import annotations

from typing import Any, ClassVar

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.common import answer_store, button, finish, talk_to_a_person, ui, user_language
from bot import texts
from bot.tickets.render import file_a_complaint

# The topics offered by the help menu, in the order a newcomer needs them.
MENU_TOPICS = (
    "faq_visa_extension",
    "faq_residence_permit",
    "faq_accommodation_registration",
    "faq_merchant_card_apply",
    "faq_visa_types",
    "faq_overstay",
    "faq_service_center",
    "faq_emergency",
)


class _UiReply:
    """An action whose whole job is one UI string in the user's language.

    A mixin, not an Action subclass: rasa-sdk registers every Action subclass it finds,
    and this base has no name of its own.
    """

    action_name: ClassVar[str]
    msgid: ClassVar[str]

    def name(self) -> str:
        return self.action_name

    def buttons(self, lang: str) -> list[dict[str, str]]:
        return []

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[dict[str, Any]]:
        lang = user_language(tracker)
        dispatcher.utter_message(text=ui(lang, self.msgid), buttons=self.buttons(lang))
        return finish(dispatcher, tracker, lang)


def menu_buttons(lang: str) -> list[dict[str, str]]:
    store = answer_store()
    return [button(store.title(topic, lang), f"/{topic}") for topic in MENU_TOPICS]


class ActionGreet(_UiReply, Action):
    action_name = "action_greet"
    msgid = texts.GREETING

    def buttons(self, lang: str) -> list[dict[str, str]]:
        return [button(ui(lang, texts.MENU), "/help")]


class ActionGoodbye(_UiReply, Action):
    action_name = "action_goodbye"
    msgid = texts.GOODBYE


class ActionThank(_UiReply, Action):
    action_name = "action_thank"
    msgid = texts.THANKS_REPLY


class ActionAffirm(_UiReply, Action):
    action_name = "action_affirm"
    msgid = texts.AFFIRM_REPLY


class ActionDeny(_UiReply, Action):
    action_name = "action_deny"
    msgid = texts.DENY_REPLY


class ActionHelp(_UiReply, Action):
    action_name = "action_help"
    msgid = texts.HELP_INTRO

    def buttons(self, lang: str) -> list[dict[str, str]]:
        return [*menu_buttons(lang), file_a_complaint(lang), talk_to_a_person(lang)]


class ActionBotChallenge(_UiReply, Action):
    action_name = "action_bot_challenge"
    msgid = texts.BOT_CHALLENGE


class ActionOutOfScope(_UiReply, Action):
    action_name = "action_out_of_scope"
    msgid = texts.OUT_OF_SCOPE

    def buttons(self, lang: str) -> list[dict[str, str]]:
        return [button(ui(lang, texts.MENU), "/help")]
