"""No chat learns anything of another's tickets: whatever B asks (ticket_status with any
ticket number in any spelling, or any button "/ticket <number> <verb>"), nothing B reads
holds A's numbers, parties or descriptions, A's tickets stay as they were, and the
answer to A's number is the answer to a number that does not exist. C, another chat of
A's resident, does see A's tickets.

ticket_status runs as rasa-sdk runs it (actions.tickets.ActionTicketStatus on a tracker
built from tests/fixtures/trackers/link_form_answer.json); the buttons go through the
gateway (the Assistant, with a fake Rasa that must never be asked)."""

from __future__ import annotations

import asyncio
import copy
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

import actions.common
from actions.tickets import ActionTicketStatus
from bot import texts
from bot.db import transaction
from bot.db.models import Ticket, TicketEvent
from bot.i18n import gettext
from bot.messages import Inbound
from bot.pipeline.assistant import Assistant
from bot.protocol import TICKET_VERBS
from bot.tickets import lifecycle, numbers
from bot.tickets.numbers import format_number
from tests.conftest import FakeRasa
from tests.helpers import new_id
from tests.tickets_helpers import chat, evidence_dir, file_ticket, put_status, resident

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = json.loads((ROOT / "tests/fixtures/trackers/link_form_answer.json").read_text())
DOMAIN: dict[str, Any] = yaml.safe_load((ROOT / "domain.yml").read_text())
VERBS = sorted(TICKET_VERBS)
# Words only A's tickets hold: found in a reply to B, they leaked.
A_MARKERS = ("zebracorn", "quokka")


@pytest.fixture(autouse=True)
def _evidence_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    with evidence_dir(tmp_path / "evidence", monkeypatch) as root:
        yield root


@dataclass(frozen=True)
class World:
    sessions: sessionmaker[Session]
    senders: dict[str, str]  # chat -> its public id (what Rasa knows)
    numbers: dict[str, list[str]]  # chat -> its ticket numbers
    parties: dict[str, list[str]]
    descriptions: dict[str, list[str]]
    year: int


@pytest.fixture
def world(sessions: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch) -> World:
    monkeypatch.setattr(actions.common, "db_sessions", lambda: sessions)
    senders: dict[str, str] = {}
    found: dict[str, list[Ticket]] = {"A": [], "B": []}
    with transaction(sessions) as s:
        olga = resident(s, "Olga")
        a = chat(s, "A", resident=olga)
        b = chat(s, "B")
        c = chat(s, "C", channel="webchat", resident=olga)
        senders = {"A": a.public_id, "B": b.public_id, "C": c.public_id}
        a_states = (lifecycle.SUBMITTED, lifecycle.RESOLVED, lifecycle.WAITING_USER)
        for i, status in enumerate(a_states):
            ticket = file_ticket(
                s, a, party=f"Zebracorn Trading {i} Co.",
                description=f"The quokka deposit story number {i}, private to A.",
            )  # fmt: skip
            found["A"].append(put_status(s, ticket, status))
        for i, status in enumerate((lifecycle.SUBMITTED, lifecycle.RESOLVED)):
            ticket = file_ticket(
                s, b, party=f"Bravo Textiles {i}", description=f"B's own story {i}."
            )
            found["B"].append(put_status(s, ticket, status))
        year = int(str(found["A"][0].number).split("-")[1])
        return World(
            sessions=sessions,
            senders=senders,
            numbers={k: [str(t.number) for t in v] for k, v in found.items()},
            parties={k: [str(t.party_name) for t in v] for k, v in found.items()},
            descriptions={k: [str(t.description) for t in v] for k, v in found.items()},
            year=year,
        )


def tracker(sender: str, text: str) -> Tracker:
    data = copy.deepcopy(FIXTURE)
    data["sender_id"] = sender
    data["latest_message"].update(text=text, intent={"name": "ticket_status", "confidence": 0.97})
    data["latest_message"]["metadata"]["language"] = "en"
    data["events"] = [{"event": "user", "text": text}]
    data["active_loop"] = {}
    return Tracker.from_dict(data)


