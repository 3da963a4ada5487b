"""The fake of WeChat's servers (tests/fakes/wechat_api.py) behaves as WeChat does: its
API over HTTP (tokens, messages, media, users, the menu), and the pushes its sender builds
verify and decrypt with wechatpy, its signing agreeing with published test vectors."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import xmltodict  # type: ignore[import-untyped]
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from wechatpy import parse_message  # type: ignore[import-untyped]
from wechatpy.crypto import WeChatCrypto  # type: ignore[import-untyped]
from wechatpy.exceptions import (  # type: ignore[import-untyped]
    InvalidAppIdException,
    InvalidSignatureException,
)
from wechatpy.messages import UnknownMessage  # type: ignore[import-untyped]
from wechatpy.utils import check_signature  # type: ignore[import-untyped]

from tests.fakes.wechat_api import (
    AES_KEY,
    APP_ID,
    APP_SECRET,
    CALLBACK_TOKEN,
    ORIGINAL_ID,
    SYSTEM_BUSY,
    FakeWeChat,
    WeChatUser,
    decrypt_reply,
    encrypt,
    post_encrypted,
    post_plain,
    sign,
    signed_get,
)

SEND = "/cgi-bin/message/custom/send"


@pytest.fixture
def fake() -> FakeWeChat:
    return FakeWeChat()


@pytest.fixture
async def api(fake: FakeWeChat) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=fake.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://wechat.test") as client:
        yield client


async def classic(api: httpx.AsyncClient, **overrides: str) -> dict[str, Any]:
    params = {"grant_type": "client_credential", "appid": APP_ID, "secret": APP_SECRET}
    resp = await api.get("/cgi-bin/token", params={**params, **overrides})
    return dict(resp.json())


async def stable(
    api: httpx.AsyncClient, *, force: bool = False, **overrides: Any
) -> dict[str, Any]:
    body = {"grant_type": "client_credential", "appid": APP_ID, "secret": APP_SECRET}
    resp = await api.post(
        "/cgi-bin/stable_token", json={**body, "force_refresh": force, **overrides}
    )
    return dict(resp.json())


async def send_text(api: httpx.AsyncClient, token: str, openid: str, text: str) -> dict[str, Any]:
    body = {"touser": openid, "msgtype": "text", "text": {"content": text}}
    resp = await api.post(
        SEND,
        params={"access_token": token},
        content=httpx_json(body),
        headers={"Content-Type": "application/json"},
    )
    return dict(resp.json())


def httpx_json(body: dict[str, Any]) -> bytes:
    return json.dumps(body, ensure_ascii=False).encode("utf-8")


def errcode(answer: dict[str, Any]) -> int:
    return int(answer.get("errcode", 0))


# Tokens ----------------------------------------------------------------------------------


async def test_the_classic_token_invalidates_the_previous_one(
    fake: FakeWeChat, api: httpx.AsyncClient
) -> None:
    first = await classic(api)
    assert first["expires_in"] == 7200 and len(first["access_token"]) >= 100
    assert errcode(await send_text(api, first["access_token"], "o1", "hi")) == 0
    second = await classic(api)
    assert second["access_token"] != first["access_token"]
    assert await send_text(api, first["access_token"], "o1", "hi") == {
        "errcode": 40001,
        "errmsg": "invalid credential, access_token is invalid or not latest",
    }
    assert errcode(await send_text(api, second["access_token"], "o1", "hi")) == 0
    assert fake.issued == 2


async def test_a_replaced_classic_token_works_during_the_grace() -> None:
    fake = FakeWeChat(grace_s=300)
    transport = httpx.ASGITransport(app=fake.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://wechat.test") as api:
        old = (await classic(api))["access_token"]
        await classic(api)
        assert fake.token_state(old) == "valid"
        fake.advance(301)
        assert fake.token_state(old) == "invalid"
        assert errcode(await send_text(api, old, "o1", "hi")) == 40001


async def test_the_stable_token_is_the_same_until_force_refresh(
    fake: FakeWeChat, api: httpx.AsyncClient
) -> None:
    first = await stable(api)
    fake.advance(100)
    again = await stable(api)
    assert again["access_token"] == first["access_token"]
    assert 7090 <= again["expires_in"] <= 7100  # what is left of it
    assert fake.issued == 1
    forced = await stable(api, force=True)
    assert forced["access_token"] != first["access_token"]
    assert fake.issued == 2
    assert errcode(await send_text(api, first["access_token"], "o1", "hi")) == 40001
    assert errcode(await send_text(api, forced["access_token"], "o1", "hi")) == 0
    # The classic endpoint's tokens are apart: issuing one leaves the stable token valid.
    await classic(api)
    assert fake.token_state(forced["access_token"]) == "valid"


async def test_force_refresh_with_a_grace_and_a_minimum_interval() -> None:
    fake = FakeWeChat(grace_s=60, force_refresh_interval_s=30)
    transport = httpx.ASGITransport(app=fake.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://wechat.test") as api:
        old = (await stable(api))["access_token"]
        new = (await stable(api, force=True))["access_token"]
        assert new != old and fake.token_state(old) == "valid"
        assert (await stable(api, force=True))["access_token"] == new  # too soon: the same
        fake.advance(61)
        assert fake.token_state(old) == "invalid"
        assert (await stable(api, force=True))["access_token"] != new


async def test_the_stable_token_is_renewed_in_its_last_five_minutes(
    fake: FakeWeChat, api: httpx.AsyncClient
) -> None:
    old = (await stable(api))["access_token"]
    fake.advance(7200 - 200)
    new = await stable(api)
    assert new["access_token"] != old and new["expires_in"] == 7200
    assert fake.token_state(old) == "valid"  # until it expires
    fake.advance(201)
    assert await send_text(api, old, "o1", "hi") == {
        "errcode": 42001,
        "errmsg": "access_token expired",
    }


async def test_credentials_are_checked(fake: FakeWeChat, api: httpx.AsyncClient) -> None:
    assert await classic(api, appid="wx0000000000000000") == {
        "errcode": 40013,
        "errmsg": "invalid appid",
    }
    assert await stable(api, secret="nope") == {"errcode": 40125, "errmsg": "invalid appsecret"}
    assert errcode(await classic(api, grant_type="password")) == 40002
    assert errcode(await stable(api, force_refresh="true")) == 47001
    assert errcode((await api.get("/cgi-bin/stable_token")).json()) == 43002
    fake.token_failures.append(SYSTEM_BUSY)
    assert errcode(await stable(api)) == -1
    assert "access_token" in await stable(api)
    assert fake.issued == 1


# Messages --------------------------------------------------------------------------------


async def test_custom_send_records_accepted_messages(
    fake: FakeWeChat, api: httpx.AsyncClient
) -> None:
    token = fake.issue_token()
    assert await send_text(api, token, "oUser1", "Здравствуйте 你好") == {
        "errcode": 0,
        "errmsg": "ok",
    }
    (msg,) = fake.messages
    assert (msg.openid, msg.msgtype, msg.content) == ("oUser1", "text", "Здравствуйте 你好")
    (call,) = await fake.wait_for("message/custom/send", 1)
    assert call["access_token"] == token and call["touser"] == "oUser1"
    assert fake.sent(SEND) == [call]


async def test_custom_send_with_a_bad_token(fake: FakeWeChat, api: httpx.AsyncClient) -> None:
    token = fake.issue_token()
    fake.expire(token)
    assert errcode(await send_text(api, token, "o1", "hi")) == 42001
    assert errcode(await send_text(api, "not-a-token", "o1", "hi")) == 40001
    resp = await api.post(SEND, json={"touser": "o1", "msgtype": "text", "text": {"content": "a"}})
    assert resp.json() == {"errcode": 41001, "errmsg": "access_token missing"}
    fresh = fake.issue_token()
    fake.revoke(fresh)
    assert errcode(await send_text(api, fresh, "o1", "hi")) == 40001
    assert fake.messages == []


async def test_the_window_subscription_and_failures(
    fake: FakeWeChat, api: httpx.AsyncClient
) -> None:
    token = fake.issue_token()
    fake.window_closed.add("oLate")
    fake.unsubscribed.add("oGone")
    assert await send_text(api, token, "oLate", "hi") == {
        "errcode": 45015,
        "errmsg": "response out of time limit or subscription is canceled",
    }
    assert await send_text(api, token, "oGone", "hi") == {
        "errcode": 43004,
        "errmsg": "require subscribe",
    }
    fake.failures = [SYSTEM_BUSY, (45047, "out of response count limit")]
    assert errcode(await send_text(api, token, "o1", "one")) == -1
    assert errcode(await send_text(api, token, "o1", "two")) == 45047
    assert errcode(await send_text(api, token, "o1", "three")) == 0
    assert fake.failures == []
    assert [m.content for m in fake.messages] == ["three"]
    assert [openid for _, openid in fake.attempts] == ["oLate", "oGone", "o1", "o1", "o1"]


async def test_text_size_and_encoding(fake: FakeWeChat, api: httpx.AsyncClient) -> None:
    token = fake.issue_token()
    assert errcode(await send_text(api, token, "o1", "义" * 682)) == 0  # 2046 bytes
    assert await send_text(api, token, "o1", "义" * 683) == {  # 2049 bytes
        "errcode": 45002,
        "errmsg": "content size out of limit",
    }
    body = {"touser": "o1", "msgtype": "text", "text": {"content": "你好"}}
    escaped = await api.post(  # non-ASCII as \uXXXX escapes: WeChat refuses them
        SEND, params={"access_token": token}, content=json.dumps(body).encode()
    )
    assert escaped.json()["errcode"] == 40033
    assert errcode(await send_text(api, token, "o1", "")) == 44004
    bad_type = await api.post(
        SEND, params={"access_token": token}, content=b'{"touser":"o1","msgtype":"sticker"}'
    )
    assert bad_type.json()["errcode"] == 40008
    not_json = await api.post(SEND, params={"access_token": token}, content=b"<xml/>")
    assert not_json.json() == {"errcode": 47001, "errmsg": "data format error"}
    assert len(fake.messages) == 1


async def test_errmsg_may_carry_a_request_id(fake: FakeWeChat, api: httpx.AsyncClient) -> None:
    fake.append_rid = True
    answer = await send_text(api, "nope", "o1", "hi")
    assert answer["errcode"] == 40001 and " rid: " in answer["errmsg"]


async def test_template_send(fake: FakeWeChat, api: httpx.AsyncClient) -> None:
    token = fake.issue_token()
    template = fake.add_template("tpl-visa-reminder")
    body = {
        "touser": "o1",
        "template_id": template,
        "url": "https://example.org/t/1",
        "data": {"thing1": {"value": "签证到期"}, "time2": {"value": "2025-07-01"}},
    }
    resp = await api.post(
        "/cgi-bin/message/template/send", params={"access_token": token}, content=httpx_json(body)
    )
    answer = resp.json()
    assert (answer["errcode"], answer["errmsg"]) == (0, "ok") and isinstance(answer["msgid"], int)
    (sent,) = fake.templates
    assert (sent.openid, sent.template_id, sent.msgid) == ("o1", template, answer["msgid"])
    assert sent.data["thing1"] == {"value": "签证到期"} and sent.url == "https://example.org/t/1"
    unknown = await api.post(
        "/cgi-bin/message/template/send",
        params={"access_token": token},
        content=httpx_json({**body, "template_id": "nope"}),
    )
    assert unknown.json() == {"errcode": 40037, "errmsg": "invalid template_id"}


# Media, users, the menu, the rest ---------------------------------------------------------


async def test_media_get_gives_bytes_or_a_json_error(
    fake: FakeWeChat, api: httpx.AsyncClient
) -> None:
    token = fake.issue_token()
    photo = b"\xff\xd8\xff\xe0" + b"\x00" * 100
    media_id = fake.add_media(photo, "image/jpeg")
    resp = await api.get("/cgi-bin/media/get", params={"access_token": token, "media_id": media_id})
    assert resp.status_code == 200 and resp.content == photo
    assert resp.headers["content-type"] == "image/jpeg"
    assert resp.headers["content-disposition"] == f'attachment; filename="{media_id}.jpg"'
    missing = await api.get("/cgi-bin/media/get", params={"access_token": token, "media_id": "x"})
    assert missing.headers["content-type"].startswith("application/json")
    assert missing.json() == {"errcode": 40007, "errmsg": "invalid media_id"}
    bad_token = await api.get(
        "/cgi-bin/media/get", params={"access_token": "x", "media_id": media_id}
    )
    assert bad_token.json()["errcode"] == 40001
    fake.json_content_type = "text/plain"
    assert (
        (await api.get("/cgi-bin/media/get", params={"access_token": token}))
        .headers["content-type"]
        .startswith("text/plain")
    )


async def test_a_video_comes_as_a_link(fake: FakeWeChat, api: httpx.AsyncClient) -> None:
    token = fake.issue_token()
    media_id = fake.add_media(b"\x00\x00\x00\x18ftypmp42", "video/mp4")
    resp = await api.get("/cgi-bin/media/get", params={"access_token": token, "media_id": media_id})
    url = resp.json()["video_url"]
    assert (await api.get(url)).content == b"\x00\x00\x00\x18ftypmp42"


async def test_an_uploaded_image_can_be_sent(fake: FakeWeChat, api: httpx.AsyncClient) -> None:
    token = fake.issue_token()
    resp = await api.post(
        "/cgi-bin/media/upload",
        params={"access_token": token, "type": "image"},
        files={"media": ("map.png", b"\x89PNG\r\n", "image/png")},
    )
    upload = resp.json()
    assert upload["type"] == "image"
    assert fake.media[upload["media_id"]] == (b"\x89PNG\r\n", "image/png")
    body = {"touser": "o1", "msgtype": "image", "image": {"media_id": upload["media_id"]}}
    ok = await api.post(SEND, params={"access_token": token}, content=httpx_json(body))
    assert ok.json()["errcode"] == 0 and fake.messages[0].content == upload["media_id"]
    body["image"] = {"media_id": "unknown"}
    refused = await api.post(SEND, params={"access_token": token}, content=httpx_json(body))
    assert refused.json()["errcode"] == 40007


async def test_user_info_language(fake: FakeWeChat, api: httpx.AsyncClient) -> None:
    token = fake.issue_token()
    fake.languages["oRu"] = "ru"
    fake.unsubscribed.add("oGone")

    async def info(openid: str) -> dict[str, Any]:
        params = {"access_token": token, "openid": openid, "lang": "en"}
        return dict((await api.get("/cgi-bin/user/info", params=params)).json())

    ru = await info("oRu")
    assert (ru["subscribe"], ru["openid"], ru["language"]) == (1, "oRu", "ru")
    assert (await info("oOther"))["language"] == "zh_CN"
    assert (await info("oGone"))["subscribe"] == 0
    assert (await info(""))["errcode"] == 40003


MENU = {
    "button": [
        {"type": "click", "name": "帮助", "key": "HELP"},
        {
            "name": "Services",
            "sub_button": [
                {"type": "view", "name": "Visa extension (签证延期)", "url": "https://e.org/v"},
                {"type": "click", "name": "Residence registration", "key": "RESIDENCE"},
            ],
        },
        {"type": "location_select", "name": "Where", "key": "WHERE", "sub_button": []},
    ]
}


def menu_with(**changes: Any) -> dict[str, Any]:
    import copy

    menu = copy.deepcopy(MENU)
    for path, value in changes.items():
        *parents, last = path.split("__")
        node: Any = menu["button"]
        for part in parents:
            node = node[int(part)] if part.isdigit() else node[part]
        node[int(last) if last.isdigit() else last] = value
    return menu


@pytest.mark.parametrize(
    ("menu", "code"),
    [
        ({"button": [*MENU["button"], {"type": "click", "name": "x", "key": "X"}]}, 40016),
        ({"button": []}, 40016),
        (menu_with(**{"0__name": "一二三四五六"}), 40018),  # 18 bytes
        (menu_with(**{"0__type": "sticker"}), 40017),
        (menu_with(**{"0__key": "K" * 129}), 40019),
        (menu_with(**{"0__type": "view"}), 40020),  # no url
        (menu_with(**{"1__sub_button": [{"type": "click", "name": "a", "key": "A"}] * 6}), 40023),
        (menu_with(**{"1__sub_button__0__type": "nope"}), 40024),
        (menu_with(**{"1__sub_button__0__name": "n" * 61}), 40025),
        (menu_with(**{"1__sub_button__1__key": "k" * 129}), 40026),
        (menu_with(**{"1__sub_button__0__url": "https://e.org/" + "u" * 1020}), 40027),
        (
            menu_with(
                **{"1__sub_button__1__sub_button": [{"type": "click", "name": "d", "key": "D"}]}
            ),
            40022,
        ),
    ],
)
async def test_menu_validation(
    fake: FakeWeChat, api: httpx.AsyncClient, menu: dict[str, Any], code: int
) -> None:
    token = fake.issue_token()
    params = {"access_token": token}
    resp = await api.post("/cgi-bin/menu/create", params=params, content=httpx_json(menu))
    assert resp.json()["errcode"] == code
    assert fake.menu is None


async def test_a_valid_menu_is_kept(fake: FakeWeChat, api: httpx.AsyncClient) -> None:
    token = fake.issue_token()
    params = {"access_token": token}
    resp = await api.post("/cgi-bin/menu/create", params=params, content=httpx_json(MENU))
    assert resp.json() == {"errcode": 0, "errmsg": "ok"}
    assert fake.menu == MENU
    assert (await api.get("/cgi-bin/menu/get", params=params)).json() == {"menu": MENU}


async def test_unknown_paths_and_methods(fake: FakeWeChat, api: httpx.AsyncClient) -> None:
    resp = await api.get("/cgi-bin/nothing/here", params={"access_token": "x"})
    assert resp.status_code == 404 and resp.headers["content-type"].startswith("application/json")
    assert resp.json()["errcode"] == 404
    wrong = await api.get(SEND, params={"access_token": fake.issue_token()})
    assert wrong.json() == {"errcode": 43002, "errmsg": "require POST method"}
    assert [path for path, _ in fake.calls] == ["/cgi-bin/nothing/here", SEND]
    with pytest.raises(AssertionError):
        await fake.wait_for(SEND, 2, timeout=0.1)


async def test_over_http(fake: FakeWeChat) -> None:
    """Served by uvicorn, as the gateway's tests run it: its address is the base URL."""
    from tests.helpers import free_port
    from tests.telegram_rig import serve

    server, task = await serve(fake.app, free_port())
    try:
        base = f"http://127.0.0.1:{server.config.port}"
        async with httpx.AsyncClient(base_url=base) as api:
            token = (await stable(api))["access_token"]
            assert errcode(await send_text(api, token, "o1", "over HTTP")) == 0
        receiver = Receiver()
        server2, task2 = await serve(receiver.app, free_port())
        try:
            url = f"http://127.0.0.1:{server2.config.port}"
            resp = await post_plain(url, WeChatUser("o1").text("hi"), CALLBACK_TOKEN)
            assert resp.text == "success" and len(receiver.posts) == 1
        finally:
            server2.should_exit = True
            await task2
    finally:
        server.should_exit = True
        await task
    assert fake.messages[0].content == "over HTTP"


