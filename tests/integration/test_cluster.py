"""`expatbot cluster`: the production topology of deploy/ on this machine, used as users
and operators use it, through the proxy.

One cluster per module: HAProxy, two gateways, two Rasa servers (trackers in a
PostgreSQL database of their own, locks in Redis), two action servers, a worker, on a
new PostgreSQL database. Needs Debian's haproxy (`make proxy`, part of `make test`),
PostgreSQL and Redis; where they are expected (CI) and missing, the tests fail rather
than skip.
"""

from __future__ import annotations

import os
import signal
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest
from sqlalchemy import create_engine, select, text

from bot import texts
from bot.db import make_engine, make_sessionmaker
from bot.db.models import Message
from bot.records.registry.demo import demo_identity
from tests.cluster_rig import (
    METRICS_TOKEN,
    Cluster,
    need_haproxy,
    running_cluster,
    skip_or_fail,
)
from tests.conftest import POSTGRES_URL, _postgres_reachable

pytestmark = pytest.mark.integration

REDIS_URL = os.environ.get("EXPATBOT_TEST_REDIS_URL", "redis://127.0.0.1:6379/3")


def _redis_unreachable() -> str | None:
    import redis

    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=3)
    try:
        client.ping()
        return None
    except redis.RedisError as exc:
        return f"Redis not reachable at {REDIS_URL}: {exc}"
    finally:
        client.close()


def ask(cluster: Cluster, client: httpx.Client, text_: str) -> list[dict[str, str]]:
    resp = client.post(
        "/api/webchat/messages",
        json={"text": text_, "button": False},
        headers={"Origin": cluster.url.rstrip("/")},
    )
    assert resp.status_code == 200, resp.text
    return list(resp.json()["replies"])


