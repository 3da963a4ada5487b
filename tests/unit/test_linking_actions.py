"""The link form and the lookups, run as rasa-sdk runs them, on trackers built from a JSON
fixture, against a real database (SQLite, and PostgreSQL when reachable)."""

from __future__ import annotations

import copy
import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from babel.dates import format_date
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy import delete, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

import actions.common
from actions import (
    ActionAskLinkCard,
    ActionCheckCardStatus,
    ActionCheckVisaStatus,
    ActionLinkStart,
    ActionLinkSubmit,
    ValidateLinkForm,
)
from bot import texts
from bot.db import transaction
from bot.db.models import ChatIdentity, LinkAttempt, MerchantCard, Resident, StaffAlert
from bot.i18n import gettext
from bot.records import accounts, references
from tests.people import AHMED, OLGA, TWIN_A, load_people, registry_key

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = json.loads((ROOT / "tests/fixtures/trackers/link_form_answer.json").read_text())
DOMAIN: dict[str, Any] = yaml.safe_load((ROOT / "domain.yml").read_text())
SENDER = FIXTURE["sender_id"]


@pytest.fixture
def registry(sessions: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch) -> sessionmaker:  # type: ignore[type-arg]
    """The people of tests/people.py, one chat identity, and the actions on this database."""
    load_people(sessions)
    with transaction(sessions) as s:
        s.add(ChatIdentity(channel="webchat", external_id="me", public_id=SENDER))
    monkeypatch.setattr(actions.common, "db_sessions", lambda: sessions)
    return sessions


def tracker(
    text: str = "",
    *,
    intent: str = "nlu_fallback",
    lang: str = "en",
    slots: dict[str, Any] | None = None,
    fill: str | None = None,
    active: bool = True,
) -> Tracker:
    """The fixture with this user message; ``fill`` names the slot it was mapped to."""
    data = copy.deepcopy(FIXTURE)
    data["latest_message"].update(text=text, intent={"name": intent, "confidence": 0.9})
    data["latest_message"]["metadata"]["language"] = lang
    data["slots"].update(slots or {})
    data["events"] = [{"event": "user", "text": text}]
    if fill:
        data["slots"][fill] = text
        data["slots"]["requested_slot"] = fill
        data["events"].append({"event": "slot", "name": fill, "value": text})
    if not active:
        data["active_loop"] = {}
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


def dob(iso: str) -> str:
    return references.birth_reference(iso, key=registry_key())


def ui(lang: str, msgid: str, **params: Any) -> str:
    return gettext(lang, msgid, hotline="12367", **params)


async def link(registry: sessionmaker, card: str, born: str, passport: str | None = None):  # type: ignore[no-untyped-def,type-arg]
    key = registry_key()
    slots = {
        "link_card": accounts.card_reference(card, key=key),
        "link_dob": references.birth_reference_in(born, key=key),
        "link_passport": references.passport_reference_in(passport, key=key) if passport else None,
    }
    return await run(ActionLinkSubmit(), tracker("1990-01-01", slots=slots))


# --- the form reads what users type ------------------------------------------------


@pytest.mark.parametrize(
    "typed",
    [
        "YW 2016 0012 34",
        "yw2016-0012-34 ",
        "ＹＷ２０１６００１２３４",
        "my card is YW2016001234",
        "رقم بطاقتي YW٢٠١٦٠٠١٢٣٤",  # right-to-left text, Arabic-Indic digits
        "<b>YW2016001234</b>",  # markup is text
        "卡号：YW2016001234，谢谢",
    ],
)
async def test_card_number_accepted_with_spaces_dashes_full_width(
    registry: sessionmaker,
    typed: str,  # type: ignore[type-arg]
) -> None:
    messages, slots = await run(ValidateLinkForm(), tracker(typed, fill="link_card"))
    assert messages == []
    assert slots["link_card"] == accounts.card_reference("YW2016001234", key=registry_key())
    assert "2016001234" not in json.dumps(slots)  # only the keyed hash is kept
    assert slots["requested_slot"] == "link_dob"


