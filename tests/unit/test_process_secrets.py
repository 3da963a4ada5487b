"""Secrets between the processes: never on a command line, never empty, compared safely."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import httpx
import pytest

from bot.nlu import rasa_runtime
from bot.pipeline.rasa_client import RasaClient
from bot.settings import Settings
from rasa_addons.bearer import bearer_matches
from rasa_addons.serve import rasa_argv


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("Bearer s3cret-token", True),
        ("bearer s3cret-token", True),
        ("Bearer s3cret-tokeN", False),
        ("Bearer s3cret", False),
        ("Bearer ", False),
        ("Basic s3cret-token", False),
        ("s3cret-token", False),
        (None, False),
    ],
)
def test_bearer_header(header: str | None, expected: bool) -> None:
    assert bearer_matches(header, "s3cret-token") is expected


def test_an_empty_secret_matches_nothing() -> None:
    assert not bearer_matches("Bearer ", "")
    assert not bearer_matches("Bearer", "")


def test_rasa_command_line_holds_no_token(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "rasa").touch()
    monkeypatch.setattr(rasa_runtime, "RASA_VENV", tmp_path)
    cmd = rasa_runtime.rasa_server_command(
        model=tmp_path / "m.tar.gz", port=5005, endpoints=tmp_path / "e.yml"
    )
    env = rasa_runtime.rasa_server_env(rasa_token="-Xy_z", action_token="act-secret")
    assert cmd[1:3] == ["-m", "rasa_addons.serve"]
    assert not any("-Xy_z" in a or "auth-token" in a or "act-secret" in a for a in cmd)
    assert env["RASA_TOKEN"] == "-Xy_z" and env["ACTION_SERVER_TOKEN"] == "act-secret"


def test_wrapper_hands_the_token_to_rasa_as_one_argument() -> None:
    """secrets.token_urlsafe() starts with "-" one time in 64: Rasa's argparse must still
    read it as the token's value (it once failed to start: "expected one argument")."""
    argv = rasa_argv(["run", "--enable-api", "--port", "5005"], "-Xy_z")
    parser = argparse.ArgumentParser(exit_on_error=False)
    parser.add_argument("-t", "--auth-token")
    args, _ = parser.parse_known_args(argv[1:])
    assert args.auth_token == "-Xy_z"


def test_wrapper_refuses_a_token_on_the_command_line() -> None:
    with pytest.raises(SystemExit, match="RASA_TOKEN"):
        rasa_argv(["run", "--auth-token=abc"], "x")


def test_endpoints_file_names_the_secret_without_holding_it(tmp_path: Path) -> None:
    path = rasa_runtime.write_endpoints(tmp_path / "endpoints.yml", action_port=5099)
    text = path.read_text()
    # Unquoted: Rasa substitutes ${...} only in plain YAML scalars.
    assert "Authorization: Bearer ${ACTION_SERVER_TOKEN}\n" in text
    assert "url: http://127.0.0.1:5099/webhook" in text


def test_action_server_env_has_its_secret_and_not_rasas(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RASA_TOKEN", "rasa-secret")
    env = rasa_runtime.action_server_env(action_token="act-secret")
    assert env["ACTION_SERVER_TOKEN"] == "act-secret" and "RASA_TOKEN" not in env


@pytest.mark.parametrize("placeholder", ["", "changeme", "secret", " Token "])
def test_production_refuses_a_placeholder_action_server_token(placeholder: str) -> None:
    with pytest.raises(ValueError, match="ACTION_SERVER_TOKEN"):
        Settings(
            EXPATBOT_ENV="production",
            RASA_TOKEN="a-real-rasa-token-0123",
            ACTION_SERVER_TOKEN=placeholder,
            REGISTRY_HASH_KEY="a-real-registry-key-0123",
        )


@pytest.mark.parametrize("placeholder", ["", "changeme", " Token "])
def test_production_refuses_a_placeholder_metrics_token(placeholder: str) -> None:
    with pytest.raises(ValueError, match="METRICS_TOKEN"):
        Settings(
            EXPATBOT_ENV="production",
            RASA_TOKEN="a-real-rasa-token-0123",
            ACTION_SERVER_TOKEN="a-real-action-token-0123",
            METRICS_TOKEN=placeholder,
            REGISTRY_HASH_KEY="a-real-registry-key-0123",
        )


def test_development_gets_random_distinct_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RASA_TOKEN", raising=False)
    monkeypatch.delenv("ACTION_SERVER_TOKEN", raising=False)
    a, b = Settings(), Settings()
    assert len(a.action_server_token) >= 24 and a.action_server_token != b.action_server_token
    assert a.action_server_token != a.rasa_token


async def test_rasa_client_sends_the_secret_to_the_gateway_channel() -> None:
    seen: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.method == "GET":
            return httpx.Response(200, json={"status": "ok"})
        return httpx.Response(200, json=[{"text": "hi"}])

    client = RasaClient("http://rasa.test/", token="s3cret", transport=httpx.MockTransport(handle))
    turn = await client.send(sender="p1", text="hello", language="en", channel="webchat")
    assert await client.check() == "ok"
    await client.aclose()
    assert [r.text for r in turn.replies] == ["hi"]
    post, get = seen
    assert post.url.path == "/webhooks/gateway/webhook" and get.url.path == "/webhooks/gateway/"
    assert post.headers["Authorization"] == get.headers["Authorization"] == "Bearer s3cret"
    assert json.loads(post.content) == {
        "sender": "p1",
        "message": "hello",
        "metadata": {"language": "en", "channel": "webchat"},
    }


async def test_rasa_client_check_names_what_is_wrong() -> None:
    refused = RasaClient(
        "http://rasa.test",
        token="bad",
        transport=httpx.MockTransport(lambda r: httpx.Response(401)),
    )
    assert await refused.check() == "HTTP 401"
    await refused.aclose()

    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    gone = RasaClient("http://rasa.test", transport=httpx.MockTransport(down))
    assert await gone.check() == "unreachable"
    await gone.aclose()
