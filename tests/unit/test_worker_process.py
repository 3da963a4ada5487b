"""`expatbot worker`, as an operator starts it: a process of its own that runs the jobs and
the outbox. A staff alert raised in the database reaches the staff's Telegram chat (the
fake Bot API over HTTP) through it, and SIGTERM stops it cleanly."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

from bot.db import make_engine, make_sessionmaker, transaction, upgrade
from bot.db.models import ChatIdentity
from bot.records import alerts
from bot.settings import PROJECT_ROOT
from tests.fakes.telegram_api import FakeTelegram
from tests.helpers import free_port
from tests.telegram_rig import TOKEN, serve


async def test_the_worker_forwards_a_staff_alert_and_stops_on_sigterm(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'worker.db'}"
    upgrade(db)
    engine = make_engine(db)
    with transaction(make_sessionmaker(engine)) as s:
        me = ChatIdentity(channel="telegram", external_id="31337")
        s.add(me)
        s.flush()
        params = {"failures": 5, "channel": "telegram", "chat": "1a2b3c4d", "hours": "24"}
        alerts.raise_alert(s, kind="link_lockout", identity_id=me.id, params=params)
    engine.dispose()
    fake = FakeTelegram(TOKEN)
    server, task = await serve(fake.app, free_port())
    env = {
        **os.environ,
        "DATABASE_URL": db,
        "TELEGRAM_BOT_TOKEN": TOKEN,
        "TELEGRAM_BASE_URL": f"http://127.0.0.1:{server.config.port}/bot",
        "STAFF_TELEGRAM_CHAT_ID": "-100777",
        "STAFF_LANGUAGE": "en",
    }
    worker = subprocess.Popen(
        [sys.executable, "-m", "bot.ops.cli", "worker"],
        env=env,
        cwd=PROJECT_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        (sent,) = await fake.wait_for("sendMessage", 1, timeout=60)
        assert str(sent["chat_id"]) == "-100777"
        assert sent["text"].startswith("Staff alert #1 (link_lockout): 5 failed attempts")
        assert fake.sent("setMyCommands") == []  # a worker serves no users
        assert fake.sent("getUpdates") == []  # and takes no updates
    finally:
        worker.send_signal(signal.SIGTERM)
        out, err = await asyncio.to_thread(worker.communicate, timeout=30)
        server.should_exit = True
        await task
    assert worker.returncode == 0, err
    assert "worker:" in out and "Traceback" not in err
