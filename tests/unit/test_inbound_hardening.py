"""What an outside attacker and a crash found on the way in (issue 9, items 5 to 8):
simultaneous first messages, bodies that broke the API, bodies read whole before their
413, and numbers and dates of birth kept in clear outside the link form."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker
from starlette.requests import Request

from bot import texts
from bot.channels.webchat import MAX_BODY_BYTES, read_body
from bot.db.models import ChatIdentity, Message
from bot.i18n import gettext
from bot.logging_setup import add_filters
from bot.messages import Inbound
from bot.pipeline.assistant import Assistant
from bot.records import references
from tests.conftest import FakeRasa
from tests.helpers import REGISTRY_KEY, new_id

API = "/api/webchat/messages"


@pytest.fixture
def client(webchat: httpx.AsyncClient) -> httpx.AsyncClient:
    return webchat


def inbound_texts(sessions: sessionmaker[Session]) -> list[str]:
    with sessions() as s:
        return list(
            s.scalars(select(Message.text).where(Message.direction == "in").order_by(Message.id))
        )


# --- item 5: simultaneous first messages --------------------------------------------


async def test_simultaneous_first_messages_of_one_user_are_all_stored(
    assistant: Assistant, sessions: sessionmaker[Session]
) -> None:
    """As reported: five at once, one stored, four told "saved". Now: one identity, five
    messages stored, five real answers."""
    sent = [f"question number {i} about my visa" for i in range(5)]
    replies = await asyncio.gather(
        *(
            assistant.handle(
                Inbound(message_id=new_id(), channel="telegram", external_id="777", text=t)
            )
            for t in sent
        )
    )
    print([r[0].text for r in replies])
    assert sorted(inbound_texts(sessions)) == sorted(sent)
    with sessions() as s:
        assert s.scalar(select(func.count()).select_from(ChatIdentity)) == 1
    not_saved = gettext("en", texts.NOT_SAVED, hotline="12367")
    assert all(r and r[0].text != not_saved for r in replies)
    assert [r[0].text for r in replies] == [f"reply to {t[:20]}" for t in sent]


def test_sql_parameters_never_reach_an_error_message_or_a_log(
    sessions: sessionmaker[Session],
) -> None:
    """The reported traceback carried the session cookie and public id in its SQL
    parameters. The engine hides them (bot.db.make_engine), and the log's filter drops
    the text of a database error, whose DETAIL line (PostgreSQL) repeats the values."""
    secret = "secret-session-value-0123456789"
    with sessions() as s, s.begin():
        s.add(ChatIdentity(channel="webchat", external_id=secret, public_id="pub-1"))
    with pytest.raises(IntegrityError) as raised, sessions() as s, s.begin():
        s.add(ChatIdentity(channel="webchat", external_id=secret, public_id="pub-2"))
        s.flush()
    assert "pub-2" not in str(raised.value) and "parameters hidden" in str(raised.value)
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    add_filters(handler)
    log = logging.getLogger("test.sql")
    log.addHandler(handler)
    try:
        log.error("as the gateway logs it", exc_info=raised.value)
    finally:
        log.removeHandler(handler)
    assert "as the gateway logs it [IntegrityError:" in out.getvalue()
    assert secret not in out.getvalue() and "pub-" not in out.getvalue()
    assert "test_inbound_hardening.py" in out.getvalue()  # the stack stays, for operators


# --- item 6: two small bodies that gave HTTP 500 -------------------------------------


async def test_a_lone_surrogate_is_stored_and_answered(
    client: httpx.AsyncClient, sessions: sessionmaker[Session], fake_rasa: FakeRasa
) -> None:
    resp = await client.post(
        API,
        content=b'{"text": "\\ud800 visa extension"}',
        headers={"content-type": "application/json"},
    )
    assert resp.status_code == 200 and resp.json()["replies"]
    assert inbound_texts(sessions) == ["\ufffd visa extension"]
    assert fake_rasa.requests[0]["message"] == "visa extension"


async def test_arrays_nested_ten_thousand_deep_get_a_clear_400(
    client: httpx.AsyncClient, sessions: sessionmaker[Session]
) -> None:
    body = b"[" * 10_000 + b"]" * 10_000  # 20 kB
    resp = await client.post(API, content=body, headers={"content-type": "application/json"})
    assert resp.status_code == 400 and resp.json() == {"error": "body must be JSON"}
    nested = b'{"text": ' + b"[" * 10_000 + b"]" * 10_000 + b"}"
    resp = await client.post(API, content=nested, headers={"content-type": "application/json"})
    assert resp.status_code == 400


# --- item 7: the body limit before the body is read ----------------------------------


def request_with(
    headers: list[tuple[bytes, bytes]], chunks: list[bytes]
) -> tuple[Request, list[int]]:
    """A request whose body arrives in ``chunks``; the list counts the chunks read."""
    read = [0]
    scope: dict[str, Any] = {"type": "http", "method": "POST", "path": API, "headers": headers}

    async def receive() -> dict[str, Any]:
        read[0] += 1
        if read[0] > len(chunks):
            raise AssertionError("read past the end of the body")
        return {
            "type": "http.request",
            "body": chunks[read[0] - 1],
            "more_body": read[0] < len(chunks),
        }

    return Request(scope, receive), read


async def test_a_declared_length_over_the_limit_is_refused_before_reading() -> None:
    request, read = request_with([(b"content-length", b"200000000")], [b"x" * 1024] * 4)
    assert await read_body(request, limit=MAX_BODY_BYTES) is None
    assert read == [0]  # not one byte read


async def test_a_chunked_body_stops_being_read_once_past_the_limit() -> None:
    chunk = b"x" * 4096
    chunks = [chunk] * 1000  # 4 MB, without Content-Length
    request, read = request_with([(b"transfer-encoding", b"chunked")], chunks)
    assert await read_body(request, limit=MAX_BODY_BYTES) is None
    assert read[0] == MAX_BODY_BYTES // len(chunk) + 1  # stopped at the first chunk past it
    small, _ = request_with([], [b'{"text": ', b'"hi"}'])
    assert await read_body(small, limit=MAX_BODY_BYTES) == b'{"text": "hi"}'


async def test_an_oversized_chunked_post_gets_413(client: httpx.AsyncClient) -> None:
    async def body() -> AsyncIterator[bytes]:
        for _ in range(100):
            yield b"x" * 4096

    resp = await client.post(API, content=body(), headers={"content-type": "application/json"})
    assert resp.status_code == 413


# --- item 8: numbers and dates of birth outside the link form ------------------------


async def test_a_card_number_and_birth_date_in_a_question_are_never_kept_or_sent(
    assistant: Assistant, sessions: sessionmaker[Session], fake_rasa: FakeRasa
) -> None:
    typed = "Is my card YW2017998500 still valid? I was born 1980-09-17"
    await assistant.handle(
        Inbound(message_id=new_id(), channel="telegram", external_id="1", text=typed)
    )
    (stored,) = inbound_texts(sessions)
    sent = fake_rasa.requests[0]["message"]
    for seen in (stored, sent):
        assert "2017998500" not in seen and "1980-09-17" not in seen
        assert (
            seen.startswith("Is my card cardref:n:") and "still valid? I was born dobref:" in seen
        )
    card = references.card_reference("YW2017998500", key=REGISTRY_KEY)
    assert f"cardref:{card}" in sent
    born = references.birth_reference("1980-09-17", key=REGISTRY_KEY)
    assert f"dobref:{born}" in sent


@pytest.mark.parametrize(
    "typed",
    [
        "my visa ends on 10 December 2026, what now?",
        "I arrived 2026-11-02 and my visa is 30 days",
    ],
)
async def test_other_dates_stay_as_typed(
    assistant: Assistant, sessions: sessionmaker[Session], fake_rasa: FakeRasa, typed: str
) -> None:
    await assistant.handle(
        Inbound(message_id=new_id(), channel="telegram", external_id="1", text=typed)
    )
    assert inbound_texts(sessions) == [typed]
    assert fake_rasa.requests[0]["message"] == typed


@pytest.mark.parametrize(
    ("typed", "secret"),
    [
        ("passport E12345678 lost, what to do", "12345678"),
        ("my card yw2017998500 is lost", "2017998500"),
        ("卡号：YW2017998500，还有效吗", "2017998500"),
        ("رقم بطاقتي YW٢٠١٧٩٩٨٥٠٠", "2017998500"),
    ],
)
async def test_numbers_are_replaced_wherever_they_are_typed(
    assistant: Assistant,
    sessions: sessionmaker[Session],
    fake_rasa: FakeRasa,
    typed: str,
    secret: str,
) -> None:
    """Also a number sent right after /link, before its question is stored (nothing is
    awaited yet), and one typed after a lockout: the replacement needs no form state."""
    await assistant.handle(
        Inbound(message_id=new_id(), channel="telegram", external_id="1", text=typed)
    )
    (stored,) = inbound_texts(sessions)
    assert secret not in stored and secret not in fake_rasa.requests[0]["message"]
    assert "ref:" in stored


async def test_a_birth_date_is_replaced_while_the_link_form_waits_for_any_answer(
    assistant: Assistant, sessions: sessionmaker[Session], fake_rasa: FakeRasa
) -> None:
    """The date typed quickly after the card number, while the identity still awaits
    the card number, is a date of birth all the same."""
    with sessions() as s, s.begin():
        s.add(ChatIdentity(channel="telegram", external_id="1", awaiting="card_number"))
    await assistant.handle(
        Inbound(message_id=new_id(), channel="telegram", external_id="1", text="3 April 1985")
    )
    (stored,) = inbound_texts(sessions)
    assert "1985" not in stored and stored.startswith("dobref:")
    assert "|" not in stored  # one reading only: "3 April" is not ambiguous


async def test_entities_in_a_typed_payload_never_reach_rasa(
    assistant: Assistant, fake_rasa: FakeRasa
) -> None:
    """As reported, rasa.log printed /link_account{"link_card":"YW2017998500",...}: a
    client could set the form's slots straight from what it sent."""
    typed = '/link_account{"link_card":"YW2017998500","link_dob":"1980-09-17"}'
    await assistant.handle(
        Inbound(message_id=new_id(), channel="webchat", external_id="x", text=typed, kind="button")
    )
    assert fake_rasa.requests[0]["message"] == "/link_account"


async def test_nothing_typed_reaches_the_log(
    assistant: Assistant, fake_rasa: FakeRasa, caplog: pytest.LogCaptureFixture
) -> None:
    fake_rasa.handler = lambda body: httpx.Response(500)
    caplog.set_level(logging.DEBUG)
    typed = "Is my card YW2017998500 still valid? I was born 1980-09-17"
    await assistant.handle(
        Inbound(message_id=new_id(), channel="telegram", external_id="1", text=typed)
    )
    assert caplog.records  # the failure was logged...
    assert "2017998500" not in caplog.text and "1980-09-17" not in caplog.text  # ...not this
    assert json.dumps(fake_rasa.requests).count("cardref:") == 1