@pytest.mark.parametrize(
    ("typed", "iso"),
    [
        ("1985-04-03", "1985-04-03"),
        ("3 April 1985", "1985-04-03"),
        ("1985年4月3日", "1985-04-03"),
        ("١٩٨٥-٠٤-٠٣", "1985-04-03"),
        ("3 апреля 1985", "1985-04-03"),
        ("25/12/1985", "1985-12-25"),  # only one reading is a date
    ],
)
async def test_dates_of_birth_as_users_type_them(
    registry: sessionmaker,
    typed: str,
    iso: str,  # type: ignore[type-arg]
) -> None:
    card = accounts.card_reference(AHMED.card, key=registry_key())
    _, slots = await run(
        ValidateLinkForm(), tracker(typed, fill="link_dob", slots={"link_card": card})
    )
    assert slots["link_dob"] == references.birth_reference(iso, key=registry_key())
    assert iso not in json.dumps(slots)  # only the keyed hash is kept
    assert slots["requested_slot"] is None  # one person fits: the form is done


@pytest.mark.parametrize("typed", ["3/4/1985", "٣/٤/١٩٨٥", "03.04.1985", "4/3/1985"])
async def test_ambiguous_day_and_month_keep_both_readings_and_the_registry_decides(
    registry: sessionmaker,
    typed: str,  # type: ignore[type-arg]
) -> None:
    key = registry_key()
    card = accounts.card_reference(AHMED.card, key=key)
    messages, slots = await run(
        ValidateLinkForm(), tracker(typed, fill="link_dob", lang="fr", slots={"link_card": card})
    )
    assert messages == []
    # Both readings, hashed: 3 April and 4 March 1985. Ahmed was born on one of them.
    both = {references.birth_reference(iso, key=key) for iso in ("1985-04-03", "1985-03-04")}
    assert set(slots["link_dob"].split("|")) == both
    assert slots["link_ambiguous"] is False and slots["requested_slot"] is None
    messages, _ = await link(registry, AHMED.card, typed)
    assert messages[0]["text"] == ui("en", texts.LINKED)


async def test_a_date_no_one_is_born_on_is_asked_again(
    registry: sessionmaker,  # type: ignore[type-arg]
) -> None:
    messages, slots = await run(ValidateLinkForm(), tracker("2091-01-01", fill="link_dob"))
    assert [m["text"] for m in messages] == [ui("en", texts.NOT_A_DATE)]
    assert slots["link_dob"] is None and slots["link_misses"] == 1


async def test_unreadable_answers_are_explained_then_the_form_stops(
    registry: sessionmaker,  # type: ignore[type-arg]
) -> None:
    messages, slots = await run(ValidateLinkForm(), tracker("what?", fill="link_card", lang="ru"))
    assert [m["text"] for m in messages] == [ui("ru", texts.NOT_A_CARD_NUMBER)]
    assert slots["link_card"] is None and slots["link_misses"] == 1
    _, slots = await run(
        ValidateLinkForm(), tracker("no idea", fill="link_card", slots={"link_misses": 2})
    )
    assert slots["link_outcome"] == "gave_up" and slots["requested_slot"] is None


@pytest.mark.parametrize(
    ("typed", "intent"), [("cancel", "nlu_fallback"), ("取消", "nlu_fallback"), ("/deny", "deny")]
)
async def test_cancel_ends_the_form(registry: sessionmaker, typed: str, intent: str) -> None:  # type: ignore[type-arg]
    _, slots = await run(ValidateLinkForm(), tracker(typed, intent=intent, fill="link_card"))
    assert slots["link_outcome"] == "cancelled" and slots["requested_slot"] is None
    messages, slots = await run(ActionLinkSubmit(), tracker(slots={"link_outcome": "cancelled"}))
    assert [m["text"] for m in messages] == [ui("en", texts.LINK_CANCELLED)]
    assert slots["link_outcome"] is None and slots["link_card"] is None


async def test_card_digits_shared_by_two_people_ask_for_the_passport(
    registry: sessionmaker,  # type: ignore[type-arg]
) -> None:
    card = accounts.card_reference("2016 009 999", key=registry_key())
    _, slots = await run(
        ValidateLinkForm(), tracker("2 November 1979", fill="link_dob", slots={"link_card": card})
    )
    assert slots["link_ambiguous"] is True and "requested_slot" not in slots  # Rasa asks next
    _, slots = await run(
        ValidateLinkForm(),
        tracker(
            "P1111 2222", fill="link_passport", slots={"link_card": card, "link_ambiguous": True}
        ),
    )
    assert slots["link_passport"] == references.last4_reference("2222", key=registry_key())
    messages, _ = await link(registry, "2016009999", "1979-11-02", "2222")
    assert messages[0]["text"] == ui("en", texts.LINKED)
    with registry() as s:
        identity = s.scalars(select(ChatIdentity)).one()
        assert identity.resident_id is not None
        assert s.get(Resident, identity.resident_id).full_name == TWIN_A.name  # type: ignore[union-attr]


