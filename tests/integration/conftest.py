"""A real Rasa server and a real action server, on free ports, once per test run.

The model is trained only when its training data changed (models/model-<hash>.tar.gz),
so a second run reuses it. The action server reads answers from a copy of locales/, so
that tests can edit answer files as an editor would. Both share one database (SQLite,
migrated, with the people of tests/people.py): the action server reads chat identities
and the registry from it, so tests that link chats use ``stack.database_url``.

The servers are started exactly as `expatbot run` starts them (bot.ops.supervisor's
builders: commands, environments, secrets), so what the tests see is what runs.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from bot.db import make_engine, make_sessionmaker, upgrade
from bot.nlu import rasa_runtime
from bot.ops.supervisor import Service, build_services, wait_healthy
from bot.settings import PROJECT_ROOT, Settings, get_settings
from tests.helpers import free_port
from tests.people import load_people


@dataclass
class Stack:
    rasa_url: str
    action_url: str
    locales: Path
    token: str
    database_url: str
    logs: tuple[Path, ...]
    rasa: Service
    actions: Service
    action_token: str
    metrics_token: str = "integration-metrics-token"


def start_and_wait(service: Service, timeout: float = 240) -> None:
    service.start()
    try:
        wait_healthy(service, timeout=timeout, say=lambda _s: None)
    except RuntimeError as exc:
        raise RuntimeError(f"{exc}:\n{service.log_path.read_text()[-3000:]}") from exc


# What the gateway needs to reach this stack; gateways that tests build with Settings()
# (and `expatbot chat` subprocesses) read it from the environment, as in production.
GATEWAY_ENV = ("RASA_TOKEN", "ACTION_SERVER_URL")


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    model, seconds = rasa_runtime.ensure_model()
    print(f"\nmodel {model.name}: " + (f"trained in {seconds:.1f}s" if seconds else "reused"))
    tmp = tmp_path_factory.mktemp("stack")
    locales = tmp / "locales"
    shutil.copytree(PROJECT_ROOT / "locales", locales)
    database_url = f"sqlite:///{tmp / 'stack.db'}"
    upgrade(database_url)
    engine = make_engine(database_url)
    load_people(make_sessionmaker(engine))
    engine.dispose()
    token, action_token = "integration-test-token", "integration-action-token"
    # The same settings, builders and supervisor code as `expatbot run`.
    settings = Settings(  # type: ignore[call-arg]
        EXPATBOT_VAR=str(tmp / "var"),
        DATABASE_URL=database_url,
        EXPATBOT_LOCALES=str(locales),
        RASA_PORT=free_port(),
        ACTION_PORT=free_port(),
        RASA_TOKEN=token,
        ACTION_SERVER_TOKEN=action_token,
        METRICS_TOKEN=Stack.metrics_token,
        REGISTRY_HASH_KEY=get_settings().registry_hash_key,
    )
    services = {s.name: s for s in build_services(settings, model, run_dir=tmp / "var" / "run")}
    actions, rasa = services["action server"], services["Rasa server"]
    rasa_url = f"http://127.0.0.1:{settings.rasa_port}"
    action_url = f"http://127.0.0.1:{settings.action_port}"
    previous = {name: os.environ.get(name) for name in GATEWAY_ENV}
    os.environ.update({"RASA_TOKEN": token, "ACTION_SERVER_URL": action_url})
    get_settings.cache_clear()
    try:
        start_and_wait(actions)
        start_and_wait(rasa)
        yield Stack(
            rasa_url=rasa_url,
            action_url=action_url,
            locales=locales,
            token=token,
            database_url=database_url,
            logs=(actions.log_path, rasa.log_path),
            rasa=rasa,
            actions=actions,
            action_token=action_token,
        )
    finally:
        rasa.stop()
        actions.stop()
        for name, value in previous.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        get_settings.cache_clear()
        if os.environ.get("EXPATBOT_KEEP_LOGS"):
            print(actions.log_path.read_text()[-5000:], rasa.log_path.read_text()[-5000:])
