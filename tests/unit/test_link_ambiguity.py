"""Linking when the details fit two people: never a link to either of them.

The link form asks for the passport's last four characters when a card's digits and a
birth date fit more than one resident. When that check could not reach the database,
the form goes on without them, and attempt_link itself must then refuse to pick one.
"""

from __future__ import annotations

import datetime as dt
import inspect
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot.db import conversations, transaction
from bot.db.models import ChatIdentity, LinkAttempt, Resident, StaffAlert
from bot.records import accounts
from bot.records.registry.importer import import_registry
from tests.people import TWIN_A, TWIN_B, registry_csv, registry_key

NOW = dt.datetime(2026, 11, 27, 10, 0, tzinfo=dt.UTC)
# The card digits typed alone: they fit both twins' cards (only the prefix differs).
BOTH_TWINS_DIGITS = "2016009999"


def link(
    session: Session, identity: ChatIdentity, *, born: dt.date, passport_last4: str | None
) -> accounts.LinkResult:
    """attempt_link with the details as a chat gives them, in whichever form it takes
    them: in clear (date_of_birth, passport_last4) or as keyed references (birth_ref,
    passport_ref), which is where bot.records.accounts is moving."""
    key = registry_key()
    params = inspect.signature(accounts.attempt_link).parameters
    kwargs: dict[str, Any] = {"identity": identity, "now": NOW}
    kwargs["card_ref"] = accounts.card_reference(BOTH_TWINS_DIGITS, key=key)
    if "birth_ref" in params:
        from bot.records import references

        kwargs["birth_ref"] = references.birth_reference(born.isoformat(), key=key)
        kwargs["passport_ref"] = (
            None if passport_last4 is None else references.last4_reference(passport_last4, key=key)
        )
        kwargs["key"] = key
    else:
        kwargs["date_of_birth"] = born
        kwargs["passport_last4"] = passport_last4
    result: accounts.LinkResult = accounts.attempt_link(session, **kwargs)
    return result


def setup_twins(sessions: sessionmaker[Session]) -> None:
    assert TWIN_A.born == TWIN_B.born
    assert TWIN_A.card.endswith(BOTH_TWINS_DIGITS) and TWIN_B.card.endswith(BOTH_TWINS_DIGITS)
    with transaction(sessions) as s:
        report = import_registry(s, registry_csv((TWIN_A, TWIN_B)), key=registry_key())
        assert report.ok, str(report)
        conversations.get_or_create_identity(s, channel="telegram", external_id="4242")


def test_two_matches_without_passport_ending_is_a_mismatch(
    sessions: sessionmaker[Session],
) -> None:
    setup_twins(sessions)
    with transaction(sessions) as s:
        identity = s.scalars(select(ChatIdentity)).one()
        result = link(s, identity, born=TWIN_A.born, passport_last4=None)
        assert result.outcome == "mismatch"
        assert result.resident_id is None
        assert result.attempts_left == accounts.MAX_FAILURES - 1
    with sessions() as s:
        assert s.scalars(select(ChatIdentity)).one().resident_id is None
        (attempt,) = s.scalars(select(LinkAttempt)).all()
        assert attempt.succeeded is False


def test_passport_ending_picks_the_one_person(sessions: sessionmaker[Session]) -> None:
    """The same details with the passport's last four link the right twin: the refusal
    above is about the ambiguity, not about the details."""
    setup_twins(sessions)
    with transaction(sessions) as s:
        identity = s.scalars(select(ChatIdentity)).one()
        twin_b = s.scalars(select(Resident).where(Resident.full_name == TWIN_B.name)).one()
        result = link(s, identity, born=TWIN_B.born, passport_last4=TWIN_B.passport[-4:])
        assert result.outcome == "linked"
        assert result.resident_id == twin_b.id
        assert identity.resident_id == twin_b.id


def test_typing_the_whole_passport_number_picks_the_one_person(
    sessions: sessionmaker[Session],
) -> None:
    setup_twins(sessions)
    with transaction(sessions) as s:
        identity = s.scalars(select(ChatIdentity)).one()
        result = link(s, identity, born=TWIN_A.born, passport_last4=TWIN_A.passport)
        twin_a = s.scalars(select(Resident).where(Resident.full_name == TWIN_A.name)).one()
        assert (result.outcome, result.resident_id) == ("linked", twin_a.id)


def test_fifth_failure_locks_the_chat_and_alerts_staff_about_it(
    sessions: sessionmaker[Session],
) -> None:
    setup_twins(sessions)
    with transaction(sessions) as s:
        identity = s.scalars(select(ChatIdentity)).one()
        outcomes = [
            link(s, identity, born=TWIN_A.born, passport_last4=None).outcome
            for _ in range(accounts.MAX_FAILURES)
        ]
        assert outcomes == ["mismatch"] * (accounts.MAX_FAILURES - 1) + ["locked"]
        (alert,) = s.scalars(select(StaffAlert)).all()
        assert (alert.kind, alert.identity_id) == ("link_lockout", identity.id)
        assert alert.details == (
            f"{accounts.MAX_FAILURES} failed attempts to link telegram chat "
            f"{identity.public_id[:8]} in 24 hours; locked"
        )
