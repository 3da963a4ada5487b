"""Dispute tickets in chat: the form that files one, and the user's own tickets.

    open_dispute (or the help menu's button)
      -> action_ticket_start: a draft in the database (bot.tickets.tickets), or the one the
         chat left unfinished, whose answers fill the form's slots again
      -> ticket_form asks (action_ask_ticket_*), validate_ticket_form reads each answer and
         writes it into the draft: kind, other party (and the stall, for a shop), their
         contact, what happened, when, the amount, what the user wants, evidence (the
         gateway keeps the files: Rasa never sees them), then a summary to confirm, change
         or cancel
      -> action_ticket_submit: submit the draft once (a retried press finds the ticket it
         made), or cancel it, or hand the chat to a person

Free text never swallows what the user means: a cancel word (any language) or the Cancel
button cancels; "talk to a person" hands over (the draft is kept, and the form continues
where it was the next time); a policy question is answered, and the question asked again.
The slots hold only what the form needs to know which question comes next; the answers
themselves are in the draft, whole (the gateway's stored message, not Rasa's copy, which
is cut at MAX_MESSAGE_CHARS).
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from decimal import Decimal
from typing import Any, ClassVar

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from actions.common import button, finish, in_transaction, talk_to_a_person, ui, user_language
from actions.faq import utter_answer
from actions.linking import is_cancel_word
from bot import protocol, texts
from bot.db.models import ChatIdentity, Message, Ticket
from bot.records import accounts
from bot.settings import SERVICE_TZ, get_settings
from bot.tickets import evidence, numbers, render, tickets
from bot.tickets.amounts import Amount, currency_in, format_amount, parse_amount
from bot.tickets.choices import is_done, is_skip, match_kind, match_want, relative_day
from bot.tickets.targets import target_for
from rasa_addons.entities import extract

log = logging.getLogger(__name__)

FORM = "ticket_form"
KIND, PARTY, PLACE, CONTACT = "ticket_kind", "ticket_party", "ticket_place", "ticket_contact"
STORY, WHEN, AMOUNT, WANTS = "ticket_story", "ticket_when", "ticket_amount", "ticket_wants"
EVIDENCE, CONFIRM = "ticket_evidence", "ticket_confirm"
OUTCOME, MISSES, EDITING, PENDING = (
    "ticket_outcome", "ticket_misses", "ticket_editing", "ticket_pending",
)  # fmt: skip
QUESTIONS = (KIND, PARTY, PLACE, CONTACT, STORY, WHEN, AMOUNT, WANTS, EVIDENCE, CONFIRM)
ALL_SLOTS = (*QUESTIONS, OUTCOME, MISSES, EDITING, PENDING)
# The draft's column behind each question.
COLUMNS = {
    KIND: "kind",
    PARTY: "party_name",
    PLACE: "party_place",
    CONTACT: "party_contact",
    STORY: "description",
    WHEN: "happened_on",
    AMOUNT: "amount",
    WANTS: "wants",
}
# Answers typed freely: a policy question is taken for one only when it looks like a
# question (or is a button), so that a description is never mistaken for one.
FREE_TEXT = frozenset({PARTY, PLACE, CONTACT, STORY})
SKIPPED = "-"  # an optional question answered with Skip
FAQ_CONFIDENCE = 0.8
# For a message asked as a question (it has a question mark).
QUESTION_CONFIDENCE = 0.5
HUMAN_CONFIDENCE = 0.8
# After this many answers that cannot be read in a row, the form stops by itself.
MAX_MISSES = 3
KINDS = ("supplier", "landlord", "shop", "logistics", "other")
WANTS_CODES = ("refund", "replacement", "deposit_back", "mediation")
# The currencies offered as buttons when an amount came without one.
CURRENCY_BUTTONS = ("CNY", "USD", "EUR", "RUB", "AED", "SAR")
# Button payloads of the form that are plain words, so that Rasa takes them as text and
# the form reads them like a typed answer.
EDIT, BACK, DONE_WORD, SKIP_WORD = "edit", "summary", "done", "skip"
EDITABLE = (KIND, PARTY, PLACE, CONTACT, STORY, WHEN, AMOUNT, WANTS)
_QUESTION_MARKS = re.compile("[?？؟¿]")
# "3/4" or "3.4" without a year: both readings are asked back.
_DAY_MONTH = re.compile(r"^\s*(\d{1,2})\s*[./\-]\s*(\d{1,2})\s*$")


def reset_slots() -> list[dict[str, Any]]:
    return [SlotSet(slot, None) for slot in ALL_SLOTS]


def today() -> dt.date:
    return dt.datetime.now(SERVICE_TZ).date()


def _text(tracker: Tracker) -> str:
    return str(tracker.latest_message.get("text") or "")


def _intent(tracker: Tracker) -> tuple[str, float]:
    intent = tracker.latest_message.get("intent") or {}
    return str(intent.get("name") or ""), float(intent.get("confidence") or 0.0)


def _identity(session: Session, tracker: Tracker) -> ChatIdentity | None:
    return accounts.identity_by_public_id(session, public_id=tracker.sender_id)


def _whole_text(session: Session, tracker: Tracker, identity: ChatIdentity) -> str | None:
    """The user's message as the gateway stored it: whole, however long (Rasa's copy is
    cut), with references in place of card and passport numbers."""
    metadata = tracker.latest_message.get("metadata") or {}
    message_id = metadata.get(protocol.METADATA_MESSAGE) if isinstance(metadata, dict) else None
    if not isinstance(message_id, int):
        return None
    return session.scalar(
        select(Message.text).where(
            Message.id == message_id,
            Message.identity_id == identity.id,
            Message.direction == "in",
        )
    )


def slots_from_draft(draft: Ticket) -> list[dict[str, Any]]:
    """The form's slots for a draft left unfinished: its answered questions are not asked
    again (even when Rasa's tracker was lost meanwhile)."""
    events = reset_slots()
    for slot, column in COLUMNS.items():
        if getattr(draft, column) is not None:
            events.append(SlotSet(slot, SKIPPED))
    if draft.kind is not None:
        events.append(SlotSet(KIND, draft.kind))
    return events


class ActionTicketStart(Action):
    def name(self) -> str:
        return "action_ticket_start"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[dict[str, Any]]:
        lang = user_language(tracker)

        def start(session: Session) -> tuple[bool, list[dict[str, Any]]] | None:
            identity = _identity(session, tracker)
            if identity is None:
                return None
            draft = tickets.draft_of(session, identity_id=identity.id)
            if draft is not None:
                draft.language = lang
                return True, slots_from_draft(draft)
            tickets.start_draft(session, identity=identity, language=lang)
            return False, reset_slots()

        try:
            started = await in_transaction(start)
        except SQLAlchemyError:
            log.exception("tickets unavailable")
            started = None
        if started is None:
            dispatcher.utter_message(
                text=ui(lang, texts.TICKETS_UNAVAILABLE), buttons=[talk_to_a_person(lang)]
            )
            return finish(dispatcher, tracker, lang)
        resumed, slots = started
        dispatcher.utter_message(
            text=ui(lang, texts.TICKET_RESUMED if resumed else texts.TICKET_INTRO)
        )
        return finish(dispatcher, tracker, lang) + slots + [FollowupAction(FORM)]


class ValidateTicketForm(FormValidationAction):
    def name(self) -> str:
        return "validate_ticket_form"

    async def required_slots(
        self,
        domain_slots: list[str],
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: DomainDict,
    ) -> list[str]:
        if tracker.get_slot(OUTCOME):
            return []  # cancelled, handed over or given up: action_ticket_submit says so
        asked = [KIND, PARTY]
        if tracker.get_slot(KIND) == "shop":
            asked.append(PLACE)
        return [*asked, CONTACT, STORY, WHEN, AMOUNT, WANTS, EVIDENCE, CONFIRM]

    # --- what every answer is checked for first ---------------------------------------

    def _leaves(self, tracker: Tracker, slot: str) -> dict[str, Any] | None:
        """Cancel (a word of any language, the button) or a person, please."""
        text = _text(tracker).strip()
        if text == "/deny" or is_cancel_word(text):
            return {slot: None, OUTCOME: "cancelled"}
        intent, confidence = _intent(tracker)
        if intent == "request_human" and confidence >= HUMAN_CONFIDENCE:
            return {slot: None, OUTCOME: "handoff"}
        return None

    def _policy_question(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, slot: str
    ) -> dict[str, Any] | None:
        """A policy question instead of an answer: answered; the form asks again.

        A button of a policy topic, or a message classified as one with confidence; in a
        free-text answer (a name, a description) only what is asked as a question counts,
        and then a lower confidence is enough: "¿Cómo renuevo mi visado?" is a question,
        "my visa agent took 2000 yuan" a description."""
        text = _text(tracker).strip()
        intent, confidence = _intent(tracker)
        if not intent.startswith("faq_"):
            return None
        asked = bool(_QUESTION_MARKS.search(text))
        if text.startswith("/"):
            pass  # a topic's button
        elif slot in FREE_TEXT:
            if not asked or confidence < QUESTION_CONFIDENCE:
                return None
        elif confidence < (QUESTION_CONFIDENCE if asked else FAQ_CONFIDENCE):
            return None
        utter_answer(dispatcher, user_language(tracker), intent)
        return {slot: None}

    def _miss(
        self,
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        slot: str,
        msgid: str | None,
        **params: Any,
    ) -> dict[str, Any]:
        """An answer that cannot be read: say why (the question follows), or stop."""
        misses = int(tracker.get_slot(MISSES) or 0) + 1
        if misses >= MAX_MISSES:
            return {slot: None, MISSES: 0, OUTCOME: "gave_up"}
        if msgid:
            dispatcher.utter_message(text=ui(user_language(tracker), msgid, **params))
        return {slot: None, MISSES: misses}

    async def _save(
        self, tracker: Tracker, values: dict[str, Any], *, whole: str | None = None
    ) -> bool:
        """Write answers into the chat's draft; with ``whole``, that column gets the user's
        stored message whole. False when there is no draft (it was cancelled elsewhere)."""

        def write(session: Session) -> bool:
            identity = _identity(session, tracker)
            if identity is None:
                return False
            if whole is not None:
                values[whole] = _whole_text(session, tracker, identity) or _text(tracker)
            return tickets.update_draft(session, identity_id=identity.id, values=values) is not None

        try:
            return await in_transaction(write)
        except SQLAlchemyError:
            log.exception("tickets unavailable")
            return False

    async def _saved(
        self,
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        slot: str,
        value: str,
        values: dict[str, Any],
        *,
        whole: str | None = None,
    ) -> dict[str, Any]:
        if not await self._save(tracker, values, whole=whole):
            dispatcher.utter_message(text=ui(user_language(tracker), texts.TICKETS_UNAVAILABLE))
            return {slot: None, OUTCOME: "unavailable"}
        return {slot: value, MISSES: 0, PENDING: None}

    # --- the questions ---------------------------------------------------------------------

    async def validate_ticket_kind(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        left = self._leaves(tracker, KIND)
        if left:
            return left
        kind = match_kind(_text(tracker), locales=get_settings().locales_dir)
        if kind is None:
            return self._policy_question(dispatcher, tracker, KIND) or self._miss(
                dispatcher, tracker, KIND, None
            )
        values: dict[str, Any] = {"kind": kind}
        if kind != "shop":
            values["party_place"] = None
        return await self._saved(dispatcher, tracker, KIND, kind, values)

    async def _free_text(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, slot: str, limit: int
    ) -> dict[str, Any]:
        left = self._leaves(tracker, slot)
        if left:
            return left
        asked = self._policy_question(dispatcher, tracker, slot)
        if asked:
            return asked
        text = _text(tracker).strip()
        if slot == CONTACT and (text == SKIP_WORD or is_skip(text)):
            return await self._saved(dispatcher, tracker, slot, SKIPPED, {COLUMNS[slot]: None})
        if not any(ch.isalnum() for ch in text):
            return self._miss(dispatcher, tracker, slot, texts.TICKET_STORY_EMPTY)
        if slot == STORY:
            return await self._saved(dispatcher, tracker, slot, "given", {}, whole="description")
        return await self._saved(dispatcher, tracker, slot, "given", {COLUMNS[slot]: text[:limit]})

    async def validate_ticket_party(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        return await self._free_text(dispatcher, tracker, PARTY, 200)

    async def validate_ticket_place(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        return await self._free_text(dispatcher, tracker, PLACE, 200)

    async def validate_ticket_contact(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        return await self._free_text(dispatcher, tracker, CONTACT, 100)

    async def validate_ticket_story(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        return await self._free_text(dispatcher, tracker, STORY, 0)

    async def validate_ticket_when(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        left = self._leaves(tracker, WHEN)
        if left:
            return left
        text = _text(tracker).strip()
        readings = date_readings(text, today=today())
        if not readings:
            if text == SKIP_WORD or is_skip(text):
                return await self._saved(dispatcher, tracker, WHEN, SKIPPED, {"happened_on": None})
            return self._policy_question(dispatcher, tracker, WHEN) or self._miss(
                dispatcher, tracker, WHEN, texts.NOT_A_TICKET_DATE, example=example_date()
            )
        past = sorted({d for d in readings if d <= today()})
        if not past:
            return self._miss(dispatcher, tracker, WHEN, texts.TICKET_DATE_FUTURE)
        if len(past) > 1:
            # 3/4: 3 April or 4 March? Asked back, never guessed (as in the link form).
            return {WHEN: None, PENDING: "date:" + "|".join(d.isoformat() for d in past)}
        day = past[0]
        return await self._saved(dispatcher, tracker, WHEN, day.isoformat(), {"happened_on": day})

    async def validate_ticket_amount(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        left = self._leaves(tracker, AMOUNT)
        if left:
            return left
        text = _text(tracker).strip()
        locales = get_settings().locales_dir
        pending = str(tracker.get_slot(PENDING) or "")
        if pending.startswith("amount:"):
            # The amount came without a currency: this answer may be the currency alone.
            currency = currency_in(text, locales=locales)
            if currency:
                return await self._amount(dispatcher, tracker, Decimal(pending[7:]), currency)
        amount = parse_amount(text, locales=locales)
        if amount is None:
            if text == SKIP_WORD or is_skip(text, locales=locales):
                return await self._saved(
                    dispatcher, tracker, AMOUNT, SKIPPED, {"amount": None, "currency": None}
                )
            return self._policy_question(dispatcher, tracker, AMOUNT) or self._miss(
                dispatcher, tracker, AMOUNT, texts.NOT_AN_AMOUNT
            )
        if amount.unknown_unit:
            missed = self._miss(
                dispatcher, tracker, AMOUNT, texts.TICKET_UNKNOWN_CURRENCY, unit=amount.unknown_unit
            )
            return {**missed, PENDING: f"amount:{amount.value}"}
        if amount.currency is None:
            return {AMOUNT: None, PENDING: f"amount:{amount.value}"}
        return await self._amount(dispatcher, tracker, amount.value, amount.currency)

    async def _amount(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, value: Decimal, currency: str
    ) -> dict[str, Any]:
        values = {"amount": str(value), "currency": currency}
        return await self._saved(dispatcher, tracker, AMOUNT, f"{value} {currency}", values)

    async def validate_ticket_wants(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        left = self._leaves(tracker, WANTS)
        if left:
            return left
        want = match_want(_text(tracker), locales=get_settings().locales_dir)
        if want is None:
            return self._policy_question(dispatcher, tracker, WANTS) or self._miss(
                dispatcher, tracker, WANTS, None
            )
        return await self._saved(dispatcher, tracker, WANTS, want, {"wants": want})

    async def validate_ticket_evidence(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        """The files themselves never come here (the gateway keeps them): only "Done"."""
        left = self._leaves(tracker, EVIDENCE)
        if left:
            return left
        text = _text(tracker).strip()
        if text in (DONE_WORD, SKIP_WORD, "/affirm") or is_done(text) or is_skip(text):
            return {EVIDENCE: "done", MISSES: 0}
        # Anything else: the question again, which says what to do (not counted as a miss:
        # people describe their files).
        return self._policy_question(dispatcher, tracker, EVIDENCE) or {EVIDENCE: None}

    async def validate_ticket_confirm(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        left = self._leaves(tracker, CONFIRM)
        if left:
            return left
        text = _text(tracker).strip()
        intent, confidence = _intent(tracker)
        if tracker.get_slot(EDITING):
            field = text.removeprefix(EDIT + ":")
            if text.startswith(EDIT + ":") and field in [
                s.removeprefix("ticket_") for s in EDITABLE
            ]:
                return {f"ticket_{field}": None, EDITING: None, CONFIRM: None, PENDING: None}
            return {EDITING: None, CONFIRM: None}  # back to the summary
        if text == EDIT:
            return {EDITING: True, CONFIRM: None}
        if text == "/affirm" or (intent == "affirm" and confidence >= FAQ_CONFIDENCE):
            return {CONFIRM: "yes"}
        return self._policy_question(dispatcher, tracker, CONFIRM) or {CONFIRM: None}


def example_date() -> str:
    return (today() - dt.timedelta(days=3)).isoformat()


def date_readings(text: str, *, today: dt.date) -> list[dt.date]:
    """Every date the answer can mean: one, two for "3/4/2026" or "3/4", none."""
    locales = get_settings().locales_dir
    relative = relative_day(text, today=today, locales=locales)
    if relative is not None:
        return [relative]
    short = _DAY_MONTH.match(text)
    if short:
        a, b = int(short[1]), int(short[2])
        found = []
        for day, month in ((a, b), (b, a)):
            try:
                found.append(dt.date(today.year, month, day))
            except ValueError:
                continue
        return sorted(set(found))
    for entity in extract(text, locales=locales):
        if entity.entity != "date":
            continue
        if "|" not in entity.value:
            return [dt.date.fromisoformat(entity.value)]
        return sorted({dt.datetime.strptime(v, "%d/%m/%Y").date() for v in entity.value.split("|")})
    return []


# --- The questions -------------------------------------------------------------------------


class _AskTicket:
    """Asks one question of the form, with its buttons and a Cancel button. A mixin, not
    an Action: rasa-sdk registers every Action subclass, and this base has no name."""

    slot: ClassVar[str]
    msgid: ClassVar[str]
    skippable: ClassVar[bool] = False

    def name(self) -> str:
        return f"action_ask_{self.slot}"

    def question(self, tracker: Tracker, lang: str) -> tuple[str, list[dict[str, str]]]:
        return ui(lang, self.msgid), []

    async def text_and_buttons(
        self, tracker: Tracker, lang: str
    ) -> tuple[str, list[dict[str, str]]]:
        return self.question(tracker, lang)

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[dict[str, Any]]:
        lang = user_language(tracker)
        text, buttons = await self.text_and_buttons(tracker, lang)
        if self.skippable:
            buttons.append(button(ui(lang, texts.SKIP), SKIP_WORD))
        buttons.append(button(ui(lang, texts.CANCEL), "/deny"))
        dispatcher.utter_message(text=text, buttons=buttons)
        # The gateway reads the awaited answer's kind: a number alone is an answer here,
        # a photo is evidence (bot.pipeline.handlers.evidence).
        return finish(dispatcher, tracker, lang, awaiting=self.slot)


def _choices(lang: str, labels: dict[str, str], codes: tuple[str, ...]) -> list[dict[str, str]]:
    return [button(ui(lang, labels[code]), code) for code in codes]


class ActionAskTicketKind(_AskTicket, Action):
    slot, msgid = KIND, texts.ASK_TICKET_KIND

    def question(self, tracker: Tracker, lang: str) -> tuple[str, list[dict[str, str]]]:
        return ui(lang, self.msgid), _choices(lang, render.KIND_LABELS, KINDS)


class ActionAskTicketParty(_AskTicket, Action):
    slot, msgid = PARTY, texts.ASK_TICKET_PARTY


class ActionAskTicketPlace(_AskTicket, Action):
    slot, msgid = PLACE, texts.ASK_TICKET_PLACE


class ActionAskTicketContact(_AskTicket, Action):
    slot, msgid, skippable = CONTACT, texts.ASK_TICKET_CONTACT, True


class ActionAskTicketStory(_AskTicket, Action):
    slot, msgid = STORY, texts.ASK_TICKET_STORY


class ActionAskTicketWhen(_AskTicket, Action):
    slot, msgid, skippable = WHEN, texts.ASK_TICKET_WHEN, True

    def question(self, tracker: Tracker, lang: str) -> tuple[str, list[dict[str, str]]]:
        pending = str(tracker.get_slot(PENDING) or "")
        if pending.startswith("date:"):
            days = [dt.date.fromisoformat(v) for v in pending[5:].split("|")]
            shown = [
                button(render.date_text(lang, d) or d.isoformat(), d.isoformat()) for d in days
            ]
            return ui(lang, texts.TICKET_DATE_AMBIGUOUS), shown
        return ui(lang, self.msgid, example=example_date()), []


class ActionAskTicketAmount(_AskTicket, Action):
    slot, msgid, skippable = AMOUNT, texts.ASK_TICKET_AMOUNT, True

    def question(self, tracker: Tracker, lang: str) -> tuple[str, list[dict[str, str]]]:
        pending = str(tracker.get_slot(PENDING) or "")
        if pending.startswith("amount:"):
            shown = format_amount(Amount(value=Decimal(pending[7:]), currency=None), lang)
            codes = [button(code, code) for code in CURRENCY_BUTTONS]
            return ui(lang, texts.ASK_TICKET_CURRENCY, amount=shown), codes
        return ui(lang, self.msgid), []


class ActionAskTicketWants(_AskTicket, Action):
    slot, msgid = WANTS, texts.ASK_TICKET_WANTS

    def question(self, tracker: Tracker, lang: str) -> tuple[str, list[dict[str, str]]]:
        return ui(lang, self.msgid), _choices(lang, render.WANT_LABELS, WANTS_CODES)


class ActionAskTicketEvidence(_AskTicket, Action):
    slot, msgid = EVIDENCE, texts.ASK_TICKET_EVIDENCE

    def question(self, tracker: Tracker, lang: str) -> tuple[str, list[dict[str, str]]]:
        settings = get_settings()
        text = ui(
            lang,
            self.msgid,
            files=settings.evidence_max_files,
            mb=settings.evidence_max_bytes // (1024 * 1024),
        )
        return text, [button(ui(lang, texts.DONE), DONE_WORD)]


class ActionAskTicketConfirm(_AskTicket, Action):
    slot, msgid = CONFIRM, texts.TICKET_SUMMARY

    async def text_and_buttons(
        self, tracker: Tracker, lang: str
    ) -> tuple[str, list[dict[str, str]]]:
        if tracker.get_slot(EDITING):
            labels = {
                KIND: texts.LABEL_AGAINST, PARTY: texts.LABEL_PARTY, PLACE: texts.LABEL_PLACE,
                CONTACT: texts.LABEL_CONTACT, STORY: texts.LABEL_STORY, WHEN: texts.LABEL_WHEN,
                AMOUNT: texts.LABEL_AMOUNT, WANTS: texts.LABEL_WANTS,
            }  # fmt: skip
            shop = tracker.get_slot(KIND) == "shop"
            fields = [
                button(ui(lang, labels[slot]), f"{EDIT}:{slot.removeprefix('ticket_')}")
                for slot in EDITABLE
                if slot != PLACE or shop
            ]
            return ui(lang, texts.ASK_TICKET_EDIT), [
                *fields,
                button(ui(lang, texts.BACK_TO_SUMMARY), BACK),
            ]

        def read(session: Session) -> str | None:
            identity = _identity(session, tracker)
            draft = tickets.draft_of(session, identity_id=identity.id) if identity else None
            if draft is None:
                return None
            files = tickets.evidence_count(session, ticket_id=draft.id)
            return render.summary(lang, draft, files=files)

        try:
            summary = await in_transaction(read)
        except SQLAlchemyError:
            log.exception("tickets unavailable")
            summary = None
        text = summary or ui(lang, texts.TICKETS_UNAVAILABLE)
        return text, [
            button(ui(lang, texts.SUBMIT), "/affirm"),
            button(ui(lang, texts.EDIT), EDIT),
        ]


class ActionTicketSubmit(Action):
    """The form is over: send the complaint, or say why not."""

    def name(self) -> str:
        return "action_ticket_submit"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[dict[str, Any]]:
        lang = user_language(tracker)
        outcome = tracker.get_slot(OUTCOME)
        done = reset_slots()
        if outcome == "handoff":
            # The gateway queues the chat and says so; the draft waits for the user.
            return finish(dispatcher, tracker, lang, handoff="request_human") + done
        if outcome == "gave_up":
            dispatcher.utter_message(
                text=ui(lang, texts.TICKET_GAVE_UP), buttons=[talk_to_a_person(lang)]
            )
            return finish(dispatcher, tracker, lang) + done
        if outcome == "unavailable":
            return finish(dispatcher, tracker, lang) + done
        if outcome == "cancelled" or tracker.get_slot(CONFIRM) != "yes":
            await self._cancel(tracker)
            dispatcher.utter_message(text=ui(lang, texts.TICKET_CANCELLED))
            return finish(dispatcher, tracker, lang) + done

        def send(session: Session) -> tickets.Submitted | None:
            identity = _identity(session, tracker)
            if identity is None:
                return None
            return tickets.submit(session, identity=identity)

        try:
            result = await in_transaction(send)
        except SQLAlchemyError:
            log.exception("tickets unavailable")
            result = None
        if result is None:
            dispatcher.utter_message(text=ui(lang, texts.TICKETS_UNAVAILABLE))
            return finish(dispatcher, tracker, lang) + done
        number = str(result.ticket.number)
        if result.created:
            hours = int(target_for(result.ticket.kind).first_response.total_seconds() // 3600)
            dispatcher.utter_message(
                text=ui(lang, texts.TICKET_SUBMITTED, number=number, hours=hours)
            )
        else:
            dispatcher.utter_message(text=ui(lang, texts.TICKET_ALREADY_SUBMITTED, number=number))
        return finish(dispatcher, tracker, lang) + done

    @staticmethod
    async def _cancel(tracker: Tracker) -> None:
        def discard(session: Session) -> list[str]:
            identity = _identity(session, tracker)
            return tickets.discard_draft(session, identity_id=identity.id) if identity else []

        try:
            orphans = await in_transaction(discard)
        except SQLAlchemyError:
            log.exception("tickets unavailable")
            return
        for sha in orphans:  # after the commit: a file is gone only once nothing holds it
            evidence.delete(sha)


class ActionTicketStatus(Action):
    """ticket_status and /tickets: the chat's own tickets, or one of them by its number.
    A number that is not the chat's own gets the same answer as one that does not exist."""

    def name(self) -> str:
        return "action_ticket_status"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[dict[str, Any]]:
        lang = user_language(tracker)
        number = numbers.find(_text(tracker))

        def read(session: Session) -> tuple[str, list[dict[str, str]]] | None:
            identity = _identity(session, tracker)
            if identity is None:
                return None
            if number is None:
                own = tickets.own_tickets(session, identity=identity)
                return render.ticket_list(session, lang, own)
            ticket = tickets.own_ticket(session, identity=identity, number=number)
            if ticket is None:
                return ui(lang, texts.TICKET_NOT_FOUND, number=number), []
            return render.ticket_detail(session, lang, ticket)

        try:
            answer = await in_transaction(read)
        except SQLAlchemyError:
            log.exception("tickets unavailable")
            answer = None
        if answer is None:
            dispatcher.utter_message(text=ui(lang, texts.TICKETS_UNAVAILABLE))
        else:
            dispatcher.utter_message(text=answer[0], buttons=answer[1])
        return finish(dispatcher, tracker, lang)
