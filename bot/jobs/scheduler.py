"""Scheduled jobs that run once across every gateway and worker.

A job is due every so often (``every``) or once a day at a time of day (``daily_at``,
in the service's time zone; a day missed while everything was down is caught up at the
next start). Every process with a scheduler looks every ``tick_s``; a due job is
claimed in the database (``job_run``): by compare-and-set on its lease and on the start
time that made it due, so that of several processes one runs it, and a job that just
finished elsewhere is not started again. No job lives inside a channel adapter.

The process running a job renews its lease while the job runs. A process that dies in
the middle of a job stops renewing; once the lease has run out, the job counts as
abandoned (started, never finished) and another process runs it again, the same day:
the jobs are written so that a second run does only what the first left undone (each
reminder is claimed once, each outbox row has its key).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from sqlalchemy import or_, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from bot.db import aware, in_transaction, insert_unless_present
from bot.db.models import JobRun, utcnow
from bot.settings import SERVICE_TZ

__all__ = ["SERVICE_TZ", "Job", "Scheduler"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Job:
    name: str
    run: Callable[[], Awaitable[object]]
    every: dt.timedelta | None = None
    daily_at: dt.time | None = None  # with tzinfo
    # Renewed every third of itself while the job runs: a process that dies running the
    # job loses it this long after its last renewal.
    lease: dt.timedelta = dt.timedelta(seconds=60)

    def due(self, last_started: dt.datetime | None, now: dt.datetime) -> bool:
        if self.every is not None:
            return last_started is None or now - last_started >= self.every
        assert self.daily_at is not None and self.daily_at.tzinfo is not None
        tz = self.daily_at.tzinfo
        local = now.astimezone(tz)
        today_at = dt.datetime.combine(local.date(), self.daily_at.replace(tzinfo=None), tz)
        if local < today_at:
            return False  # not yet today
        return last_started is None or last_started < today_at


def abandoned(
    started: dt.datetime | None,
    finished: dt.datetime | None,
    lease_until: dt.datetime | None,
    now: dt.datetime,
) -> bool:
    """Started, never finished since, and its lease ran out: whoever ran it died."""
    if started is None or (finished is not None and finished >= started):
        return False
    return lease_until is None or lease_until < now


def claim(session: Session, job: Job, *, owner: str, now: dt.datetime) -> bool:
    """Whether this process runs the job now: due (or abandoned), not running elsewhere,
    and nobody started it since we looked."""
    session.execute(insert_unless_present(session, JobRun, {"name": job.name}))
    row = session.scalar(select(JobRun).where(JobRun.name == job.name))
    assert row is not None
    last = aware(row.last_started_at) if row.last_started_at else None
    done = aware(row.last_finished_at) if row.last_finished_at else None
    lease = aware(row.lease_until) if row.lease_until else None
    if not (job.due(last, now) or abandoned(last, done, lease, now)):
        return False
    seen = (
        JobRun.last_started_at.is_(None)
        if row.last_started_at is None
        else JobRun.last_started_at == row.last_started_at
    )
    won = session.execute(
        update(JobRun)
        .where(
            JobRun.name == job.name,
            seen,
            or_(JobRun.lease_until.is_(None), JobRun.lease_until < now),
        )
        .values(lease_owner=owner, lease_until=now + job.lease, last_started_at=now)
        .returning(JobRun.name)
        # Compared in SQL only: the loaded row's naive SQLite datetimes would not compare
        # with an aware `now` in Python.
        .execution_options(synchronize_session=False)
    ).scalar_one_or_none()
    return won is not None


Run = tuple[dt.datetime | None, dt.datetime | None, dt.datetime | None]


def _last_runs(session: Session) -> dict[str, Run]:
    """Each job's last start, last finish and current lease, as the database has them."""
    return {
        row.name: (
            aware(row.last_started_at) if row.last_started_at else None,
            aware(row.last_finished_at) if row.last_finished_at else None,
            aware(row.lease_until) if row.lease_until else None,
        )
        for row in session.scalars(select(JobRun))
    }


def renew(session: Session, job: Job, *, owner: str, now: dt.datetime) -> bool:
    """Extend the lease of a job this process runs; False when it is no longer ours."""
    renewed = session.execute(
        update(JobRun)
        .where(JobRun.name == job.name, JobRun.lease_owner == owner)
        .values(lease_until=now + job.lease)
        .returning(JobRun.name)
    ).scalar_one_or_none()
    return renewed is not None


def finished(session: Session, job: Job, *, owner: str, now: dt.datetime) -> None:
    session.execute(
        update(JobRun)
        .where(JobRun.name == job.name, JobRun.lease_owner == owner)
        .values(lease_owner=None, lease_until=None, last_finished_at=now)
    )


class Scheduler:
    def __init__(
        self, sessions: sessionmaker[Session], jobs: Sequence[Job], *, tick_s: float = 1.0
    ) -> None:
        self._sessions = sessions
        self.jobs = tuple(jobs)
        self._tick_s = tick_s
        self._owner = uuid.uuid4().hex

    async def run_due(self, now: dt.datetime | None = None) -> list[str]:
        """Run every job that is due and that this process wins; their names."""
        moment = now or utcnow()
        # One read first: an idle tick writes nothing (on SQLite every write takes the
        # database's one write lock).
        runs = await in_transaction(self._sessions, _last_runs)
        ran = []
        for job in self.jobs:
            last, done, lease_until = runs.get(job.name, (None, None, None))
            if lease_until is not None and lease_until > moment:
                continue  # running elsewhere
            if not (job.due(last, moment) or abandoned(last, done, lease_until, moment)):
                continue
            if await self._run_if_won(job, moment):
                ran.append(job.name)
        return ran

    async def _run_if_won(self, job: Job, now: dt.datetime) -> bool:
        owner = self._owner
        if not await in_transaction(self._sessions, lambda s: claim(s, job, owner=owner, now=now)):
            return False
        heartbeat = asyncio.create_task(self._keep_lease(job))
        try:
            await job.run()
        except Exception:
            log.exception("job %s failed; it runs again when next due", job.name)
        finally:
            heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await heartbeat
            await in_transaction(
                self._sessions, lambda s: finished(s, job, owner=owner, now=utcnow())
            )
        return True

    async def _keep_lease(self, job: Job) -> None:
        """Renew the job's lease every third of it while the job runs."""
        owner, every = self._owner, job.lease.total_seconds() / 3
        while True:
            await asyncio.sleep(every)
            try:
                kept = await in_transaction(
                    self._sessions, lambda s: renew(s, job, owner=owner, now=utcnow())
                )
            except SQLAlchemyError:
                log.warning("job %s: lease not renewed (database unavailable)", job.name)
                continue
            if not kept:
                log.warning("job %s: lease lost to another process", job.name)
                return

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self.run_due()
            except SQLAlchemyError:
                log.warning("jobs: database unavailable; trying again shortly")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self._tick_s)