# --- the comparison ------------------------------------------------------------------


async def test_every_kind_of_mismatch_gets_the_same_reply(registry: sessionmaker) -> None:  # type: ignore[type-arg]
    wrong_card = await link(registry, "YW2016001299", AHMED.born.isoformat())
    wrong_date = await link(registry, AHMED.card, "1985-04-04")
    both_digits_wrong_passport = await link(registry, "2016009999", "1979-11-02", "9999")
    someone_elses_date = await link(registry, AHMED.card, OLGA.born.isoformat())
    texts_seen = [
        [m["text"] for m in messages]
        for messages, _ in (wrong_card, wrong_date, both_digits_wrong_passport, someone_elses_date)
    ]
    lefts = [4, 3, 2, 1]
    assert texts_seen == [[ui("en", texts.LINK_MISMATCH, left=n)] for n in lefts]


async def test_five_failures_lock_out_even_the_right_details_and_alert_staff(
    registry: sessionmaker,  # type: ignore[type-arg]
) -> None:
    for _ in range(4):
        await link(registry, AHMED.card, "2000-01-01")
    messages, _ = await link(registry, AHMED.card, "2000-01-01")
    assert [m["text"] for m in messages] == [ui("en", texts.LINK_LOCKED)]
    messages, _ = await link(registry, AHMED.card, AHMED.born.isoformat())
    assert [m["text"] for m in messages] == [ui("en", texts.LINK_LOCKED)]
    messages, slots = await run(
        ActionLinkStart(), tracker("link", intent="link_account", active=False)
    )
    assert [m["text"] for m in messages] == [ui("en", texts.LINK_LOCKED)]
    assert "__followup__" not in slots
    with registry() as s:
        (alert,) = s.scalars(select(StaffAlert)).all()
        assert alert.kind == "link_lockout" and "5 failed attempts" in alert.details
        assert s.scalars(select(ChatIdentity)).one().resident_id is None


def test_lockout_ends_after_24_hours(registry: sessionmaker) -> None:  # type: ignore[type-arg]
    start = dt.datetime(2026, 11, 1, 9, 0, tzinfo=dt.UTC)
    card = accounts.card_reference(AHMED.card, key=registry_key())
    with transaction(registry) as s:
        identity = s.scalars(select(ChatIdentity)).one()
        for minute in range(5):
            result = accounts.attempt_link(
                s, identity=identity, card_ref=card, birth_ref=dob("2000-01-01"),
                passport_ref=None, key=registry_key(), now=start + dt.timedelta(minutes=minute),
            )  # fmt: skip
        assert result.outcome == "locked"
        assert accounts.is_locked(s, identity_id=identity.id, now=start + dt.timedelta(hours=23))
        later = start + dt.timedelta(hours=24, minutes=5)
        assert not accounts.is_locked(s, identity_id=identity.id, now=later)
        result = accounts.attempt_link(
            s, identity=identity, card_ref=card, birth_ref=dob(AHMED.born.isoformat()),
            passport_ref=None, key=registry_key(), now=later,
        )  # fmt: skip
        assert result.outcome == "linked"


# --- lookups -------------------------------------------------------------------------


async def test_unlinked_user_asking_for_their_card_is_taken_to_the_form(
    registry: sessionmaker,  # type: ignore[type-arg]
) -> None:
    messages, slots = await run(
        ActionCheckCardStatus(),
        tracker("is my card valid", intent="check_card_status", active=False),
    )
    assert [m["text"] for m in messages] == [ui("en", texts.LINK_INTRO)]
    assert slots["__followup__"] == "link_form" and slots["link_then"] == "check_card_status"
    asked, _ = await run(ActionAskLinkCard(), tracker(active=False))
    assert asked[0]["text"] == ui("en", texts.ASK_CARD)
    assert asked[0]["buttons"] == [{"title": ui("en", texts.CANCEL), "payload": "/deny"}]


async def test_after_linking_the_pending_question_is_answered(
    registry: sessionmaker,  # type: ignore[type-arg]
) -> None:
    slots = {
        "link_card": accounts.card_reference(OLGA.card, key=registry_key()),
        "link_dob": references.birth_reference(OLGA.born.isoformat(), key=registry_key()),
        "link_then": "check_card_status",
    }
    messages, _ = await run(ActionLinkSubmit(), tracker("", slots=slots, lang="ru"))
    assert messages[0]["text"] == ui("ru", texts.LINKED)
    assert "••••5678" in messages[1]["text"]
    assert messages[2]["text"].startswith(ui("ru", texts.EXPIRES_SOON))


