"""What a process counts for Prometheus, and its /metrics route.

One module, imported by the pipeline, the outbox and the apps; it imports nothing of
the project. Counters and histograms live in prometheus-client's default registry (one
per process: each gateway, worker and action server is scraped on its own). What is in
the database (the outbox's depth and age, the handoff queue) is counted when scraped,
by the caller's `StateCollector`, so that every replica reports the same truth.

/metrics needs "Authorization: Bearer $METRICS_TOKEN", like every other door of the
assistant; its labels are channels, languages, statuses and kinds, never a user's id.
"""

from __future__ import annotations

import asyncio
import hmac
from collections.abc import Callable, Iterable
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.requests import Request
from starlette.responses import Response

# Seconds: a reply within a second is the target; a turn that waits for a slow Rasa
# may take up to its timeout (30 s).
REPLY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0, 30.0, 60.0)

MESSAGES_RECEIVED = Counter(
    "expatbot_messages_received",
    "Users' messages stored (a platform's repeat of one is not counted again)",
    ["channel"],
)
MESSAGES_HANDLED = Counter(
    "expatbot_messages_handled",
    "Users' messages that reached their final state",
    ["channel", "language", "status"],
)
REPLY_SECONDS = Histogram(
    "expatbot_reply_seconds",
    "From a message stored to its outcome stored (answered, rejected, with staff, failed)",
    ["channel"],
    buckets=REPLY_BUCKETS,
)
REPLIES = Counter(
    "expatbot_replies",
    "Messages to users: direct replies in the request, and outbox rows by their result",
    ["channel", "language", "way"],
)
DELIVERIES = Counter(
    "expatbot_deliveries",
    "Outbox rows tried through a channel's deliver, by result",
    ["channel", "kind", "result"],
)
RASA_ERRORS = Counter(
    "expatbot_rasa_errors",
    "Turns Rasa did not answer: unreachable or failing (unavailable), or no reply "
    "(an action failed: typically the action server)",
    ["kind"],
)
ACTIONS = Counter(
    "expatbot_actions",
    "Actions the action server ran, by result",
    ["action", "result"],
)
ACTION_SECONDS = Histogram(
    "expatbot_action_seconds",
    "Time the action server took per call",
    ["action"],
    buckets=REPLY_BUCKETS,
)

# What the process asks of its database: per message handled, how many transactions and
# statements a turn costs (on PostgreSQL each is a round trip; a cluster gateway spent
# most of its CPU in them). "checkout" is a connection taken from the pool, each with
# its pre-ping.
DB_WORK = Counter(
    "expatbot_db",
    "Database work of this process: transactions committed, SQL statements, pool checkouts",
    ["what"],
)


def count_database_work(engine: Any) -> None:
    """Count ``engine``'s statements, commits and checkouts in DB_WORK."""
    from sqlalchemy import event

    statements = DB_WORK.labels("statement")
    commits = DB_WORK.labels("commit")
    checkouts = DB_WORK.labels("checkout")
    event.listen(engine, "before_cursor_execute", lambda *_a: statements.inc())
    event.listen(engine, "commit", lambda *_a: commits.inc())
    event.listen(engine.pool, "checkout", lambda *_a: checkouts.inc())


Sample = tuple[str, str, dict[str, str], float]  # name, help, labels, value


class StateCollector(Collector):
    """Gauges read from the database at scrape time: ``read`` returns the samples."""

    def __init__(self, read: Callable[[], Iterable[Sample]]) -> None:
        self._read = read

    def collect(self) -> Iterable[Metric]:
        families: dict[str, GaugeMetricFamily] = {}
        for name, help_, labels, value in self._read():
            family = families.get(name)
            if family is None:
                family = families[name] = GaugeMetricFamily(name, help_, labels=list(labels))
            family.add_metric(list(labels.values()), value)
        return list(families.values())


def authorised(header: str | None, token: str) -> bool:
    """Bearer ``token`` (constant time); an empty token opens nothing."""
    if not token or not header:
        return False
    scheme, _, value = header.partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(value.strip(), token)


def exposition(state: Collector | None = None) -> bytes:
    """The process's metrics, and the database's when ``state`` is given."""
    body = generate_latest(REGISTRY)
    if state is not None:
        registry = CollectorRegistry(auto_describe=False)
        registry.register(state)
        body += generate_latest(registry)
    return body


def route(token: str, state: Collector | None = None) -> Callable[[Request], object]:
    """A Starlette endpoint for /metrics (the scrape runs in a thread: it may read the
    database)."""

    async def metrics(request: Request) -> Response:
        if not authorised(request.headers.get("authorization"), token):
            return Response(
                "metrics need Authorization: Bearer <METRICS_TOKEN>\n",
                status_code=401,
                media_type="text/plain",
                headers={"WWW-Authenticate": "Bearer"},
            )
        body = await asyncio.to_thread(exposition, state)
        return Response(body, media_type=CONTENT_TYPE_LATEST)

    return metrics
