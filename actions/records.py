"""The user's own merchant card and visa (check_card_status, check_visa_status).

Only for a chat linked to a resident (actions/linking.py), and only that resident's
rows: the resident id comes from the chat identity behind the conversation, never from
anything the user typed. Numbers are shown masked; dates in the user's language.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import Any, ClassVar

from babel.dates import format_date
from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from actions.common import answer_store, button, finish, in_transaction, ui, user_language
from actions.link_start import begin, records_buttons
from bot import texts
from bot.i18n import days_away
from bot.records import accounts
from bot.records.registry.secrets import mask

log = logging.getLogger(__name__)

# Within this many days of expiry, the answer says what to do next.
SOON_DAYS = 30
STATUS_WORDS = {
    "active": texts.STATUS_ACTIVE,
    "valid": texts.STATUS_VALID,
    "expired": texts.STATUS_EXPIRED,
    "suspended": texts.STATUS_SUSPENDED,
    "lost": texts.STATUS_LOST,
    "cancelled": texts.STATUS_CANCELLED,
}
DOCUMENT_WORDS = {"visa": texts.DOCUMENT_VISA, "residence_permit": texts.DOCUMENT_RESIDENCE_PERMIT}
ENTRY_WORDS = {
    "single": texts.ENTRIES_SINGLE,
    "double": texts.ENTRIES_DOUBLE,
    "multiple": texts.ENTRIES_MULTIPLE,
}
RENEW_TOPIC = {"visa": "faq_visa_extension", "residence_permit": "faq_residence_permit"}


@dataclass(frozen=True)
class Row:
    """One card or document, detached from the session."""

    kind: str  # merchant_card | visa | residence_permit
    last4: str
    status: str
    expires_on: dt.date
    visa_type: str = ""
    entries: str | None = None


def describe(lang: str, row: Row, today: dt.date) -> str:
    days = (row.expires_on - today).days
    ended = days < 0 or row.status == "expired"
    params = {
        "status": ui(lang, STATUS_WORDS.get(row.status, row.status)),
        "date": format_date(row.expires_on, format="long", locale=lang),
        "when": days_away(lang, days),
    }
    if row.kind == "merchant_card":
        msgid = texts.CARD_ENDED_ON if ended else texts.CARD_VALID_UNTIL
        return ui(lang, msgid, card=mask(row.last4), **params)
    msgid = texts.DOCUMENT_ENDED_ON if ended else texts.DOCUMENT_VALID_UNTIL
    line = ui(
        lang, msgid, document=ui(lang, DOCUMENT_WORDS[row.kind]), type=row.visa_type,
        number=mask(row.last4), **params,
    )  # fmt: skip
    if row.entries in ENTRY_WORDS:
        space = "" if lang == "zh" else " "  # Chinese sentences follow without a space
        line += space + ui(lang, texts.ENTRIES, entries=ui(lang, ENTRY_WORDS[row.entries]))
    return line


def next_step(row: Row, today: dt.date) -> tuple[str, str] | None:
    """(what to say, which answer to give) when this card or document needs action."""
    days = (row.expires_on - today).days
    if row.kind == "merchant_card":
        if row.status == "lost":
            return texts.CARD_LOST, "faq_merchant_card_replace"
        if row.status == "suspended":
            return texts.CARD_SUSPENDED, "faq_service_center"
        if row.status == "expired" or days < 0:
            return texts.HAS_EXPIRED, "faq_merchant_card_replace"
        if days <= SOON_DAYS:
            return texts.EXPIRES_SOON, "faq_merchant_card_replace"
        return None
    if row.status == "cancelled":
        return None
    if row.status == "expired" or days < 0:
        return texts.HAS_EXPIRED, "faq_overstay"
    if days <= SOON_DAYS:
        return texts.EXPIRES_SOON, RENEW_TOPIC[row.kind]
    return None


def current_rows(session: Session, intent: str, resident_id: int) -> list[Row]:
    """The resident's current card, or current visa and residence permit (the one of each
    kind that expires last: an older one has been replaced)."""
    if intent == "check_card_status":
        cards = accounts.resident_cards(session, resident_id=resident_id)[:1]
        return [Row("merchant_card", c.number_last4, c.status, c.expires_on) for c in cards]
    rows: dict[str, Row] = {}
    for doc in accounts.resident_documents(session, resident_id=resident_id):
        rows.setdefault(
            doc.kind,
            Row(doc.kind, doc.number_last4, doc.status, doc.expires_on, doc.visa_type,
                doc.entries),
        )  # fmt: skip
    return sorted(rows.values(), key=lambda r: r.expires_on)


async def answer_lookup(
    dispatcher: CollectingDispatcher, lang: str, intent: str, resident_id: int
) -> None:
    """Utter the linked resident's card or documents, and what to do next if needed."""
    today = dt.date.today()
    try:
        rows = await in_transaction(lambda s: current_rows(s, intent, resident_id))
    except SQLAlchemyError:
        log.exception("registry unavailable")
        dispatcher.utter_message(text=ui(lang, texts.RECORDS_UNAVAILABLE))
        return
    if not rows:
        msgid = texts.NO_CARD_RECORD if intent == "check_card_status" else texts.NO_DOCUMENT_RECORD
        dispatcher.utter_message(
            text=ui(lang, msgid),
            buttons=[button(ui(lang, texts.MENU), "/help")],
        )
        return
    dispatcher.utter_message(
        text="\n".join(describe(lang, row, today) for row in rows), buttons=records_buttons(lang)
    )
    steps = [step for row in rows if (step := next_step(row, today))]
    if not steps:
        return
    msgid, topic = steps[0]  # the most urgent: rows are sorted by expiry
    answer = answer_store().get(topic, lang)
    body = ui(lang, msgid)
    if answer is not None:
        body += f"\n\n{answer.title}\n\n{answer.text}"
    dispatcher.utter_message(text=body, buttons=[button(ui(lang, texts.MENU), "/help")])


class _CheckRecords:
    """A lookup for the linked resident (a mixin: see actions.linking._AskSlot)."""

    intent: ClassVar[str]

    def name(self) -> str:
        return f"action_{self.intent}"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[dict[str, Any]]:
        lang = user_language(tracker)
        resident_id, events = await begin(dispatcher, tracker, lang, then=self.intent)
        if resident_id is None:
            return events
        await answer_lookup(dispatcher, lang, self.intent, resident_id)
        return finish(dispatcher, tracker, lang)


class ActionCheckCardStatus(_CheckRecords, Action):
    intent = "check_card_status"


class ActionCheckVisaStatus(_CheckRecords, Action):
    intent = "check_visa_status"