def _link_to(registry: sessionmaker, who: str) -> None:  # type: ignore[type-arg]
    with transaction(registry) as s:
        resident = s.scalars(select(Resident).where(Resident.full_name == who)).one()
        s.scalars(select(ChatIdentity)).one().resident_id = resident.id


@pytest.mark.parametrize("lang", ["en", "ru", "ar", "zh"])
async def test_card_status_in_the_users_language(registry: sessionmaker, lang: str) -> None:  # type: ignore[type-arg]
    _link_to(registry, AHMED.name)
    messages, _ = await run(
        ActionCheckCardStatus(),
        tracker("my card?", intent="check_card_status", lang=lang, active=False),
    )
    (status,) = messages  # 400 days left: nothing to do
    expires = AHMED.expiry(AHMED.card_days)
    assert format_date(expires, format="long", locale=lang) in status["text"]
    assert "••••1234" in status["text"] and "2016001234" not in status["text"]
    assert ui(lang, texts.STATUS_ACTIVE) in status["text"]
    assert "400" in status["text"]


async def test_visa_expiring_soon_gives_the_extension_answer(registry: sessionmaker) -> None:  # type: ignore[type-arg]
    _link_to(registry, AHMED.name)
    messages, _ = await run(
        ActionCheckVisaStatus(),
        tracker("visa?", intent="check_visa_status", lang="es", active=False),
    )
    status, step = messages
    assert "M" in status["text"] and "••••6701" in status["text"] and "12" in status["text"]
    assert ui("es", texts.ENTRIES, entries=ui("es", texts.ENTRIES_MULTIPLE)) in status["text"]
    extension = yaml.safe_load((ROOT / "locales/es/answers.yml").read_text())["faq_visa_extension"]
    assert step["text"].startswith(ui("es", texts.EXPIRES_SOON))
    assert extension["title"].strip() in step["text"]


async def test_expired_visa_and_lost_card_say_what_to_do(registry: sessionmaker) -> None:  # type: ignore[type-arg]
    _link_to(registry, TWIN_A.name)
    answers = yaml.safe_load((ROOT / "locales/en/answers.yml").read_text())
    visa, step = (
        await run(ActionCheckVisaStatus(), tracker(intent="check_visa_status", active=False))
    )[0]
    assert ui("en", texts.STATUS_EXPIRED) in visa["text"] and "5 days ago" in visa["text"]
    assert step["text"].startswith(ui("en", texts.HAS_EXPIRED))
    assert answers["faq_overstay"]["title"].strip() in step["text"]
    card, step = (
        await run(ActionCheckCardStatus(), tracker(intent="check_card_status", active=False))
    )[0]
    assert ui("en", texts.STATUS_LOST) in card["text"]
    assert answers["faq_merchant_card_replace"]["title"].strip() in step["text"]


async def test_linked_resident_without_records_gets_a_way_to_a_person(
    registry: sessionmaker,  # type: ignore[type-arg]
) -> None:
    _link_to(registry, OLGA.name)
    with transaction(registry) as s:
        for card in s.scalars(select(MerchantCard)):
            s.delete(card)
    messages, _ = await run(
        ActionCheckCardStatus(), tracker(intent="check_card_status", active=False)
    )
    assert [m["text"] for m in messages] == [ui("en", texts.NO_CARD_RECORD)]


def registry_down(monkeypatch: pytest.MonkeyPatch) -> None:
    """From now on every database call of the actions fails as with a dead server."""

    def down() -> sessionmaker:  # type: ignore[type-arg]
        raise OperationalError("SELECT 1", {}, Exception("connection refused"))

    monkeypatch.setattr(actions.common, "db_sessions", down)


async def test_database_down_gets_a_clear_answer(
    registry: sessionmaker,
    monkeypatch: pytest.MonkeyPatch,  # type: ignore[type-arg]
) -> None:
    registry_down(monkeypatch)
    messages, _ = await run(
        ActionCheckVisaStatus(), tracker(intent="check_visa_status", active=False)
    )
    assert [m["text"] for m in messages] == [ui("en", texts.RECORDS_UNAVAILABLE)]


async def test_each_answer_is_marked_so_the_gateway_does_not_keep_it(
    registry: sessionmaker,  # type: ignore[type-arg]
) -> None:
    dispatcher = CollectingDispatcher()
    await ValidateLinkForm().run(dispatcher, tracker("YW2016001234", fill="link_card"), DOMAIN)
    assert {"redact": True} in [m.get("custom") for m in dispatcher.messages]
    dispatcher = CollectingDispatcher()
    await ValidateLinkForm().run(dispatcher, tracker("hello"), DOMAIN)  # no slot answered
    assert {"redact": True} not in [m.get("custom") for m in dispatcher.messages]


@settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@example(attempts=[(0, False)] * 5 + [(0, True)])
@example(attempts=[(0, False)] * 5 + [(1440, True)])
@given(
    attempts=st.lists(
        # Mostly wrong and minutes apart (to reach the lockout), sometimes right or a day
        # later (to cross the 24-hour window).
        st.tuples(
            st.sampled_from([0, 5, 30, 90, 600, 1400, 1500]),
            st.sampled_from([False, False, False, True]),
        ),
        min_size=1,
        max_size=14,
    )
)
def test_the_lockout_holds_for_any_sequence_of_attempts(
    registry: sessionmaker,
    attempts: list[tuple[int, bool]],  # type: ignore[type-arg]
) -> None:
    """Attempts minutes apart, right or wrong: while 5 failures lie within the last 24
    hours nothing links, not even the right details; otherwise the right details link."""
    start = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
    card = accounts.card_reference(AHMED.card, key=registry_key())
    failures: list[dt.datetime] = []
    now = start
    with transaction(registry) as s:
        s.execute(delete(LinkAttempt))
        identity = s.scalars(select(ChatIdentity)).one()
        for gap_minutes, right in attempts:
            now += dt.timedelta(minutes=gap_minutes)
            identity.resident_id = None
            recent = [f for f in failures if f > now - accounts.FAILURE_WINDOW]
            result = accounts.attempt_link(
                s, identity=identity, card_ref=card, passport_ref=None, now=now,
                birth_ref=dob(AHMED.born.isoformat() if right else "2001-01-01"),
                key=registry_key(),
            )  # fmt: skip
            if len(recent) >= accounts.MAX_FAILURES:
                assert result.outcome == "locked" and identity.resident_id is None
            elif right:
                assert result.outcome == "linked"
            else:
                failures.append(now)
                assert result.outcome == ("locked" if len(recent) + 1 >= 5 else "mismatch")
        s.rollback()


async def test_a_policy_question_during_the_form_is_answered(registry: sessionmaker) -> None:  # type: ignore[type-arg]
    messages, slots = await run(
        ActionCheckVisaStatus(), tracker("visa ends?", intent="check_visa_status", active=False)
    )
    (intro,) = messages
    assert [b["payload"] for b in intro["buttons"]] == ["/faq_visa_extension", "/faq_overstay"]
    _, slots = await run(
        ValidateLinkForm(),
        tracker("/faq_visa_extension", intent="faq_visa_extension", fill="link_card"),
    )
    assert slots["link_outcome"] == "faq:faq_visa_extension" and slots["requested_slot"] is None
    messages, slots = await run(
        ActionLinkSubmit(), tracker(slots={"link_outcome": slots["link_outcome"]})
    )
    title = yaml.safe_load((ROOT / "locales/en/answers.yml").read_text())["faq_visa_extension"][
        "title"
    ]
    assert messages[0]["text"].startswith(title.strip())
    assert slots["link_outcome"] is None


async def test_the_gateways_card_reference_is_accepted_as_the_answer(
    registry: sessionmaker,  # type: ignore[type-arg]
) -> None:
    ref = accounts.card_reference(AHMED.card, key=registry_key())
    _, slots = await run(ValidateLinkForm(), tracker(f"cardref:{ref}", fill="link_card"))
    assert slots["link_card"] == ref
    _, slots = await run(ValidateLinkForm(), tracker("cardref:n:nothex", fill="link_card"))
    assert slots["link_card"] is None


async def test_database_down_during_the_form_ends_with_a_clear_answer(
    registry: sessionmaker,
    monkeypatch: pytest.MonkeyPatch,  # type: ignore[type-arg]
) -> None:
    registry_down(monkeypatch)
    card = accounts.card_reference(AHMED.card, key=registry_key())
    _, slots = await run(
        ValidateLinkForm(), tracker("1985-04-03", fill="link_dob", slots={"link_card": card})
    )
    assert slots["link_dob"] == references.birth_reference("1985-04-03", key=registry_key())
    assert slots["requested_slot"] is None
    messages, _ = await link(registry, AHMED.card, "1985-04-03")
    assert [m["text"] for m in messages] == [ui("en", texts.RECORDS_UNAVAILABLE)]
