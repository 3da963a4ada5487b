"""The gateway's Rasa channel (rasa_addons/channel.py) under retries: a message id is
processed once, and a repeat gets the replies recorded the first time."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from bot.pipeline.rasa_client import RasaClient
from tests.integration.conftest import Stack
from tests.integration.test_process_security import user_events

pytestmark = pytest.mark.integration


def post(stack: Stack, sender: str, text: str, message_id: int | None) -> httpx.Response:
    metadata: dict[str, object] = {"language": "en"}
    if message_id is not None:
        metadata["message"] = message_id
    return httpx.post(
        f"{stack.rasa_url}/webhooks/gateway/webhook",
        json={"sender": sender, "message": text, "metadata": metadata},
        headers={"Authorization": f"Bearer {stack.token}"},
        timeout=60,
    )


def test_a_repeated_message_id_is_answered_again_and_recorded_once(
    stack: Stack, tmp_path: Path
) -> None:
    sender = f"retry-{tmp_path.name}"
    first = post(stack, sender, "How do I extend my visa?", 9001)
    second = post(stack, sender, "what are the emergency numbers?", 9002)
    assert first.status_code == second.status_code == 200
    # A gateway that died waiting for 9001's answer sends it again (another gateway,
    # through the proxy): the same replies, and the conversation is not touched.
    again = post(stack, sender, "How do I extend my visa?", 9001)
    assert again.status_code == 200
    assert again.json() == first.json() and first.json() != second.json()
    assert [e["text"] for e in user_events(stack, sender)] == [
        "How do I extend my visa?",
        "what are the emergency numbers?",
    ]


def test_messages_without_an_id_and_new_ids_are_processed(stack: Stack, tmp_path: Path) -> None:
    sender = f"noid-{tmp_path.name}"
    for message_id in (None, None, 7):
        assert post(stack, sender, "hello", message_id).status_code == 200
    assert len(user_events(stack, sender)) == 3


def test_the_channel_health_names_its_tracker_store(stack: Stack) -> None:
    resp = httpx.get(
        f"{stack.rasa_url}/webhooks/gateway/",
        headers={"Authorization": f"Bearer {stack.token}"},
        timeout=10,
    )
    # `expatbot run` keeps one Rasa server's trackers in memory; the cluster's are SQL
    # (tests/integration/test_cluster.py takes their database away).
    assert resp.status_code == 200
    assert resp.json() == {"status": "ok", "tracker_store": "memory", "tracker_store_status": "ok"}


@pytest.mark.parametrize("server", ["rasa", "actions"])
def test_rasa_and_the_action_server_serve_metrics_behind_their_token(
    stack: Stack, tmp_path: Path, server: str
) -> None:
    post(stack, f"metrics-{tmp_path.name}", "How do I extend my visa?", 4242)
    url = (stack.rasa_url if server == "rasa" else stack.action_url) + "/metrics"
    for headers in ({}, {"Authorization": f"Bearer {stack.token}"}):
        # Neither no secret nor another door's secret opens it.
        assert httpx.get(url, headers=headers, timeout=10).status_code == 401
    resp = httpx.get(url, headers={"Authorization": f"Bearer {stack.metrics_token}"}, timeout=10)
    assert resp.status_code == 200
    if server == "rasa":
        assert 'expatbot_rasa_turns_total{result="ok"}' in resp.text
        assert "expatbot_rasa_turn_seconds_bucket" in resp.text
    else:
        assert 'expatbot_actions_total{action="action_answer_faq",result="ok"}' in resp.text
        assert "expatbot_action_seconds_bucket" in resp.text


def test_the_action_server_says_whether_it_can_serve(stack: Stack) -> None:
    # Open, like /health: what a proxy checks, saying no more than ok or not.
    resp = httpx.get(f"{stack.action_url}/readyz", timeout=10)
    assert (resp.status_code, resp.json()) == (200, {"status": "ok", "database": "ok"})


async def test_a_conversation_is_forgotten_on_the_gateways_request_only(
    stack: Stack, tmp_path: Path
) -> None:
    """The route the erasure job uses (bot.jobs.erasures), with the gateway's own client."""
    sender = f"forget-{tmp_path.name}"
    assert post(stack, sender, "How do I extend my visa?", 1).status_code == 200
    url = f"{stack.rasa_url}/webhooks/gateway/forget"
    auth = {"Authorization": f"Bearer {stack.token}"}
    # Without the gateway's secret, or with another's: refused, nothing deleted.
    for headers in ({}, {"Authorization": f"Bearer {stack.action_token}"}):
        assert httpx.post(url, json={"sender": sender}, headers=headers).status_code == 401
    # Not a sender: a clear refusal.
    for bad in (b"not json", b'{"sender": 5}', b'["x"]', b'{"sender": ""}'):
        resp = httpx.post(url, content=bad, headers=auth | {"Content-Type": "application/json"})
        assert resp.status_code == 400, bad
        assert resp.json() == {"error": 'expected {"sender": string}'}
    assert len(user_events(stack, sender)) == 1  # still there
    rasa = RasaClient(stack.rasa_url, token=stack.token)
    try:
        # The user's turn and what followed it, every event of the conversation.
        assert await rasa.forget(sender=sender) >= 3
        # Twice is not an error: there is nothing left.
        assert await rasa.forget(sender=sender) == 0
    finally:
        await rasa.aclose()
    assert user_events(stack, sender) == []
