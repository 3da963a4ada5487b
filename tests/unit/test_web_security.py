"""The gateway's security headers and the web chat API's same-origin JSON check
(issue 9, item 11), over ASGI: the real gateway app, and the web chat with a fake Rasa."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker
from starlette.applications import Starlette
from starlette.middleware import Middleware

from bot.app import create_app
from bot.channels.web_security import (
    CONTENT_SECURITY_POLICY,
    SecurityHeaders,
    refuse_unless_same_origin_json,
    same_origin,
)
from bot.channels.webchat import WebChat
from bot.channels.webchat_assets import STATIC, asset_routes
from bot.db import upgrade
from bot.db.models import Message
from bot.pipeline.assistant import Assistant
from bot.settings import Settings
from tests.conftest import FakeRasa

BASE = "http://gateway.test"
API = "/api/webchat/messages"
EXPECTED = {
    "content-security-policy": CONTENT_SECURITY_POLICY,
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
}


def assert_secured(resp: httpx.Response) -> None:
    for name, value in EXPECTED.items():
        assert resp.headers.get(name) == value, name


@pytest.fixture
async def gateway(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    """The gateway as `expatbot gateway` builds it (no Rasa needed for what is tested)."""
    db = f"sqlite:///{tmp_path / 'gateway.db'}"
    upgrade(db)
    settings = Settings(DATABASE_URL=db, RASA_URL="http://127.0.0.1:9")
    app = create_app(settings)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as c:
        yield c


@pytest.fixture
async def client(assistant: Assistant) -> AsyncIterator[httpx.AsyncClient]:
    """The web chat with the middleware, answering through the fake Rasa."""
    app = Starlette(
        routes=[*WebChat(assistant).routes(), *asset_routes()],
        middleware=[Middleware(SecurityHeaders)],
    )
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as c:
        yield c


def stored(sessions: sessionmaker[Session]) -> int:
    with sessions() as s:
        return int(s.scalar(select(func.count()).select_from(Message)) or 0)


@pytest.mark.parametrize("path", ["/", "/static/webchat.js", "/static/webchat.css", "/healthz"])
async def test_every_gateway_response_has_the_headers(
    gateway: httpx.AsyncClient, path: str
) -> None:
    resp = await gateway.get(path)
    assert_secured(resp)


async def test_the_api_and_its_refusals_have_the_headers(
    gateway: httpx.AsyncClient, client: httpx.AsyncClient, fake_rasa: FakeRasa
) -> None:
    assert_secured(await gateway.post(API, content=b"hi", headers={"content-type": "text/plain"}))
    assert_secured(await gateway.get("/no/such/page"))
    ok = await client.post(API, json={"text": "How do I extend my visa?"})
    assert ok.status_code == 200 and len(fake_rasa.requests) == 1
    assert_secured(ok)


async def test_the_page_loads_its_script_and_style_as_files_and_has_none_inline(
    gateway: httpx.AsyncClient,
) -> None:
    page = (await gateway.get("/")).text
    assert '<script src="static/webchat.js"></script>' in page
    assert '<link rel="stylesheet" href="static/webchat.css">' in page
    assert re.search(r"<script(?![^>]*\bsrc=)", page) is None
    assert "<style" not in page and " style=" not in page
    assert re.search(r"\son[a-z]+\s*=", page) is None  # no inline event handlers
    js = await gateway.get("/static/webchat.js")
    assert js.status_code == 200 and js.headers["content-type"].startswith("text/javascript")
    assert js.text == (STATIC / "webchat.js").read_text(encoding="utf-8")
    css = await gateway.get("/static/webchat.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    # Only the two assets: the page's template is not served raw.
    assert (await gateway.get("/static/webchat.html")).status_code == 404


@pytest.mark.parametrize(
    "content_type", ["text/plain", "text/plain;charset=UTF-8", "application/x-www-form-urlencoded",
                     "multipart/form-data; boundary=x", None],
)  # fmt: skip
async def test_a_message_not_sent_as_json_is_refused_and_not_stored(
    client: httpx.AsyncClient,
    sessions: sessionmaker[Session],
    fake_rasa: FakeRasa,
    content_type: str | None,
) -> None:
    headers = {"content-type": content_type} if content_type else {}
    resp = await client.post(API, content=b'{"text": "hello, a visa question"}', headers=headers)
    assert resp.status_code == 415 and "error" in resp.json()
    assert stored(sessions) == 0 and fake_rasa.requests == []
    assert "set-cookie" not in resp.headers


@pytest.mark.parametrize(
    "headers",
    [
        {"origin": "https://evil.example"},
        {"origin": "http://gateway.test.evil.example"},
        {"origin": "null"},
        {"origin": "http://gateway.test:8081"},
        {"sec-fetch-site": "cross-site"},
        {"sec-fetch-site": "same-site"},
        {"origin": "http://gateway.test", "sec-fetch-site": "cross-site"},
    ],
)
async def test_a_cross_origin_message_is_refused_and_not_stored(
    client: httpx.AsyncClient,
    sessions: sessionmaker[Session],
    fake_rasa: FakeRasa,
    headers: dict[str, str],
) -> None:
    resp = await client.post(API, json={"text": "hello, a visa question"}, headers=headers)
    assert resp.status_code == 403 and "error" in resp.json()
    assert stored(sessions) == 0 and fake_rasa.requests == []


@pytest.mark.parametrize(
    "headers",
    [
        {},  # curl, the terminal, a test: no browser headers at all
        {"origin": "http://gateway.test", "sec-fetch-site": "same-origin"},
        {"origin": "HTTP://Gateway.Test:80"},
        {"content-type": "application/json; charset=utf-8"},
    ],
)
async def test_a_same_origin_json_message_is_answered(
    client: httpx.AsyncClient, fake_rasa: FakeRasa, headers: dict[str, str]
) -> None:
    resp = await client.post(
        API,
        content=b'{"text": "hello, a visa question"}',
        headers={"content-type": "application/json", **headers},
    )
    assert resp.status_code == 200 and len(fake_rasa.requests) == 1


@pytest.mark.parametrize(
    ("origin", "host", "same"),
    [
        ("https://chat.example", "chat.example", True),  # TLS ended at the proxy
        ("https://chat.example", "chat.example:443", True),
        ("http://[::1]:8080", "[::1]:8080", True),
        ("https://chat.example", "127.0.0.1:8080", False),  # a proxy that rewrites Host
        ("https://chat.example:8443", "chat.example", False),
        ("chat.example", "chat.example", False),
        ("", "chat.example", False),
        ("https://chat.example", "", False),
    ],
)
def test_same_origin(origin: str, host: str, same: bool) -> None:
    assert same_origin(origin, host) is same


def test_the_check_is_a_plain_function_of_the_request() -> None:
    from starlette.requests import Request

    def request(headers: dict[str, str]) -> Request:
        raw = [(k.encode(), v.encode()) for k, v in headers.items()]
        return Request({"type": "http", "method": "POST", "path": API, "headers": raw})

    assert refuse_unless_same_origin_json(request({"content-type": "application/json"})) is None
    refused = refuse_unless_same_origin_json(request({"content-type": "text/plain"}))
    assert refused is not None and refused.status_code == 415
