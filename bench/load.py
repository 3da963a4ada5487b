"""Load: simulated users on the web chat and Telegram, against the whole system as an
operator starts it, step by step in rate; then what the database says was lost or doubled.

Per target, started as a subprocess exactly as an operator starts it, on 127.0.0.1:

- ``default``: ``.venv/bin/python -m bot.ops.cli run`` (what ``make run`` starts: a
  gateway, a Rasa server and an action server), SQLite in a fresh temp dir
  (``EXPATBOT_VAR``), free ports in ``GATEWAY_PORT``, ``RASA_PORT``, ``ACTION_PORT``;
- ``cluster``: ``.venv/bin/python -m bot.ops.cli cluster`` (deploy/haproxy.cfg: HAProxy,
  two gateways, two Rasa servers, two action servers, a worker) on a new PostgreSQL
  database (dropped at the end, with its ``_rasa`` tracker database) and Redis db 4.

Both with the Telegram channel on in webhook mode, pointed at a fake Bot API served by
this process (tests/fakes/telegram_api.py), and 300 synthetic residents imported into the
registry (bot.records.registry.demo) so that users can link their chats.

Simulated users, in an open model: a scheduler sends one message every 1/R s, whatever
the system does; at each tick it takes a user who is ready to write (not waiting for a
reply, and done thinking: ``--think-s``, 3 to 10 s after a reply by default, as a person
reads it and types on a phone) or makes a new one, and sends that user's next message.
With ``--think-s 0,0`` users write again as soon as they have their reply: then
Telegram's limit of about one message a second per chat (which the outbox keeps, after a
burst of 3) holds replies back, and that, not the system, is most of Telegram's p95.
New users alternate between the channels:

- web chat: ``GET /``, then ``POST /api/webchat/messages``; the reply is in the response
  (a cookie jar per user: its own chat session);
- Telegram: an update posted to ``/telegram/webhook`` (200 once stored); the user takes
  the first ``sendMessage`` the fake Bot API receives for its chat after the post as the
  reply, and is idle again 0.3 s later (the rest of a reply in several messages).

Each user holds one conversation in one of en, zh, ar, ru, fr, es
(bench/load_conversations.py): policy questions (60 %), linking and a lookup (20 %), a
complaint cancelled half-way (10 %), asking for a person (10 %; the message for staff
gets no reply, by design).

The figures, one row per step and target:

- ``sent``: messages sent in the step (``web:tg``: per channel);
- ``msg/s``: replies received during the step divided by its duration (a message for
  staff gets no reply, so a healthy system stays a few % under the rate asked);
- ``p50/p95/p99``: reply time in ms of the step's messages that got a reply (web: the
  request; Telegram: post -> the fake receives the first part of that message's own
  reply, found after the drain from its outbox row: in the moment, under load, the first
  sendMessage after a post can be the late part of the previous reply), both channels
  together, then the p95 of each channel. The rows printed as each step ends use the
  in-the-moment times and the replies so far; the table at the end is the one to read;
- ``http``: HTTP errors (not 200, or no connection); ``timeout``: no reply within
  ``--timeout-s``; ``apology``: messages the database holds as ``failed`` (the user got
  an apology instead of an answer); ``still``: web requests that stopped waiting and said
  "still working" (the answer then goes through the outbox). The gateway waits
  RASA_TIMEOUT + 15 s (45 s by default) before it says so: with ``--timeout-s`` below
  that, such a request counts as a timeout here instead.

After the last step, a drain (until no message is ``received`` and no Telegram reply is
waiting in the outbox, at most 60 s), then the database is checked:

- ``lost``: messages acknowledged with 200 that are not stored, or still ``received``,
  or (Telegram) handled with a reply but no sendMessage reached the fake for that chat
  after the post;
- ``answered twice``: Telegram sendMessage calls beyond the outbox rows ``delivered`` to
  that chat; web messages with two identical replies in the transcript.

Both should be 0. Then the highest rate whose p95 stayed under 2 s, and per process group
of the target (each supervised process is one) its resident memory (VmRSS, summed over
the group) near the end of the highest step, with the CPU it used from the step's start
until then, as a share of one core; and over the same span, from each gateway's and
worker's /metrics (``expatbot_db_total``), the transactions, SQL statements and pool
checkouts per message handled. ``LOAD_POSTGRES_ADMIN`` names another PostgreSQL for the
cluster's databases (e.g. one with pg_stat_statements loaded).
Timing is printed, never asserted.

Usage: .venv/bin/python bench/load.py [--targets default,cluster] [--rates 5,10,20,30]
           [--step-s 30] [--channels webchat,telegram] [--timeout-s 30] [--seed 2026]
           [--soak 30:300]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import csv
import datetime as dt
import heapq
import io
import itertools
import math
import os
import platform
import random
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families
from starlette.responses import JSONResponse

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from load_conversations import (
    ACCEPT_LANGUAGE,
    FLOW_WEIGHTS,
    LANGUAGES,
    Line,
    Resident,
    conversation,
)
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.orm import aliased

from bot.answers.render import to_html
from bot.db import make_engine, make_sessionmaker, transaction
from bot.db.models import ChatIdentity, Handoff, Message, Outbox
from bot.ops import ports
from bot.records.registry.demo import demo_csv
from bot.records.registry.importer import import_registry
from bot.settings import PROJECT_ROOT, Settings
from tests.fakes.telegram_api import FakeTelegram
from tests.telegram_rig import serve

DEFAULT_READY = "web chat: http://"
CLUSTER_READY = "cluster ready: users connect to "
# Where the cluster's database is created: the machine's PostgreSQL, or another (e.g. one
# with pg_stat_statements loaded, to see which statements a turn costs).
POSTGRES_ADMIN = os.environ.get(
    "LOAD_POSTGRES_ADMIN", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
REDIS_URL = "redis://127.0.0.1:6379/4"
TELEGRAM_TOKEN = "123456:ABC-load-bench-token"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
METRICS_TOKEN = secrets.token_urlsafe(24)
# 16+ characters of A-Z a-z 0-9 _ - (token_urlsafe's alphabet), one per bench run.
WEBHOOK_SECRET = secrets.token_urlsafe(24)
# Telegram user ids of the simulated users: far from any the tests use.
TELEGRAM_ID_BASE = 7_100_000_000
RESIDENTS = 300
# The first training of the model takes minutes; a cluster starts seven processes.
READY_TIMEOUT_S = 900
STOP_TIMEOUT_S = 90
DRAIN_S = 60
# A Telegram reply may come in several messages: the user waits this long after the first.
SETTLE_S = 0.3
P95_GOAL_MS = 2000.0
# Final states after which the assistant sent something (with_staff: nothing, by design).
REPLIED_STATES = frozenset({"answered", "rejected", "failed"})


# The fake Bot API ---------------------------------------------------------------------------


class LoadTelegram(FakeTelegram):
    """The fake Bot API, telling the user waiting in a chat when a sendMessage arrives."""

    def __init__(self, token: str) -> None:
        super().__init__(token)
        self.waiting: dict[int, asyncio.Future[float]] = {}
        # (monotonic time, chat id, text) of every sendMessage delivered.
        self.sends: list[tuple[float, int, str]] = []

    def expect(self, chat_id: int) -> asyncio.Future[float]:
        """A future set to the moment of the chat's next delivered sendMessage."""
        future: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        self.waiting[chat_id] = future
        return future

    def forget(self, chat_id: int, future: asyncio.Future[float]) -> None:
        if self.waiting.get(chat_id) is future:
            del self.waiting[chat_id]

    def _send_message(self, params: dict[str, Any]) -> JSONResponse:
        resp = super()._send_message(params)
        if resp.status_code == 200:
            at, chat = self.delivered[-1]
            self.sends.append((at, chat, str(params.get("text", ""))))
            future = self.waiting.pop(chat, None)
            if future is not None and not future.done():
                future.set_result(at)
        return resp


