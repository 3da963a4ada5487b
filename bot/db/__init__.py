"""The database: the one place that creates engines and sessions.

Nothing connects at import time. SQLite (a file under var/) is the default; any
SQLAlchemy URL in DATABASE_URL (e.g. postgresql+psycopg://...) works the same.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Executor
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session, sessionmaker

from bot.errors import ConfigurationError
from bot.settings import PROJECT_ROOT

T = TypeVar("T")


def normalise_url(url: str) -> str:
    """Accept the common ``postgresql://`` spelling and use psycopg 3 for it."""
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def _ensure_sqlite_dir(url: str) -> None:
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)


POOL_SIZE = 12


def make_engine(url: str) -> Engine:
    url = normalise_url(url)
    # Never SQL parameters in an error message or a log: they hold chat ids, session
    # tokens and public ids (and whatever a user typed).
    kwargs: dict[str, Any] = {"pool_pre_ping": True, "hide_parameters": True}
    if url.startswith("sqlite:///"):
        _ensure_sqlite_dir(url)
        # The gateway uses the database from worker threads.
        kwargs["connect_args"] = {"check_same_thread": False, "timeout": 15}
    else:
        # As many kept connections as a process has threads using them (asyncio's default
        # pool, the outbox's recorders, a scrape): with SQLAlchemy's 5, the rest were
        # opened and closed for each transaction under load, and every PostgreSQL
        # connection is a process forked and ended (seen at 30 messages a second).
        kwargs |= {"pool_size": POOL_SIZE, "max_overflow": 10}
    engine = create_engine(url, **kwargs)
    if engine.dialect.name == "sqlite":

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            # WAL lets the gateway read while a writer commits; foreign keys are off by default.
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

    return engine


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False)


def insert_unless_present(
    session: Session,
    model: type[Any],
    values: dict[str, Any],
    *,
    conflict_on: Sequence[str] | None = None,
) -> Any:
    """INSERT ... ON CONFLICT DO NOTHING, in the session's dialect: how a row is claimed
    or created exactly once however many processes try at the same moment. Add
    ``.returning(...)`` to learn whether this insert was the one that won."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        build: Any = pg_insert
    elif dialect == "sqlite":
        build = sqlite_insert
    else:  # pragma: no cover - the project supports these two
        raise ConfigurationError(f"unsupported database: {dialect}")
    return build(model).values(**values).on_conflict_do_nothing(index_elements=conflict_on)


@contextmanager
def transaction(sessions: sessionmaker[Session]) -> Iterator[Session]:
    with sessions() as session, session.begin():
        yield session


def upgrade(url: str) -> None:
    """Bring the database at ``url`` to the newest Alembic revision."""
    from alembic import command
    from alembic.config import Config

    _ensure_sqlite_dir(url)
    cfg = Config()
    cfg.set_main_option("script_location", str(PROJECT_ROOT / "bot" / "db" / "migrations"))
    cfg.set_main_option("sqlalchemy.url", normalise_url(url).replace("%", "%%"))
    command.upgrade(cfg, "head")


async def in_transaction(
    sessions: sessionmaker[Session],
    fn: Callable[[Session], T],
    *,
    executor: Executor | None = None,
) -> T:
    """Run ``fn`` in one transaction in a worker thread, off the event loop: the
    database drivers block, and the gateway serves every chat from one loop. An
    ``executor`` of its own keeps a caller's transactions from queueing behind others'."""

    def run() -> T:
        with transaction(sessions) as session:
            return fn(session)

    if executor is None:
        return await asyncio.to_thread(run)
    return await asyncio.get_running_loop().run_in_executor(executor, run)


def aware(moment: datetime) -> datetime:
    """A datetime read from the database, with its time zone: SQLite returns naive UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
