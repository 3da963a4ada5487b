"""Proving who one is: the link form (card number, date of birth, passport's last four).

    link_account, or check_* while unlinked
      -> action_link_start: already linked? locked out? else the form
      -> link_form asks (action_ask_link_*), validate_link_form reads each answer
      -> action_link_submit: compare with the registry (bot.accounts), link or refuse

What the user types is read from the text (rasa_addons.entities, the same patterns as
the NLU pipeline) and kept in the conversation only as a keyed hash, an ISO date and
four characters. An ambiguous date (3/4/1990) is asked back, never guessed. Every kind
of mismatch gets one and the same reply.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any, ClassVar

from babel.dates import format_date
from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from actions.common import (
    answer_store,
    button,
    finish,
    in_transaction,
    registry_key,
    ui,
    user_language,
)
from actions.faq import utter_answer
from bot import accounts, texts
from bot.registry.secrets import normalise_number
from rasa_addons.entities import extract

log = logging.getLogger(__name__)

FORM = "link_form"
CARD, DOB, PASSPORT = "link_card", "link_dob", "link_passport"
AMBIGUOUS, MISSES, OUTCOME, THEN = "link_ambiguous", "link_misses", "link_outcome", "link_then"
CHOICES = "link_choices"  # two readings of an ambiguous date, for the question to offer
FORM_SLOTS = (CARD, DOB, PASSPORT, AMBIGUOUS, MISSES, OUTCOME, CHOICES)
# After this many answers that cannot be read, the form stops by itself.
MAX_MISSES = 3
CANCEL_INTENTS = frozenset({"deny", "goodbye", "request_human"})
CANCEL_WORDS = frozenset({
    "cancel", "stop", "quit", "exit", "取消", "算了", "不要了", "停止", "إلغاء", "الغاء", "توقف",
    "отмена", "стоп", "хватит", "annuler", "arrêter", "arreter", "cancelar", "parar", "salir",
})  # fmt: skip


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
    words = text.casefold().strip(" .!?。！？،؟")
    return intent in CANCEL_INTENTS or words in CANCEL_WORDS


def _date_choice(lang: str, iso: str) -> str:
    return format_date(dt.date.fromisoformat(iso), format="long", locale=lang)


class ValidateLinkForm(FormValidationAction):
    def name(self) -> str:
        return "validate_link_form"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[dict[str, Any]]:
        if tracker.slots_to_validate():
            # The user's message answered an identity question: tell the gateway not to
            # keep its text (bot.core stores a placeholder instead).
            dispatcher.utter_message(json_message={"redact": True})
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
        dates = [e.value for e in extract(str(value or "")) if e.entity == "date"]
        if not dates:
            return self._miss(dispatcher, tracker, DOB, texts.NOT_A_DATE)
        if "|" in dates[0]:
            # "3/4/1990": 3 April or 4 March? The question asks back (not a miss).
            both = [
                dt.datetime.strptime(d, "%d/%m/%Y").date().isoformat() for d in dates[0].split("|")
            ]
            return {DOB: None, CHOICES: "|".join(both)}
        born = dt.date.fromisoformat(dates[0])
        if not dt.date(1900, 1, 1) <= born <= dt.date.today():
            return self._miss(dispatcher, tracker, DOB, texts.NOT_A_DATE)
        card_ref = tracker.get_slot(CARD)

        def count(session: Session) -> int:
            return len(accounts.candidates(session, card_ref=str(card_ref), date_of_birth=born))

        try:
            ambiguous = bool(card_ref) and await in_transaction(count) > 1
        except SQLAlchemyError:
            # The comparison in action_link_submit will say the registry is unavailable.
            log.exception("registry unavailable")
            ambiguous = False
        return {DOB: born.isoformat(), AMBIGUOUS: ambiguous}

    async def validate_link_passport(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        typed = normalise_number(str(value or ""))
        if not typed.isalnum() or not 4 <= len(typed) <= 12:
            return self._miss(dispatcher, tracker, PASSPORT, texts.NOT_PASSPORT_LAST4)
        return {PASSPORT: typed[-4:]}


class _AskSlot:
    """Asks for one slot of the link form, with a Cancel button. A mixin, not an Action:
    rasa-sdk registers every Action subclass, and this base has no name of its own."""

    slot: ClassVar[str]
    msgid: ClassVar[str]

    def name(self) -> str:
        return f"action_ask_{self.slot}"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[dict[str, Any]]:
        lang = user_language(tracker)
        cancel = button(ui(lang, texts.CANCEL), "/deny")
        events = []
        choices = str(tracker.get_slot(CHOICES) or "").split("|")
        if self.slot == DOB and len(choices) == 2:
            first, second = (_date_choice(lang, iso) for iso in choices)
            dispatcher.utter_message(
                text=ui(lang, texts.WHICH_DATE, first=first, second=second),
                buttons=[button(first, choices[0]), button(second, choices[1]), cancel],
            )
            events.append(SlotSet(CHOICES, None))
        else:
            dispatcher.utter_message(text=ui(lang, self.msgid), buttons=[cancel])
        # The gateway turns the next message into a card reference before Rasa sees it.
        awaiting = "card_number" if self.slot == CARD else None
        return finish(dispatcher, tracker, lang, awaiting=awaiting) + events


class ActionAskLinkCard(_AskSlot, Action):
    slot, msgid = CARD, texts.ASK_CARD


class ActionAskLinkDob(_AskSlot, Action):
    slot, msgid = DOB, texts.ASK_DATE_OF_BIRTH


class ActionAskLinkPassport(_AskSlot, Action):
    slot, msgid = PASSPORT, texts.ASK_PASSPORT_LAST4


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
                date_of_birth=dt.date.fromisoformat(str(born)),
                passport_last4=str(passport) if passport else None,
            )

        try:
            result = await in_transaction(attempt)
        except SQLAlchemyError:
            log.exception("registry unavailable")
            result = None
        if result is None:
            dispatcher.utter_message(text=ui(lang, texts.RECORDS_UNAVAILABLE))
        elif result.outcome == "linked":
            dispatcher.utter_message(text=ui(lang, texts.LINKED), buttons=records_buttons(lang))
            if then in ("check_card_status", "check_visa_status"):
                from actions.records import answer_lookup  # records imports this module

                assert result.resident_id is not None
                await answer_lookup(dispatcher, lang, then, result.resident_id)
        elif result.outcome == "locked":
            dispatcher.utter_message(text=ui(lang, texts.LINK_LOCKED))
        else:
            dispatcher.utter_message(
                text=ui(lang, texts.LINK_MISMATCH, left=result.attempts_left),
                buttons=[button(ui(lang, texts.TRY_AGAIN), "/link_account")],
            )
        return finish(dispatcher, tracker, lang) + done
