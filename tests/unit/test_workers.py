"""Two workers (each: the scheduled jobs and an outbox dispatcher with its own
python-telegram-bot client) running the reminder job at the same moment over one
database: every reminder reaches the fake Bot API exactly once."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections import Counter

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot.channels.telegram import build_channel
from bot.db import conversations, transaction
from bot.db.models import Outbox, Resident, utcnow
from bot.delivery.dispatcher import Dispatcher
from bot.jobs.catalogue import default_jobs
from bot.jobs.scheduler import SERVICE_TZ, Scheduler
from bot.pipeline.assistant import Assistant
from bot.pipeline.rasa_client import RasaClient
from bot.records.registry.demo import demo_csv
from bot.records.registry.importer import import_registry
from bot.settings import Settings
from tests.fakes.telegram_api import FakeTelegram
from tests.helpers import REGISTRY_KEY, free_port
from tests.telegram_rig import FAST_RETRIES, TOKEN, serve


def residents_on_telegram(sessions: sessionmaker[Session], today: dt.date) -> int:
    with transaction(sessions) as s:
        assert import_registry(s, demo_csv(count=8, today=today).encode(), key=REGISTRY_KEY).ok
        for resident in s.scalars(select(Resident)):
            chat = conversations.get_or_create_identity(
                s, channel="telegram", external_id=str(5000 + resident.id)
            )
            chat.resident_id, chat.language = resident.id, "fr"
        return len(list(s.scalars(select(Resident))))


def pending(sessions: sessionmaker[Session]) -> list[Outbox]:
    with sessions() as s:
        return list(s.scalars(select(Outbox).where(Outbox.status != "delivered")))


async def test_two_workers_running_the_reminder_job_at_once_send_each_reminder_once(
    assistant: Assistant, sessions: sessionmaker[Session]
) -> None:
    today = utcnow().astimezone(SERVICE_TZ).date()
    residents_on_telegram(sessions, today)
    fake = FakeTelegram(TOKEN)
    server, task = await serve(fake.app, free_port())
    base_url = f"http://127.0.0.1:{server.config.port}/bot"
    settings = Settings()  # type: ignore[call-arg]
    workers = []
    for _ in range(2):
        channel = build_channel(assistant, token=TOKEN, base_url=base_url, polling=False)
        await channel.application.initialize()
        dispatcher = Dispatcher(sessions, {"telegram": channel}, policy=FAST_RETRIES)
        jobs = default_jobs(
            settings=settings,
            sessions=sessions,
            assistant=assistant,
            rasa=RasaClient("http://rasa.test"),
            kick=dispatcher.kick,
            staff_channel=None,
            collecting_channels=("webchat",),
            uncollected_after=dt.timedelta(days=30),
        )
        reminders_only = [j for j in jobs if j.name == "reminders"]
        workers.append((channel, dispatcher, Scheduler(sessions, reminders_only)))
    nine_thirty = dt.datetime.combine(today, dt.time(9, 30), SERVICE_TZ)
    try:
        ran = await asyncio.gather(*(w[2].run_due(nine_thirty) for w in workers))
        assert sorted(name for names in ran for name in names) == ["reminders"]
        for _ in range(100):  # both dispatchers send at once, until nothing is left
            await asyncio.gather(*(w[1].run_round() for w in workers))
            if len(fake.delivered) >= 4 and not pending(sessions):
                break
            await asyncio.sleep(0.05)  # the shared rate limit spaces the sends
    finally:
        for channel, _, _ in workers:
            await channel.application.shutdown()
        server.should_exit = True
        await task
    with sessions() as s:
        rows = list(s.scalars(select(Outbox)))
    assert len(rows) == 4  # the demo registry's documents at 1, 7, 14 and 30 days
    assert {r.status for r in rows} == {"delivered"}
    sent = Counter(p["text"] for p in fake.sent("sendMessage"))
    assert len(sent) == 4 and set(sent.values()) == {1}
    assert len(fake.delivered) == 4
