"""Proving who one is: the link form (card number, date of birth, passport's last four).

    link_account, or check_* while unlinked
      -> action_link_start: already linked? locked out? else the form
      -> link_form asks (action_ask_link_*), validate_link_form reads each answer
      -> action_link_submit: compare with the registry (bot.records.accounts), link or refuse

The gateway replaces what the user types by references (bot.records.references: keyed hashes of
the card number, the date of birth, the passport's last four) before Rasa sees it, so
the conversation holds nothing else. Both readings of an ambiguous date (3/4/1990) are
kept: the registry decides which fits the card, and when both fit two people the
passport's last four decide. Every kind of mismatch gets one and the same reply.
"""

from __future__ import annotations

import logging
from typing import Any, ClassVar

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from actions.common import (
    button,
    finish,
    in_transaction,
    registry_key,
    talk_to_a_person,
    ui,
    user_language,
)
from actions.faq import utter_answer
from actions.link_start import (
    AMBIGUOUS,
    CARD,
    DOB,
    MISSES,
    OUTCOME,
    PASSPORT,
    THEN,
    begin,
    records_buttons,
    reset_form_slots,
)
from actions.records import answer_lookup
from bot import protocol, texts
from bot.records import accounts, references
from bot.tickets import tickets
from bot.tickets.choices import is_cancel

log = logging.getLogger(__name__)
# After this many answers that cannot be read, the form stops by itself.
MAX_MISSES = 3
CANCEL_INTENTS = frozenset({"deny", "goodbye", "request_human"})


def is_cancel_word(text: str) -> bool:
    """Whether the whole message is a word that cancels the link form, in any language:
    "cancel" of every locales/<lang>/words.yml (bot.tickets.choices: the dispute form
    reads it the same way)."""
    return is_cancel(text)


class ActionLinkStart(Action):
    def name(self) -> str:
        return "action_link_start"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[dict[str, Any]]:
        lang = user_language(tracker)
        resident_id, events = await begin(dispatcher, tracker, lang, then=None)
        if resident_id is None:
            return events
        dispatcher.utter_message(text=ui(lang, texts.ALREADY_LINKED), buttons=records_buttons(lang))
        return finish(dispatcher, tracker, lang)


def _cancel_requested(tracker: Tracker, text: str) -> bool:
    intent = (tracker.latest_message.get("intent") or {}).get("name")
    return intent in CANCEL_INTENTS or is_cancel_word(text)


