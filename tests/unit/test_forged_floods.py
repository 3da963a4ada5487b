"""A flood of forged webhook requests is refused before anything touches the database:
1,000 Telegram updates without the webhook's secret and 1,000 WeChat callbacks with a
wrong signature, against the real gateway app, with every SQL statement counted."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
from sqlalchemy import event

from bot.app import create_app
from bot.db import upgrade
from bot.settings import Settings

SECRET = "webhook-secret-0123456789"
FLOOD = 1000


async def test_forged_webhook_floods_are_refused_without_touching_the_database(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'gw.db'}"
    upgrade(url)
    settings = Settings(  # type: ignore[call-arg]
        DATABASE_URL=url,
        RASA_URL="http://127.0.0.1:9",
        TELEGRAM_BOT_TOKEN="123456:ABCDEFforged",
        TELEGRAM_BASE_URL="http://127.0.0.1:9/bot",
        TELEGRAM_WEBHOOK_SECRET=SECRET,
        WECHAT_APP_ID="wx0123456789abcdef",
        WECHAT_APP_SECRET="wechat-app-secret",
        WECHAT_TOKEN="wechat-callback-token",
        WECHAT_API_BASE_URL="http://127.0.0.1:9",
    )
    app = create_app(settings)
    statements: list[str] = []
    event.listen(
        app.state.runtime.engine,
        "before_cursor_execute",
        lambda _conn, _cursor, sql, *_rest: statements.append(sql),
    )
    update = {
        "update_id": 1,
        "message": {
            "message_id": 1,
            "date": int(time.time()),
            "chat": {"id": 5, "type": "private"},
            "from": {"id": 5, "is_bot": False, "first_name": "X"},
            "text": "hello",
        },
    }
    wechat_body = (
        "<xml><ToUserName>gh_1</ToUserName><FromUserName>o1</FromUserName>"
        "<CreateTime>1</CreateTime><MsgType>text</MsgType><Content>hi</Content>"
        "<MsgId>1</MsgId></xml>"
    )
    forged_headers = [{}, {"X-Telegram-Bot-Api-Secret-Token": "guess"}]
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="https://gw.test"
    ) as client:
        started = time.perf_counter()
        telegram = [
            await client.post("/telegram/webhook", json=update, headers=forged_headers[i % 2])
            for i in range(FLOOD)
        ]
        telegram_s = time.perf_counter() - started
        started = time.perf_counter()
        wechat = [
            await client.post(
                "/wechat",
                content=wechat_body,
                params={"signature": f"{i:040d}", "timestamp": str(int(time.time())), "nonce": "n"},
            )
            for i in range(FLOOD)
        ]
        wechat_s = time.perf_counter() - started
    assert {r.status_code for r in telegram} == {403}
    assert {r.status_code for r in wechat} == {403}
    assert statements == []
    # A figure, not a limit (the machine is shared): what one refusal costs here.
    print(
        f"\nforged: Telegram {telegram_s / FLOOD * 1e6:.0f} µs, "
        f"WeChat {wechat_s / FLOOD * 1e6:.0f} µs per refused request (in-process ASGI)"
    )
