"""Migration 0009 turns the registry's dates of birth into keyed hashes, on SQLite and
PostgreSQL, and the hash is the one the link form compares with."""

from __future__ import annotations

import datetime as dt

from alembic import command
from alembic.config import Config
from sqlalchemy import inspect, text

from bot.db import make_engine, normalise_url
from bot.records import references
from bot.settings import PROJECT_ROOT, get_settings


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(PROJECT_ROOT / "bot" / "db" / "migrations"))
    cfg.set_main_option("sqlalchemy.url", normalise_url(url).replace("%", "%%"))
    return cfg


def test_dates_of_birth_become_keyed_hashes(database_url: str) -> None:
    cfg = alembic_config(database_url)
    command.downgrade(cfg, "0008")  # the fixture's database is at head: go back first
    engine = make_engine(database_url)
    try:
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO resident (full_name, date_of_birth, passport_hash,"
                    " passport_last4, updated_at) VALUES ('A', :born, 'h', '1234', :now)"
                ),
                {"born": dt.date(1985, 4, 3), "now": dt.datetime(2026, 1, 1, tzinfo=dt.UTC)},
            )
        command.upgrade(cfg, "head")
        columns = {c["name"] for c in inspect(engine).get_columns("resident")}
        assert "date_of_birth" not in columns and "birth_hash" in columns
        with engine.connect() as conn:
            (stored,) = conn.execute(text("SELECT birth_hash FROM resident")).one()
        key = get_settings().registry_hash_key.encode()
        assert references.birth_matches(references.birth_reference("1985-04-03", key=key), stored)
        assert "1985" not in stored
    finally:
        engine.dispose()
