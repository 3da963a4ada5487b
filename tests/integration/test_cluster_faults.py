"""Faults under load, on `expatbot cluster`: each test sends Telegram updates through the
proxy at a fixed rate (re-posting an update that got no 200, as Telegram does), breaks
one part in the middle, and counts what users got. Nothing may be lost (an acknowledged
update with no reply, or a message left `received`) and nothing sent twice (more
sendMessage calls to a chat than outbox rows delivered to it). Apologies are allowed
while a part is down, and counted.

The cluster runs on a PostgreSQL and a Redis of the module's own (the tests restart and
stop them), with two workers and the fake Telegram Bot API over HTTP. Each test prints
one line of figures (sent, acknowledged, answered, apologised, lost, sent twice, time to
recover); docs/operations.md keeps the table.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import os
import signal
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import httpx
import pytest
from sqlalchemy import create_engine, func, select, text, update

from bot.db import insert_unless_present, make_engine, make_sessionmaker, transaction
from bot.db.models import ChatIdentity, JobRun, Message, Outbox, Resident, utcnow
from bot.records.registry.demo import demo_csv
from bot.records.registry.importer import import_registry
from bot.settings import SERVICE_TZ, Settings
from tests.cluster_rig import (
    Cluster,
    CountingTelegram,
    OwnPostgres,
    OwnRedis,
    fake_telegram,
    need_haproxy,
    running_cluster,
    telegram_env,
)

pytestmark = pytest.mark.integration

REPLICAS = (
    "GATEWAY1_ADDR",
    "GATEWAY2_ADDR",
    "RASA1_ADDR",
    "RASA2_ADDR",
    "ACTIONS1_ADDR",
    "ACTIONS2_ADDR",
    "WORKER1_ADDR",
    "WORKER2_ADDR",
)
QUESTIONS = (
    ("en", "How do I extend my visa?"),
    ("zh", "签证快到期了怎么办"),
    ("ar", "كيف أسجل مكان إقامتي عند الشرطة؟"),
    ("ru", "Как получить карту иностранного торговца?"),
    ("fr", "Quels sont les numéros d'urgence ?"),
    ("es", "¿Dónde está el centro de servicios?"),
)
# How long Telegram keeps re-posting an update that got no 200 (it tries for hours;
# the test stops earlier and counts what never got through).
REPOST_FOR_S = 120.0


@dataclass
class Rig:
    cluster: Cluster
    postgres: OwnPostgres
    redis: OwnRedis
    telegram: CountingTelegram
    next_user: int = 100_000


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    need_haproxy()
    postgres, redis = OwnPostgres(), OwnRedis()
    postgres.init()
    postgres.start()
    redis.start()
    try:
        admin = create_engine(postgres.url(), isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text('CREATE DATABASE "expatbot"'))
        admin.dispose()
        with fake_telegram() as (telegram, base_url):
            env = telegram_env(base_url) | {
                "EXPATBOT_WORKERS": "2",
                # Shorter than production's 30 s, so that the chats held by a process
                # killed in a turn are free again within the test (the lease is the
                # Rasa timeout + 30 s); Rasa's lock stays below it.
                "RASA_TIMEOUT": "10",
                "TICKET_LOCK_LIFETIME": "8",
                # A job a killed worker held goes to the other one this long after.
                "EXPATBOT_JOB_LEASE": "12",
            }
            with running_cluster(
                database_url=postgres.url("expatbot"),
                redis_url=redis.url,
                var=tmp_path_factory.mktemp("faults"),
                replicas=REPLICAS,
                env=env,
            ) as cluster:
                yield Rig(cluster, postgres, redis, telegram)
    finally:
        redis.stop()
        postgres.stop()


# --- the load ------------------------------------------------------------------------------


@dataclass
class Sent:
    user: int
    posted: float
    acked: float | None = None
    posts: int = 0


@dataclass
class Figures:
    fault: str
    sent: int = 0
    acked: int = 0
    answered: int = 0
    apologised: int = 0
    other: int = 0
    lost: list[int] = field(default_factory=list)
    twice: list[int] = field(default_factory=list)
    recovery_s: float | None = None

    def line(self) -> str:
        recovery = "-" if self.recovery_s is None else f"{self.recovery_s:.1f}s"
        return (
            f"{self.fault}: sent {self.sent}, acknowledged {self.acked}, answered "
            f"{self.answered}, apologised {self.apologised}, other {self.other}, lost "
            f"{len(self.lost)}, sent twice {len(self.twice)}, recovered in {recovery}"
        )


async def _deliver(client: httpx.AsyncClient, rig: Rig, sent: Sent, update: dict) -> None:
    """Post until a 200, once a second, as Telegram does with an unacknowledged update."""
    url = f"{rig.cluster.url}telegram/webhook"
    headers = {"X-Telegram-Bot-Api-Secret-Token": telegram_env("")["TELEGRAM_WEBHOOK_SECRET"]}
    while time.monotonic() - sent.posted < REPOST_FOR_S:
        sent.posts += 1
        try:
            resp = await client.post(url, json=update, headers=headers)
            if resp.status_code == 200:
                sent.acked = time.monotonic()
                return
        except httpx.HTTPError:
            pass
        await asyncio.sleep(1.0)


async def drive(
    rig: Rig,
    *,
    rate: float,
    seconds: float,
    fault_at: float | None = None,
    fault: Callable[[], object] | None = None,
) -> tuple[list[Sent], float | None]:
    """Updates at ``rate`` a second for ``seconds`` (an open model: the pace does not wait
    for answers); ``fault`` runs in a thread at ``fault_at``. The fault's end time."""
    sent: list[Sent] = []
    tasks = []
    fault_task: asyncio.Task[float] | None = None

    def timed_fault() -> float:
        assert fault is not None
        fault()
        return time.monotonic()

    started = time.monotonic()
    async with httpx.AsyncClient(timeout=15) as client:
        for i in range(int(rate * seconds)):
            await asyncio.sleep(max(0.0, started + i / rate - time.monotonic()))
            if fault is not None and fault_task is None and i / rate >= (fault_at or 0):
                fault_task = asyncio.create_task(asyncio.to_thread(timed_fault))
            lang, question = QUESTIONS[i % len(QUESTIONS)]
            user = rig.next_user
            rig.next_user += 1
            update = rig.telegram.update(user, question, language_code=lang)
            item = Sent(user, time.monotonic())
            sent.append(item)
            tasks.append(asyncio.create_task(_deliver(client, rig, item, update)))
        ended = await fault_task if fault_task is not None else None
        await asyncio.gather(*tasks)
    return sent, ended


