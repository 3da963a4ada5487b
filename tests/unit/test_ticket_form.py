"""The dispute form and the user's own tickets, run as rasa-sdk runs them, on trackers built
from a JSON fixture, against a real database (SQLite, and PostgreSQL when reachable)."""

from __future__ import annotations

import copy
import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

import actions.common
import actions.tickets as form
from actions import (
    ActionAskTicketAmount,
    ActionAskTicketConfirm,
    ActionAskTicketWhen,
    ActionHelp,
    ActionTicketStart,
    ActionTicketStatus,
    ActionTicketSubmit,
    ValidateTicketForm,
)
from bot import protocol, texts
from bot.db import transaction
from bot.db.models import ChatIdentity, Message, Ticket, utcnow
from bot.i18n import gettext
from bot.tickets import tickets

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = json.loads((ROOT / "tests/fixtures/trackers/link_form_answer.json").read_text())
DOMAIN: dict[str, Any] = yaml.safe_load((ROOT / "domain.yml").read_text())
SENDER = FIXTURE["sender_id"]
OTHER = "3f0c5c2e-0000-4000-8000-0000000000ff"
CANCEL_WORDS = ["cancel", "取消", "إلغاء", "отмена", "annuler", "cancelar"]


@pytest.fixture
def db(sessions: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch) -> sessionmaker[Session]:
    """Two chat identities, and the actions on this database."""
    with transaction(sessions) as s:
        s.add(ChatIdentity(channel="webchat", external_id="me", public_id=SENDER))
        s.add(ChatIdentity(channel="telegram", external_id="42", public_id=OTHER))
    monkeypatch.setattr(actions.common, "db_sessions", lambda: sessions)
    return sessions


def tracker(
    text: str = "",
    *,
    intent: str = "nlu_fallback",
    confidence: float = 0.9,
    lang: str = "en",
    slots: dict[str, Any] | None = None,
    fill: str | None = None,
    sender: str = SENDER,
    message_id: int | None = None,
) -> Tracker:
    """The fixture as the dispute form sees it; ``fill`` names the slot the text went to."""
    data = copy.deepcopy(FIXTURE)
    data["sender_id"] = sender
    data["latest_message"].update(text=text, intent={"name": intent, "confidence": confidence})
    data["latest_message"]["metadata"]["language"] = lang
    if message_id is not None:
        data["latest_message"]["metadata"][protocol.METADATA_MESSAGE] = message_id
    data["active_loop"] = {"name": form.FORM}
    data["slots"].update({slot: None for slot in form.ALL_SLOTS})
    data["slots"].update(slots or {})
    data["events"] = [{"event": "user", "text": text}]
    if fill:
        data["slots"][fill] = text
        data["slots"]["requested_slot"] = fill
        data["events"].append({"event": "slot", "name": fill, "value": text})
    return Tracker.from_dict(data)


