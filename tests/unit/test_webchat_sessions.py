"""Web-chat sessions are issued by the server, kept only as a hash, rotated when the chat
proves who it is, and expire (issue 9, item 2)."""

from __future__ import annotations

import datetime as dt
import hashlib

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot.channels import webchat_sessions
from bot.channels.webchat import SESSION_COOKIE
from bot.db import transaction
from bot.db.models import ChatIdentity, Resident, utcnow
from bot.pipeline.assistant import Assistant
from tests.conftest import FakeRasa
from tests.helpers import webchat_client
from tests.people import load_people

API = "/api/webchat/messages"


client_for = webchat_client


@pytest.fixture
def client(webchat: httpx.AsyncClient) -> httpx.AsyncClient:
    return webchat


def webchat_ids(sessions: sessionmaker[Session]) -> list[str]:
    with sessions() as s:
        return list(
            s.scalars(select(ChatIdentity.external_id).where(ChatIdentity.channel == "webchat"))
        )


async def test_a_cookie_the_server_did_not_issue_is_never_honoured(
    client: httpx.AsyncClient, sessions: sessionmaker[Session], fake_rasa: FakeRasa
) -> None:
    planted = "A" * 43  # well-formed, as a page on the same host could plant it
    client.cookies.set(SESSION_COOKIE, planted)
    resp = await client.post(API, json={"text": "hello, a visa question"})
    issued = resp.cookies[SESSION_COOKIE]
    assert issued != planted
    # The planted value became no chat at all, in clear or hashed.
    ids = webchat_ids(sessions)
    assert planted not in ids and hashlib.sha256(planted.encode()).hexdigest() not in ids
    # Sending it again still gets a new session: it is not honoured the second time either.
    client.cookies.clear()
    client.cookies.set(SESSION_COOKIE, planted)
    again = await client.post(API, json={"text": "hello again, a visa question"})
    assert again.cookies[SESSION_COOKIE] not in (planted, issued)
    assert len({r["sender"] for r in fake_rasa.requests}) == 2


async def test_the_database_keeps_only_the_tokens_hash(
    client: httpx.AsyncClient, sessions: sessionmaker[Session], fake_rasa: FakeRasa
) -> None:
    resp = await client.post(API, json={"text": "hello, a visa question"})
    token = resp.cookies[SESSION_COOKIE]
    assert webchat_ids(sessions) == [hashlib.sha256(token.encode()).hexdigest()]
    await client.post(API, json={"text": "and a second question about my visa"})
    assert len({r["sender"] for r in fake_rasa.requests}) == 1  # the same session


async def test_linking_rotates_the_token_so_one_known_before_is_worthless(
    assistant: Assistant, sessions: sessionmaker[Session], fake_rasa: FakeRasa
) -> None:
    """Session fixation: an attacker plants their own server-issued cookie in the
    victim's browser; the victim links; the attacker's copy must not see the records."""
    load_people(sessions)
    async with client_for(assistant) as attacker, client_for(assistant) as victim:
        first = await attacker.post(API, json={"text": "hello, a question about my card"})
        planted = first.cookies[SESSION_COOKIE]
        victim.cookies.set(SESSION_COOKIE, planted)

        def links_the_chat(body: dict) -> httpx.Response:  # type: ignore[type-arg]
            # What the action server does when the link form matches the registry.
            with transaction(sessions) as s:
                identity = s.scalars(
                    select(ChatIdentity).where(ChatIdentity.public_id == body["sender"])
                ).one()
                identity.resident_id = s.scalars(select(Resident.id)).first()
                identity.linked_at = utcnow()
            return fake_rasa.echo_intent(body)

        fake_rasa.handler = links_the_chat
        linked = await victim.post(API, json={"text": "my date of birth is 3 April 1985"})
        fake_rasa.handler = fake_rasa.echo_intent
        rotated = linked.cookies[SESSION_COOKIE]
        assert rotated != planted
        # The victim's chat goes on with the new token: same sender, still linked.
        victim.cookies.clear()
        victim.cookies.set(SESSION_COOKIE, rotated)
        await victim.post(API, json={"text": "is my card still valid please"})
        assert fake_rasa.requests[-1]["sender"] == fake_rasa.requests[-2]["sender"]
        # The attacker's copy starts a new, unlinked chat.
        attacker.cookies.clear()
        attacker.cookies.set(SESSION_COOKIE, planted)
        await attacker.post(API, json={"text": "is my card still valid please"})
        assert fake_rasa.requests[-1]["sender"] != fake_rasa.requests[-2]["sender"]
    with sessions() as s:
        sender = fake_rasa.requests[-1]["sender"]
        mine = s.scalars(select(ChatIdentity).where(ChatIdentity.public_id == sender)).one()
        assert mine.resident_id is None


async def test_sessions_and_links_expire(
    client: httpx.AsyncClient, sessions: sessionmaker[Session], fake_rasa: FakeRasa
) -> None:
    load_people(sessions)
    token = (await client.post(API, json={"text": "hello, a visa question"})).cookies[
        SESSION_COOKIE
    ]
    with transaction(sessions) as s:
        identity = s.scalars(select(ChatIdentity)).one()
        identity.resident_id = s.scalars(select(Resident.id)).first()
        identity.linked_at = utcnow() - webchat_sessions.LINK_TTL - dt.timedelta(minutes=1)
    await client.post(API, json={"text": "is my card valid, please tell me"})
    with sessions() as s:
        identity = s.scalars(select(ChatIdentity)).one()
        assert identity.resident_id is None and identity.linked_at is None  # link expired
        assert identity.external_id == webchat_sessions.external_id(token)  # chat goes on
    with transaction(sessions) as s:
        identity = s.scalars(select(ChatIdentity)).one()
        identity.last_seen_at = utcnow() - webchat_sessions.SESSION_IDLE - dt.timedelta(days=1)
    resp = await client.post(API, json={"text": "hello after a long time away"})
    assert resp.cookies[SESSION_COOKIE] != token  # the session expired: a new one
    assert len(webchat_ids(sessions)) == 2


async def test_the_cookie_is_secure_in_production_and_never_readable_by_scripts(
    assistant: Assistant,
) -> None:
    async with client_for(assistant, secure=True) as c:
        resp = await c.post(API, json={"text": "hello, a visa question"})
    cookie = resp.headers["set-cookie"].lower()
    assert "secure" in cookie and "httponly" in cookie and "samesite=strict" in cookie
    assert f"max-age={int(webchat_sessions.SESSION_IDLE.total_seconds())}" in cookie
    async with client_for(assistant) as c:
        resp = await c.post(API, json={"text": "hello, a visa question"})
    assert "secure" not in resp.headers["set-cookie"].lower()  # development: plain HTTP