class ValidateLinkForm(FormValidationAction):
    def name(self) -> str:
        return "validate_link_form"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[dict[str, Any]]:
        if tracker.slots_to_validate():
            # The user's message answered an identity question: tell the gateway not to
            # keep its text (bot.pipeline.assistant stores a placeholder instead).
            dispatcher.utter_message(json_message=protocol.redact_message())
        return list(await super().run(dispatcher, tracker, domain))

    async def required_slots(
        self,
        domain_slots: list[str],
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: DomainDict,
    ) -> list[str]:
        if tracker.get_slot(OUTCOME):
            return []  # cancelled or given up: the form ends, action_link_submit says so
        if tracker.get_slot(AMBIGUOUS):
            return [CARD, DOB, PASSPORT]
        return [CARD, DOB]

    def _miss(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, slot: str, msgid: str
    ) -> dict[str, Any]:
        """An answer that cannot be read: say why, or stop after MAX_MISSES."""
        lang = user_language(tracker)
        text = str(tracker.latest_message.get("text") or "")
        if _cancel_requested(tracker, text):
            return {slot: None, OUTCOME: "cancelled"}
        intent = tracker.latest_message.get("intent") or {}
        if str(intent.get("name")).startswith("faq_") and (intent.get("confidence") or 0) >= 0.8:
            # A policy question (or its button) instead of an answer: stop and answer it.
            return {slot: None, OUTCOME: f"faq:{intent['name']}"}
        misses = int(tracker.get_slot(MISSES) or 0) + 1
        if misses >= MAX_MISSES:
            return {slot: None, MISSES: misses, OUTCOME: "gave_up"}
        dispatcher.utter_message(text=ui(lang, msgid))
        return {slot: None, MISSES: misses}

    async def validate_link_card(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        card_ref = accounts.card_reference_in(str(value or ""), key=registry_key())
        if card_ref is None:
            return self._miss(dispatcher, tracker, CARD, texts.NOT_A_CARD_NUMBER)
        return {CARD: card_ref}

    async def validate_link_dob(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        key = registry_key()
        born = references.birth_reference_in(str(value or ""), key=key)
        if born is None or born == references.INVALID:
            return self._miss(dispatcher, tracker, DOB, texts.NOT_A_DATE)
        card_ref = tracker.get_slot(CARD)

        def count(session: Session) -> int:
            found = accounts.candidates(session, card_ref=str(card_ref), birth_ref=born)
            return len(found)

        try:
            ambiguous = bool(card_ref) and await in_transaction(count) > 1
        except SQLAlchemyError:
            # The comparison in action_link_submit will say the registry is unavailable.
            log.exception("registry unavailable")
            ambiguous = False
        return {DOB: born, AMBIGUOUS: ambiguous}

    async def validate_link_passport(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        passport = references.passport_reference_in(str(value or ""), key=registry_key())
        if passport is None:
            return self._miss(dispatcher, tracker, PASSPORT, texts.NOT_PASSPORT_LAST4)
        return {PASSPORT: passport}


class _AskSlot:
    """Asks for one slot of the link form, with a Cancel button. A mixin, not an Action:
    rasa-sdk registers every Action subclass, and this base has no name of its own."""

    slot: ClassVar[str]
    msgid: ClassVar[str]
    awaiting: ClassVar[str]

    def name(self) -> str:
        return f"action_ask_{self.slot}"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[dict[str, Any]]:
        lang = user_language(tracker)
        cancel = button(ui(lang, texts.CANCEL), "/deny")
        dispatcher.utter_message(text=ui(lang, self.msgid), buttons=[cancel])
        # The gateway replaces the numbers and dates in the next message by references
        # before it stores it or Rasa sees it (bot.records.references).
        return finish(dispatcher, tracker, lang, awaiting=self.awaiting)


class ActionAskLinkCard(_AskSlot, Action):
    slot, msgid, awaiting = CARD, texts.ASK_CARD, protocol.AWAITING_CARD


class ActionAskLinkDob(_AskSlot, Action):
    slot, msgid, awaiting = DOB, texts.ASK_DATE_OF_BIRTH, protocol.AWAITING_BIRTH


class ActionAskLinkPassport(_AskSlot, Action):
    slot, msgid, awaiting = PASSPORT, texts.ASK_PASSPORT_LAST4, protocol.AWAITING_PASSPORT


# What a chat is told when no comparison was made: the lockout is never a hint that the
# card exists (failures at a card number that no one holds lock it just the same).
REFUSALS = {
    "locked": texts.LINK_LOCKED,
    "card_locked": texts.LINK_CARD_LOCKED,
    "paused": texts.LINK_PAUSED,
}


async def _adopt_tickets(tracker: Tracker) -> None:
    """The chat's tickets belong to the resident it just proved to be."""

    def adopt(session: Session) -> None:
        identity = accounts.identity_by_public_id(session, public_id=tracker.sender_id)
        if identity is not None:
            tickets.adopt(session, identity=identity)

    try:
        await in_transaction(adopt)
    except SQLAlchemyError:
        log.exception("tickets not adopted; they stay the chat's own")


class ActionLinkSubmit(Action):
    def name(self) -> str:
        return "action_link_submit"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[dict[str, Any]]:
        lang = user_language(tracker)
        outcome = tracker.get_slot(OUTCOME)
        then = tracker.get_slot(THEN)
        done = [*reset_form_slots(), SlotSet(THEN, None)]
        if str(outcome).startswith("faq:"):
            answered_in = utter_answer(dispatcher, lang, str(outcome)[4:])
            return finish(dispatcher, tracker, lang, answer_language=answered_in) + done
        if outcome in ("cancelled", "gave_up"):
            msgid = texts.LINK_CANCELLED if outcome == "cancelled" else texts.LINK_GAVE_UP
            dispatcher.utter_message(text=ui(lang, msgid))
            return finish(dispatcher, tracker, lang) + done
        card_ref, born = tracker.get_slot(CARD), tracker.get_slot(DOB)
        passport = tracker.get_slot(PASSPORT)

        def attempt(session: Session) -> accounts.LinkResult | None:
            identity = accounts.identity_by_public_id(session, public_id=tracker.sender_id)
            if identity is None or not card_ref or not born:
                return None
            return accounts.attempt_link(
                session,
                identity=identity,
                card_ref=str(card_ref),
                birth_ref=str(born),
                passport_ref=str(passport) if passport else None,
                key=registry_key(),
            )

        try:
            result = await in_transaction(attempt)
        except SQLAlchemyError:
            log.exception("registry unavailable")
            result = None
        if result is None:
            dispatcher.utter_message(text=ui(lang, texts.RECORDS_UNAVAILABLE))
        elif result.outcome == "linked":
            await _adopt_tickets(tracker)
            dispatcher.utter_message(text=ui(lang, texts.LINKED), buttons=records_buttons(lang))
            if then in ("check_card_status", "check_visa_status"):
                assert result.resident_id is not None
                await answer_lookup(dispatcher, lang, then, result.resident_id)
        elif result.outcome in REFUSALS:
            # Locked out: a person can still help, in this chat.
            dispatcher.utter_message(
                text=ui(lang, REFUSALS[result.outcome]), buttons=[talk_to_a_person(lang)]
            )
        else:
            dispatcher.utter_message(
                text=ui(lang, texts.LINK_MISMATCH, left=result.attempts_left),
                buttons=[button(ui(lang, texts.TRY_AGAIN), "/link_account")],
            )
        return finish(dispatcher, tracker, lang) + done
