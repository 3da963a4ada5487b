"""A real Rasa server and a real action server, on free ports, once per test run.

The model is trained only when its training data changed (models/model-<hash>.tar.gz),
so a second run reuses it. The action server reads answers from a copy of locales/, so
that tests can edit answer files as an editor would. Both share one database (SQLite,
migrated, with the people of tests/people.py): the action server reads chat identities
and the registry from it, so tests that link chats use ``stack.database_url``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from bot import rasa_runtime
from bot.db import make_engine, make_sessionmaker, upgrade
from bot.settings import PROJECT_ROOT, get_settings
from tests.helpers import free_port
from tests.people import load_people


def wait_http(url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float = 240) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(
                f"{url} process exited {proc.returncode}:\n{log.read_text()[-3000:]}"
            )
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"{url} not healthy after {timeout}s:\n{log.read_text()[-3000:]}")


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@dataclass
class Stack:
    rasa_url: str
    action_url: str
    locales: Path
    token: str
    database_url: str
    logs: tuple[Path, ...]
    rasa: subprocess.Popen[bytes]
    actions: subprocess.Popen[bytes]


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    model, seconds = rasa_runtime.ensure_model()
    print(f"\nmodel {model.name}: " + (f"trained in {seconds:.1f}s" if seconds else "reused"))
    tmp = tmp_path_factory.mktemp("stack")
    locales = tmp / "locales"
    shutil.copytree(PROJECT_ROOT / "locales", locales)
    action_port, rasa_port = free_port(), free_port()
    endpoints = rasa_runtime.write_endpoints(tmp / "endpoints.yml", action_port=action_port)
    actions_log, rasa_log = tmp / "actions.log", tmp / "rasa.log"
    database_url = f"sqlite:///{tmp / 'stack.db'}"
    upgrade(database_url)
    engine = make_engine(database_url)
    load_people(make_sessionmaker(engine))
    engine.dispose()
    env = rasa_runtime.action_server_env() | {
        "EXPATBOT_LOCALES": str(locales),
        "DATABASE_URL": database_url,
        "REGISTRY_HASH_KEY": get_settings().registry_hash_key,
    }
    actions = subprocess.Popen(
        rasa_runtime.action_server_command(port=action_port),
        cwd=PROJECT_ROOT,
        env=env,
        stdout=actions_log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    token = "integration-test-token"
    rasa = subprocess.Popen(
        rasa_runtime.rasa_server_command(
            model=model, port=rasa_port, token=token, endpoints=endpoints
        ),
        cwd=PROJECT_ROOT,
        env=rasa_runtime.quiet_env(),
        stdout=rasa_log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    try:
        wait_http(f"http://127.0.0.1:{action_port}/health", actions, actions_log)
        wait_http(f"http://127.0.0.1:{rasa_port}/status?token={token}", rasa, rasa_log)
        yield Stack(
            rasa_url=f"http://127.0.0.1:{rasa_port}",
            action_url=f"http://127.0.0.1:{action_port}",
            locales=locales,
            token=token,
            database_url=database_url,
            logs=(actions_log, rasa_log),
            rasa=rasa,
            actions=actions,
        )
    finally:
        stop(rasa)
        stop(actions)
        if os.environ.get("EXPATBOT_KEEP_LOGS"):
            print(actions_log.read_text()[-5000:], rasa_log.read_text()[-5000:])
