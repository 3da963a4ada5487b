"""Outbox delivery to a fake Telegram Bot API: messages a second, with the limits held.

Enqueues N messages (most chats get a few, one busy chat gets many), then runs the
outbox's dispatcher in P processes at once (each with its own python-telegram-bot client,
as P gateways or workers would) until every row is final, and prints, from the fake Bot
API's own clock:

- messages delivered per second to the many chats (the per-bot limit's rate);
- the most messages the bot sent in any one second (Telegram: about 30), the most one
  chat got in any one second (about 1, with bursts of 3), and how long the busy chat's
  messages took from first to last (its own limit);
- that every row was delivered exactly once, and none is left.

The same run without the rate limits shows what the machinery itself can carry.

Usage: .venv/bin/python bench/outbox_throughput.py [--messages 600] [--chats 150]
           [--processes 1 2] [--database sqlite postgresql]
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import multiprocessing as mp
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import uvicorn
from sqlalchemy import create_engine, func, select, text

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.channels.telegram import TelegramChannel, build_application
from bot.db import make_engine, make_sessionmaker, transaction, upgrade
from bot.db.models import Outbox
from bot.delivery import outbox
from bot.delivery.channel import Rate
from bot.delivery.dispatcher import Dispatcher
from bot.delivery.outbox import Item
from bot.pipeline.assistant import Assistant
from bot.pipeline.rasa_client import RasaClient
from tests.fakes.telegram_api import FakeTelegram
from tests.helpers import free_port

TOKEN = "999:bench"
POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


class Unlimited(TelegramChannel):
    """The real channel without its rate limits: the machinery's own capacity."""

    def rates(self, item: Item) -> Sequence[Rate]:
        return ()


def serve_fake(fake: FakeTelegram, port: int) -> uvicorn.Server:
    server = uvicorn.Server(
        uvicorn.Config(fake.app, host="127.0.0.1", port=port, log_level="error")
    )
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.02)
    return server


def enqueue(url: str, *, messages: int, chats: int, busy: int) -> None:
    engine = make_engine(url)
    with transaction(make_sessionmaker(engine)) as s:
        n = 0
        for i in range(busy):  # one chat that gets many: its limit shows
            outbox.enqueue(
                s, key=f"b{i}", channel="telegram", recipient="1", kind="reminder",
                text=f"busy {i}", language="en",
            )  # fmt: skip
            n += 1
        i = 0
        while n < messages:
            chat = 1000 + i % chats
            outbox.enqueue(
                s, key=f"m{i}", channel="telegram", recipient=str(chat), kind="reminder",
                text=f"message {i}", language="en",
            )  # fmt: skip
            n += 1
            i += 1
    engine.dispose()


def unfinished(url: str) -> int:
    engine = make_engine(url)
    with make_sessionmaker(engine)() as s:
        left = s.scalar(
            select(func.count()).select_from(Outbox).where(Outbox.status.in_(outbox.UNFINISHED))
        )
    engine.dispose()
    return int(left or 0)


def worker(url: str, base_url: str, limited: bool) -> None:
    """One process's dispatcher, until nothing is left to send."""

    async def run() -> None:
        engine = make_engine(url)
        sessions = make_sessionmaker(engine)
        # A channel also receives, through a pipeline; here it only sends.
        pipeline = Assistant(
            sessions=sessions,
            rasa=RasaClient("http://127.0.0.1:9"),
            intents=frozenset(),
            registry_key=b"bench",
        )
        kind = TelegramChannel if limited else Unlimited
        app = build_application(TOKEN, base_url=base_url, polling=False)
        channel = kind(pipeline, app)
        await channel.application.initialize()
        dispatcher = Dispatcher(sessions, {"telegram": channel}, idle_s=0.05)
        stop = asyncio.Event()
        sending = asyncio.create_task(dispatcher.run(stop))  # as in a gateway or worker
        while await asyncio.to_thread(unfinished, url):
            await asyncio.sleep(0.1)
        stop.set()
        await sending
        await channel.application.shutdown()
        engine.dispose()

    asyncio.run(run())