# The target, as an operator starts it ---------------------------------------------------------


def python() -> str:
    venv = PROJECT_ROOT / ".venv" / "bin" / "python"
    return str(venv) if venv.exists() else sys.executable


def free_addr() -> str:
    return f"127.0.0.1:{ports.free_port()}"


@dataclass
class Target:
    """A running ``expatbot run`` or ``expatbot cluster`` and what it printed."""

    kind: str
    process: subprocess.Popen[str]
    database_url: str
    var: Path
    ready_prefix: str
    output: list[str] = field(default_factory=list)
    ready: threading.Event = field(default_factory=threading.Event)
    base_url: str = ""
    # Every process group seen under the target: each supervised process has its own
    # session, so that a group left behind after the supervisor stopped can be ended.
    groups: set[int] = field(default_factory=set)

    def read_output(self) -> None:
        assert self.process.stdout is not None
        with open(self.var / "target-output.log", "w") as log:
            for line in self.process.stdout:
                log.write(line)
                log.flush()
                self.output.append(line)
                if line.startswith(self.ready_prefix) and not self.ready.is_set():
                    self.base_url = line.strip().split()[-1]
                    self.ready.set()

    async def wait_ready(self, timeout: float) -> float:
        started = time.monotonic()
        while not self.ready.is_set():
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.kind} exited with code {self.process.returncode}")
            if time.monotonic() - started > timeout:
                raise RuntimeError(f"{self.kind} not ready after {timeout:.0f} s")
            await asyncio.sleep(0.2)
        return time.monotonic() - started

    def log_tail(self) -> str:
        tails = ["--- its output\n" + "".join(self.output[-30:])]
        for path in sorted(self.var.glob("**/log/*.log")):
            tails.append(f"--- {path.name}\n{path.read_text(errors='replace')[-1200:]}")
        return "\n".join(tails)

    def remember_groups(self) -> None:
        for pid in [self.process.pid, *descendants(self.process.pid)]:
            with contextlib.suppress(OSError):
                self.groups.add(os.getpgid(pid))

    def stop(self) -> list[str]:
        """SIGTERM to the target's group, then to any group it left; what happened."""
        notes: list[str] = []
        self.remember_groups()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            notes.append(f"did not stop within {STOP_TIMEOUT_S} s of SIGTERM: killed")
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)
        if self.process.returncode not in (0, -signal.SIGTERM):
            notes.append(f"exited with code {self.process.returncode}")
        for pgid in sorted(self.groups):
            if ports.group_members(pgid):
                notes.append(f"process group {pgid} outlived the supervisor: ended")
                end_group(pgid)
        return notes


def end_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGTERM)
    deadline = time.monotonic() + 10
    while ports.group_members(pgid) and time.monotonic() < deadline:
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


def target_env(kind: str, var: Path, telegram_port: int, database_url: str) -> dict[str, str]:
    env = dict(os.environ)
    # The target makes its own secrets, as in development; the database is its own.
    for name in ("RASA_TOKEN", "ACTION_SERVER_TOKEN", "DATABASE_URL"):
        env.pop(name, None)
    env |= {
        "EXPATBOT_VAR": str(var),
        # Known here, so that the bench can read each process's database work.
        "METRICS_TOKEN": METRICS_TOKEN,
        "TELEGRAM_BOT_TOKEN": TELEGRAM_TOKEN,
        "TELEGRAM_BASE_URL": f"http://127.0.0.1:{telegram_port}/bot",
        "TELEGRAM_WEBHOOK_SECRET": WEBHOOK_SECRET,
    }
    if kind == "default":
        for name in ("GATEWAY_PORT", "RASA_PORT", "ACTION_PORT"):
            env[name] = str(ports.free_port())
    else:
        env |= {
            "DATABASE_URL": database_url,
            "REDIS_URL": REDIS_URL,
            "PROXY_ADDR": free_addr(),
            "STATS_ADDR": free_addr(),
            # Also the two inner doors, which deploy/cluster.env fixes at 5004 and 5054:
            # another cluster on this machine would hold them.
            "RASA_PROXY_ADDR": free_addr(),
            "ACTIONS_PROXY_ADDR": free_addr(),
        }
    return env