def _statuses(rig: Rig, users: list[int]) -> dict[int, str]:
    engine = make_engine(rig.cluster.database_url)
    try:
        with make_sessionmaker(engine)() as session:
            rows = session.execute(
                select(ChatIdentity.external_id, Message.status)
                .join(Message, Message.identity_id == ChatIdentity.id)
                .where(ChatIdentity.channel == "telegram", Message.direction == "in")
                .where(ChatIdentity.external_id.in_([str(u) for u in users]))
            ).all()
            return {int(external): status for external, status in rows}
    finally:
        engine.dispose()


def _delivered_rows(rig: Rig, users: list[int]) -> dict[int, int]:
    engine = make_engine(rig.cluster.database_url)
    try:
        with make_sessionmaker(engine)() as session:
            rows = session.execute(
                select(Outbox.recipient, func.count())
                .where(Outbox.channel == "telegram", Outbox.status == "delivered")
                .where(Outbox.recipient.in_([str(u) for u in users]))
                .group_by(Outbox.recipient)
            ).all()
            return {int(recipient): int(count) for recipient, count in rows}
    finally:
        engine.dispose()


def settle(rig: Rig, sent: list[Sent], fault: str, *, timeout: float = 150) -> Figures:
    """Wait until every acknowledged update is answered (or the timeout), then count."""
    users = [s.user for s in sent]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        statuses = _statuses(rig, users)
        waiting = [
            s.user
            for s in sent
            if s.acked is not None
            and (
                statuses.get(s.user, "received") == "received"
                or rig.telegram.delivered_to(s.user) == 0
            )
        ]
        if not waiting:
            break
        time.sleep(1.0)
    statuses = _statuses(rig, users)
    rows = _delivered_rows(rig, users)
    figures = Figures(fault, sent=len(sent), acked=sum(s.acked is not None for s in sent))
    for item in sent:
        status = statuses.get(item.user)
        if status == "answered":
            figures.answered += 1
        elif status == "failed":
            figures.apologised += 1
        elif status is not None and status != "received":
            figures.other += 1
        if item.acked is not None and (
            status in (None, "received") or rig.telegram.delivered_to(item.user) == 0
        ):
            figures.lost.append(item.user)
        if rig.telegram.delivered_to(item.user) > rows.get(item.user, 0):
            figures.twice.append(item.user)
    return figures


