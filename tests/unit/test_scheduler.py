"""Scheduled jobs (bot/jobs/scheduler.py): due by interval or daily at 09:00 in Yiwu,
caught up after a day missed, and run once however many processes look at once."""

from __future__ import annotations

import asyncio
import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot.db import transaction
from bot.db.models import JobRun
from bot.jobs.catalogue import REMINDER_TIME, default_jobs
from bot.jobs.scheduler import SERVICE_TZ, Job, Scheduler, claim
from bot.pipeline.assistant import Assistant
from bot.pipeline.rasa_client import RasaClient
from bot.settings import Settings

UTC = dt.UTC


def at(hour: int, minute: int = 0, day: int = 6) -> dt.datetime:
    """A moment of 2026-12-<day> in Yiwu, as UTC."""
    return dt.datetime(2026, 12, day, hour, minute, tzinfo=SERVICE_TZ).astimezone(UTC)


async def nothing() -> None:
    return None


def test_a_daily_job_is_due_once_a_day_after_its_time() -> None:
    job = Job("daily", nothing, daily_at=REMINDER_TIME)
    assert not job.due(None, at(8, 59))
    assert job.due(None, at(9, 0))
    assert not job.due(at(9, 0), at(23, 59))  # ran today
    assert not job.due(at(9, 0), at(8, 0, day=7))  # tomorrow, before nine
    assert job.due(at(9, 0), at(9, 1, day=7))
    # Down on the 7th and the 8th, back at 15:00 on the 9th: one run catches up.
    assert job.due(at(9, 0), at(15, 0, day=9))


def test_an_interval_job() -> None:
    job = Job("every", nothing, every=dt.timedelta(seconds=15))
    now = at(12)
    assert job.due(None, now)
    assert not job.due(now - dt.timedelta(seconds=14), now)
    assert job.due(now - dt.timedelta(seconds=15), now)


async def test_two_processes_looking_at_once_run_a_job_once(
    sessions: sessionmaker[Session],
) -> None:
    runs: list[str] = []

    async def work() -> None:
        runs.append("ran")
        await asyncio.sleep(0.05)

    job = Job("reminders", work, daily_at=REMINDER_TIME)
    a, b = Scheduler(sessions, [job]), Scheduler(sessions, [job])
    now = at(9, 30)
    ran_a, ran_b = await asyncio.gather(a.run_due(now), b.run_due(now))
    assert runs == ["ran"] and sorted(ran_a + ran_b) == ["reminders"]
    # The job finished quickly: a process that looks only now does not run it again.
    assert await b.run_due(at(9, 31)) == []
    assert await a.run_due(at(9, 1, day=7)) == ["reminders"]
    assert runs == ["ran", "ran"]


async def test_a_failing_job_is_released_and_runs_when_next_due(
    sessions: sessionmaker[Session],
) -> None:
    calls = 0

    async def broken() -> None:
        nonlocal calls
        calls += 1
        raise RuntimeError("boom")

    job = Job("sweeper", broken, every=dt.timedelta(seconds=15))
    scheduler = Scheduler(sessions, [job])
    await scheduler.run_due(at(12))
    with sessions() as s:
        row = s.scalar(select(JobRun).where(JobRun.name == "sweeper"))
        assert row is not None and row.lease_owner is None and row.last_finished_at is not None
    await scheduler.run_due(at(12) + dt.timedelta(seconds=16))
    assert calls == 2


async def test_a_job_abandoned_by_a_dead_process_runs_again_the_same_day(
    sessions: sessionmaker[Session],
) -> None:
    runs: list[str] = []

    async def work() -> None:
        runs.append("ran")

    job = Job("reminders", work, daily_at=REMINDER_TIME)
    # Process A wins the 9:30 run and dies in it: the lease is never renewed nor freed.
    with transaction(sessions) as session:
        assert claim(session, job, owner="dead-process", now=at(9, 30))
    survivor = Scheduler(sessions, [job])
    assert await survivor.run_due(at(9, 30) + dt.timedelta(seconds=30)) == []  # still leased
    assert await survivor.run_due(at(9, 32)) == ["reminders"]  # the lease ran out
    assert runs == ["ran"]
    assert await survivor.run_due(at(9, 40)) == []  # finished this time: not again today


async def test_a_running_job_renews_its_lease_so_no_one_else_starts_it(
    sessions: sessionmaker[Session],
) -> None:
    runs: list[str] = []

    async def slow() -> None:
        runs.append("ran")
        await asyncio.sleep(1.0)  # three times its lease

    job = Job("reminders", slow, every=dt.timedelta(hours=1), lease=dt.timedelta(seconds=0.3))
    a, b = Scheduler(sessions, [job]), Scheduler(sessions, [job])
    running = asyncio.create_task(a.run_due())
    await asyncio.sleep(0.6)
    assert await b.run_due() == []  # the lease was renewed meanwhile
    assert await running == ["reminders"]
    assert await b.run_due() == [] and runs == ["ran"]


def test_the_default_jobs(assistant: Assistant) -> None:
    def names(settings: Settings, staff_channel: str | None) -> list[str]:
        jobs = default_jobs(
            settings=settings,
            sessions=assistant.sessions,
            assistant=assistant,
            rasa=RasaClient("http://rasa.test"),
            kick=lambda: None,
            staff_channel=staff_channel,
            collecting_channels=("webchat", "terminal"),
            uncollected_after=dt.timedelta(days=30),
        )
        return [j.name for j in jobs]

    plain = Settings()  # type: ignore[call-arg]
    staff = Settings(STAFF_TELEGRAM_CHAT_ID="-100123")  # type: ignore[call-arg]
    always = ["sweeper", "reminders", "outbox_expiry", "tickets", "rasa_erasure"]
    assert names(plain, "telegram") == always
    assert names(staff, None) == always
    assert names(staff, "telegram") == [*always, "staff_alerts"]