def most_in_a_second(times: list[float]) -> int:
    times = sorted(times)
    return max((bisect.bisect_left(times, t + 1.0) - i for i, t in enumerate(times)), default=0)


def one_run(
    url: str, *, processes: int, messages: int, chats: int, busy: int, limited: bool
) -> dict[str, object]:
    fake = FakeTelegram(TOKEN)
    server = serve_fake(fake, free_port())
    base_url = f"http://127.0.0.1:{server.config.port}/bot"
    enqueue(url, messages=messages, chats=chats, busy=busy)
    started = time.monotonic()
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=worker, args=(url, base_url, limited)) for _ in range(processes)]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    wall = time.monotonic() - started
    server.should_exit = True
    delivered = [t for t, _ in fake.delivered]
    texts = Counter(p["text"] for p in fake.sent("sendMessage"))
    per_chat: dict[int, list[float]] = {}
    for t, chat in fake.delivered:
        per_chat.setdefault(chat, []).append(t)
    # The many chats' messages: the bot's rate. The busy chat's: its own, slower one.
    others = sorted(t for chat, ts in per_chat.items() if chat != 1 for t in ts)
    busy_times = sorted(per_chat.get(1, []))
    span = others[-1] - others[0] if len(others) > 1 else 0.0
    return {
        "delivered": len(delivered),
        "duplicates": sum(n - 1 for n in texts.values() if n > 1),
        "left": unfinished(url),
        "per_second": len(others) / span if span else float("nan"),
        "wall_s": wall,
        "bot_max_1s": most_in_a_second(delivered),
        "chat_max_1s": max(most_in_a_second(ts) for ts in per_chat.values()),
        "busy_s": busy_times[-1] - busy_times[0] if len(busy_times) > 1 else float("nan"),
    }


def fresh_database(kind: str, tmp: Path) -> str | None:
    if kind == "sqlite":
        url = f"sqlite:///{tmp / f'outbox-{uuid.uuid4().hex[:6]}.db'}"
        upgrade(url)
        return url
    name = f"bench_outbox_{uuid.uuid4().hex[:8]}"
    try:
        admin = create_engine(POSTGRES, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        admin.dispose()
    except Exception as exc:
        print(f"  PostgreSQL not reachable ({exc.__class__.__name__}): skipped")
        return None
    url = POSTGRES.rsplit("/", 1)[0] + "/" + name
    upgrade(url)
    return url


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=600)
    parser.add_argument("--chats", type=int, default=150)
    parser.add_argument("--busy", type=int, default=12, help="messages to the one busy chat")
    parser.add_argument("--processes", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--database", nargs="+", default=["sqlite", "postgresql"])
    args = parser.parse_args()
    print(
        f"{args.messages} messages: {args.busy} to one busy chat, the rest to "
        f"{args.chats} chats; fake Bot API over HTTP on 127.0.0.1"
    )
    header = (
        f"{'database':<11}{'limits':<8}{'procs':>5}{'delivered':>10}{'dupes':>6}{'left':>5}"
        f"{'msg/s':>8}{'wall s':>8}{'bot max/1s':>11}{'chat max/1s':>12}{'busy chat s':>12}"
    )
    print(header)
    with tempfile.TemporaryDirectory() as tmp:
        for kind in args.database:
            for limited in (True, False):
                for processes in args.processes:
                    url = fresh_database(kind, Path(tmp))
                    if url is None:
                        break
                    r = one_run(
                        url,
                        processes=processes,
                        messages=args.messages,
                        chats=args.chats,
                        busy=args.busy,
                        limited=limited,
                    )
                    print(
                        f"{kind:<11}{'on' if limited else 'off':<8}{processes:>5}"
                        f"{r['delivered']:>10}{r['duplicates']:>6}{r['left']:>5}"
                        f"{r['per_second']:>8.1f}{r['wall_s']:>8.1f}{r['bot_max_1s']:>11}"
                        f"{r['chat_max_1s']:>12}{r['busy_s']:>12.1f}",
                        flush=True,
                    )


if __name__ == "__main__":
    main()