@contextmanager
def web_user(cluster: Cluster) -> Iterator[httpx.Client]:
    """A web chat user: the page first (its session cookie), then the API."""
    with httpx.Client(base_url=cluster.url, timeout=60) as client:
        client.get("/")
        yield client


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    need_haproxy()
    for reason in (_postgres_reachable(), _redis_unreachable()):
        if reason:
            skip_or_fail(reason)
    name = f"expatbot_cluster_{uuid.uuid4().hex[:10]}"
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    database_url = POSTGRES_URL.rsplit("/", 1)[0] + "/" + name
    try:
        with running_cluster(
            database_url=database_url,
            redis_url=REDIS_URL,
            var=tmp_path_factory.mktemp("cluster"),
        ) as running:
            yield running
    finally:
        with admin.connect() as conn:
            for db in (name, f"{name}_rasa"):
                conn.execute(text(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)'))
        admin.dispose()


def test_the_cluster_prints_where_users_connect_and_every_process_is_up(cluster: Cluster) -> None:
    assert cluster.url == f"http://{cluster.addrs['PROXY_ADDR']}/"
    servers = cluster.servers()
    for name in ("gateway1", "gateway2", "rasa1", "rasa2", "actions1", "actions2"):
        assert servers[name]["status"] == "UP", servers[name]
    health = httpx.get(f"{cluster.url}healthz", timeout=10)
    assert health.json() == {
        "status": "ok",
        "database": "ok",
        "rasa": "ok",
        "action_server": "ok",
    }
    # The operator's page and metrics need the secret, even on 127.0.0.1.
    assert httpx.get(cluster.stats, timeout=10).status_code == 401
    metrics = httpx.get(
        cluster.stats.replace("/stats", "/metrics"),
        headers={"Authorization": f"Bearer {METRICS_TOKEN}"},
        timeout=10,
    )
    assert "haproxy_server_status" in metrics.text


QUESTIONS = {
    "en": "How do I extend my visa?",
    "zh": "签证快到期了怎么办",
    "ar": "كيف أمدد تأشيرتي؟",
    "ru": "как продлить визу",
    "fr": "Comment prolonger mon visa ?",
    "es": "¿Cómo extiendo mi visa?",
}


def test_users_in_six_languages_are_answered_by_every_replica(cluster: Cluster) -> None:
    before = {n: int(r["stot"]) for n, r in cluster.servers().items()}
    for _round in range(2):
        for lang, question in QUESTIONS.items():
            with web_user(cluster) as client:
                replies = ask(cluster, client, question)
            assert replies and replies[0]["language"] == lang, (lang, replies)
            assert "Sorry, the assistant cannot answer right now" not in replies[0]["html"]
    after = {n: int(r["stot"]) for n, r in cluster.servers().items()}
    # Each replica took a share: the proxy spreads users, and gateways reach Rasa (and
    # Rasa the action servers) through it.
    for name in ("gateway1", "gateway2", "rasa1", "rasa2", "actions1", "actions2"):
        assert after[name] > before[name], (name, before, after)


def _linked(replies: list[dict[str, str]]) -> bool:
    return any("this chat is now linked" in r["html"] for r in replies)


def test_a_link_form_survives_the_loss_of_a_rasa_server(cluster: Cluster) -> None:
    card, born = demo_identity()
    with web_user(cluster) as client:
        ask(cluster, client, "/link")
        assert "date of birth" in ask(cluster, client, card)[0]["html"]
        # Both Rasa servers hold nothing of the conversation: it is in PostgreSQL. One
        # dies without warning; the next turn goes to the other, which goes on with the
        # form where it was.
        downs = cluster.downs("rasa1")
        os.kill(cluster.pid("RASA1_ADDR"), signal.SIGKILL)
        killed = time.monotonic()
        replies = ask(cluster, client, born)
        assert _linked(replies), replies
        replies = ask(cluster, client, "when does my visa expire?")
        assert "Expiry date" in replies[0]["html"], replies
    # The supervisor starts it again and the proxy takes it back.
    cluster.wait_taken_out("rasa1", downs_before=downs, timeout=30)
    cluster.wait_server("rasa1", "UP", timeout=240)
    print(f"\nRasa server 1 back in rotation {time.monotonic() - killed:.1f}s after kill -9")


def test_a_rasa_server_without_its_tracker_database_refuses_rather_than_forgets(
    cluster: Cluster,
) -> None:
    """Rasa's own fail-safe store would start the conversation afresh in memory; here
    the turn fails (an apology, the message `failed`), the proxy takes the servers out,
    and once the database is back the form goes on where it was."""
    card, born = demo_identity()
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    db = cluster.tracker_db
    try:
        with web_user(cluster) as client:
            ask(cluster, client, "/link")
            ask(cluster, client, card)
            with admin.connect() as conn:
                conn.execute(text(f'ALTER DATABASE "{db}" WITH ALLOW_CONNECTIONS false'))
                conn.execute(
                    text(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :d"
                    ),
                    {"d": db},
                )
            replies = ask(cluster, client, born)
            assert not _linked(replies), replies
            assert replies[0]["html"].startswith("Sorry, the assistant cannot answer right now")
            cluster.wait_server("rasa1", "DOWN", timeout=30)
            cluster.wait_server("rasa2", "DOWN", timeout=30)
            health = httpx.get(f"{cluster.url}healthz", timeout=10).json()
            assert health["rasa"] != "ok", health
            with admin.connect() as conn:
                conn.execute(text(f'ALTER DATABASE "{db}" WITH ALLOW_CONNECTIONS true'))
            cluster.wait_server("rasa1", "UP", timeout=120)
            cluster.wait_server("rasa2", "UP", timeout=120)
            replies = ask(cluster, client, born)
            assert _linked(replies), replies
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'ALTER DATABASE "{db}" WITH ALLOW_CONNECTIONS true'))
        admin.dispose()
    engine = make_engine(cluster.database_url)
    try:
        with make_sessionmaker(engine)() as session:
            statuses = session.scalars(
                select(Message.status).where(Message.direction == "in").order_by(Message.id)
            ).all()
    finally:
        engine.dispose()
    assert "failed" in statuses and "received" not in statuses
    assert texts.NOT_ANSWERED.startswith("Sorry, the assistant cannot answer right now")


def test_forget_me_erases_the_conversation_from_rasas_database_too(cluster: Cluster) -> None:
    """Rasa's copy of a conversation is in its own PostgreSQL database, which the gateway
    cannot reach: the worker's erasure job has a Rasa server delete it (bot.jobs.erasures)."""
    marker = f"visa extension {uuid.uuid4().hex[:8]}"
    rasa_db = POSTGRES_URL.rsplit("/", 1)[0] + "/" + cluster.tracker_db
    tracker = create_engine(rasa_db)
    count = text("SELECT count(*) FROM events WHERE sender_id = :s")
    try:
        with web_user(cluster) as client:
            ask(cluster, client, f"How do I extend my visa? ({marker})")
            with tracker.connect() as conn:
                (sender,) = conn.execute(
                    text("SELECT DISTINCT sender_id FROM events WHERE data LIKE :m"),
                    {"m": f"%{marker}%"},
                ).one()
                assert conn.execute(count, {"s": sender}).scalar_one() >= 3
            ask(cluster, client, "forget me")
            (done, *_) = ask(cluster, client, "/forget yes")
            assert texts.FORGOTTEN in done["html"], done
            # The chat goes on under a new id, unknown to Rasa's old conversation.
            assert ask(cluster, client, "hello")
        started = time.monotonic()
        left = -1
        while time.monotonic() - started < 90:
            with tracker.connect() as conn:
                left = conn.execute(count, {"s": sender}).scalar_one()
            if left == 0:
                break
            time.sleep(1)
        assert left == 0, f"Rasa still holds {left} events of the forgotten conversation"
        print(f"\nRasa forgot the conversation {time.monotonic() - started:.1f}s after 'yes'")
    finally:
        tracker.dispose()
