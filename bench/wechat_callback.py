"""WeChat callbacks under load: how fast the gateway answers WeChat, and when the reply goes out.

WeChat posts each user message to the gateway's ``POST /wechat`` and waits 5 seconds for
the answer (then posts it again, three times in all). The gateway stores the message and
answers ``success`` at once; the reply goes out later, through the outbox, as a
customer-service message (``POST /cgi-bin/message/custom/send``). This measures both:

(a) callback sent -> the HTTP answer ``success`` (must stay far below 5 s, even with a
    slow Rasa);
(b) callback sent -> the fake WeChat server receives the matching customer-service send
    (matched by its text: each message is unique, the fake Rasa answers "reply to <it>").

Per configuration, on fresh servers on 127.0.0.1 and a fresh database (a SQLite file, or
with ``--postgres`` a new PostgreSQL database on that server, dropped afterwards): the real
gateway (bot.app.create_app, in a process of its own, as in production, with its
dispatcher and jobs), a fake WeChat API (tests/fakes/wechat_api.py) and a fake Rasa (the
gateway's REST input channel, /webhooks/gateway/, bearer token checked). ``--users`` users
send ``--messages`` text messages each, in safe mode (encrypted and signed as WeChat does),
round robin, at ``--rate`` callbacks a second at fixed intervals (an open model: nothing
waits for an answer before the next is sent). Two configurations side by side: Rasa
answers at once, and Rasa takes ``--slow-s`` seconds per turn. A message without its reply
``--slow-s`` + 30 s after it was sent is counted lost. Before the measured callbacks, one
warm-up message is sent and its reply awaited (the first turn still warms what is built on
first use); ``--cold`` leaves it out, to measure from the gateway's start. (The language
detector, once built by the first message and holding up every request of the process for
1.5 s, is now built at the gateway's start: bot.nlu.langid.warm_up.) The gateway
answers one user's messages one after another (the chat's lease), so with a slow Rasa (b)
grows with how many of a user's messages queue up; WeChat's rate limits
(bot.channels.wechat) apply too.

Usage: .venv/bin/python bench/wechat_callback.py [--users 20] [--messages 5] [--rate 10]
           [--slow-s 3] [--cold] [--postgres postgresql+psycopg://postgres@127.0.0.1:5432/test]
"""

from __future__ import annotations

import argparse
import asyncio
import hmac
import math
import multiprocessing as mp
import os
import platform
import secrets
import signal
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import create_engine, text

from bot.db import upgrade
from bot.pipeline.rasa_client import CHANNEL, WEBHOOK_PATH
from tests.fakes import wechat_api as wx
from tests.fakes.wechat_api import FakeWeChat, WeChatUser
from tests.helpers import free_port
from tests.telegram_rig import serve

WECHAT_LIMIT_S = 5.0


# The fake Rasa -----------------------------------------------------------------------------


class FakeRasa:
    """The gateway's Rasa input channel over HTTP: echoes each message as "reply to ..."
    with a turn report (as tests/conftest.py's FakeRasa.echo_intent), after ``delay_s``."""

    def __init__(self, token: str, delay_s: float) -> None:
        self.token, self.delay_s = token, delay_s
        self.turns = 0
        self.in_flight = 0
        self.most_in_flight = 0
        self.app = Starlette(
            routes=[
                Route(f"{CHANNEL}/", self.health, methods=["GET"]),
                Route(WEBHOOK_PATH, self.webhook, methods=["POST"]),
            ]
        )

    def _allowed(self, request: Request) -> bool:
        given = request.headers.get("authorization", "")
        return hmac.compare_digest(given.encode(), f"Bearer {self.token}".encode())

    async def health(self, request: Request) -> Response:
        if not self._allowed(request):
            return JSONResponse({"error": "unauthorized"}, status_code=401)
        return JSONResponse({"status": "ok"})

    async def webhook(self, request: Request) -> Response:
        if not self._allowed(request):
            return JSONResponse({"error": "unauthorized"}, status_code=401)
        body = await request.json()
        self.turns += 1
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            if self.delay_s > 0:
                await asyncio.sleep(self.delay_s)
        finally:
            self.in_flight -= 1
        sender = body["sender"]
        language = (body.get("metadata") or {}).get("language")
        turn = {"intent": "greet", "confidence": 0.9, "language": language}
        return JSONResponse(
            [
                {"recipient_id": sender, "text": f"reply to {body['message']}"},
                {"recipient_id": sender, "custom": {"turn": turn}},
            ]
        )


