"""The lockout holds across chats: failures are counted per card (and its holder's other
cards) and everywhere at once, not only per chat, so that a new web-chat cookie or a
crowd of Telegram accounts gets no fresh tries at one card (issue 9, item 1)."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session, sessionmaker

from bot.db import transaction
from bot.db.models import ChatIdentity, LinkAttempt, StaffAlert
from bot.records import accounts, references
from tests.people import AHMED, load_people, registry_key

START = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
SMALL = accounts.LinkLimits(per_chat=3, per_card=5, everywhere_per_hour=1000)


@pytest.fixture
def people(sessions: sessionmaker[Session]) -> sessionmaker[Session]:
    """The registry of tests/people.py, loaded once for all examples of a property."""
    load_people(sessions)
    return sessions


def dob(iso: str) -> str:
    return references.birth_reference(iso, key=registry_key())


def attempt(
    s: Session,
    identity: ChatIdentity,
    *,
    right: bool,
    now: dt.datetime,
    card: str = AHMED.card,
    limits: accounts.LinkLimits = SMALL,
) -> accounts.LinkResult:
    return accounts.attempt_link(
        s,
        identity=identity,
        card_ref=accounts.card_reference(card, key=registry_key()),
        birth_ref=dob(AHMED.born.isoformat() if right else "2001-01-01"),
        passport_ref=None,
        key=registry_key(),
        now=now,
        limits=limits,
    )


def chats(s: Session, n: int) -> list[ChatIdentity]:
    made = [ChatIdentity(channel="webchat", external_id=f"chat-{i}") for i in range(n)]
    s.add_all(made)
    s.flush()
    return made


def test_new_chats_get_no_fresh_tries_at_one_card(sessions: sessionmaker[Session]) -> None:
    """As reported: 12 wrong tries at one card from 12 new sessions, then the right one."""
    load_people(sessions)
    limits = accounts.LIMITS
    with transaction(sessions) as s:
        crowd = chats(s, 13)
        outcomes = [
            attempt(s, c, right=False, now=START, limits=limits).outcome for c in crowd[:12]
        ]
        assert outcomes == ["mismatch"] * 9 + ["card_locked"] * 3
        final = attempt(s, crowd[12], right=True, now=START, limits=limits)
        assert final.outcome == "card_locked" and crowd[12].resident_id is None
        (alert,) = s.scalars(select(StaffAlert).where(StaffAlert.kind == "card_lockout"))
        assert (
            "10 failed attempts at one card" in alert.details and "from 10 chats" in alert.details
        )
        # Nothing typed reaches the alert: the card's reference is cut to a short prefix.
        assert "2016001234" not in alert.details
        # A day later the card may be tried again, and its owner links.
        later = attempt(s, crowd[12], right=True, now=START + dt.timedelta(hours=25))
        assert later.outcome == "linked"


def test_the_card_lock_covers_the_holders_other_ways_of_typing_it(
    sessions: sessionmaker[Session],
) -> None:
    """Alternating "YW2016001234" and "2016001234" (digits alone) is one card."""
    load_people(sessions)
    with transaction(sessions) as s:
        crowd = chats(s, 6)
        for i, c in enumerate(crowd[:5]):
            card = AHMED.card if i % 2 else "2016 0012 34"
            attempt(s, c, right=False, now=START, card=card)
        assert attempt(s, crowd[5], right=True, now=START, card="2016001234").outcome == (
            "card_locked"
        )


def test_a_card_no_one_holds_locks_the_same_way(sessions: sessionmaker[Session]) -> None:
    """So that the lockout tells nothing about which cards exist."""
    load_people(sessions)
    with transaction(sessions) as s:
        crowd = chats(s, 6)
        outcomes = [
            attempt(s, c, right=False, now=START, card="YW9999999999").outcome for c in crowd
        ]
        assert outcomes == ["mismatch"] * 4 + ["card_locked"] * 2


def test_a_flood_at_many_cards_pauses_linking_everywhere_and_alerts_once(
    sessions: sessionmaker[Session],
) -> None:
    load_people(sessions)
    limits = accounts.LinkLimits(per_chat=3, per_card=5, everywhere_per_hour=4)
    with transaction(sessions) as s:
        crowd = chats(s, 7)
        outcomes = [
            attempt(s, c, right=False, now=START, card=f"YW10000000{i:02d}", limits=limits).outcome
            for i, c in enumerate(crowd[:6])
        ]
        assert outcomes == ["mismatch"] * 4 + ["paused"] * 2
        assert attempt(s, crowd[6], right=True, now=START, limits=limits).outcome == "paused"
        paused = s.scalars(select(StaffAlert).where(StaffAlert.kind == "link_paused")).all()
        assert len(paused) == 1
        # An hour later the count has fallen and linking works again.
        soon = START + dt.timedelta(minutes=61)
        assert attempt(s, crowd[6], right=True, now=soon, limits=limits).outcome == "linked"


def test_parallel_attempts_at_one_card_cross_the_line_exactly_once(
    sessions: sessionmaker[Session],
) -> None:
    """As reported: 10 parallel clients made 70 failed attempts at one card without an
    alert. Here 16 chats try at once: at most per_card failures are counted, one alert."""
    load_people(sessions)
    with transaction(sessions) as s:
        ids = [c.id for c in chats(s, 16)]
    barrier = threading.Barrier(len(ids))
    outcomes: list[str] = []
    errors: list[BaseException] = []

    def one(identity_id: int) -> None:
        try:
            barrier.wait(timeout=30)
            with transaction(sessions) as s:
                identity = s.get(ChatIdentity, identity_id)
                assert identity is not None
                outcomes.append(attempt(s, identity, right=False, now=START).outcome)
        except BaseException as exc:  # reported below, with the thread's outcome
            errors.append(exc)

    threads = [threading.Thread(target=one, args=(i,)) for i in ids]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    assert sorted(outcomes) == sorted(["mismatch"] * 4 + ["card_locked"] * 12)
    with sessions() as s:
        failed = s.scalar(
            select(func.count()).select_from(LinkAttempt).where(LinkAttempt.succeeded.is_(False))
        )
        assert failed == SMALL.per_card
        alerts = s.scalars(select(StaffAlert).where(StaffAlert.kind == "card_lockout")).all()
        assert len(alerts) == 1


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
# The edges, explicitly: the fifth failure from five chats, and the right details then;
# one chat's own lockout before the card's; the window of 24 hours crossed.
@example(attempts=[(i, 0, False) for i in range(5)] + [(5, 0, True)])
@example(attempts=[(0, 0, False)] * 3 + [(1, 0, False)] * 2 + [(2, 0, True)])
@example(attempts=[(i, 0, False) for i in range(5)] + [(5, 1440, True)])
@given(
    attempts=st.lists(
        st.tuples(
            st.integers(min_value=0, max_value=7),  # which chat: any number of them
            st.sampled_from([0, 0, 5, 60, 600, 1400, 1500]),  # minutes since the last
            st.sampled_from([False, False, False, True]),  # right details?
        ),
        min_size=1,
        max_size=24,
    )
)
def test_the_card_lockout_holds_for_any_chats_and_any_sequence(
    people: sessionmaker[Session], attempts: list[tuple[int, int, bool]]
) -> None:
    """For any sequence of attempts at one card from any chats: while per_card failures
    at the card lie within the window, nothing links (not even the right details), no
    more failures are counted, and each crossing of the line alerts staff once."""
    with transaction(people) as s:
        s.execute(delete(LinkAttempt))
        s.execute(delete(StaffAlert))
        crowd = chats(s, 8)
        by_chat: dict[int, list[dt.datetime]] = {}
        at_card: list[dt.datetime] = []
        crossings = 0
        now = START
        for who, gap, right in attempts:
            now += dt.timedelta(minutes=gap)
            crowd[who].resident_id = None
            mine = [t for t in by_chat.get(who, []) if t > now - SMALL.window]
            card = [t for t in at_card if t > now - SMALL.window]
            result = attempt(s, crowd[who], right=right, now=now)
            if len(mine) >= SMALL.per_chat:
                expected = "locked"
            elif len(card) >= SMALL.per_card:
                expected = "card_locked"
            elif right:
                expected = "linked"
            else:
                by_chat.setdefault(who, []).append(now)
                at_card.append(now)
                crossings += len(card) + 1 == SMALL.per_card
                if len(mine) + 1 >= SMALL.per_chat:
                    expected = "locked"
                elif len(card) + 1 >= SMALL.per_card:
                    expected = "card_locked"
                else:
                    expected = "mismatch"
            assert result.outcome == expected
            if expected != "linked":
                assert crowd[who].resident_id is None
            counted = s.scalar(
                select(func.count())
                .select_from(LinkAttempt)
                .where(
                    LinkAttempt.succeeded.is_(False), LinkAttempt.created_at > now - SMALL.window
                )
            )
            assert counted is not None and counted <= SMALL.per_card
        alerts = s.scalar(
            select(func.count()).select_from(StaffAlert).where(StaffAlert.kind == "card_lockout")
        )
        assert alerts == crossings
        s.rollback()


# --- each limit, its window and its alert, exactly (issue 17: mutants of these survived) --


def test_the_limits_follow_their_own_window(sessions: sessionmaker[Session]) -> None:
    """Failures further apart than the window never add up, for a chat or a card."""
    load_people(sessions)
    hourly = accounts.LinkLimits(
        per_chat=2, per_card=3, window=dt.timedelta(hours=1), everywhere_per_hour=1000
    )
    with transaction(sessions) as s:
        me, other = chats(s, 2)
        for i in range(4):  # two hours apart: each alone in its window
            when = START + dt.timedelta(hours=2 * i)
            assert attempt(s, me, right=False, now=when, limits=hourly).outcome == "mismatch"
        assert attempt(
            s, other, right=True, now=START + dt.timedelta(hours=8), limits=hourly
        ).outcome == ("linked")
        # Within one hour the same failures do add up: the chat locks at its second.
        soon = START + dt.timedelta(hours=20)
        assert attempt(s, me, right=False, now=soon, limits=hourly).outcome == "mismatch"
        later = soon + dt.timedelta(minutes=5)
        assert attempt(s, me, right=False, now=later, limits=hourly).outcome == "locked"
        (alert,) = s.scalars(select(StaffAlert).where(StaffAlert.kind == "link_lockout"))
        assert alert.details.endswith("in 1 hours; locked") and alert.created_at is not None


def test_the_card_alert_names_this_card_and_the_chats_that_failed_at_it(
    sessions: sessionmaker[Session],
) -> None:
    load_people(sessions)
    with transaction(sessions) as s:
        crowd = chats(s, 8)
        # Noise that must not count: failures at another card, and a success at this one.
        attempt(s, crowd[0], right=False, now=START, card="YW9999999999")
        attempt(s, crowd[1], right=False, now=START, card="YW9999999999")
        attempt(s, crowd[2], right=True, now=START)
        crowd[2].resident_id = None
        # Five failures at this card from three chats (the last crosses the line).
        for who in (3, 3, 4, 4, 5):
            attempt(s, crowd[who], right=False, now=START + dt.timedelta(minutes=who))
        (alert,) = s.scalars(select(StaffAlert).where(StaffAlert.kind == "card_lockout"))
        ref = accounts.card_reference(AHMED.card, key=registry_key())
        assert alert.details == (
            f"5 failed attempts at one card (reference {ref[:10]}) from 3 chats in 24 hours; "
            "the card is locked against new links"
        )
        assert alert.identity_id == crowd[5].id
        assert alert.created_at.replace(tzinfo=dt.UTC) == START + dt.timedelta(minutes=5)


@pytest.mark.parametrize(
    ("failing", "last"),
    [("2016 0012 34", AHMED.card), (AHMED.card, "2016 0012 34")],
    ids=["digits-then-prefixed", "prefixed-then-digits"],
)
def test_one_card_however_it_is_typed(
    sessions: sessionmaker[Session], failing: str, last: str
) -> None:
    """Failures typed one way lock the card typed the other way."""
    load_people(sessions)
    with transaction(sessions) as s:
        crowd = chats(s, 6)
        for c in crowd[:5]:
            attempt(s, c, right=False, now=START, card=failing)
        assert attempt(s, crowd[5], right=True, now=START, card=last).outcome == "card_locked"


def test_a_link_records_when_and_at_which_card(sessions: sessionmaker[Session]) -> None:
    load_people(sessions)
    with transaction(sessions) as s:
        (me,) = chats(s, 1)
        assert attempt(s, me, right=True, now=START).outcome == "linked"
        assert me.linked_at == START  # what a web-chat session's link expiry counts from
        (row,) = s.scalars(select(LinkAttempt))
        assert row.succeeded and row.created_at.replace(tzinfo=dt.UTC) == START
        assert row.card_ref == accounts.card_reference(AHMED.card, key=registry_key())


def test_the_whole_passport_number_tells_two_people_apart(
    sessions: sessionmaker[Session],
) -> None:
    """The twins share card digits and a birthday; a whole passport number (passref:p:,
    typed anywhere in the form) links the one it belongs to."""
    from tests.people import TWIN_A, TWIN_B

    load_people(sessions)
    key = registry_key()
    with transaction(sessions) as s:
        a, b = chats(s, 2)
        for chat, twin in ((a, TWIN_A), (b, TWIN_B)):
            result = accounts.attempt_link(
                s,
                identity=chat,
                card_ref=accounts.card_reference("2016 0099 99", key=key),
                birth_ref=dob(twin.born.isoformat()),
                passport_ref=references.passport_reference(twin.passport, key=key),
                key=key,
                now=START,
            )
            assert result.outcome == "linked"
        assert a.resident_id != b.resident_id and None not in (a.resident_id, b.resident_id)


def test_the_pause_alerts_once_an_hour_and_counts(sessions: sessionmaker[Session]) -> None:
    load_people(sessions)
    limits = accounts.LinkLimits(per_chat=3, per_card=5, everywhere_per_hour=2)
    with transaction(sessions) as s:
        crowd = chats(s, 6)
        s.add(StaffAlert(kind="link_lockout", details="another kind", created_at=START))
        for i, c in enumerate(crowd[:2]):
            attempt(s, c, right=False, now=START, card=f"YW20000000{i:02d}", limits=limits)
        for minutes in (0, 30, 59):  # paused; one alert for this hour
            when = START + dt.timedelta(minutes=minutes)
            assert attempt(s, crowd[2], right=True, now=when, limits=limits).outcome == "paused"
        for i, c in enumerate(crowd[3:5]):  # new failures in the next hour
            when = START + dt.timedelta(minutes=61)
            attempt(s, c, right=False, now=when, card=f"YW30000000{i:02d}", limits=limits)
        when = START + dt.timedelta(minutes=62)
        assert attempt(s, crowd[5], right=True, now=when, limits=limits).outcome == "paused"
        paused = list(
            s.scalars(
                select(StaffAlert).where(StaffAlert.kind == "link_paused").order_by(StaffAlert.id)
            )
        )
        assert [a.created_at.replace(tzinfo=dt.UTC) for a in paused] == [
            START,
            START + dt.timedelta(minutes=62),
        ]
        assert paused[0].details.startswith("2 failed attempts to link in the last hour")
        assert paused[0].identity_id is None
