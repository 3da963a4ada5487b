"""Where proving who one is begins: the link form's slots, and the check every lookup
makes first (linked? locked out? else start the form).

Kept apart from actions.linking (the form itself) so that the lookups of
actions.records and the form's last step can use each other without a cycle:
records -> link_start, linking -> records -> link_start.
"""

from __future__ import annotations

import logging
from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.events import FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from actions.common import answer_store, button, finish, in_transaction, ui
from bot import texts
from bot.records import accounts

log = logging.getLogger(__name__)

FORM = "link_form"
CARD, DOB, PASSPORT = "link_card", "link_dob", "link_passport"
AMBIGUOUS, MISSES, OUTCOME, THEN = "link_ambiguous", "link_misses", "link_outcome", "link_then"
FORM_SLOTS = (CARD, DOB, PASSPORT, AMBIGUOUS, MISSES, OUTCOME)


def reset_form_slots() -> list[dict[str, Any]]:
    return [SlotSet(slot, None) for slot in FORM_SLOTS]


# A question about one's own record is often a general one in disguise ("my visa ends
# soon, how do I extend it?"): the form's first message offers the general answer too.
GENERAL_TOPICS = {
    "check_visa_status": ("faq_visa_extension", "faq_overstay"),
    "check_card_status": ("faq_merchant_card_replace",),
}


def start_linking(
    dispatcher: CollectingDispatcher, tracker: Tracker, lang: str, *, then: str | None
) -> list[dict[str, Any]]:
    """Explain, then hand over to the form; ``then`` is the lookup to answer afterwards."""
    store = answer_store()
    topics = GENERAL_TOPICS.get(then or "", ())
    dispatcher.utter_message(
        text=ui(lang, texts.LINK_INTRO),
        buttons=[button(store.title(topic, lang), f"/{topic}") for topic in topics],
    )
    return [*reset_form_slots(), SlotSet(THEN, then), FollowupAction(FORM)]


async def linked_resident(tracker: Tracker) -> tuple[bool, int | None, bool]:
    """(identity known, its resident id, locked out) for the chat behind this tracker."""

    def read(session: Session) -> tuple[bool, int | None, bool]:
        identity = accounts.identity_by_public_id(session, public_id=tracker.sender_id)
        if identity is None:
            return False, None, False
        locked = accounts.is_locked(session, identity_id=identity.id)
        return True, identity.resident_id, locked

    return await in_transaction(read)


def records_buttons(lang: str) -> list[dict[str, str]]:
    return [
        button(ui(lang, texts.MY_CARD), "/check_card_status"),
        button(ui(lang, texts.MY_VISA), "/check_visa_status"),
    ]


async def begin(
    dispatcher: CollectingDispatcher, tracker: Tracker, lang: str, *, then: str | None
) -> tuple[int | None, list[dict[str, Any]]]:
    """The resident id when this chat is linked; otherwise the events that answer for it
    (unavailable, locked out, or the start of the form)."""
    try:
        known, resident_id, locked = await linked_resident(tracker)
    except SQLAlchemyError:
        log.exception("registry unavailable")
        dispatcher.utter_message(text=ui(lang, texts.RECORDS_UNAVAILABLE))
        return None, finish(dispatcher, tracker, lang)
    if resident_id is not None:
        return resident_id, []
    if not known:
        # The gateway creates every identity before Rasa sees it: this chat is not ours.
        log.warning("no chat identity for this conversation; cannot link")
        dispatcher.utter_message(text=ui(lang, texts.RECORDS_UNAVAILABLE))
        return None, finish(dispatcher, tracker, lang)
    if locked:
        dispatcher.utter_message(text=ui(lang, texts.LINK_LOCKED))
        return None, finish(dispatcher, tracker, lang)
    return None, finish(dispatcher, tracker, lang) + start_linking(
        dispatcher, tracker, lang, then=then
    )