# The gateway, in a process of its own ------------------------------------------------------


def run_gateway(settings: dict[str, str], port: int) -> None:
    """The child process: the gateway app under uvicorn, until SIGTERM."""
    from bot.app import create_app
    from bot.settings import Settings

    app = create_app(Settings(**settings))  # type: ignore[arg-type]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error"))
    server.run()


async def wait_serving(url: str, process: Any, timeout: float = 60) -> None:
    """Until the gateway answers anything (its /healthz says 503: no action server)."""
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient(timeout=2) as client:
        while time.monotonic() < deadline:
            if not process.is_alive():
                raise RuntimeError(f"the gateway exited with code {process.exitcode}")
            try:
                await client.get(f"{url}/healthz")
                return
            except httpx.HTTPError:
                await asyncio.sleep(0.1)
    raise RuntimeError("the gateway did not start in time")


def cpu_seconds(pid: int | None) -> float:
    """User and system CPU time of a process, all its threads (Linux /proc); NaN elsewhere."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return math.nan
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# One configuration -------------------------------------------------------------------------


@dataclass
class Outcome:
    name: str
    sent: int = 0
    success: int = 0
    non_success: int = 0
    replies: int = 0
    lost: int = 0
    answer_ms: list[float] = field(default_factory=list)
    reply_ms: list[float] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass
class Callback:
    openid: str
    text: str
    due: float  # monotonic: when it should be sent
    sent_at: float = 0.0
    answered_at: float = 0.0
    answer: str = ""  # "success", else what came back


async def send_one(client: httpx.AsyncClient, user: WeChatUser, cb: Callback) -> None:
    xml = user.text(cb.text)
    cb.sent_at = time.monotonic()
    try:
        resp = await wx.post_encrypted(client, xml, wx.CALLBACK_TOKEN, wx.AES_KEY, wx.APP_ID)
    except httpx.HTTPError as exc:
        cb.answered_at = time.monotonic()
        cb.answer = exc.__class__.__name__
        return
    cb.answered_at = time.monotonic()
    body = resp.text.strip()
    cb.answer = (
        body if resp.status_code == 200 and body == "success" else f"HTTP {resp.status_code}"
    )


async def warm(client: httpx.AsyncClient, fake: FakeWeChat, lost_s: float) -> str:
    """One message, answered, before the measured ones: the gateway loads what it loads on
    its first turn (the language detector) before the clock starts. What it took."""
    user = WeChatUser()
    probe = Callback(user.openid, "warm up", time.monotonic())
    await send_one(client, user, probe)
    while not fake.messages and time.monotonic() < probe.sent_at + lost_s:
        await asyncio.sleep(0.01)
    took = (fake.messages[0].at - probe.sent_at) * 1000 if fake.messages else math.nan
    return f"warm-up message answered {probe.answer!r}, its reply sent after {took:.0f} ms"


def database(name: str, tmp: Path, postgres: str | None) -> str:
    """A fresh, migrated database for one configuration: a SQLite file, or with
    ``--postgres`` a new database on that server (dropped by ``drop_databases``)."""
    if postgres is None:
        url = f"sqlite:///{tmp / ('wechat-' + name.replace(' ', '-') + '.db')}"
    else:
        created = f"expatbot_wxbench_{uuid.uuid4().hex[:10]}"
        admin = create_engine(postgres, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{created}"'))
        admin.dispose()
        CREATED.append(created)
        url = postgres.rsplit("/", 1)[0] + "/" + created
    upgrade(url)
    return url


CREATED: list[str] = []


def drop_databases(postgres: str) -> None:
    admin = create_engine(postgres, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        for name in CREATED:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


async def one_configuration(
    name: str,
    *,
    delay_s: float,
    users: int,
    messages: int,
    rate: float,
    tmp: Path,
    lost_s: float,
    warm_up: bool,
    postgres: str | None,
) -> Outcome:
    db_url = database(name, tmp, postgres)
    fake = FakeWeChat()
    wechat_server, wechat_task = await serve(fake.app, free_port())
    rasa_token = secrets.token_urlsafe(24)
    rasa = FakeRasa(rasa_token, delay_s)
    rasa_server, rasa_task = await serve(rasa.app, free_port())
    settings = {
        "DATABASE_URL": db_url,
        "EXPATBOT_VAR": str(tmp / "var"),
        "RASA_URL": f"http://127.0.0.1:{rasa_server.config.port}",
        "RASA_TOKEN": rasa_token,
        "TELEGRAM_BOT_TOKEN": "",
        "WECHAT_APP_ID": wx.APP_ID,
        "WECHAT_APP_SECRET": wx.APP_SECRET,
        "WECHAT_TOKEN": wx.CALLBACK_TOKEN,
        "WECHAT_ENCODING_AES_KEY": wx.AES_KEY,
        "WECHAT_API_BASE_URL": f"http://127.0.0.1:{wechat_server.config.port}",
    }
    port = free_port()
    gateway = mp.get_context("spawn").Process(target=run_gateway, args=(settings, port))
    gateway.start()
    result = Outcome(name)
    try:
        base = f"http://127.0.0.1:{port}"
        await wait_serving(base, gateway)
        limits = httpx.Limits(max_connections=None, max_keepalive_connections=None)
        async with httpx.AsyncClient(base_url=base, timeout=30, limits=limits) as client:
            if warm_up:
                result.notes.append(await warm(client, fake, lost_s))
                rasa.turns = rasa.most_in_flight = 0
            cpu_before, wall_before = cpu_seconds(gateway.pid), time.monotonic()
            skip_messages, skip_attempts = len(fake.messages), len(fake.attempts)
            people = [WeChatUser() for _ in range(users)]
            callbacks: list[tuple[WeChatUser, Callback]] = []
            start = time.monotonic() + 0.2
            for m in range(messages):
                for u, person in enumerate(people):
                    i = len(callbacks)
                    text = f"question {m + 1} from user {u + 1}"
                    callbacks.append((person, Callback(person.openid, text, start + i / rate)))
            tasks = []
            for person, cb in callbacks:
                await asyncio.sleep(max(0.0, cb.due - time.monotonic()))
                tasks.append(asyncio.create_task(send_one(client, person, cb)))
            await asyncio.gather(*tasks)
            # Every reply, or the last one's deadline.
            deadline = max(cb.sent_at for _, cb in callbacks) + lost_s
            while (
                len(fake.messages) - skip_messages < len(callbacks) and time.monotonic() < deadline
            ):
                await asyncio.sleep(0.05)
            cpu, wall = cpu_seconds(gateway.pid) - cpu_before, time.monotonic() - wall_before
            result.notes.append(
                f"gateway process: {cpu:.1f} s of CPU in {wall:.1f} s ({cpu / wall:.0%} of a core)"
            )
        lag = max(cb.sent_at - cb.due for _, cb in callbacks)
        if lag > 0.05:
            result.notes.append(f"the sender fell behind its schedule by up to {lag * 1000:.0f} ms")
    finally:
        gateway.terminate()  # SIGTERM: uvicorn stops, the lifespan stops the runtime
        await asyncio.to_thread(gateway.join, 30)
        if gateway.is_alive():
            gateway.kill()
            await asyncio.to_thread(gateway.join, 5)
            result.notes.append("the gateway did not stop within 30 s of SIGTERM: killed")
        elif gateway.exitcode not in (0, -signal.SIGTERM):  # uvicorn re-raises SIGTERM
            result.notes.append(f"the gateway exited with code {gateway.exitcode}")
        for server, task in ((rasa_server, rasa_task), (wechat_server, wechat_task)):
            server.should_exit = True
            await task

    by_text: dict[str, wx.CustomMessage] = {}
    unmatched = 0
    for msg in fake.messages[skip_messages:]:
        content = msg.content if msg.msgtype == "text" else None
        if not isinstance(content, str) or not content.startswith("reply to "):
            unmatched += 1
            continue
        key = content[len("reply to ") :]
        if key in by_text:
            unmatched += 1
            continue
        by_text[key] = msg
    result.sent = len(callbacks)
    answers: dict[str, int] = {}
    for _, cb in callbacks:
        if cb.answer == "success":
            result.success += 1
        else:
            result.non_success += 1
            answers[cb.answer] = answers.get(cb.answer, 0) + 1
        result.answer_ms.append((cb.answered_at - cb.sent_at) * 1000)
        reply = by_text.get(cb.text)
        if reply is not None and reply.openid == cb.openid:
            result.replies += 1
            result.reply_ms.append((reply.at - cb.sent_at) * 1000)
            if reply.at - cb.sent_at > lost_s:
                result.lost += 1
        else:
            result.lost += 1
    if answers:
        result.notes.append(
            "non-success answers: " + ", ".join(f"{k} x{v}" for k, v in sorted(answers.items()))
        )
    if unmatched:
        result.notes.append(f"{unmatched} customer-service sends matched no callback")
    failed_sends = (len(fake.attempts) - skip_attempts) - (len(fake.messages) - skip_messages)
    if failed_sends:
        result.notes.append(f"{failed_sends} customer-service sends refused by the fake WeChat")
    if rasa.turns != result.sent:
        result.notes.append(f"Rasa turns: {rasa.turns} for {result.sent} callbacks")
    result.notes.append(f"at most {rasa.most_in_flight} Rasa turns at once")
    return result


# Figures ------------------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float:
    """Nearest rank: the smallest value with at least ``q`` of them at or below it."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def figures(values: list[float]) -> str:
    cells = [percentile(values, q) for q in (0.50, 0.95, 0.99, 1.0)]
    return "".join(f"{v:>8.1f}" for v in cells)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--messages", type=int, default=5, help="text messages per user")
    parser.add_argument("--rate", type=float, default=10.0, help="callbacks a second, all users")
    parser.add_argument(
        "--slow-s",
        type=float,
        default=3.0,
        help="seconds per Rasa turn, slow configuration (below RASA_TIMEOUT, 30 s)",
    )
    parser.add_argument(
        "--postgres",
        metavar="URL",
        help="run on PostgreSQL: a new database per configuration on this server "
        "(e.g. postgresql+psycopg://postgres@127.0.0.1:5432/test); default SQLite",
    )
    parser.add_argument(
        "--cold", action="store_true", help="no warm-up message: measure from the gateway's start"
    )
    args = parser.parse_args()
    if args.users < 1 or args.messages < 1 or args.rate <= 0 or args.slow_s < 0:
        parser.error("--users and --messages at least 1, --rate above 0, --slow-s not negative")
    lost_s = args.slow_s + 30
    total = args.users * args.messages
    print(
        f"{args.users} users x {args.messages} messages = {total} WeChat text callbacks (safe "
        f"mode) at {args.rate:g}/s, open model; lost: no reply within {lost_s:g} s; "
        + ("cold gateway (no warm-up)" if args.cold else "after one warm-up message")
    )
    print(
        f"machine: {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"{'PostgreSQL' if args.postgres else 'SQLite'}; "
        "gateway in its own process, fake WeChat and fake Rasa over HTTP on 127.0.0.1"
    )
    configurations = [("rasa fast", 0.0), (f"rasa slow {args.slow_s:g}s", args.slow_s)]
    results: list[Outcome] = []
    with tempfile.TemporaryDirectory(prefix="expatbot-wechat-bench-") as tmp:
        for name, delay in configurations:
            print(f"running: {name} ...", flush=True)
            results.append(
                asyncio.run(
                    one_configuration(
                        name,
                        delay_s=delay,
                        users=args.users,
                        messages=args.messages,
                        rate=args.rate,
                        tmp=Path(tmp),
                        lost_s=lost_s,
                        warm_up=not args.cold,
                        postgres=args.postgres,
                    )
                )
            )
    if args.postgres:
        drop_databases(args.postgres)
    print()
    counts = f"{'configuration':<17}{'sent':>5}{'success':>8}{'non-success':>12}{'replies':>8}"
    counts += f"{'lost':>5}"
    print(
        " " * len(counts)
        + f"{'  | (a) callback -> success, ms':<35}{'  | (b) callback -> custom send, ms'}"
    )
    print(counts + ("  |" + "".join(f"{h:>8}" for h in ("p50", "p95", "p99", "max"))) * 2)
    for r in results:
        print(
            f"{r.name:<17}{r.sent:>5}{r.success:>8}{r.non_success:>12}{r.replies:>8}{r.lost:>5}"
            f"  |{figures(r.answer_ms)}  |{figures(r.reply_ms)}"
        )
    print()
    for r in results:
        worst = max(r.answer_ms, default=math.nan) / 1000
        print(
            f"{r.name}: slowest answer to WeChat {worst:.3f} s (WeChat waits {WECHAT_LIMIT_S:g} s)"
        )
        for note in r.notes:
            print(f"  {note}")


if __name__ == "__main__":
    main()
