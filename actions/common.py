"""What every action needs: the user's language, UI strings, answers, and the turn report."""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from typing import Any, TypeVar

from rasa_sdk import Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy.orm import Session, sessionmaker

from bot import db, protocol, texts
from bot.answers.office import office_value
from bot.answers.store import AnswerStore
from bot.db import make_engine, make_sessionmaker
from bot.i18n import DEFAULT_LANGUAGE, gettext, normalise_language
from bot.settings import get_settings

FAQ_PREFIX = "faq_"
LANGUAGE_SLOT = "language"
T = TypeVar("T")


@lru_cache(maxsize=1)
def answer_store() -> AnswerStore:
    return AnswerStore()


@lru_cache(maxsize=1)
def db_sessions() -> sessionmaker[Session]:
    """The registry and the chat identities: the gateway's database (DATABASE_URL)."""
    return make_sessionmaker(make_engine(get_settings().database_url))


async def in_transaction(fn: Callable[[Session], T]) -> T:
    """Run ``fn`` in one transaction, off the action server's event loop."""
    return await db.in_transaction(db_sessions(), fn)


def registry_key() -> bytes:
    return get_settings().registry_hash_key.encode()


def hotline() -> str:
    return office_value("immigration_hotline")


def user_language(tracker: Tracker) -> str:
    """The gateway's decision (message metadata) first, then the slot, then English."""
    metadata = tracker.latest_message.get("metadata") or {}
    lang = (
        normalise_language(metadata.get(protocol.METADATA_LANGUAGE))
        if isinstance(metadata, dict)
        else None
    )
    return lang or normalise_language(tracker.get_slot(LANGUAGE_SLOT)) or DEFAULT_LANGUAGE


def ui(lang: str, msgid: str, **params: Any) -> str:
    return gettext(lang, msgid, hotline=hotline(), **params)


def talk_to_a_person(lang: str) -> dict[str, str]:
    """The button that hands the chat to a member of staff (the gateway answers it)."""
    return button(ui(lang, texts.TALK_TO_A_PERSON), protocol.HUMAN_PAYLOAD)


def button(title: str, payload: str) -> dict[str, str]:
    """A button; a payload no channel can carry raises here, where it is built."""
    return protocol.button(title, payload)


def finish(
    dispatcher: CollectingDispatcher,
    tracker: Tracker,
    lang: str,
    *,
    answer_language: str | None = None,
    awaiting: str | None = None,
    handoff: str | None = None,
) -> list[dict[str, Any]]:
    """Report the turn to the gateway and keep the language in its slot.

    The REST channel returns only what actions utter, so the intent and confidence that
    the gateway stores with the user's message travel as one custom message (the turn
    report of bot.protocol), which the gateway strips before delivery. ``awaiting``
    tells the gateway what the question just asked for, when it must treat the answer
    specially (bot.records.references).
    """
    intent = tracker.latest_message.get("intent") or {}
    report = protocol.TurnReport(
        intent=intent.get("name"),
        confidence=intent.get("confidence"),
        language=lang,
        answer_language=answer_language,
        awaiting=awaiting,
        handoff=handoff,
    )
    dispatcher.utter_message(json_message=protocol.turn_message(report))
    if tracker.get_slot(LANGUAGE_SLOT) != lang:
        return [SlotSet(LANGUAGE_SLOT, lang)]
    return []
