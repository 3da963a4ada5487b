"""The scheduled jobs, with their schedules (bot.jobs.scheduler runs them).

- ``sweeper`` (every 15 s): answers messages a stopped process left waiting, or
  apologises for those that waited too long (bot.pipeline.Assistant.recover);
- ``reminders`` (daily, 09:00 in Yiwu): expiry reminders into the outbox;
- ``staff_alerts`` (every minute, with STAFF_TELEGRAM_CHAT_ID and Telegram): new staff
  alerts into the outbox for the staff's chat;
- ``outbox_expiry`` (hourly): web-chat and terminal messages that no client collected
  within ``uncollected_after`` (the web chat's session lifetime) end ``failed``;
- ``tickets`` (hourly): resolved tickets the user neither confirmed nor reopened within
  TICKET_AUTOCLOSE_DAYS close (the user is told); uploads no message took are removed;
- ``rasa_erasure`` (every 15 s): Rasa deletes the conversations of chats that asked to
  be forgotten (bot.jobs.erasures).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Callable, Sequence

from sqlalchemy.orm import Session, sessionmaker

from bot.db import in_transaction
from bot.db.models import utcnow
from bot.delivery import outbox
from bot.jobs.alerts import forward_alerts
from bot.jobs.erasures import erase_in_rasa
from bot.jobs.reminders import run_reminders
from bot.jobs.scheduler import SERVICE_TZ, Job
from bot.pipeline.assistant import Assistant
from bot.pipeline.rasa_client import RasaClient
from bot.settings import Settings
from bot.tickets import evidence, tickets

log = logging.getLogger(__name__)

SWEEP_EVERY = dt.timedelta(seconds=15)
REMINDER_TIME = dt.time(9, 0, tzinfo=SERVICE_TZ)
ALERTS_EVERY = dt.timedelta(minutes=1)
EXPIRY_EVERY = dt.timedelta(hours=1)
# A message held for a user who must write first (WeChat's window) is given up after this:
# a week-old reply or reminder would confuse more than help.
HELD_FOR = dt.timedelta(days=7)
TICKETS_EVERY = dt.timedelta(hours=1)
ERASE_EVERY = dt.timedelta(seconds=15)


def default_jobs(
    *,
    settings: Settings,
    sessions: sessionmaker[Session],
    assistant: Assistant,
    rasa: RasaClient,
    kick: Callable[[], None],
    staff_channel: str | None,
    collecting_channels: Sequence[str],
    uncollected_after: dt.timedelta,
) -> list[Job]:
    async def sweep() -> None:
        found = await assistant.recover()
        if found:
            log.warning("sweeper: %s messages left unanswered by a stopped process", found)

    async def reminders() -> None:
        today = utcnow().astimezone(SERVICE_TZ).date()
        summary = await run_reminders(sessions, today=today)
        log.info("reminders: %s due, %s queued", summary.due, summary.queued)
        if summary.queued:
            kick()

    async def alerts() -> None:
        assert staff_channel is not None
        queued = await forward_alerts(
            sessions,
            chat_id=settings.staff_telegram_chat_id,
            lang=settings.staff_language,
            channel=staff_channel,
        )
        if queued:
            log.info("staff alerts: %s queued for the staff chat", queued)
            kick()

    async def expire() -> None:
        cutoff = utcnow() - uncollected_after
        ended = await in_transaction(
            sessions,
            lambda s: outbox.expire_uncollected(s, channels=collecting_channels, older_than=cutoff),
        )
        if ended:
            log.info("outbox: %s messages never collected, now failed", ended)
        gave_up = await in_transaction(
            sessions, lambda s: outbox.expire_held(s, older_than=utcnow() - HELD_FOR)
        )
        if gave_up:
            log.info("outbox: %s messages held for a user who never wrote again, failed", gave_up)

    async def tickets_job() -> None:
        closed = await in_transaction(sessions, lambda s: tickets.close_unconfirmed(s))
        if closed:
            log.info("tickets: %s resolved and unanswered, now closed", len(closed))
            kick()
        removed = await asyncio.to_thread(evidence.sweep_quarantine, older_than_s=3600)
        if removed:
            log.info("evidence: %s uploads no message took, removed", removed)

    async def erase() -> None:
        result = await erase_in_rasa(sessions, rasa)
        if result.erased:
            log.info("Rasa forgot %s conversations", result.erased)

    lease = dt.timedelta(seconds=settings.job_lease_s)
    jobs = [
        Job("sweeper", sweep, every=SWEEP_EVERY, lease=lease),
        Job("reminders", reminders, daily_at=REMINDER_TIME, lease=lease),
        Job("outbox_expiry", expire, every=EXPIRY_EVERY, lease=lease),
        Job("tickets", tickets_job, every=TICKETS_EVERY, lease=lease),
        Job("rasa_erasure", erase, every=ERASE_EVERY, lease=lease),
    ]
    if staff_channel is not None and settings.staff_telegram_chat_id:
        jobs.append(Job("staff_alerts", alerts, every=ALERTS_EVERY, lease=lease))
    return jobs