async def run(action: Action, t: Tracker) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The visible messages and the slots the action set (last value wins)."""
    dispatcher = CollectingDispatcher()
    events = await action.run(dispatcher, t, DOMAIN)
    slots = {e["name"]: e["value"] for e in events if e.get("event") == "slot"}
    followups = [e["name"] for e in events if e.get("event") == "followup"]
    if followups:
        slots["__followup__"] = followups[-1]
    return [m for m in dispatcher.messages if m.get("text")], slots


def report(t: Tracker, action: Action) -> Any:
    """The turn report an action sent to the gateway."""

    async def go() -> Any:
        dispatcher = CollectingDispatcher()
        await action.run(dispatcher, t, DOMAIN)
        return protocol.parse_bot_messages(
            [{"custom": m["custom"]} for m in dispatcher.messages if m.get("custom")]
        ).report

    return go()


def ui(lang: str, msgid: str, **params: Any) -> str:
    return gettext(lang, msgid, hotline="12367", **params)


def draft(db: sessionmaker[Session], public_id: str = SENDER) -> Ticket | None:
    with db() as s:
        identity = s.scalar(select(ChatIdentity).where(ChatIdentity.public_id == public_id))
        assert identity is not None
        found = tickets.draft_of(s, identity_id=identity.id)
        if found is not None:
            s.expunge(found)
        return found


async def answer(slot: str, text: str, **kw: Any) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    return await run(ValidateTicketForm(), tracker(text, fill=slot, **kw))


async def fill_everything(db: sessionmaker[Session], lang: str = "en") -> None:
    """A draft with every question answered, as the form would leave it."""
    await run(ActionTicketStart(), tracker(lang=lang))
    for slot, text in (
        (form.KIND, "landlord"),
        (form.PARTY, "Mr. Wang, Jiangbin Road 12"),
        (form.CONTACT, "13800001111"),
        (form.STORY, "He keeps my deposit of 3000 yuan since I moved out."),
        (form.WHEN, "2026-10-01"),
        (form.AMOUNT, "3000 元"),
        (form.WANTS, "deposit back"),
    ):
        messages, slots = await answer(slot, text, lang=lang)
        assert slots[slot] is not None, (slot, text, messages)


# --- starting, and resuming --------------------------------------------------------------


async def test_open_dispute_starts_a_draft_and_the_form(db: sessionmaker[Session]) -> None:
    messages, slots = await run(ActionTicketStart(), tracker(lang="zh"))
    assert [m["text"] for m in messages] == [ui("zh", texts.TICKET_INTRO)]
    assert slots["__followup__"] == form.FORM
    found = draft(db)
    assert found is not None and found.language == "zh" and found.number is None


async def test_an_unfinished_draft_is_resumed_where_it_was(db: sessionmaker[Session]) -> None:
    await run(ActionTicketStart(), tracker())
    await answer(form.KIND, "supplier")
    await answer(form.PARTY, "Star Trading")
    # Rasa's tracker was lost (a restart): the draft's answers fill the slots again.
    messages, slots = await run(ActionTicketStart(), tracker(lang="ru"))
    assert [m["text"] for m in messages] == [ui("ru", texts.TICKET_RESUMED)]
    assert slots[form.KIND] == "supplier" and slots[form.PARTY] == form.SKIPPED
    assert slots[form.STORY] is None and slots["__followup__"] == form.FORM
    with db() as s:
        assert s.scalar(select(func.count()).select_from(Ticket)) == 2 - 1  # still one draft


async def test_the_help_menu_offers_to_file_a_complaint(db: sessionmaker[Session]) -> None:
    dispatcher = CollectingDispatcher()
    await ActionHelp().run(dispatcher, tracker(lang="fr"), DOMAIN)
    payloads = [b["payload"] for m in dispatcher.messages for b in m.get("buttons") or []]
    assert "/open_dispute" in payloads and protocol.HUMAN_PAYLOAD in payloads


# --- each question reads what users type -----------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "kind"),
    [
        ("landlord", "landlord"),
        ("my landlord keeps my deposit", "landlord"),
        ("房东不退押金", "landlord"),
        ("поставщик прислал не тот товар", "supplier"),
        ("un stand du marché", "shop"),
        ("la empresa de logística", "logistics"),
        ("other", "other"),
    ],
)
async def test_the_kind_of_dispute_in_words_or_buttons(
    db: sessionmaker[Session], typed: str, kind: str
) -> None:
    await run(ActionTicketStart(), tracker())
    messages, slots = await answer(form.KIND, typed)
    assert messages == [] and slots[form.KIND] == kind
    found = draft(db)
    assert found is not None and found.kind == kind


async def test_a_stall_asks_for_its_place_and_others_do_not(db: sessionmaker[Session]) -> None:
    validate = ValidateTicketForm()
    shop = await validate.required_slots(
        [], CollectingDispatcher(), tracker(slots={form.KIND: "shop"}), DOMAIN
    )
    other = await validate.required_slots(
        [], CollectingDispatcher(), tracker(slots={form.KIND: "supplier"}), DOMAIN
    )
    assert form.PLACE in shop and form.PLACE not in other
    assert shop[-2:] == [form.EVIDENCE, form.CONFIRM]


async def test_unreadable_choices_are_asked_again_then_the_form_stops(
    db: sessionmaker[Session],
) -> None:
    await run(ActionTicketStart(), tracker())
    messages, slots = await answer(form.KIND, "blue")
    assert messages == [] and slots[form.KIND] is None and slots[form.MISSES] == 1
    _, slots = await answer(form.KIND, "green", slots={form.MISSES: 2})
    assert slots[form.OUTCOME] == "gave_up"
    messages, _ = await run(ActionTicketSubmit(), tracker(slots={form.OUTCOME: "gave_up"}))
    assert messages[0]["text"] == ui("en", texts.TICKET_GAVE_UP)
    assert draft(db) is not None  # kept: "file a complaint" continues it


async def test_a_description_is_kept_whole_from_the_gateways_copy(
    db: sessionmaker[Session],
) -> None:
    """Rasa's copy of a message is cut at MAX_MESSAGE_CHARS; the action reads the one the
    gateway stored, whole (10,000 characters), and the summary shows it shortened."""
    await run(ActionTicketStart(), tracker())
    whole = ("The goods were wrong. " * 500)[:10_000]
    with transaction(db) as s:
        identity = s.scalar(select(ChatIdentity).where(ChatIdentity.public_id == SENDER))
        assert identity is not None
        from bot.db import conversations

        conv = conversations.current_conversation(s, identity=identity)
        msg = Message(
            conversation_id=conv.id, identity_id=identity.id, direction="in", text=whole,
            status="received", channel_message_id="m1",
        )  # fmt: skip
        s.add(msg)
        s.flush()
        message_id = msg.id
    _, slots = await answer(form.STORY, whole[:2000], message_id=message_id)
    assert slots[form.STORY] == "given"
    found = draft(db)
    assert found is not None and found.description == whole and len(whole) == 10_000
    messages, _ = await run(ActionAskTicketConfirm(), tracker())
    shown = messages[0]["text"]
    assert "…" in shown and len(shown) < 1500


async def test_another_chats_message_id_is_not_read(db: sessionmaker[Session]) -> None:
    await run(ActionTicketStart(), tracker())
    with transaction(db) as s:
        other = s.scalar(select(ChatIdentity).where(ChatIdentity.public_id == OTHER))
        assert other is not None
        from bot.db import conversations

        conv = conversations.current_conversation(s, identity=other)
        msg = Message(
            conversation_id=conv.id, identity_id=other.id, direction="in",
            text="someone else's secret", status="answered", channel_message_id="x",
        )  # fmt: skip
        s.add(msg)
        s.flush()
        foreign = msg.id
    await answer(form.STORY, "my own words", message_id=foreign)
    found = draft(db)
    assert found is not None and found.description == "my own words"


@pytest.mark.parametrize("typed", ["...", "!!!", "   ？"])
async def test_an_empty_description_is_asked_for_again(
    db: sessionmaker[Session], typed: str
) -> None:
    await run(ActionTicketStart(), tracker())
    messages, slots = await answer(form.STORY, typed)
    assert [m["text"] for m in messages] == [ui("en", texts.TICKET_STORY_EMPTY)]
    assert slots[form.STORY] is None


async def test_contact_may_be_skipped(db: sessionmaker[Session]) -> None:
    await run(ActionTicketStart(), tracker())
    _, slots = await answer(form.CONTACT, "skip")
    assert slots[form.CONTACT] == form.SKIPPED
    _, slots = await answer(form.CONTACT, "跳过", lang="zh")
    assert slots[form.CONTACT] == form.SKIPPED


# --- dates ---------------------------------------------------------------------------------


async def test_a_date_in_the_future_is_asked_back(db: sessionmaker[Session]) -> None:
    await run(ActionTicketStart(), tracker())
    future = (form.today() + dt.timedelta(days=30)).isoformat()
    messages, slots = await answer(form.WHEN, future)
    assert [m["text"] for m in messages] == [ui("en", texts.TICKET_DATE_FUTURE)]
    assert slots[form.WHEN] is None


@pytest.mark.parametrize("typed", ["3/4/2025", "03.04.2025", "4/3/2025"])
async def test_day_and_month_that_could_be_swapped_are_asked_back(
    db: sessionmaker[Session], typed: str
) -> None:
    await run(ActionTicketStart(), tracker())
    messages, slots = await answer(form.WHEN, typed)
    assert messages == [] and slots[form.WHEN] is None
    assert slots[form.PENDING] == "date:2025-03-04|2025-04-03"
    asked, _ = await run(ActionAskTicketWhen(), tracker(slots={form.PENDING: slots[form.PENDING]}))
    assert asked[0]["text"] == ui("en", texts.TICKET_DATE_AMBIGUOUS)
    assert [b["payload"] for b in asked[0]["buttons"]][:2] == ["2025-03-04", "2025-04-03"]
    _, slots = await answer(form.WHEN, "2025-04-03", slots={form.PENDING: slots[form.PENDING]})
    assert slots[form.WHEN] == "2025-04-03" and slots[form.PENDING] is None


def test_a_day_and_month_without_a_year_are_this_years_and_never_in_the_future() -> None:
    today = dt.date(2026, 3, 10)
    assert form.date_readings("3/4", today=today) == [dt.date(2026, 3, 4), dt.date(2026, 4, 3)]
    assert form.date_readings("25/12", today=today) == [dt.date(2026, 12, 25)]
    assert form.date_readings("31/2", today=today) == []


@pytest.mark.parametrize(
    ("typed", "days_ago"), [("yesterday", 1), ("昨天", 1), ("сегодня", 0), ("anteayer", 2)]
)
async def test_relative_days(db: sessionmaker[Session], typed: str, days_ago: int) -> None:
    await run(ActionTicketStart(), tracker())
    _, slots = await answer(form.WHEN, typed)
    assert slots[form.WHEN] == (form.today() - dt.timedelta(days=days_ago)).isoformat()


async def test_an_unreadable_date_says_how_to_write_it(db: sessionmaker[Session]) -> None:
    await run(ActionTicketStart(), tracker())
    messages, slots = await answer(form.WHEN, "sometime last spring maybe")
    assert messages[0]["text"] == ui("en", texts.NOT_A_TICKET_DATE, example=form.example_date())
    assert slots[form.WHEN] is None


# --- amounts ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "amount", "currency"),
    [
        ("5万元", "50000", "CNY"),
        ("١٥٠٠٠ دولار", "15000", "USD"),
        ("2,500.50 USD", "2500.50", "USD"),
        ("15 000 руб.", "15000", "RUB"),
    ],
)
async def test_amounts_as_users_write_them(
    db: sessionmaker[Session], typed: str, amount: str, currency: str
) -> None:
    await run(ActionTicketStart(), tracker())
    _, slots = await answer(form.AMOUNT, typed)
    assert slots[form.AMOUNT] is not None
    found = draft(db)
    assert found is not None and (found.amount, found.currency) == (amount, currency)


async def test_an_amount_without_a_currency_asks_for_it(db: sessionmaker[Session]) -> None:
    await run(ActionTicketStart(), tracker())
    messages, slots = await answer(form.AMOUNT, "2,500.50")
    assert messages == [] and slots[form.AMOUNT] is None
    assert slots[form.PENDING] == "amount:2500.50"
    asked, _ = await run(ActionAskTicketAmount(), tracker(slots={form.PENDING: "amount:2500.50"}))
    assert "USD" in [b["payload"] for b in asked[0]["buttons"]]
    _, slots = await answer(form.AMOUNT, "USD", slots={form.PENDING: "amount:2500.50"})
    found = draft(db)
    assert found is not None and (found.amount, found.currency) == ("2500.50", "USD")


async def test_an_unknown_currency_is_named_and_asked_for(db: sessionmaker[Session]) -> None:
    await run(ActionTicketStart(), tracker())
    messages, slots = await answer(form.AMOUNT, "500 zorkmids")
    assert messages[0]["text"] == ui("en", texts.TICKET_UNKNOWN_CURRENCY, unit="zorkmids")
    assert slots[form.AMOUNT] is None and slots[form.PENDING] == "amount:500"


async def test_no_amount_may_be_skipped(db: sessionmaker[Session]) -> None:
    await run(ActionTicketStart(), tracker())
    _, slots = await answer(form.AMOUNT, "skip")
    assert slots[form.AMOUNT] == form.SKIPPED


# --- free text does not swallow what the user means ----------------------------------------


@pytest.mark.parametrize("word", CANCEL_WORDS)
@pytest.mark.parametrize("slot", [form.KIND, form.STORY, form.AMOUNT, form.EVIDENCE, form.CONFIRM])
async def test_cancel_in_every_language_at_every_step(
    db: sessionmaker[Session], word: str, slot: str
) -> None:
    await run(ActionTicketStart(), tracker())
    _, slots = await answer(slot, word)
    assert slots[form.OUTCOME] == "cancelled"


async def test_cancelling_deletes_the_draft_and_says_nothing_was_sent(
    db: sessionmaker[Session],
) -> None:
    await fill_everything(db)
    messages, slots = await run(
        ActionTicketSubmit(), tracker(slots={form.OUTCOME: "cancelled"}, lang="es")
    )
    assert [m["text"] for m in messages] == [ui("es", texts.TICKET_CANCELLED)]
    assert draft(db) is None and all(slots[s] is None for s in form.ALL_SLOTS)
    with db() as s:
        assert s.scalar(select(func.count()).select_from(Ticket)) == 0


async def test_asking_for_a_person_hands_over_and_keeps_the_draft(
    db: sessionmaker[Session],
) -> None:
    await run(ActionTicketStart(), tracker())
    _, slots = await answer(form.STORY, "I want to talk to a person", intent="request_human")
    assert slots[form.OUTCOME] == "handoff"
    turn = await report(tracker(slots={form.OUTCOME: "handoff"}), ActionTicketSubmit())
    assert turn.handoff == "request_human"
    assert draft(db) is not None


async def test_a_policy_question_is_answered_and_the_question_asked_again(
    db: sessionmaker[Session],
) -> None:
    await run(ActionTicketStart(), tracker())
    messages, slots = await answer(
        form.STORY, "How do I extend my visa?", intent="faq_visa_extension", confidence=0.95
    )
    assert slots[form.STORY] is None and form.OUTCOME not in slots
    assert messages and "visa" in messages[0]["text"].lower()
    # A description that merely sounds like a topic is a description.
    _, slots = await answer(
        form.STORY, "My visa agent took 2000 yuan and vanished", intent="faq_visa_extension"
    )
    assert slots[form.STORY] == "given"


# --- the summary, changes, submission ----------------------------------------------------------


async def test_confirm_submits_once_with_a_number_to_read_out(db: sessionmaker[Session]) -> None:
    await fill_everything(db, lang="ar")
    summary, _ = await run(ActionAskTicketConfirm(), tracker(lang="ar"))
    assert summary[0]["text"].startswith(ui("ar", texts.TICKET_SUMMARY))
    assert [b["payload"] for b in summary[0]["buttons"]] == ["/affirm", "edit", "/deny"]
    _, slots = await answer(form.CONFIRM, "/affirm", intent="affirm", lang="ar")
    assert slots[form.CONFIRM] == "yes"
    messages, _ = await run(ActionTicketSubmit(), tracker(slots={form.CONFIRM: "yes"}, lang="ar"))
    with db() as s:
        (ticket,) = s.scalars(select(Ticket)).all()
    year = utcnow().year
    assert ticket.number == f"YW-{year}-{ticket.id:06d}" and ticket.status == "submitted"
    assert messages[0]["text"] == ui("ar", texts.TICKET_SUBMITTED, number=ticket.number, hours=24)
    # The same press again (Rasa retried the action): the same ticket, no second one.
    messages, _ = await run(ActionTicketSubmit(), tracker(slots={form.CONFIRM: "yes"}, lang="ar"))
    assert messages[0]["text"] == ui("ar", texts.TICKET_ALREADY_SUBMITTED, number=ticket.number)
    with db() as s:
        assert s.scalar(select(func.count()).select_from(Ticket)) == 1


async def test_change_something_then_back_to_the_question(db: sessionmaker[Session]) -> None:
    await fill_everything(db)
    _, slots = await answer(form.CONFIRM, "edit")
    assert slots[form.EDITING] is True and slots[form.CONFIRM] is None
    asked, _ = await run(ActionAskTicketConfirm(), tracker(slots={form.EDITING: True}))
    payloads = [b["payload"] for b in asked[0]["buttons"]]
    assert "edit:party" in payloads and "edit:place" not in payloads and "summary" in payloads
    _, slots = await answer(form.CONFIRM, "edit:party", slots={form.EDITING: True})
    assert slots[form.PARTY] is None and slots[form.EDITING] is None


# --- the user's own tickets ---------------------------------------------------------------------


async def _submitted(db: sessionmaker[Session], public_id: str, party: str) -> str:
    with transaction(db) as s:
        identity = s.scalar(select(ChatIdentity).where(ChatIdentity.public_id == public_id))
        assert identity is not None
        tickets.start_draft(s, identity=identity, language="en")
        tickets.update_draft(
            s, identity_id=identity.id, values={"kind": "supplier", "party_name": party}
        )
        result = tickets.submit(s, identity=identity)
        assert result is not None
        return str(result.ticket.number)


async def test_ticket_status_lists_only_ones_own(db: sessionmaker[Session]) -> None:
    mine = await _submitted(db, SENDER, "Star Trading")
    theirs = await _submitted(db, OTHER, "Moon Logistics")
    messages, _ = await run(ActionTicketStatus(), tracker("/ticket_status", intent="ticket_status"))
    text = messages[0]["text"]
    assert mine in text and theirs not in text and "Moon" not in text


@pytest.mark.parametrize("spelling", ["{n}", "{lower}", "{spaced}"])
async def test_a_ticket_number_that_is_not_ones_own_is_answered_as_unknown(
    db: sessionmaker[Session], spelling: str
) -> None:
    mine = await _submitted(db, SENDER, "Star Trading")
    theirs = await _submitted(db, OTHER, "Moon Logistics")

    def spelled(number: str) -> str:
        return spelling.format(n=number, lower=number.lower(), spaced=number.replace("-", " "))

    own, _ = await run(ActionTicketStatus(), tracker(f"status of {spelled(mine)}?"))
    assert own[0]["text"].startswith(
        ui("en", texts.TICKET_HEADLINE, number=mine, party="Star Trading", status="x", date="y")[
            :20
        ]
    )
    foreign, _ = await run(ActionTicketStatus(), tracker(f"status of {spelled(theirs)}?"))
    missing_number = "YW-2026-999999"
    missing, _ = await run(ActionTicketStatus(), tracker(f"status of {missing_number}"))
    assert foreign[0]["text"] == ui("en", texts.TICKET_NOT_FOUND, number=theirs)
    assert missing[0]["text"] == ui("en", texts.TICKET_NOT_FOUND, number=missing_number)
    assert "Moon" not in foreign[0]["text"] and not foreign[0].get("buttons")