async def ticket_status(world: World, who: str, text: str) -> str:
    """What the chat reads: every text, button title and payload of the answer."""
    dispatcher = CollectingDispatcher()
    await ActionTicketStatus().run(dispatcher, tracker(world.senders[who], text), DOMAIN)
    return "\n".join(_visible(m) for m in dispatcher.messages if m.get("text"))


def _visible(message: dict[str, Any]) -> str:
    parts = [str(message.get("text") or "")]
    for b in message.get("buttons") or []:
        parts += [str(b.get("title")), str(b.get("payload"))]
    return "\n".join(parts)


async def press(assistant: Assistant, who: str, payload: str) -> str:
    replies = await assistant.handle(
        Inbound(
            channel="telegram", external_id=who, message_id=new_id(), text=payload, kind="button"
        )
    )
    return "\n".join(
        "\n".join([r.text, *(f"{b.title}\n{b.payload}" for b in r.buttons)]) for r in replies
    )


# --- spellings of a number -----------------------------------------------------------------


def spell(number: str, how: str) -> str:
    _, year, digits = number.split("-")
    if how == "lower":
        return number.lower()
    if how == "spaced":
        return f"yw {year} {digits}"
    if how == "compact":
        return f"yw{year}{digits}"
    if how == "short":
        return f"YW-{year}-{int(digits)}"
    if how == "fullwidth":
        return "".join(chr(ord(ch) + 0xFEE0) for ch in number)
    if how == "arabic":
        return number.translate(str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩"))
    return number


TEXT_SPELLINGS = ("canonical", "lower", "spaced", "compact", "short", "fullwidth", "arabic")
# A payload is one word: no spaces.
PAYLOAD_SPELLINGS = ("canonical", "lower", "short", "fullwidth", "arabic")
TEXT_FORMS = (
    "status of {n}",
    "where is my complaint {n}?",
    "{n}",
    "what about {n} please",
    "жалоба {n}",
)

# Whose number: A's (index), B's (index), or none that exists (a year and an id).
Target = tuple[str, int, int]
targets: st.SearchStrategy[Target] = st.one_of(
    st.tuples(st.just("A"), st.integers(0, 2), st.just(0)),
    st.tuples(st.just("B"), st.integers(0, 1), st.just(0)),
    # The year next to the real one with ids near A's and B's; or a far id.
    st.tuples(st.just("X"), st.integers(1, 12), st.sampled_from([-1, 1])),
    st.tuples(st.just("X"), st.integers(100_000, 999_999_999), st.sampled_from([-1, 0])),
)
Step = tuple[str, Target, str, str]
steps: st.SearchStrategy[Step] = st.one_of(
    st.tuples(
        st.just("status"), targets, st.sampled_from(TEXT_SPELLINGS), st.sampled_from(TEXT_FORMS)
    ),
    st.tuples(st.just("list"), st.just(("X", 0, 0)), st.just(""), st.just("")),
    st.tuples(
        st.just("button"), targets, st.sampled_from(PAYLOAD_SPELLINGS), st.sampled_from(VERBS)
    ),
)


def number_of(world: World, target: Target) -> str:
    who, index, year_offset = target
    if who in ("A", "B"):
        return world.numbers[who][index]
    return format_number(year=world.year + year_offset, ticket_id=index)


GHOST_ID = 987_654_321  # no ticket has it


def message(step: Step, number: str) -> str:
    kind, _, how, form = step
    if kind == "list":
        return "show me my complaints"
    if kind == "status":
        return form.format(n=spell(number, how))
    return f"/ticket {spell(number, how)} {form}"


def a_state(world: World) -> list[tuple[Any, ...]]:
    with world.sessions() as s:
        rows = s.scalars(select(Ticket).where(Ticket.number.in_(world.numbers["A"])))
        events = s.scalars(select(TicketEvent).order_by(TicketEvent.id)).all()
        return [
            (
                t.id,
                t.status,
                t.updated_at,
                t.resident_id,
                t.first_response_at,
                [(e.id, e.kind, e.to_status) for e in events if e.ticket_id == t.id],
            )
            for t in sorted(rows, key=lambda t: t.id)
        ]


def masked(text: str, number: str | None) -> str:
    return text.replace(number, "<N>") if number else text


@settings(
    max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
# Every verb at A's resolved ticket, and A's numbers in every spelling.
@example(steps=[("button", ("A", 1, 0), "canonical", verb) for verb in VERBS])
@example(steps=[("status", ("A", 0, 0), how, "status of {n}") for how in TEXT_SPELLINGS])
@given(steps=st.lists(steps, min_size=1, max_size=6))
def test_b_learns_nothing_of_as_tickets(
    world: World, assistant: Assistant, fake_rasa: FakeRasa, steps: list[Step]
) -> None:
    before = a_state(world)
    loop = asyncio.new_event_loop()

    async def answer(step: Step, number: str) -> str:
        text = message(step, number)
        if step[0] == "button":
            return await press(assistant, "B", text)
        return await ticket_status(world, "B", text)

    try:
        for step in steps:
            number = number_of(world, step[1])
            reply = loop.run_until_complete(answer(step, number))
            named = None if step[0] == "list" else numbers.find(message(step, number))
            assert named == (None if step[0] == "list" else number)
            seen = masked(reply, named)
            for secret in (*world.numbers["A"], *world.parties["A"], *world.descriptions["A"]):
                assert secret not in seen, (step, reply)
            assert not any(marker in seen.casefold() for marker in A_MARKERS), (step, reply)
            if step[1][0] == "A":
                ghost = format_number(year=world.year, ticket_id=GHOST_ID)
                nobody = loop.run_until_complete(answer(step, ghost))
                assert seen == masked(nobody, ghost), (step, reply, nobody)
            if step[1][0] == "B" and (step[0] == "status" or step[3] == "show"):
                assert world.parties["B"][step[1][1]] in reply  # B does see its own
    finally:
        loop.run_until_complete(loop.shutdown_default_executor())
        loop.close()
    assert fake_rasa.requests == []  # every button was the gateway's to answer
    assert a_state(world) == before


async def test_the_answer_to_someone_elses_number_is_the_answer_to_no_ticket(world: World) -> None:
    theirs = world.numbers["A"][0]
    ghost = format_number(year=world.year, ticket_id=GHOST_ID)
    reply = await ticket_status(world, "B", f"status of {theirs}")
    assert reply == gettext("en", texts.TICKET_NOT_FOUND, number=theirs)
    assert reply.replace(theirs, "<N>") == (await ticket_status(world, "B", ghost)).replace(
        ghost, "<N>"
    )


async def test_the_residents_other_chat_sees_as_tickets(
    world: World, assistant: Assistant, fake_rasa: FakeRasa
) -> None:
    listed = await ticket_status(world, "C", "my complaints")
    for number in world.numbers["A"]:
        assert number in listed
    assert not any(number in listed for number in world.numbers["B"])
    for number, party in zip(world.numbers["A"], world.parties["A"], strict=True):
        assert party in await ticket_status(world, "C", f"status of {number.lower()}")
    shown = await assistant.handle(
        Inbound(
            channel="webchat", external_id="C", message_id=new_id(),
            text=f"/ticket {world.numbers['A'][0]} show", kind="button",
        )
    )  # fmt: skip
    assert world.parties["A"][0] in shown[0].text
    # A itself, of course; and B never.
    assert world.parties["A"][1] in await ticket_status(world, "A", world.numbers["A"][1])
    assert world.parties["A"][1] not in await ticket_status(world, "B", world.numbers["A"][1])
    assert fake_rasa.requests == []