def start_target(kind: str, var: Path, telegram_port: int, database_url: str) -> Target:
    command = [python(), "-m", "bot.ops.cli", "run" if kind == "default" else "cluster"]
    process = subprocess.Popen(
        command,
        cwd=PROJECT_ROOT,
        env=target_env(kind, var, telegram_port, database_url),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    target = Target(
        kind,
        process,
        database_url,
        var,
        ready_prefix=DEFAULT_READY if kind == "default" else CLUSTER_READY,
    )
    threading.Thread(target=target.read_output, daemon=True).start()
    return target


def create_database() -> str:
    name = f"expatbot_load_{uuid.uuid4().hex[:10]}"
    admin = create_engine(POSTGRES_ADMIN, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        admin.dispose()
    return POSTGRES_ADMIN.rsplit("/", 1)[0] + "/" + name


def drop_database(database_url: str) -> None:
    name = database_url.rsplit("/", 1)[1]
    admin = create_engine(POSTGRES_ADMIN, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            for db in (name, f"{name}_rasa"):
                conn.execute(text(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)'))
    finally:
        admin.dispose()


def import_residents(database_url: str, seed: int) -> list[Resident]:
    """The synthetic registry, imported as ``expatbot run`` imports its demo data; the
    residents as users will type them."""
    raw = demo_csv(count=RESIDENTS, seed=seed)
    engine = make_engine(database_url)
    key = Settings().registry_hash_key.encode()
    try:
        with transaction(make_sessionmaker(engine)) as session:
            report = import_registry(session, raw.encode(), key=key)
    finally:
        engine.dispose()
    if not report.ok:
        raise RuntimeError(f"registry import refused: {report}")
    return [
        Resident(row["card_number"], dt.date.fromisoformat(row["date_of_birth"]))
        for row in csv.DictReader(io.StringIO(raw))
    ]


# Processes and their memory -------------------------------------------------------------------


def descendants(root: int) -> list[int]:
    """Every process under ``root`` (Linux /proc: each thread's children)."""
    found: list[int] = []
    todo = [root]
    while todo and len(found) < 10_000:
        pid = todo.pop()
        for children in Path(f"/proc/{pid}/task").glob("*/children"):
            try:
                kids = [int(p) for p in children.read_text().split()]
            except OSError:
                continue
            found += kids
            todo += kids
    return found


def command_label(pid: int) -> str:
    cmd = ports.command_of(pid)
    for needle, label in (
        ("bot.ops.cli gateway", "gateway"),
        ("bot.ops.cli worker", "worker"),
        ("rasa_addons.serve", "Rasa"),
        ("actions.server", "action server"),
        ("bot.ops.cli run", "supervisor (expatbot run)"),
        ("bot.ops.cli cluster", "supervisor (expatbot cluster)"),
    ):
        if needle in cmd:
            return label
    first = cmd.split(" ", 1)[0]
    return "haproxy" if first.endswith("haproxy") else Path(first).name or "?"


def listening_ports() -> dict[str, int]:
    """Every listening TCP socket's inode -> its port (Linux /proc/net)."""
    found: dict[str, int] = {}
    for table in ("tcp", "tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/net/{table}").read_text().splitlines()[1:]:
                fields = line.split()
                if len(fields) >= 10 and fields[3] == "0A":  # 0A: LISTEN
                    found[fields[9]] = int(fields[1].rsplit(":", 1)[1], 16)
    return found


def ports_of(pids: list[int], listening: dict[str, int]) -> list[int]:
    """The ports the processes listen on: tells two replicas apart, even restarted."""
    found: set[int] = set()
    for pid in pids:
        with contextlib.suppress(OSError):
            for fd in Path(f"/proc/{pid}/fd").iterdir():
                with contextlib.suppress(OSError):
                    link = os.readlink(fd)
                    if link.startswith("socket:[") and link[8:-1] in listening:
                        found.add(listening[link[8:-1]])
    return sorted(found)


def cpu_seconds(pid: int) -> float:
    """User and system CPU time of a process so far (Linux /proc); 0 when it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_by_pid(target: Target) -> dict[int, float]:
    return {p: cpu_seconds(p) for p in [target.process.pid, *descendants(target.process.pid)]}


def rss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def machine_speed() -> str:
    """How fast this machine runs Python now: a fixed loop's time. The machine is shared
    (a VM), and within an hour the same loop took from 0.85 s to 1.6 s; every figure of
    a run moves with it, so a run says what it had. (Measured while the target idles.)"""
    started = time.perf_counter()
    total = 0
    for i in range(5_000_000):
        total += i * i
    return f"a fixed loop took {time.perf_counter() - started:.2f} s"


def outside_cpu() -> dict[str, float]:
    """CPU seconds so far of what shares the machine with the target: this bench (the
    users and the fake Telegram) and every PostgreSQL process on the machine (the
    cluster's database; for the default, other users of PostgreSQL, if any)."""
    found = {"the bench (users, fake Telegram)": cpu_seconds(os.getpid())}
    postgres = 0.0
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            with contextlib.suppress(OSError):
                if (proc / "comm").read_text().strip() == "postgres":
                    postgres += cpu_seconds(int(proc.name))
    found["PostgreSQL (every postgres process)"] = postgres
    return found


def database_work(ports_by_label: dict[str, int]) -> dict[str, Counter[str]]:
    """Each gateway's and worker's database counters and messages handled so far, read
    from its /metrics (``expatbot_db_total``, ``expatbot_messages_handled_total``)."""
    found: dict[str, Counter[str]] = {}
    for label, port in ports_by_label.items():
        try:
            response = httpx.get(
                f"http://127.0.0.1:{port}/metrics",
                headers={"Authorization": f"Bearer {METRICS_TOKEN}"},
                timeout=5,
            )
        except httpx.HTTPError:
            continue
        if response.status_code != 200:
            continue
        counts: Counter[str] = Counter()
        for family in text_string_to_metric_families(response.text):
            for sample in family.samples:
                if sample.name == "expatbot_db_total":
                    counts[sample.labels["what"]] += sample.value
                elif sample.name == "expatbot_messages_handled_total":
                    counts["handled"] += sample.value
        found[label] = counts
    return found


def database_ports(target: Target) -> dict[str, int]:
    """The HTTP port of each gateway and worker under the target (default: the gateway)."""
    listening = listening_ports()
    found: dict[str, int] = {}
    for pid in descendants(target.process.pid):
        label = command_label(pid)
        if label not in ("gateway", "worker"):
            continue
        served = ports_of([pid], listening)
        if served:
            found[f"{label} :{served[0]}"] = served[0]
    return found


def database_notes(before: dict[str, Counter[str]], after: dict[str, Counter[str]]) -> list[str]:
    """Transactions, statements and pool checkouts per message handled, per process and
    in all: what a turn costs the database."""
    total: Counter[str] = Counter()
    lines = []
    for label in sorted(after):
        delta = Counter(after[label])
        delta.subtract(before.get(label, Counter()))
        total.update(delta)
        lines.append((label, delta))
    handled = total["handled"]
    if handled <= 0:
        return []
    notes = [f"database work per message handled ({handled:.0f} handled in the span):"]
    for label, delta in [*lines, ("all", total)]:
        per = {what: delta[what] / handled for what in ("commit", "statement", "checkout")}
        notes.append(
            f"  {label:<20} transactions {per['commit']:5.1f}  statements "
            f"{per['statement']:5.1f}  pool checkouts {per['checkout']:5.1f}"
        )
    return notes


@dataclass
class GroupUsage:
    label: str
    processes: int
    rss_mib: float
    # CPU time over the sampled span, as a share of one core (1.0: one core all the time).
    cpu_share: float


def usage(target: Target, cpu_before: dict[int, float], elapsed: float) -> list[GroupUsage]:
    """Resident memory and CPU of each process group under the target, labelled by the
    command line of its leader and, for a replica, the port it listens on. CPU counts
    from ``cpu_before`` (a process started since, e.g. restarted, from its start)."""
    target.remember_groups()
    groups: dict[int, list[int]] = {}
    for pid in [target.process.pid, *descendants(target.process.pid)]:
        with contextlib.suppress(OSError):
            groups.setdefault(os.getpgid(pid), []).append(pid)
    listening = listening_ports()
    labels: dict[int, str] = {}
    for pgid, pids in groups.items():
        label = command_label(pgid if pgid in pids else pids[0])
        served = ports_of(pids, listening)
        labels[pgid] = f"{label} :{served[0]}" if len(served) == 1 else label
    rows = []
    for pgid in sorted(groups, key=lambda g: (labels[g], g)):
        name = labels[pgid]
        pids = groups[pgid]
        cpu = sum(max(0.0, cpu_seconds(p) - cpu_before.get(p, 0.0)) for p in pids)
        rss = sum(rss_kib(p) for p in pids) / 1024
        rows.append(GroupUsage(name, len(pids), rss, cpu / elapsed if elapsed > 0 else math.nan))
    return rows


# Simulated users ------------------------------------------------------------------------------


@dataclass
class Sent:
    """One message of a simulated user, and what became of it."""

    step: int
    channel: str  # "webchat" | "telegram"
    key: str  # the channel's message id: the web page's id, Telegram's update_id
    chat: int  # Telegram's chat id; 0 on the web chat
    expects_reply: bool
    sent_at: float = 0.0
    acked: bool = False  # HTTP 200
    reply_at: float | None = None
    http_error: str | None = None
    timed_out: bool = False
    still_working: bool = False
    status: str | None = None  # in the database, after the drain

    @property
    def reply_ms(self) -> float | None:
        return None if self.reply_at is None else (self.reply_at - self.sent_at) * 1000


@dataclass
class User:
    number: int
    channel: str
    language: str
    flow: str
    lines: list[Line]
    position: int = 0
    client: httpx.AsyncClient | None = None  # web chat: its own cookie jar
    telegram_id: int = 0

    @property
    def done(self) -> bool:
        return self.position >= len(self.lines)


class SharedTransport(httpx.AsyncBaseTransport):
    """Connection pools shared by many clients (one per web user, for its cookies).

    Several pools, taken in turn: httpcore looks through every connection of a pool for
    each request, and with hundreds of users waiting at once (a target past its limit)
    one pool of them all was most of the bench's own CPU (py-spy), taken from the target
    it measures on the same cores."""

    POOLS = 16

    def __init__(self, limits: httpx.Limits) -> None:
        self.pools = [httpx.AsyncHTTPTransport(limits=limits) for _ in range(self.POOLS)]
        self._turn = itertools.cycle(self.pools)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return await next(self._turn).handle_async_request(request)

    async def aclose(self) -> None:
        pass  # a user's client closing must not close everyone's pools

    async def close_pools(self) -> None:
        for pool in self.pools:
            await pool.aclose()


@dataclass
class Window:
    """One step as it ran: its rate, its span (monotonic), how far the sender lagged."""

    rate: float
    start: float
    end: float
    lag_s: float


class Load:
    """The users of one target and the scheduler that makes them write."""

    def __init__(
        self,
        *,
        base_url: str,
        fake: LoadTelegram,
        residents: list[Resident],
        channels: list[str],
        timeout_s: float,
        seed: int,
        think_s: tuple[float, float] = (0.0, 0.0),
    ) -> None:
        self.base = base_url.rstrip("/")
        # How long a user takes, after a reply, before the next message is due (reading,
        # typing): a user is eligible again only then.
        self.think_s = think_s
        self.fake = fake
        self.channels = channels
        self.timeout_s = timeout_s
        self.rng = random.Random(seed)
        self.residents = itertools.cycle(residents)
        limits = httpx.Limits(max_connections=None, max_keepalive_connections=500)
        self.shared = SharedTransport(limits)
        self.poster = httpx.AsyncClient(transport=self.shared, timeout=timeout_s)
        self.users: list[User] = []
        # Users between messages, by when they are ready to write again (then by number).
        self.idle: list[tuple[float, int, User]] = []
        self.records: list[Sent] = []
        self.tasks: set[asyncio.Task[None]] = set()

    # Who writes next ---------------------------------------------------------------------

    def _new_user(self) -> User:
        n = len(self.users)
        channel = self.channels[n % len(self.channels)]
        lang = self.rng.choice(LANGUAGES)
        flow = self.rng.choices(list(FLOW_WEIGHTS), weights=list(FLOW_WEIGHTS.values()))[0]
        resident = next(self.residents) if flow == "link" else None
        user = User(n + 1, channel, lang, flow, conversation(flow, lang, self.rng, resident))
        if channel == "webchat":
            user.client = httpx.AsyncClient(
                base_url=self.base,
                transport=self.shared,
                timeout=self.timeout_s,
                headers={"Accept-Language": ACCEPT_LANGUAGE[lang]},
            )
        else:
            user.telegram_id = TELEGRAM_ID_BASE + n
        self.users.append(user)
        return user

    def _next_user(self) -> User:
        """The user who has been ready longest, else a new one (the open model: the
        arrival rate does not wait for anyone)."""
        if self.idle and self.idle[0][0] <= time.monotonic():
            return heapq.heappop(self.idle)[2]
        return self._new_user()

    async def run_step(self, index: int, rate: float, seconds: float) -> Window:
        """One message every 1/rate s for ``seconds``, whatever the replies do."""
        period = 1.0 / rate
        ticks = max(1, round(rate * seconds))
        start = time.monotonic()
        lag = 0.0
        for k in range(ticks):
            delay = start + k * period - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            else:
                lag = max(lag, -delay)
            self._launch(self._next_user(), index)
        end = start + ticks * period
        await asyncio.sleep(max(0.0, end - time.monotonic()))
        return Window(rate, start, end, lag)

    def _launch(self, user: User, step: int) -> None:
        task = asyncio.create_task(self._turn(user, step))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def finish(self) -> None:
        """The messages under way: each ends within its timeout (and a margin)."""
        if self.tasks:
            await asyncio.wait(set(self.tasks), timeout=self.timeout_s + 10)
        for task in list(self.tasks):
            task.cancel()
        for user in self.users:
            if user.client is not None:
                await user.client.aclose()
        await self.poster.aclose()
        await self.shared.close_pools()

    # One message -------------------------------------------------------------------------

    async def _turn(self, user: User, step: int) -> None:
        line = user.lines[user.position]
        user.position += 1
        try:
            if user.channel == "webchat":
                await self._web(user, line, step)
            else:
                await self._telegram(user, line, step)
        finally:
            if not user.done:
                low, high = self.think_s
                ready = time.monotonic() + self.rng.uniform(low, high)
                heapq.heappush(self.idle, (ready, user.number, user))

    async def _web(self, user: User, line: Line, step: int) -> None:
        assert user.client is not None
        record = Sent(step, "webchat", uuid.uuid4().hex, 0, line.expects_reply)
        self.records.append(record)
        record.sent_at = time.monotonic()
        try:
            async with asyncio.timeout(self.timeout_s):
                if user.position == 1:  # a browser opens the page first
                    page = await user.client.get("/")
                    if page.status_code != 200:
                        record.http_error = f"page: HTTP {page.status_code}"
                        return
                    record.sent_at = time.monotonic()
                resp = await user.client.post(
                    "/api/webchat/messages",
                    json={"id": record.key, "text": line.text, "button": False},
                    headers={"Origin": self.base},
                )
        except (TimeoutError, httpx.TimeoutException):
            record.timed_out = True
            return
        except httpx.HTTPError as exc:
            record.http_error = exc.__class__.__name__
            return
        answered_at = time.monotonic()
        if resp.status_code != 200:
            record.http_error = f"HTTP {resp.status_code}"
            return
        record.acked = True
        if resp.json().get("pending"):
            record.still_working = True  # the answer comes later, through the outbox
        elif line.expects_reply:
            record.reply_at = answered_at

    async def _telegram(self, user: User, line: Line, step: int) -> None:
        chat = user.telegram_id
        update = self.fake.update(chat, line.text, language_code=user.language)
        record = Sent(step, "telegram", str(update["update_id"]), chat, line.expects_reply)
        self.records.append(record)
        # Waited for from before the post: the reply may come before the 200 does.
        waiter = self.fake.expect(chat) if line.expects_reply else None
        record.sent_at = time.monotonic()
        try:
            async with asyncio.timeout(self.timeout_s):
                resp = await self.poster.post(
                    f"{self.base}/telegram/webhook",
                    json=update,
                    headers={SECRET_HEADER: WEBHOOK_SECRET},
                )
                if resp.status_code != 200:
                    record.http_error = f"HTTP {resp.status_code}"
                    return
                record.acked = True
                if waiter is not None:
                    record.reply_at = await waiter
        except (TimeoutError, httpx.TimeoutException):
            record.timed_out = True
            return
        except httpx.HTTPError as exc:
            record.http_error = exc.__class__.__name__
            return
        finally:
            if waiter is not None:
                self.fake.forget(chat, waiter)
        await asyncio.sleep(SETTLE_S)


# The database afterwards ------------------------------------------------------------------------


@dataclass
class Check:
    drained: bool = False
    drain_s: float = 0.0
    not_stored: int = 0
    still_received: int = 0
    no_send: int = 0
    twice_telegram: int = 0
    twice_web: int = 0
    # Outbox rows the database says were delivered that the fake never received.
    delivered_not_received: int = 0
    statuses: Counter[str] = field(default_factory=Counter)
    telegram_outbox: Counter[str] = field(default_factory=Counter)
    # What the conversations did: Rasa's intents of the bench's messages, the chats
    # linked to a resident, the chats handed to staff.
    intents: Counter[str] = field(default_factory=Counter)
    linked_chats: int = 0
    handoffs: int = 0
    # Telegram replies timed, in the moment, on an earlier reply's late part (and of
    # those, how many had their own reply only after the timeout): see retime_telegram.
    retimed: int = 0
    retimed_past_timeout: int = 0

    @property
    def lost(self) -> int:
        return self.not_stored + self.still_received + self.no_send

    @property
    def twice(self) -> int:
        return self.twice_telegram + self.twice_web


def waiting_counts(database_url: str) -> tuple[int, int]:
    """Inbound messages still ``received``; Telegram outbox rows not yet sent."""
    engine = make_engine(database_url)
    try:
        with engine.connect() as conn:
            received = conn.scalar(
                select(func.count())
                .select_from(Message)
                .where(Message.direction == "in", Message.status == "received")
            )
            outgoing = conn.scalar(
                select(func.count())
                .select_from(Outbox)
                .where(Outbox.channel == "telegram", Outbox.status.in_(("pending", "sending")))
            )
    finally:
        engine.dispose()
    return int(received or 0), int(outgoing or 0)


async def drain(database_url: str, check: Check) -> None:
    started = time.monotonic()
    while time.monotonic() - started < DRAIN_S:
        received, outgoing = await asyncio.to_thread(waiting_counts, database_url)
        if received == 0 and outgoing == 0:
            check.drained = True
            break
        await asyncio.sleep(1.0)
    check.drain_s = time.monotonic() - started


@dataclass
class Snapshot:
    """What the database holds after the drain, for the bench's two channels."""

    # (channel, external id, the channel's message id, status, intent, row id)
    inbound: list[tuple[str, str, str, str, str | None, int]]
    # Inbound messages with two identical replies in the web chat's transcript.
    web_doubles: set[int]
    # Telegram outbox rows delivered, per chat id.
    delivered: dict[int, int]
    # The text of each Telegram message's first reply, by the message's row id.
    first_replies: dict[int, str]
    telegram_outbox: Counter[str]
    linked_chats: int
    handoffs: int


def read_database(database_url: str) -> Snapshot:
    ours = ChatIdentity.channel.in_(("webchat", "telegram"))
    reply, asked = aliased(Message), aliased(Message)
    engine = make_engine(database_url)
    try:
        with engine.connect() as conn:
            inbound = conn.execute(
                select(
                    ChatIdentity.channel,
                    ChatIdentity.external_id,
                    Message.channel_message_id,
                    Message.status,
                    Message.intent,
                    Message.id,
                )
                .join(ChatIdentity, Message.identity_id == ChatIdentity.id)
                .where(Message.direction == "in", ours)
            ).all()
            web_doubles = conn.scalars(
                select(reply.reply_to_id)
                .join(asked, reply.reply_to_id == asked.id)
                .join(ChatIdentity, asked.identity_id == ChatIdentity.id)
                .where(reply.direction == "out", ChatIdentity.channel == "webchat")
                .group_by(reply.reply_to_id, reply.text)
                .having(func.count() > 1)
            ).all()
            delivered = conn.execute(
                select(Outbox.recipient, func.count())
                .where(Outbox.channel == "telegram", Outbox.status == "delivered")
                .group_by(Outbox.recipient)
            ).all()
            # A message's replies are keyed reply:<its row id>:<n> (bot.pipeline.assistant).
            first_replies = conn.execute(
                select(Outbox.idempotency_key, Outbox.text).where(
                    Outbox.channel == "telegram", Outbox.idempotency_key.like("reply:%:0")
                )
            ).all()
            statuses = conn.execute(
                select(Outbox.status, func.count())
                .where(Outbox.channel == "telegram")
                .group_by(Outbox.status)
            ).all()
            linked = conn.scalar(
                select(func.count())
                .select_from(ChatIdentity)
                .where(ours, ChatIdentity.resident_id.is_not(None))
            )
            handoffs = conn.scalar(
                select(func.count())
                .select_from(Handoff)
                .join(ChatIdentity, Handoff.identity_id == ChatIdentity.id)
                .where(ours)
            )
    finally:
        engine.dispose()
    return Snapshot(
        inbound=[(c, e, str(m), s, i, row_id) for c, e, m, s, i, row_id in inbound],
        web_doubles={row_id for row_id in web_doubles if row_id is not None},
        delivered={int(recipient): count for recipient, count in delivered},
        first_replies={int(key.split(":")[1]): text_ for key, text_ in first_replies},
        telegram_outbox=Counter({status: count for status, count in statuses}),
        linked_chats=int(linked or 0),
        handoffs=int(handoffs or 0),
    )


def scope_of(channel: str, external_id: str) -> str:
    """Where a channel's message id is unique: a Telegram chat; the web page's ids are
    UUIDs, unique across the web chat."""
    return f"telegram:{external_id}" if channel == "telegram" else channel


def judge(snapshot: Snapshot, records: list[Sent], fake: LoadTelegram, check: Check) -> None:
    """Each message's final state; what was lost, what was answered twice."""
    status_of: dict[tuple[str, str], str] = {}
    for channel, external_id, message_id, status, intent, _row in snapshot.inbound:
        status_of[(scope_of(channel, external_id), message_id)] = status
        check.intents[intent or "(no Rasa turn)"] += 1
    last_send: dict[int, float] = {}
    sends: Counter[int] = Counter()
    for at, chat, _text in fake.sends:
        last_send[chat] = max(at, last_send.get(chat, at))
        sends[chat] += 1
    for r in records:
        r.status = status_of.get((scope_of(r.channel, str(r.chat)), r.key))
        if r.status is not None:
            check.statuses[r.status] += 1
        if not r.acked:
            continue  # not acknowledged: the platform (or the page) sends it again
        if r.status is None:
            check.not_stored += 1
        elif r.status == "received":
            check.still_received += 1
        elif (
            r.channel == "telegram"
            and r.status in REPLIED_STATES
            and last_send.get(r.chat, -math.inf) < r.sent_at
        ):
            check.no_send += 1
    for chat in set(sends) | set(snapshot.delivered):
        extra = sends[chat] - snapshot.delivered.get(chat, 0)
        if extra > 0:
            check.twice_telegram += extra
        else:
            check.delivered_not_received -= extra
    check.twice_web = len(snapshot.web_doubles)
    check.telegram_outbox = snapshot.telegram_outbox
    check.linked_chats, check.handoffs = snapshot.linked_chats, snapshot.handoffs


def retime_telegram(
    snapshot: Snapshot, records: list[Sent], fake: LoadTelegram, timeout_s: float, check: Check
) -> None:
    """Each Telegram message's own first reply, now that the outbox tells which it is.

    In the moment a user takes the first sendMessage after its post as its reply; under
    load that may be the late part of its previous reply (the per-chat and per-bot rate
    limits space a reply's parts out). Here each message gets the first delivery to its
    chat, at or after its post, of the text of its outbox row ``reply:<id>:0``, each
    delivery used once; a reply later than ``timeout_s`` becomes a timeout.
    """
    row_of_message = {
        (scope_of(c, e), m): row for c, e, m, _s, _i, row in snapshot.inbound if c == "telegram"
    }
    by_chat: dict[int, list[tuple[float, str]]] = {}
    for at, chat, sent_text in fake.sends:
        by_chat.setdefault(chat, []).append((at, sent_text))
    used: set[tuple[int, int]] = set()
    for r in sorted(records, key=lambda r: r.sent_at):
        if r.channel != "telegram" or not r.acked or not r.expects_reply:
            continue
        row = row_of_message.get((scope_of(r.channel, str(r.chat)), r.key))
        first = snapshot.first_replies.get(row) if row is not None else None
        if first is None:
            continue
        wanted = to_html(first)
        found = next(
            (
                (i, at)
                for i, (at, sent_text) in enumerate(by_chat.get(r.chat, []))
                if at >= r.sent_at and sent_text == wanted and (r.chat, i) not in used
            ),
            None,
        )
        if found is None:
            continue
        used.add((r.chat, found[0]))
        at = found[1]
        if r.reply_at is not None and abs(at - r.reply_at) > 0.001:
            check.retimed += 1
        if at - r.sent_at > timeout_s:
            if r.reply_at is not None:
                check.retimed_past_timeout += 1
            r.reply_at, r.timed_out = None, True
        else:
            r.reply_at = at


# Figures ------------------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float:
    """Nearest rank: the smallest value with at least ``q`` of them at or below it."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


@dataclass
class Row:
    target: str
    channels: str
    rate: float
    sent: int
    web_sent: int
    tg_sent: int
    achieved: float
    p50: float
    p95: float
    p99: float
    web_p95: float
    tg_p95: float
    http_errors: int
    timeouts: int
    apologies: int | None
    still_working: int


def row_of(
    target: str, channels: str, index: int, window: Window, records: list[Sent], final: bool
) -> Row:
    mine = [r for r in records if r.step == index]
    times = [ms for r in mine if r.expects_reply and (ms := r.reply_ms) is not None]

    def p95_of(channel: str) -> float:
        return percentile(
            [
                ms
                for r in mine
                if r.channel == channel and r.expects_reply and (ms := r.reply_ms) is not None
            ],
            0.95,
        )

    replies = sum(
        1 for r in records if r.reply_at is not None and window.start <= r.reply_at < window.end
    )
    return Row(
        target=target,
        channels=channels,
        rate=window.rate,
        sent=len(mine),
        web_sent=sum(1 for r in mine if r.channel == "webchat"),
        tg_sent=sum(1 for r in mine if r.channel == "telegram"),
        achieved=replies / (window.end - window.start),
        p50=percentile(times, 0.50),
        p95=percentile(times, 0.95),
        p99=percentile(times, 0.99),
        web_p95=p95_of("webchat"),
        tg_p95=p95_of("telegram"),
        http_errors=sum(1 for r in mine if r.http_error),
        timeouts=sum(1 for r in mine if r.timed_out),
        apologies=sum(1 for r in mine if r.status == "failed") if final else None,
        still_working=sum(1 for r in mine if r.still_working),
    )


HEADER = (
    f"{'target':<8}{'channels':<10}{'rate':>6}{'sent':>6}{'web:tg':>10}{'msg/s':>7}"
    f"{'p50':>8}{'p95':>8}{'p99':>8}{'web p95':>9}{'tg p95':>8}"
    f"{'http':>6}{'timeout':>8}{'apology':>8}{'still':>6}"
)


def ms(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:.0f}"


def format_row(r: Row) -> str:
    mix = f"{r.web_sent}:{r.tg_sent}"
    apologies = "?" if r.apologies is None else str(r.apologies)
    return (
        f"{r.target:<8}{r.channels:<10}{r.rate:>6g}{r.sent:>6}{mix:>10}{r.achieved:>7.1f}"
        f"{ms(r.p50):>8}{ms(r.p95):>8}{ms(r.p99):>8}{ms(r.web_p95):>9}{ms(r.tg_p95):>8}"
        f"{r.http_errors:>6}{r.timeouts:>8}{apologies:>8}{r.still_working:>6}"
    )


# One target ---------------------------------------------------------------------------------


@dataclass
class TargetResult:
    name: str
    rows: list[Row] = field(default_factory=list)
    check: Check | None = None
    usage: list[GroupUsage] = field(default_factory=list)
    usage_at: str = ""
    notes: list[str] = field(default_factory=list)
    failed: str | None = None


def say(text_: str) -> None:
    print(text_, flush=True)


async def sample_usage(target: Target, seconds: float, result: TargetResult, at: str) -> None:
    """Memory ``seconds`` from now, and the CPU used until then."""
    before = await asyncio.to_thread(cpu_by_pid, target)
    others_before = await asyncio.to_thread(outside_cpu)
    served = await asyncio.to_thread(database_ports, target)
    db_before = await asyncio.to_thread(database_work, served)
    started = time.monotonic()
    await asyncio.sleep(seconds)
    elapsed = time.monotonic() - started
    result.usage = await asyncio.to_thread(usage, target, before, elapsed)
    others_after = await asyncio.to_thread(outside_cpu)
    for label, cpu in others_after.items():
        share = max(0.0, cpu - others_before.get(label, 0.0)) / elapsed
        result.notes.append(f"outside the target over the same span: {label} {share:.0%} of a core")
    db_after = await asyncio.to_thread(database_work, served)
    result.usage_at = at
    result.notes += database_notes(db_before, db_after)


async def drive(
    load: Load,
    target: Target,
    steps: list[tuple[float, float]],
    result: TargetResult,
    channels_label: str,
) -> list[Window]:
    """The steps one after the other, a row printed as each ends; the memory and CPU of
    the target sampled near the end of the highest."""
    kind = target.kind
    highest = max(range(len(steps)), key=lambda i: (steps[i][0], i))
    say(f"[{kind}] each step as it ends (replies so far; apologies after the drain):")
    say(HEADER)
    windows: list[Window] = []
    for index, (rate, seconds) in enumerate(steps):
        sampler = None
        if index == highest:
            at = f"{rate:g}/s step: memory {0.9 * seconds:.0f} s in, CPU until then"
            sampler = asyncio.create_task(sample_usage(target, 0.9 * seconds, result, at))
        window = await load.run_step(index, rate, seconds)
        windows.append(window)
        if sampler is not None:
            await sampler
        # Live: replies received so far; the final table counts the late ones too.
        say(format_row(row_of(kind, channels_label, index, window, load.records, False)))
    return windows


async def run_target(
    kind: str, steps: list[tuple[float, float]], args: argparse.Namespace
) -> TargetResult:
    result = TargetResult(kind)
    channels_label = "+".join("web" if c == "webchat" else "tg" for c in args.channels)
    fake = LoadTelegram(TELEGRAM_TOKEN)
    server, server_task = await serve(fake.app, ports.free_port())
    var = Path(tempfile.mkdtemp(prefix=f"expatbot-load-{kind}-"))
    database_url = f"sqlite:///{var / 'expatbot.db'}"
    created = False
    target: Target | None = None
    try:
        if kind == "cluster":
            database_url = await asyncio.to_thread(create_database)
            created = True
        say(f"[{kind}] starting {'expatbot run' if kind == 'default' else 'expatbot cluster'}…")
        target = start_target(kind, var, int(server.config.port), database_url)
        try:
            took = await target.wait_ready(READY_TIMEOUT_S)
        except RuntimeError as exc:
            result.failed = str(exc)
            say(f"[{kind}] !! {exc}\n{target.log_tail()}")
            return result
        result.notes.append(f"ready after {took:.0f} s at {target.base_url}")
        residents = await asyncio.to_thread(import_residents, database_url, args.seed)
        say(f"[{kind}] ready after {took:.0f} s; {len(residents)} residents imported")
        result.notes.append(
            f"machine speed before the steps: {await asyncio.to_thread(machine_speed)}"
        )
        load = Load(
            base_url=target.base_url,
            fake=fake,
            residents=residents,
            channels=args.channels,
            timeout_s=args.timeout_s,
            seed=args.seed,
            think_s=args.think_s,
        )
        windows = await drive(load, target, steps, result, channels_label)
        result.notes.append(
            f"machine speed after the steps: {await asyncio.to_thread(machine_speed)}"
        )
        await load.finish()
        check = Check()
        await drain(database_url, check)
        snapshot = await asyncio.to_thread(read_database, database_url)
        judge(snapshot, load.records, fake, check)
        retime_telegram(snapshot, load.records, fake, args.timeout_s, check)
        result.check = check
        result.rows = [
            row_of(kind, channels_label, i, w, load.records, True) for i, w in enumerate(windows)
        ]
        result.notes += usage_notes(load, windows)
    finally:
        if target is not None:
            result.notes += [f"stop: {n}" for n in await asyncio.to_thread(target.stop)]
            result.notes += supervisor_said(target)
        server.should_exit = True
        await server_task
        if created:
            await asyncio.to_thread(drop_database, database_url)
        shutil.rmtree(var, ignore_errors=True)
    return result


def supervisor_said(target: Target) -> list[str]:
    """What the supervisor reported after it was ready: a process that exited or failed
    its health checks and was restarted, and when it was up again."""
    lines = list(target.output)
    ready = next((i for i, line in enumerate(lines) if line.startswith(target.ready_prefix)), 0)
    said = [
        line.strip() for line in lines[ready:] if line.startswith("!!") or "is up again" in line
    ]
    shown = said[:12]
    more = [f"... and {len(said) - len(shown)} more such lines"] if len(said) > len(shown) else []
    return [f"supervisor: {line}" for line in shown] + more


def usage_notes(load: Load, windows: list[Window]) -> list[str]:
    flows = Counter(u.flow for u in load.users)
    langs = Counter(u.language for u in load.users)
    notes = [
        f"{len(load.users)} users: "
        + ", ".join(f"{flow} {n}" for flow, n in flows.most_common())
        + "; "
        + ", ".join(f"{lang} {n}" for lang, n in sorted(langs.items())),
    ]
    lag = max((w.lag_s for w in windows), default=0.0)
    if lag > 0.05:
        notes.append(f"the sender fell behind its schedule by up to {lag * 1000:.0f} ms")
    errors = Counter(r.http_error for r in load.records if r.http_error)
    if errors:
        notes.append("HTTP errors: " + ", ".join(f"{e} x{n}" for e, n in errors.most_common()))
    return notes


# Main ---------------------------------------------------------------------------------------


def parse_steps(
    args: argparse.Namespace, parser: argparse.ArgumentParser
) -> list[tuple[float, float]]:
    if args.soak:
        rate, _, seconds = args.soak.partition(":")
        try:
            soak = (float(rate), float(seconds))
        except ValueError:
            parser.error("--soak is RATE:SECONDS, e.g. 30:300")
        if soak[0] <= 0 or soak[1] <= 0:
            parser.error("--soak: rate and seconds above 0")
        return [soak]
    try:
        rates = [float(r) for r in args.rates.split(",") if r.strip()]
    except ValueError:
        parser.error("--rates is a list of numbers, e.g. 5,10,20,30")
    if not rates or any(r <= 0 for r in rates) or args.step_s <= 0:
        parser.error("--rates and --step-s above 0")
    return [(r, args.step_s) for r in rates]


def print_report(results: list[TargetResult], timeout_s: float) -> None:
    print()
    print("reply times in ms; msg/s = replies received during the step / its duration")
    print(HEADER)
    for result in results:
        for row in result.rows:
            print(format_row(row))
    print()
    for result in results:
        if result.failed:
            print(f"{result.name}: did not run: {result.failed}")
            continue
        good = [r.rate for r in result.rows if not math.isnan(r.p95) and r.p95 < P95_GOAL_MS]
        best = f"{max(good):g} messages/s" if good else "none of the rates"
        print(f"{result.name}: highest rate with p95 under {P95_GOAL_MS / 1000:g} s: {best}")
    for result in results:
        check = result.check
        print()
        print(f"--- {result.name}")
        if check is not None:
            drained = "drained" if check.drained else "NOT drained"
            print(f"after the steps: {drained} in {check.drain_s:.0f} s (at most {DRAIN_S} s)")
            print(
                f"lost: {check.lost} (not stored {check.not_stored}, still received "
                f"{check.still_received}, Telegram answered without a sendMessage after it "
                f"{check.no_send})"
            )
            print(
                f"answered twice: {check.twice} (Telegram sendMessage beyond the delivered "
                f"outbox rows {check.twice_telegram}, web replies stored twice {check.twice_web})"
            )
            print(
                "the bench's messages in the database: "
                + ", ".join(f"{s} {n}" for s, n in check.statuses.most_common())
            )
            print(
                f"chats linked to a resident: {check.linked_chats}; chats handed to staff: "
                f"{check.handoffs}; intents: "
                + ", ".join(f"{i} {n}" for i, n in check.intents.most_common())
            )
            print(
                f"Telegram replies timed in the moment on an earlier reply's late part: "
                f"{check.retimed} (their own first reply is what the table counts; "
                f"{check.retimed_past_timeout} of them came after the timeout)"
            )
            print(
                "Telegram outbox: "
                + ", ".join(f"{s} {n}" for s, n in check.telegram_outbox.most_common())
                + f"; delivered rows the fake never received: {check.delivered_not_received}"
            )
        if result.usage:
            print(f"resident memory and CPU ({result.usage_at}):")
            for g in result.usage:
                print(
                    f"  {g.label:<32}{g.processes:>3} proc {g.rss_mib:>7.0f} MiB"
                    f"{g.cpu_share:>7.0%} of a core"
                )
            rss = sum(g.rss_mib for g in result.usage)
            cpu = sum(g.cpu_share for g in result.usage)
            print(f"  {'total':<32}{'':>8}{rss:>7.0f} MiB{cpu:>7.0%} of a core")
        for note in result.notes:
            print(f"  {note}")
    print()
    print(f"timeouts: no reply within {timeout_s:g} s")


async def run(args: argparse.Namespace, steps: list[tuple[float, float]]) -> list[TargetResult]:
    results = []
    for kind in args.targets:
        try:
            results.append(await run_target(kind, steps, args))
        except Exception as exc:  # one target's failure still leaves the others' figures
            say(f"[{kind}] !! {exc.__class__.__name__}: {exc}")
            results.append(TargetResult(kind, failed=f"{exc.__class__.__name__}: {exc}"))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--targets", default="default,cluster", help="default, cluster or both")
    parser.add_argument("--rates", default="5,10,20,30", help="messages a second, one step each")
    parser.add_argument("--step-s", type=float, default=30.0, help="seconds per step")
    parser.add_argument("--channels", default="webchat,telegram", help="webchat, telegram or both")
    parser.add_argument("--timeout-s", type=float, default=30.0, help="a reply later is a timeout")
    parser.add_argument(
        "--soak", metavar="RATE:SECONDS", help="one long step instead of --rates, e.g. 30:300"
    )
    parser.add_argument("--seed", type=int, default=2026, help="users, languages, residents")
    parser.add_argument(
        "--think-s",
        default="3,10",
        metavar="MIN,MAX",
        help="seconds a user takes after a reply before writing again, uniform in MIN..MAX "
        "(reading and typing on a phone; 0,0 writes again at once)",
    )
    args = parser.parse_args()
    try:
        low, high = (float(x) for x in args.think_s.split(","))
    except ValueError:
        parser.error("--think-s: MIN,MAX in seconds, e.g. 3,10")
    if not 0 <= low <= high:
        parser.error("--think-s: 0 <= MIN <= MAX")
    args.think_s = (low, high)
    args.targets = [t.strip() for t in args.targets.split(",") if t.strip()]
    args.channels = [c.strip() for c in args.channels.split(",") if c.strip()]
    if not args.targets or not set(args.targets) <= {"default", "cluster"}:
        parser.error("--targets: default, cluster, or default,cluster")
    if not args.channels or not set(args.channels) <= {"webchat", "telegram"}:
        parser.error("--channels: webchat, telegram, or webchat,telegram")
    if args.timeout_s <= 0:
        parser.error("--timeout-s above 0")
    steps = parse_steps(args, parser)
    print(
        f"targets {', '.join(args.targets)}; steps "
        + ", ".join(f"{r:g}/s for {s:g} s" for r, s in steps)
        + f"; channels {', '.join(args.channels)}; seed {args.seed}"
    )
    print(
        f"machine: {os.cpu_count()} cores, Python {platform.python_version()}; "
        "everything on 127.0.0.1, the fake Telegram in this process"
    )
    try:
        results = asyncio.run(run(args, steps))
    except KeyboardInterrupt:
        # asyncio.run cancelled the run: the target was stopped and its database dropped.
        print("interrupted: no figures", file=sys.stderr)
        sys.exit(130)
    print_report(results, args.timeout_s)


if __name__ == "__main__":
    main()