def first_answer_after(rig: Rig, sent: list[Sent], moment: float) -> float | None:
    """Seconds from ``moment`` to the posting of the first update after it that was
    answered (not apologised for): when users were served again."""
    statuses = _statuses(rig, [s.user for s in sent])
    after = [s for s in sent if s.posted >= moment and statuses.get(s.user) == "answered"]
    return min(s.posted for s in after) - moment if after else None


def report(capsys: pytest.CaptureFixture[str], figures: Figures) -> None:
    with capsys.disabled():
        print(f"\n  fault figures | {figures.line()}")


def check(figures: Figures) -> None:
    assert figures.acked == figures.sent, figures.line()
    assert figures.lost == [], figures.line()
    assert figures.twice == [], figures.line()


# --- the faults ----------------------------------------------------------------------------


async def kill_9_under_load(rig: Rig, var: str, server: str, fault: str) -> Figures:
    """kill -9 of one replica 4 s into 12 s of load; recovered when the proxy has the
    replica (restarted by the supervisor) back in rotation."""
    killed: list[float] = []

    def kill() -> None:
        killed.append(time.monotonic())
        os.kill(rig.cluster.pid(var), signal.SIGKILL)

    sent, _ = await drive(rig, rate=4, seconds=12, fault_at=4, fault=kill)
    rig.cluster.wait_server(server, "UP", timeout=240)
    back = time.monotonic()
    figures = settle(rig, sent, fault)
    figures.recovery_s = back - killed[0]
    return figures


async def test_kill_9_of_a_gateway_under_load(rig: Rig, capsys: pytest.CaptureFixture) -> None:
    figures = await kill_9_under_load(rig, "GATEWAY1_ADDR", "gateway1", "kill -9 of a gateway")
    report(capsys, figures)
    check(figures)


async def test_kill_9_of_a_rasa_server_under_load(rig: Rig, capsys: pytest.CaptureFixture) -> None:
    figures = await kill_9_under_load(rig, "RASA1_ADDR", "rasa1", "kill -9 of a Rasa server")
    report(capsys, figures)
    check(figures)


async def test_the_action_servers_down_for_30_seconds(
    rig: Rig, capsys: pytest.CaptureFixture
) -> None:
    """Both action servers stop answering (SIGSTOP: a hung server that keeps its port)."""
    frozen: list[int] = []

    def freeze_for_30s() -> None:
        for var in ("ACTIONS1_ADDR", "ACTIONS2_ADDR"):
            pid = rig.cluster.pid(var)
            os.kill(pid, signal.SIGSTOP)
            frozen.append(pid)
        time.sleep(30)
        for pid in frozen:  # the supervisor may have replaced them meanwhile
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)

    sent, ended = await drive(rig, rate=3, seconds=38, fault_at=3, fault=freeze_for_30s)
    for name in ("actions1", "actions2"):
        rig.cluster.wait_server(name, "UP", timeout=180)
    figures = settle(rig, sent, "action servers down 30 s")
    assert ended is not None
    figures.recovery_s = first_answer_after(rig, sent, ended)
    report(capsys, figures)
    check(figures)


async def test_redis_down_for_60_seconds(rig: Rig, capsys: pytest.CaptureFixture) -> None:
    def down_for_60s() -> None:
        rig.redis.stop()
        time.sleep(60)
        rig.redis.start()

    sent, ended = await drive(rig, rate=2, seconds=68, fault_at=3, fault=down_for_60s)
    figures = settle(rig, sent, "Redis down 60 s")
    assert ended is not None
    figures.recovery_s = first_answer_after(rig, sent, ended)
    report(capsys, figures)
    check(figures)


async def test_postgresql_restarted_under_load(rig: Rig, capsys: pytest.CaptureFixture) -> None:
    sent, ended = await drive(rig, rate=4, seconds=12, fault_at=4, fault=rig.postgres.restart)
    figures = settle(rig, sent, "PostgreSQL restarted")
    assert ended is not None
    figures.recovery_s = first_answer_after(rig, sent, ended)
    report(capsys, figures)
    check(figures)


