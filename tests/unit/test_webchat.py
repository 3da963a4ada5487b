"""The web chat page and API, over ASGI with the fake Rasa."""

from __future__ import annotations

import httpx
import pytest

from bot.channels.webchat import SESSION_COOKIE
from tests.conftest import FakeRasa


@pytest.fixture
def client(webchat: httpx.AsyncClient) -> httpx.AsyncClient:
    return webchat


async def test_page_is_localised_and_right_to_left_for_arabic(client: httpx.AsyncClient) -> None:
    resp = await client.get("/", headers={"Accept-Language": "ar-EG,ar;q=0.9,en;q=0.5"})
    assert resp.status_code == 200
    assert '<html lang="ar" dir="rtl">' in resp.text
    assert "{{" not in resp.text


async def test_message_roundtrip_sets_session_cookie(
    client: httpx.AsyncClient, fake_rasa: FakeRasa
) -> None:
    resp = await client.post(
        "/api/webchat/messages", json={"text": "Hola, necesito renovar mi visado"}
    )
    assert resp.status_code == 200
    reply = resp.json()["replies"][0]
    assert reply["language"] == "es" and reply["dir"] == "ltr"
    assert SESSION_COOKIE in resp.cookies
    await client.post("/api/webchat/messages", json={"text": "gracias"})
    # Same session both times: one chat identity, one opaque Rasa sender id.
    assert len({r["sender"] for r in fake_rasa.requests}) == 1


async def test_reply_html_is_escaped(client: httpx.AsyncClient, fake_rasa: FakeRasa) -> None:
    fake_rasa.handler = lambda body: httpx.Response(
        200, json=[{"recipient_id": body["sender"], "text": "<img src=x onerror=alert(1)> **ok**"}]
    )
    resp = await client.post("/api/webchat/messages", json={"text": "hello there my friend"})
    html = resp.json()["replies"][0]["html"]
    assert "<img" not in html and "&lt;img" in html and "<b>ok</b>" in html


@pytest.mark.parametrize(
    ("body", "status"),
    [(b"not json", 400), (b'["a list"]', 400), (b'{"text": 5}', 400), (b"\xff\xfe", 400)],
)
async def test_malformed_bodies_get_400(
    client: httpx.AsyncClient, body: bytes, status: int
) -> None:
    resp = await client.post(
        "/api/webchat/messages", content=body, headers={"content-type": "application/json"}
    )
    assert resp.status_code == status
    assert "error" in resp.json()


async def test_oversized_body_gets_413(client: httpx.AsyncClient) -> None:
    resp = await client.post("/api/webchat/messages", json={"text": "x" * 100_000})
    assert resp.status_code == 413


async def test_forged_session_cookie_is_replaced(client: httpx.AsyncClient) -> None:
    client.cookies.set(SESSION_COOKIE, "../../etc/passwd")
    resp = await client.post("/api/webchat/messages", json={"text": "hello, a visa question"})
    assert resp.cookies[SESSION_COOKIE] != "../../etc/passwd"


async def test_the_page_gets_its_session_before_its_first_message(
    client: httpx.AsyncClient, fake_rasa: FakeRasa
) -> None:
    """So that a first message sent again after a network error is recognised: the
    same id under the same session is one message, answered once."""
    start = await client.post("/api/webchat/session", json={})
    assert start.status_code == 204 and SESSION_COOKIE in start.cookies
    body = {"id": "first-1", "text": "Where is the service center?"}
    first = await client.post("/api/webchat/messages", json=body)
    again = await client.post("/api/webchat/messages", json=body)
    assert SESSION_COOKIE not in first.cookies  # the session was already there
    assert first.json()["replies"] == again.json()["replies"] != []
    assert len(fake_rasa.requests) == 1
    live = await client.post("/api/webchat/session", json={})
    assert live.status_code == 204 and SESSION_COOKIE not in live.cookies


async def test_the_session_route_refuses_other_sites_and_formats(client: httpx.AsyncClient) -> None:
    other = await client.post(
        "/api/webchat/session", json={}, headers={"Origin": "https://evil.example"}
    )
    plain = await client.post(
        "/api/webchat/session", content=b"{}", headers={"Content-Type": "text/plain"}
    )
    assert (other.status_code, plain.status_code) == (403, 415)
    assert SESSION_COOKIE not in other.cookies and SESSION_COOKIE not in plain.cookies
