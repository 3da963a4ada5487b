"""The staff console, measured: how fast a staff reply reaches the user, and how many
waiting chats the queue page shows before it takes more than 100 ms to render.

1. Reply latency: the real gateway app (uvicorn, SQLite in a temporary directory, the
   web chat and Telegram in webhook mode against a fake Bot API over HTTP). A web-chat
   user with the page's event stream open and a Telegram user ask for a person ("/human"
   buttons: no Rasa needed); a member of staff logs in, takes both chats and sends N
   replies to each through the console's reply form. Printed: the time from the form's
   POST to the event on the page, and to the sendMessage at the fake Bot API (median,
   95th percentile). Replies go a second apart: Telegram's limit of about one message a
   second to a chat (which the outbox keeps) would otherwise be what is measured.
2. Queue page: a supervisor's "all" view with 50, 100, 200 ... waiting chats, each size
   rendered 10 times; printed: the median time of each, and the first size above 100 ms.

Usage: .venv/bin/python bench/staff_console.py [--replies 100]
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import httpx
import uvicorn

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.app import create_app
from bot.db import make_engine, make_sessionmaker, transaction, upgrade
from bot.db.models import ChatIdentity, Handoff, utcnow
from bot.settings import Settings
from bot.staff import accounts
from tests.fakes.telegram_api import FakeTelegram
from tests.helpers import free_port

TOKEN = "4242:bench"
SECRET = "bench-webhook-secret-0123456789"
PASSWORD = "a long bench password"


def serve(app: object) -> tuple[uvicorn.Server, str]:
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error"))  # type: ignore[arg-type]
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.02)
    return server, f"http://127.0.0.1:{port}"


def login(client: httpx.Client, name: str) -> str:
    form = client.get("/staff/login")
    token = re.search(r'name="login_token" value="([^"]+)"', form.text)
    assert token, form.text[:500]
    resp = client.post(
        "/staff/login",
        data={"name": name, "password": PASSWORD, "login_token": token[1], "next": "/staff"},
        follow_redirects=False,
    )
    assert resp.status_code == 303, resp.text[:500]
    page = client.get("/staff/queue")
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert csrf, page.text[:500]
    return csrf[1]


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p * len(ordered)) - 1)]


def reply_latency(replies: int, tmp: Path) -> None:
    db = f"sqlite:///{tmp / 'replies.db'}"
    upgrade(db)
    engine = make_engine(db)
    with transaction(make_sessionmaker(engine)) as s:
        accounts.add(s, name="bench.agent", role="agent", password=PASSWORD, language="en")
    engine.dispose()
    fake = FakeTelegram(TOKEN)
    tg_server, tg_url = serve(fake.app)
    settings = Settings(  # type: ignore[call-arg]
        DATABASE_URL=db,
        RASA_URL="http://127.0.0.1:9",
        TELEGRAM_BOT_TOKEN=TOKEN,
        TELEGRAM_BASE_URL=f"{tg_url}/bot",
        TELEGRAM_WEBHOOK_SECRET=SECRET,
        EXPATBOT_GATEWAY_JOBS="false",
    )
    gw_server, url = serve(create_app(settings))
    try:
        origin = {"Origin": url}
        user = httpx.Client(base_url=url, timeout=30, headers=origin)
        user.post("/api/webchat/session", json={})
        user.post("/api/webchat/messages", json={"text": "/human", "button": True, "id": "h1"})
        update = fake.update(31337, "/human")
        hook = httpx.post(
            f"{url}/telegram/webhook",
            json=update,
            headers={"X-Telegram-Bot-Api-Secret-Token": SECRET},
            timeout=30,
        )
        assert hook.status_code == 200
        deadline = time.monotonic() + 30
        staff = httpx.Client(base_url=url, timeout=30, headers=origin)
        csrf = login(staff, "bench.agent")
        while time.monotonic() < deadline:
            rows = re.findall(r'href="/staff/chats/(\d+)"', staff.get("/staff/queue").text)
            if len(set(rows)) >= 2:
                break
            time.sleep(0.1)
        chats = sorted(set(rows), key=int)
        assert len(chats) == 2, "both chats should be waiting"
        for chat in chats:
            staff.post(f"/staff/chats/{chat}/take", data={"csrf": csrf}, follow_redirects=False)
        web_chat, telegram_chat = chats  # the web chat asked first
        arrived: dict[str, float] = {}
        stop = threading.Event()

        def listen() -> None:
            with (
                httpx.Client(base_url=url, timeout=None, cookies=user.cookies) as c,
                c.stream("GET", "/api/webchat/events") as events,
            ):
                for line in events.iter_lines():
                    if stop.is_set():
                        return
                    if line.startswith("data:"):
                        data = json.loads(line[5:])
                        marker = re.search(r"reply ([0-9a-f]{12})", data.get("html", ""))
                        if marker:
                            arrived[marker[1]] = time.perf_counter()

        threading.Thread(target=listen, daemon=True).start()
        time.sleep(0.5)
        web: list[float] = []
        tg: list[float] = []
        started = time.perf_counter()
        for _ in range(replies):
            # Telegram allows about one message a second to one chat (the outbox holds
            # to it): replies a second apart measure the way, not that limit.
            time.sleep(max(0.0, 1.05 - (time.perf_counter() - started)) if tg else 0.0)
            started = time.perf_counter()
            for chat, times in ((web_chat, web), (telegram_chat, tg)):
                mark = uuid.uuid4().hex[:12]
                sent_before = len(fake.sent("sendMessage"))
                t0 = time.perf_counter()
                staff.post(
                    f"/staff/chats/{chat}/reply",
                    data={"csrf": csrf, "text": f"reply {mark}", "key": mark},
                    follow_redirects=False,
                )
                while time.perf_counter() - t0 < 10:
                    if chat == web_chat and mark in arrived:
                        times.append((arrived[mark] - t0) * 1000)
                        break
                    if chat == telegram_chat and any(
                        mark in p.get("text", "") for p in fake.sent("sendMessage")[sent_before:]
                    ):
                        times.append((time.perf_counter() - t0) * 1000)
                        break
                    time.sleep(0.001)
        stop.set()
        for name, times in (("web chat page (SSE)", web), ("fake Bot API (Telegram)", tg)):
            print(
                f"staff reply -> {name}: {len(times)} of {replies} arrived; median "
                f"{statistics.median(times):.1f} ms, p95 {percentile(times, 0.95):.1f} ms"
            )
    finally:
        gw_server.should_exit = True
        tg_server.should_exit = True


def queue_rendering(tmp: Path) -> None:
    db = f"sqlite:///{tmp / 'queue.db'}"
    upgrade(db)
    engine = make_engine(db)
    sessions = make_sessionmaker(engine)
    with transaction(sessions) as s:
        accounts.add(s, name="bench.super", role="supervisor", password=PASSWORD, language="zh")
    settings = Settings(  # type: ignore[call-arg]
        DATABASE_URL=db, RASA_URL="http://127.0.0.1:9", EXPATBOT_GATEWAY_JOBS="false"
    )
    server, url = serve(create_app(settings))
    try:
        staff = httpx.Client(base_url=url, timeout=60, headers={"Origin": url})
        login(staff, "bench.super")
        have, first_slow = 0, None
        langs = ["en", "zh", "ar", "ru", "fr", "es"]
        for size in (50, 100, 200, 400, 800, 1600, 3200, 6400):
            with transaction(sessions) as s:
                for i in range(have, size):
                    chat = ChatIdentity(channel="webchat", external_id=f"q{i}", mode="queued")
                    s.add(chat)
                    s.flush()
                    s.add(
                        Handoff(identity_id=chat.id, status="queued", reason="button",
                                language=langs[i % 6], requested_at=utcnow(), updated_at=utcnow())
                    )  # fmt: skip
            have = size
            times = []
            for _ in range(10):
                t0 = time.perf_counter()
                page = staff.get("/staff/queue", params={"view": "all"})
                times.append((time.perf_counter() - t0) * 1000)
                assert page.status_code == 200
            median = statistics.median(times)
            print(f"queue page, {size:>5} waiting chats: median {median:.1f} ms")
            if median > 100 and first_slow is None:
                first_slow = size
                break
        print(
            "first size over 100 ms: "
            + (f"{first_slow} waiting chats" if first_slow else "none up to 6400")
        )
    finally:
        server.should_exit = True
        engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--replies", type=int, default=100)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        reply_latency(args.replies, Path(tmp))
        queue_rendering(Path(tmp))


if __name__ == "__main__":
    main()