async def test_telegram_429_to_one_send_in_ten(rig: Rig, capsys: pytest.CaptureFixture) -> None:
    fake = rig.telegram
    fake.every_nth_429 = 10
    try:
        sent, _ = await drive(rig, rate=4, seconds=12)
        figures = settle(rig, sent, "Telegram 429 to one send in ten")
    finally:
        fake.every_nth_429 = 0
    report(capsys, figures)
    check(figures)
    assert fake.limited, "no 429 was given: the test tested nothing"
    # Never faster than Telegram said: after a 429 with retry_after, that chat's next
    # try waited at least that long.
    attempts = list(fake.attempts)
    for at, chat, retry_after in fake.limited:
        later = [t for t, c in attempts if c == chat and t > at]
        assert later, f"chat {chat} was never tried again after its 429"
        assert min(later) - at >= retry_after - 0.05, (chat, min(later) - at)
    # And within the bot's limits: one chat at most 3 in any second (1 a second with a
    # burst of 3); the bot at most 30 a second.
    times = sorted(t for t, _ in attempts)
    assert max(sum(1 for u in times if t <= u < t + 1) for t in times) <= 30
    for chat in {c for _, c in attempts}:
        own = sorted(t for t, c in attempts if c == chat)
        assert max(sum(1 for u in own if t <= u < t + 1) for t in own) <= 3, chat


async def test_reminders_in_two_workers_while_one_is_killed(
    rig: Rig, capsys: pytest.CaptureFixture
) -> None:
    """Today's reminders are sent while a worker dies in the middle: each exactly once."""
    today = dt.datetime.now(SERVICE_TZ).date()
    engine = make_engine(rig.cluster.database_url)
    sessions = make_sessionmaker(engine)
    with transaction(sessions) as session:
        report_ = import_registry(
            session,
            demo_csv(count=160, seed=14, today=today).encode(),
            key=Settings().registry_hash_key.encode(),  # type: ignore[call-arg]
        )
        assert not report_.errors
    reminded: list[int] = []
    with transaction(sessions) as session:
        linked = set(session.scalars(select(ChatIdentity.resident_id)))
        for resident in session.scalars(select(Resident).order_by(Resident.id)):
            if resident.id in linked:
                continue  # the demo data's own chats
            user = 700_000 + resident.id
            session.add(
                ChatIdentity(
                    channel="telegram",
                    external_id=str(user),
                    resident_id=resident.id,
                    language="en",
                    linked_at=utcnow(),
                )
            )
            # What the reminders job is for: a valid visa or permit ending within 30 days.
            if any(
                d.status == "valid" and 1 <= (d.expires_on - today).days <= 30
                for d in resident.documents
            ):
                reminded.append(user)
        # As if the worker running today's reminders had died before starting them: the
        # next worker to look takes the job (whatever the time of day). Before 09:00 in
        # Yiwu no worker has run the job yet, so its row may not exist (the test failed
        # then: the update changed nothing).
        session.execute(insert_unless_present(session, JobRun, {"name": "reminders"}))
        session.execute(
            update(JobRun)
            .where(JobRun.name == "reminders")
            .values(
                last_started_at=utcnow() - dt.timedelta(hours=1),
                last_finished_at=None,
                lease_owner="dead",
                lease_until=utcnow() - dt.timedelta(seconds=1),
            )
        )
    engine.dispose()
    assert len(reminded) >= 40, "too few reminders due: the test would test little"
    started = time.monotonic()
    deadline = started + 60
    while not any(rig.telegram.delivered_to(u) for u in reminded):
        assert time.monotonic() < deadline, "no reminder went out within a minute"
        await asyncio.sleep(0.1)
    os.kill(rig.cluster.pid("WORKER1_ADDR"), signal.SIGKILL)
    killed = time.monotonic()
    deadline = killed + 180
    while sum(1 for u in reminded if rig.telegram.delivered_to(u)) < len(reminded):
        if time.monotonic() > deadline:
            break
        await asyncio.sleep(0.5)
    counts = {u: rig.telegram.delivered_to(u) for u in reminded}
    figures = Figures(
        "reminders, two workers, one killed",
        sent=len(reminded),
        acked=len(reminded),
        answered=sum(1 for n in counts.values() if n == 1),
        lost=[u for u, n in counts.items() if n == 0],
        twice=[u for u, n in counts.items() if n > 1],
        recovery_s=time.monotonic() - killed,
    )
    report(capsys, figures)
    assert figures.lost == [] and figures.twice == [], figures.line()
