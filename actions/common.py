"""What every action needs: the user's language, UI strings, answers, and the turn report."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from bot.answers import AnswerStore
from bot.i18n import DEFAULT_LANGUAGE, gettext, normalise_language
from bot.office import office_value
from bot.settings import get_settings

FAQ_PREFIX = "faq_"
LANGUAGE_SLOT = "language"


@lru_cache(maxsize=1)
def answer_store() -> AnswerStore:
    locales = get_settings().locales_dir
    return AnswerStore(locales, locales / "office.yml")


def hotline() -> str:
    return office_value("immigration_hotline", get_settings().locales_dir / "office.yml")


def user_language(tracker: Tracker) -> str:
    """The gateway's decision (message metadata) first, then the slot, then English."""
    metadata = tracker.latest_message.get("metadata") or {}
    lang = normalise_language(metadata.get("language")) if isinstance(metadata, dict) else None
    return lang or normalise_language(tracker.get_slot(LANGUAGE_SLOT)) or DEFAULT_LANGUAGE


def ui(lang: str, msgid: str) -> str:
    return gettext(lang, msgid, hotline=hotline())


def button(title: str, payload: str) -> dict[str, str]:
    return {"title": title, "payload": payload}


def finish(
    dispatcher: CollectingDispatcher,
    tracker: Tracker,
    lang: str,
    *,
    answer_language: str | None = None,
) -> list[dict[str, Any]]:
    """Report the turn to the gateway and keep the language in its slot.

    The REST channel returns only what actions utter, so the intent and confidence that
    the gateway stores with the user's message travel as one custom message, which the
    gateway strips before delivery.
    """
    intent = tracker.latest_message.get("intent") or {}
    dispatcher.utter_message(
        json_message={
            "turn": {
                "intent": intent.get("name"),
                "confidence": intent.get("confidence"),
                "language": lang,
                "answer_language": answer_language,
            }
        }
    )
    if tracker.get_slot(LANGUAGE_SLOT) != lang:
        return [SlotSet(LANGUAGE_SLOT, lang)]
    return []
