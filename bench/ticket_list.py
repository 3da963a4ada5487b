"""The staff console's ticket list, measured on PostgreSQL with many tickets.

Creates a fresh database on the server of ``--database-url`` (as tests/conftest.py does:
``CREATE DATABASE bench_tickets_<random>``, migrated to the newest revision, dropped at
the end; the named database itself is never touched), fills it with N tickets in bulk
(default 10,000: a realistic spread of statuses, kinds, languages and ages over the last
year, some overdue, a few parties with many tickets, drafts that must never be listed,
events for most), serves the real gateway app (uvicorn, jobs off), logs a supervisor in
through the login form and times, over ``--requests`` requests each:

- GET /staff/tickets                          the default list (open tickets), page 1
- GET /staff/tickets?kind=...&language=...    a filtered list
- GET /staff/tickets?page=<last>              the last page of the default list
- GET /staff/tickets?overdue=1                the overdue ones
- GET /staff/tickets/<id>                     one ticket with its history

Printed: the median and 95th percentile of each (end to end over HTTP on 127.0.0.1), and
of the list's data function alone (bot.tickets.listing.ticket_page, in process), and the
plans PostgreSQL chose for the list's queries.

Usage: .venv/bin/python bench/ticket_list.py [--tickets 10000] [--requests 50]
           [--database-url postgresql+psycopg://postgres@127.0.0.1:5432/test]
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import re
import statistics
import sys
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from sqlalchemy import create_engine, func, insert, select, text
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.app import create_app
from bot.db import make_engine, make_sessionmaker, transaction, upgrade
from bot.db.models import ChatIdentity, StaffUser, Ticket, TicketEvent
from bot.settings import Settings
from bot.staff import accounts
from bot.tickets import lifecycle, listing
from bot.tickets.numbers import format_number
from bot.tickets.targets import target_for
from bot.tickets.tickets import party_key
from tests.helpers import free_port

POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
PASSWORD = "a long bench password"
SUPERVISOR = "bench.super"
LANGUAGES = ("en", "zh", "ar", "ru", "fr", "es")
# Of every 100 tickets: how many end in each status (drafts on top of these).
STATUS_WEIGHTS = {
    lifecycle.SUBMITTED: 12, lifecycle.TRIAGED: 8, lifecycle.IN_PROGRESS: 18,
    lifecycle.WAITING_USER: 8, lifecycle.RESOLVED: 6, lifecycle.CLOSED: 30,
    lifecycle.REJECTED: 8, lifecycle.DUPLICATE: 5, lifecycle.WITHDRAWN: 5,
}  # fmt: skip
KIND_WEIGHTS = {"supplier": 40, "landlord": 20, "shop": 20, "logistics": 12, "other": 8}
LANGUAGE_WEIGHTS = {"en": 25, "ru": 20, "ar": 20, "zh": 10, "fr": 15, "es": 10}


def serve(app: object) -> tuple[uvicorn.Server, str]:
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error")  # type: ignore[arg-type]
    server = uvicorn.Server(config)
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.02)
    return server, f"http://127.0.0.1:{port}"


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p * len(ordered)) - 1))]


def fresh_database(server_url: str) -> tuple[str, Callable[[], None]]:
    """A new database on the server of ``server_url``, migrated; and how to drop it."""
    name = f"bench_tickets_{uuid.uuid4().hex[:8]}"
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(server_url).set(database=name).render_as_string(hide_password=False)

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    try:
        upgrade(url)
    except BaseException:
        drop()
        raise
    return url, drop


def weighted(rng: random.Random, weights: dict[str, int]) -> str:
    return rng.choices(list(weights), weights=list(weights.values()))[0]


def fill(url: str, *, count: int, seed: int = 7) -> dict[str, Any]:
    """Staff, one chat per ticket, N tickets (and 5% more drafts), their events: in bulk."""
    rng = random.Random(seed)
    engine = make_engine(url)
    sessions = make_sessionmaker(engine)
    now = dt.datetime.now(dt.UTC)
    with transaction(sessions) as s:
        accounts.add(s, name=SUPERVISOR, role="supervisor", password=PASSWORD, language="zh")
        for i in range(8):
            accounts.add(s, name=f"agent{i}", role="agent", password=PASSWORD, language="zh")
        staff_ids = list(s.scalars(select(StaffUser.id)))
    drafts = count // 20
    total = count + drafts
    # A few parties have many tickets (a supplier many users complain about), most one.
    parties = [f"Yiwu Trading Company No. {i}" for i in range(total // 3)]
    popular = parties[:40]
    identities = [
        {"id": i + 1, "channel": "telegram" if i % 3 else "webchat", "external_id": f"b{i}",
         "public_id": str(uuid.uuid4()), "language": None, "mode": "bot"}
        for i in range(total)
    ]  # fmt: skip
    tickets: list[dict[str, Any]] = []
    events: list[dict[str, Any]] = []
    for i in range(total):
        ticket_id = i + 1
        lang = weighted(rng, LANGUAGE_WEIGHTS)
        identities[i]["language"] = lang
        kind = weighted(rng, KIND_WEIGHTS)
        party = rng.choice(popular) if rng.random() < 0.15 else rng.choice(parties)
        # Ages skewed to the recent: most tickets are days or weeks old, some months.
        age = dt.timedelta(days=min(365.0, rng.expovariate(1 / 30)))
        submitted = now - age
        target = target_for(kind)
        row: dict[str, Any] = {
            "id": ticket_id, "idempotency_key": uuid.uuid4().hex, "identity_id": ticket_id,
            "language": lang, "kind": kind, "party_name": party, "party_key": party_key(party),
            "description": "What happened, in the user's words. " * rng.randint(1, 12),
            "amount": f"{rng.randint(100, 90000)}.00", "currency": "CNY",
            "wants": rng.choice(("refund", "replacement", "deposit_back", "mediation")),
            "created_at": submitted - dt.timedelta(minutes=5), "updated_at": submitted,
            "status": lifecycle.DRAFT, "number": None, "submitted_at": None,
            "respond_by": None, "resolve_by": None, "first_response_at": None,
            "resolved_at": None, "closed_at": None, "assignee_id": None, "reason": None,
        }  # fmt: skip
        if i >= count:  # the drafts: never listed
            tickets.append(row)
            continue
        status = weighted(rng, STATUS_WEIGHTS)
        if age > target.resolution and status in lifecycle.OPEN and rng.random() < 0.95:
            # Old tickets are mostly done with; the few still open are the overdue ones.
            status = rng.choice((lifecycle.CLOSED, lifecycle.CLOSED, lifecycle.REJECTED))
        # Overdue ones: a fifth of the submitted ones were never answered in time.
        answered = status != lifecycle.SUBMITTED or rng.random() < 0.2
        row.update(
            status=status,
            number=format_number(year=submitted.year, ticket_id=ticket_id),
            submitted_at=submitted,
            respond_by=submitted + target.first_response,
            resolve_by=submitted + target.resolution,
            first_response_at=(
                submitted + target.first_response * rng.uniform(0.1, 1.5) if answered else None
            ),
            assignee_id=rng.choice(staff_ids) if status != lifecycle.SUBMITTED else None,
        )
        if row["first_response_at"] is not None and row["first_response_at"] > now:
            row["first_response_at"] = now
        if status in (lifecycle.RESOLVED, lifecycle.CLOSED):
            row["resolved_at"] = min(now, submitted + target.resolution * rng.uniform(0.2, 1.4))
        if status in lifecycle.FINAL:
            row["closed_at"] = min(now, submitted + target.resolution * rng.uniform(0.2, 1.4))
        if status == lifecycle.REJECTED:
            row["reason"] = "Not a dispute the center handles."
        updates = rng.randint(0, 6)
        row["updated_at"] = min(now, submitted + dt.timedelta(hours=updates * 20))
        tickets.append(row)
        at = submitted
        events.append({
            "ticket_id": ticket_id, "at": at, "kind": "status", "actor": "user",
            "from_status": "draft", "to_status": "submitted", "public": True,
        })  # fmt: skip
        for _ in range(updates):
            at = min(now, at + dt.timedelta(hours=rng.uniform(1, 40)))
            kind_of = rng.choice(("reply", "note", "user_message", "assign"))
            events.append({
                "ticket_id": ticket_id, "at": at, "kind": kind_of,
                "actor": "user" if kind_of == "user_message" else "staff",
                "staff_id": None if kind_of == "user_message" else rng.choice(staff_ids),
                "text": "A message of some length, as people write them. " * 3,
                "public": kind_of in ("reply", "user_message"),
                "from_status": None, "to_status": None,
            })  # fmt: skip
    with transaction(sessions) as s:
        for start in range(0, total, 2000):
            s.execute(insert(ChatIdentity), identities[start : start + 2000])
        for start in range(0, total, 2000):
            s.execute(insert(Ticket), tickets[start : start + 2000])
        for start in range(0, len(events), 5000):
            s.execute(insert(TicketEvent), events[start : start + 5000])
        if s.get_bind().dialect.name == "postgresql":
            for table in ("chat_identity", "ticket"):
                s.execute(text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), {total})"))
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("ANALYZE"))
    with sessions() as s:
        first = listing.ticket_page(s)
        filtered: dict[str, Any] = {"kind": "supplier", "language": "ru"}
        everything = listing.ticket_page(s, status=listing.ALL)
        summary = {
            "all_pages": everything.pages,
            "open": first.total,
            "pages": first.pages,
            "overdue": first.overdue,
            "filtered": listing.ticket_page(s, **filtered).total,
            "events": len(events),
            "drafts": drafts,
            "one": first.rows[0].id,
        }
    engine.dispose()
    return summary


def login(client: httpx.Client) -> None:
    form = client.get("/staff/login")
    token = re.search(r'name="login_token" value="([^"]+)"', form.text)
    assert token, form.text[:500]
    resp = client.post(
        "/staff/login",
        data={"name": SUPERVISOR, "password": PASSWORD, "login_token": token[1], "next": "/staff"},
        follow_redirects=False,
    )
    assert resp.status_code == 303, resp.text[:500]


def timed(fn: Callable[[], Any], repeats: int) -> list[float]:
    fn()  # warm: templates compiled, connections open
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return times


def report(label: str, times: list[float]) -> None:
    print(
        f"  {label:<52} median {statistics.median(times):7.1f} ms   "
        f"p95 {percentile(times, 0.95):7.1f} ms"
    )


def explain(url: str, now: dt.datetime) -> None:
    """The plans of the list's three queries (default filter, last page)."""
    engine = make_engine(url)
    with make_sessionmaker(engine)() as s:
        found = listing.ticket_page(s, page=10**6)
        where = listing.conditions(now=now)
        queries = {
            "count": select(func.count()).select_from(Ticket).where(*where),
            "page": select(Ticket.id)
            .where(*where)
            .order_by(Ticket.submitted_at, Ticket.id)
            .offset((found.page - 1) * found.page_size)
            .limit(found.page_size),
            "parties": select(Ticket.party_key, func.count())
            .where(
                Ticket.party_key.in_({r.party_key for r in found.rows if r.party_key}),
                Ticket.status.in_(sorted(lifecycle.OPEN)),
            )
            .group_by(Ticket.party_key),
        }
        for name, query in queries.items():
            compiled = query.compile(engine, compile_kwargs={"literal_binds": True})
            plan = s.execute(text(f"EXPLAIN (ANALYZE, BUFFERS OFF) {compiled}")).scalars().all()
            print(f"  {name}: " + " | ".join(line.strip() for line in plan[:6]))
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=POSTGRES, help="the server to use")
    parser.add_argument("--tickets", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=50)
    args = parser.parse_args()
    url, drop = fresh_database(args.database_url)
    try:
        t0 = time.perf_counter()
        facts = fill(url, count=args.tickets)
        print(
            f"{args.tickets} tickets (+{facts['drafts']} drafts, {facts['events']} events) "
            f"in {time.perf_counter() - t0:.1f} s: {facts['open']} open ({facts['overdue']} "
            f"overdue, {facts['pages']} pages of {listing.PAGE_SIZE}), {facts['filtered']} "
            "open supplier tickets in Russian"
        )
        settings = Settings(
            DATABASE_URL=url, RASA_URL="http://127.0.0.1:9", EXPATBOT_GATEWAY_JOBS=False
        )
        server, base = serve(create_app(settings))
        try:
            staff = httpx.Client(base_url=base, timeout=60, headers={"Origin": base})
            login(staff)

            def get(path: str) -> Callable[[], None]:
                def fetch() -> None:
                    resp = staff.get(path)
                    assert resp.status_code == 200, (path, resp.status_code)

                return fetch

            pages = facts["pages"]
            cases = [
                ("GET /staff/tickets (open, page 1)", "/staff/tickets"),
                ("GET /staff/tickets?kind=supplier&language=ru",
                 "/staff/tickets?kind=supplier&language=ru"),
                (f"GET /staff/tickets?page={pages} (the last)", f"/staff/tickets?page={pages}"),
                ("GET /staff/tickets?overdue=1", "/staff/tickets?overdue=1"),
                (f"GET /staff/tickets?status=all&page={facts['all_pages']} (the last)",
                 f"/staff/tickets?status=all&page={facts['all_pages']}"),
                ("GET /staff/tickets/<id> (one ticket)", f"/staff/tickets/{facts['one']}"),
            ]  # fmt: skip
            last = staff.get(f"/staff/tickets?page={pages}").text
            assert f"of {pages}" in last or f"共 {pages} 页" in last, "not the last page"
            print(f"over HTTP (uvicorn on 127.0.0.1, a supervisor; {args.requests} requests each):")
            for label, path in cases:
                report(label, timed(get(path), args.requests))
        finally:
            server.should_exit = True
        engine = make_engine(url)
        sessions = make_sessionmaker(engine)
        print("the data function alone (bot.tickets.listing.ticket_page, in process):")
        for label, kwargs in (
            ("open, page 1", {}),
            ("kind=supplier, language=ru", {"kind": "supplier", "language": "ru"}),
            ("open, the last page", {"page": pages}),
            ("all (10,000), the last page", {"status": listing.ALL, "page": 10**6}),
        ):

            def run(kwargs: dict[str, Any] = kwargs) -> None:
                with sessions() as s:
                    listing.ticket_page(s, **kwargs)

            report(label, timed(run, args.requests))
        engine.dispose()
        print("PostgreSQL's plans for the last page:")
        explain(url, dt.datetime.now(dt.UTC))
    finally:
        drop()


if __name__ == "__main__":
    main()
