"""The gateway's /healthz names the dependency that is down (it once said "ok" while the
action server was dead and every message waited 30 s for "temporarily unavailable")."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from bot.app import create_app
from bot.settings import Settings
from tests.helpers import free_port


class FakeDependency:
    """Answers GET on `path` with 200 when the bearer secret (if any) matches."""

    def __init__(self, path: str, secret: str | None = None) -> None:
        self.path, self.secret = path, secret
        dep = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                wanted = None if dep.secret is None else f"Bearer {dep.secret}"
                ok = self.path == dep.path and (
                    wanted is None or self.headers.get("Authorization") == wanted
                )
                self.send_response(200 if ok else 401)
                self.end_headers()

            def log_message(self, *_args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def deps() -> Iterator[tuple[FakeDependency, FakeDependency]]:
    rasa = FakeDependency("/webhooks/gateway/", secret="rasa-secret")
    actions = FakeDependency("/health")
    yield rasa, actions
    rasa.close()
    actions.close()


def gateway_settings(tmp_path: Path, rasa_url: str, action_url: str, token: str) -> Settings:
    return Settings(  # type: ignore[call-arg]
        DATABASE_URL=f"sqlite:///{tmp_path / 'gw.db'}",
        RASA_URL=rasa_url,
        RASA_TOKEN=token,
        ACTION_SERVER_URL=action_url,
    )


async def healthz(settings: Settings) -> httpx.Response:
    app = create_app(settings)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://gw"
    ) as client:
        return await client.get("/healthz")


async def test_all_dependencies_up(
    tmp_path: Path, deps: tuple[FakeDependency, FakeDependency]
) -> None:
    rasa, actions = deps
    resp = await healthz(gateway_settings(tmp_path, rasa.url, actions.url, "rasa-secret"))
    assert resp.status_code == 200
    assert resp.json() == {
        "status": "ok",
        "database": "ok",
        "rasa": "ok",
        "action_server": "ok",
    }


async def test_dead_action_server_is_named(
    tmp_path: Path, deps: tuple[FakeDependency, FakeDependency]
) -> None:
    rasa, actions = deps
    actions.close()
    resp = await healthz(gateway_settings(tmp_path, rasa.url, actions.url, "rasa-secret"))
    assert resp.status_code == 503
    assert resp.json() == {
        "status": "degraded",
        "database": "ok",
        "rasa": "ok",
        "action_server": "unreachable",
    }


async def test_dead_rasa_and_wrong_token_are_told_apart(
    tmp_path: Path, deps: tuple[FakeDependency, FakeDependency]
) -> None:
    rasa, actions = deps
    wrong = await healthz(gateway_settings(tmp_path, rasa.url, actions.url, "not-the-secret"))
    assert wrong.status_code == 503 and wrong.json()["rasa"] == "HTTP 401"
    down = await healthz(
        gateway_settings(tmp_path, f"http://127.0.0.1:{free_port()}", actions.url, "x")
    )
    assert down.status_code == 503
    assert down.json()["rasa"] == "unreachable" and down.json()["action_server"] == "ok"


async def test_broken_database_is_named(
    tmp_path: Path, deps: tuple[FakeDependency, FakeDependency]
) -> None:
    rasa, actions = deps
    settings = gateway_settings(tmp_path, rasa.url, actions.url, "rasa-secret")
    (tmp_path / "a-directory").mkdir()
    settings.database_url = f"sqlite:///{tmp_path / 'a-directory'}"  # cannot be opened
    resp = await healthz(settings)
    assert resp.status_code == 503
    assert resp.json()["database"] == "unavailable" and resp.json()["rasa"] == "ok"