# The callback sender ------------------------------------------------------------------------


class Receiver:
    """Stands for the gateway's callback: records what arrives, answers "success"."""

    def __init__(self) -> None:
        self.posts: list[tuple[dict[str, str], bytes, dict[str, str]]] = []
        self.app = Starlette(routes=[Route("/wechat", self.receive, methods=["GET", "POST"])])

    async def receive(self, request: Request) -> PlainTextResponse:
        self.posts.append((dict(request.query_params), await request.body(), dict(request.headers)))
        return PlainTextResponse("success")


@pytest.fixture
async def gateway() -> AsyncIterator[tuple[Receiver, httpx.AsyncClient]]:
    receiver = Receiver()
    transport = httpx.ASGITransport(app=receiver.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://gw.test") as client:
        yield receiver, client


def test_signed_get_verifies_with_wechatpy() -> None:
    query = signed_get(CALLBACK_TOKEN, echostr="8262348234")
    assert list(query) == ["signature", "echostr", "timestamp", "nonce"]
    check_signature(CALLBACK_TOKEN, query["signature"], query["timestamp"], query["nonce"])
    forged = signed_get(CALLBACK_TOKEN, signature="0" * 40)
    with pytest.raises(InvalidSignatureException):
        check_signature(CALLBACK_TOKEN, forged["signature"], forged["timestamp"], forged["nonce"])


async def test_a_plain_push_verifies_and_parses(
    gateway: tuple[Receiver, httpx.AsyncClient],
) -> None:
    receiver, client = gateway
    user = WeChatUser("oYiwuPlain")
    xml = user.text("Как продлить визу? ]]> <b>")
    resp = await post_plain(client, xml, CALLBACK_TOKEN)
    assert resp.text == "success"
    ((query, body, headers),) = receiver.posts
    assert list(query) == ["signature", "timestamp", "nonce", "openid"]
    assert query["openid"] == "oYiwuPlain" and headers["content-type"] == "text/xml"
    check_signature(CALLBACK_TOKEN, query["signature"], query["timestamp"], query["nonce"])
    assert body == xml.encode()
    msg = parse_message(body)
    assert (msg.type, msg.content, msg.source, msg.target) == (
        "text",
        "Как продлить визу? ]]> <b>",
        "oYiwuPlain",
        ORIGINAL_ID,
    )
    assert isinstance(msg.id, int)


async def test_an_encrypted_push_decrypts_with_wechatpy(
    gateway: tuple[Receiver, httpx.AsyncClient],
) -> None:
    receiver, client = gateway
    xml = WeChatUser("oYiwuSafe").text("签证")
    await post_encrypted(client, xml, CALLBACK_TOKEN, AES_KEY, APP_ID)
    ((query, body, _),) = receiver.posts
    assert list(query) == [
        "signature", "timestamp", "nonce", "openid", "encrypt_type", "msg_signature",
    ]  # fmt: skip
    assert query["encrypt_type"] == "aes"
    envelope = xmltodict.parse(body)["xml"]
    assert set(envelope) == {"ToUserName", "Encrypt"} and envelope["ToUserName"] == ORIGINAL_ID
    check_signature(CALLBACK_TOKEN, query["signature"], query["timestamp"], query["nonce"])
    crypto = WeChatCrypto(CALLBACK_TOKEN, AES_KEY, APP_ID)
    plain = crypto.decrypt_message(body, query["msg_signature"], query["timestamp"], query["nonce"])
    assert plain == xml
    assert parse_message(plain).content == "签证"


async def test_forged_encrypted_pushes_fail_wechatpy(
    gateway: tuple[Receiver, httpx.AsyncClient],
) -> None:
    receiver, client = gateway
    xml = WeChatUser().text("hi")
    await post_encrypted(client, xml, CALLBACK_TOKEN, AES_KEY, APP_ID, payload_app_id="wxOther")
    await post_encrypted(client, xml, CALLBACK_TOKEN, AES_KEY, APP_ID, msg_signature="f" * 40)
    await post_encrypted(client, xml, "another-token", AES_KEY, APP_ID)
    crypto = WeChatCrypto(CALLBACK_TOKEN, AES_KEY, APP_ID)
    other_app, bad_sig, bad_token = receiver.posts
    with pytest.raises(InvalidAppIdException):
        crypto.decrypt_message(
            other_app[1],
            other_app[0]["msg_signature"],
            other_app[0]["timestamp"],
            other_app[0]["nonce"],
        )
    for query, body, _ in (bad_sig, bad_token):
        with pytest.raises(InvalidSignatureException):
            crypto.decrypt_message(body, query["msg_signature"], query["timestamp"], query["nonce"])
    with pytest.raises(InvalidSignatureException):
        q = bad_token[0]
        check_signature(CALLBACK_TOKEN, q["signature"], q["timestamp"], q["nonce"])


async def test_compatible_mode_replays_and_hostile_envelopes(
    gateway: tuple[Receiver, httpx.AsyncClient],
) -> None:
    receiver, client = gateway
    user = WeChatUser()
    xml = user.text("retry me")
    await post_encrypted(client, xml, CALLBACK_TOKEN, AES_KEY, APP_ID, compatible=True, nonce="42")
    await post_encrypted(client, xml, CALLBACK_TOKEN, AES_KEY, APP_ID, nonce="42", timestamp=1)
    await post_encrypted(client, xml, CALLBACK_TOKEN, AES_KEY, APP_ID, envelope=user.malformed())
    compat, replay, hostile = receiver.posts
    fields = xmltodict.parse(compat[1])["xml"]
    assert fields["Content"] == "retry me" and "Encrypt" in fields
    crypto = WeChatCrypto(CALLBACK_TOKEN, AES_KEY, APP_ID)
    query = compat[0]
    assert (
        crypto.decrypt_message(compat[1], query["msg_signature"], query["timestamp"], "42") == xml
    )
    assert (replay[0]["nonce"], replay[0]["timestamp"]) == ("42", "1")
    again = crypto.decrypt_message(replay[1], replay[0]["msg_signature"], "1", "42")
    assert parse_message(again).id == parse_message(xml).id  # the same MsgId: a retry
    assert hostile[1] == user.malformed().encode()


def test_the_builders_give_what_wechatpy_parses() -> None:
    user = WeChatUser("oBuilder")
    cases: list[tuple[str, str, dict[str, Any]]] = [
        (user.text("hi"), "text", {"content": "hi"}),
        (user.image("MEDIA1"), "image", {"media_id": "MEDIA1"}),
        (user.voice("V1"), "voice", {"media_id": "V1", "format": "amr", "recognition": None}),
        (user.voice("V2", recognition="你好"), "voice", {"recognition": "你好"}),
        (user.video("VID"), "video", {"media_id": "VID", "thumb_media_id": "thumb0001"}),
        (user.video("VID", short=True), "shortvideo", {"media_id": "VID"}),
        (user.location(29.31, 120.07, label="义乌"), "location", {"label": "义乌", "scale": "15"}),
        (user.link("T", "D", "https://e.org"), "link", {"title": "T", "url": "https://e.org"}),
        (user.unknown(), "unknown", {}),  # wechatpy: UnknownMessage
        (user.subscribe(), "subscribe", {}),
        (user.subscribe(scene="poster"), "subscribe_scan", {"scene_id": "poster"}),
        (user.unsubscribe(), "unsubscribe", {}),
        (user.click("HELP"), "click", {"key": "HELP"}),
        (user.view("https://e.org"), "view", {"url": "https://e.org"}),
        (user.scan("desk-3"), "scan", {"scene_id": "desk-3"}),
        (user.location_event(29.3, 120.1), "location", {"latitude": 29.3}),
    ]
    for xml, kind, attributes in cases:
        msg = parse_message(xml)
        assert (msg.event if msg.type == "event" else msg.type) == kind, xml
        assert isinstance(msg, UnknownMessage) is (kind == "unknown")
        assert msg.source == "oBuilder" and msg.target == ORIGINAL_ID
        for name, value in attributes.items():
            assert getattr(msg, name) == value, (xml, name)
        is_event = "<MsgType><![CDATA[event]]></MsgType>" in xml
        assert ("<MsgId>" in xml) is not is_event
    assert user.text("a") != user.text("a")  # a new MsgId each
    assert parse_message(user.text("a", msg_id=7)).id == 7


def test_hostile_bodies() -> None:
    user = WeChatUser()
    with pytest.raises(ET.ParseError):
        ET.fromstring(user.malformed())
    xxe = user.xxe("http://169.254.169.254/latest/meta-data/")
    assert '<!ENTITY xxe SYSTEM "http://169.254.169.254/latest/meta-data/">' in xxe
    assert "<Content>&xxe;</Content>" in xxe
    small = ET.fromstring(user.billion_laughs(levels=3))  # 100 lols: safe to expand here
    assert small.findtext("Content") == "lol" * 100
    assert "<Content>&lol9;</Content>" in user.billion_laughs()
    big = user.oversized()
    assert abs(len(big.encode()) - (1 << 20)) < 64
    assert ET.fromstring(big).findtext("MsgType") == "text"


# Published test vectors ------------------------------------------------------------------


def test_signing_agrees_with_wechatpys_vectors() -> None:
    # wechatpy tests/test_utils.py: the URL signature.
    assert sign("test", "1410685589", "test") == "f21891de399b4e33a1a93c9a7b8a8fffb5a443ff"
    # wechatpy tests/test_crypto.py (the same scheme, a CorpID where an AppID goes):
    # the msg_signature of an encrypted message, and its decryption.
    token, corp_id = "123456", "wx49f0ab532d5d035a"
    key = "kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR"
    received = (
        "RgqEoJj5A4EMYlLvWO1F86ioRjZfaex/gePD0gOXTxpsq5Yj4GNglrBb8I2BAJVODGajiFnXBu7mCPatfjsu6"
        "IHCrsTyeDXzF6Bv283dGymzxh6ydJRvZsryDyZbLTE7rhnus50qGPMfp2wASFlzEgMW9z1ef/RD8XzaFYgm7i"
        "TdaXpXaG4+BiYyolBug/gYNx410cvkKR2/nPwBiT+P4hIiOAQqGp/TywZBtDh1yCF2KOd0gpiMZ5jSw3e29m"
        "TvmUHzkVQiMS6td7vXUaWOMZnYZlF3So2SjHnwh4jYFxdgpkHHqIrH/54SNdshoQgWYEvccTKe7FS709/5t"
        "6NMxuGhcUGAPOQipvWTT4dShyqio7mlsl5noTrb++x6En749zCpQVhDpbV6GDnTbcX2e8K9QaNWHp91eBdCR"
        "xthuL0="
    )
    assert sign(token, "1411525903", "461056294", received) == (
        "74d92dfeb87ba7c714f89d98870ae5eb62dff26d"
    )
    # Its encryption with the random part fixed: the same Encrypt and MsgSignature.
    reply = (
        "<xml>\n<MsgType><![CDATA[text]]></MsgType>\n<Content><![CDATA[test]]></Content>\n"
        "<FromUserName><![CDATA[wx49f0ab532d5d035a]]></FromUserName>\n"
        "<ToUserName><![CDATA[messense]]></ToUserName>\n<AgentID>1</AgentID>\n"
        "<CreateTime>1411525903</CreateTime>\n</xml>"
    )
    encrypted = encrypt(reply, key, corp_id, random_prefix="1234567890123456")
    assert encrypted == (
        "9s4gMv99m88kKTh/H8IdkOiMg6bisoy3ypwy9H4hvSPe9nsGaqyw5hhSjdYbcrKk+j3nba4HMOTzHrluLBYqx"
        "gNcBqGsL8GqxlhZgURnAtObvesEl5nZ+uBE8bviY0LWke8Zy9V/QYKxNV2FqllNXcfmstttyIkMKCCmVbCFM"
        "2JTF5wY0nFhHZSjPUL2Q1qvSUCUld+/WIXrx0oyKQmpB6o8NRrrNrsDf03oxI1p9FxUgMnwKKZeOA/uu+2IE"
        "vEBtb7muXsVbwbgX05UPPJvFurDXafG0RQyPR+mf1nDnAtQmmNOuiR5MIkdQ39xn1vWwi1O5oazPoQJz0nTY"
        "jxxEE8kv3kFxtAGVRe3ypD3WeK2XeFYFMNMpatF9XiKzHo3"
    )
    assert sign(token, "1411525903", "461056294", encrypted) == (
        "407518b7649e86ef23978113f92d27afa9296533"
    )


def test_signing_agrees_with_tencents_sample() -> None:
    """The official WXBizMsgCrypt sample (an official account's AppID), which wechatpy's
    WeChatCrypto decrypts."""
    encrypted = (
        "hyzAe4OzmOMbd6TvGdIOO6uBmdJoD0Fk53REIHvxYtJlE2B655HuD0m8KUePWB3+LrPXo87wzQ1QLvbeUgmBM4"
        "x6F8PGHQHFVAFmOD2LdJF9FrXpbUAh0B5GIItb52sn896wVsMSHGuPE328HnRGBcrS7C41IzDWyWNlZkyyXwo"
        "n8T332jisa+h6tEDYsVticbSnyU8dKOIbgU6ux5VTjg3yt+WGzjlpKn6NPhRjpA912xMezR4kw6KWwMrCVKSV"
        "CZciVGCgavjIQ6X8tCOp3yZbGpy0VxpAe+77TszTfRd5RJSVO/HTnifJpXgCSUdUue1v6h0EIBYYI1BD1DlD+"
        "C0CR8e6OewpusjZ4uBl9FyJvnhvQl+q5rv1ixrcpCumEPo5MJSgM9ehVsNPfUM669WuMyVWQLCzpu9GhglF2P"
        "E="
    )
    signature = sign("spamtest", "1409735669", "1320562132", encrypted)
    assert signature == "5d197aaffba7e9b25a30732f161a50dee96bd5fa"
    crypto = WeChatCrypto(
        "spamtest", "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG", "wx2c2769f8efd9abc2"
    )
    envelope = (
        "<xml><ToUserName><![CDATA[gh_10f6c3c3ac5a]]></ToUserName>"
        f"<Encrypt><![CDATA[{encrypted}]]></Encrypt></xml>"
    )
    plain = crypto.decrypt_message(envelope, signature, "1409735669", "1320562132")
    assert parse_message(plain).content == "abcdteT"


def test_decrypt_reply_reads_an_encrypted_passive_reply() -> None:
    reply = "<xml><ToUserName><![CDATA[o1]]></ToUserName><Content><![CDATA[ok]]></Content></xml>"
    sealed = WeChatCrypto(CALLBACK_TOKEN, AES_KEY, APP_ID).encrypt_message(reply, "123")
    assert decrypt_reply(sealed, CALLBACK_TOKEN, AES_KEY, APP_ID) == reply
    with pytest.raises(InvalidSignatureException):
        decrypt_reply(sealed, "wrong", AES_KEY, APP_ID)
