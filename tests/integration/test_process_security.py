"""The processes behind the gateway accept only the gateway (Rasa) and Rasa (the action
server), and no secret shows on a command line.

Found in review: Rasa's REST webhook needed no token, and a linked chat's public id sent
there as `sender` returned that resident's card status; the action server's /webhook
ran any action for anyone on the machine.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from bot.db import make_engine, make_sessionmaker, transaction
from bot.db.models import ChatIdentity, Resident
from bot.ops import ports
from tests.integration.conftest import Stack
from tests.people import AHMED

pytestmark = pytest.mark.integration

QUESTION = "is my merchant card still valid?"
CARD_TAIL = "1234"  # Ahmed's card ends so: no refused answer may contain it


@pytest.fixture(scope="module")
def linked_sender(stack: Stack) -> Iterator[str]:
    """The public id (Rasa's sender) of a Telegram chat linked to Ahmed."""
    engine = make_engine(stack.database_url)
    with transaction(make_sessionmaker(engine)) as s:
        ahmed = s.scalars(select(Resident).where(Resident.full_name == AHMED.name)).one()
        me = ChatIdentity(channel="telegram", external_id="security-probe", resident_id=ahmed.id)
        s.add(me)
        s.flush()
        public_id = me.public_id
    engine.dispose()
    yield public_id


def user_events(stack: Stack, sender: str) -> list[dict[str, Any]]:
    tracker = httpx.get(
        f"{stack.rasa_url}/conversations/{sender}/tracker",
        params={"token": stack.token},
        timeout=30,
    ).json()
    return [e for e in tracker.get("events") or [] if e.get("event") == "user"]


def ask_rasa(stack: Stack, route: str, sender: str, **headers: str) -> httpx.Response:
    return httpx.post(
        f"{stack.rasa_url}{route}",
        json={"sender": sender, "message": QUESTION, "metadata": {"language": "en"}},
        headers=headers,
        timeout=60,
    )


def test_rasa_rest_channel_is_gone(stack: Stack, linked_sender: str) -> None:
    resp = ask_rasa(stack, "/webhooks/rest/webhook", linked_sender)
    assert CARD_TAIL not in resp.text  # it was: "Your merchant card ••••1234 is active…"
    assert resp.status_code == 404
    assert user_events(stack, linked_sender) == []


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer not-the-token"},
        {"Authorization": "Basic aW50ZWdyYXRpb24tdGVzdC10b2tlbg=="},
        {"Authorization": "integration-test-token"},  # no scheme
    ],
    ids=["none", "wrong", "basic", "bare"],
)
def test_gateway_channel_refuses_without_the_secret(
    stack: Stack, linked_sender: str, headers: dict[str, str]
) -> None:
    resp = ask_rasa(stack, "/webhooks/gateway/webhook", linked_sender, **headers)
    assert resp.status_code == 401 and CARD_TAIL not in resp.text
    health = httpx.get(f"{stack.rasa_url}/webhooks/gateway/", headers=headers, timeout=10)
    assert health.status_code == 401
    assert user_events(stack, linked_sender) == []  # nothing reached the conversation


def test_gateway_channel_answers_with_the_secret(stack: Stack, tmp_path: Path) -> None:
    sender = f"security-{tmp_path.name}"  # unlinked: the answer is the link form
    resp = ask_rasa(
        stack, "/webhooks/gateway/webhook", sender, Authorization=f"Bearer {stack.token}"
    )
    assert resp.status_code == 200
    assert [m for m in resp.json() if m.get("text")]  # a real reply
    assert [e["text"] for e in user_events(stack, sender)] == [QUESTION]


def action_call(sender: str) -> dict[str, Any]:
    """What Rasa posts to run the card lookup for `sender`."""
    return {
        "next_action": "action_check_card_status",
        "sender_id": sender,
        "version": "3.6.21",
        "domain": {},
        "tracker": {
            "sender_id": sender,
            "slots": {"language": "en"},
            "latest_message": {
                "text": QUESTION,
                "intent": {"name": "check_card_status", "confidence": 1.0},
                "entities": [],
                "metadata": {"language": "en"},
            },
            "events": [],
            "paused": False,
            "followup_action": None,
            "active_loop": {},
            "latest_action_name": "action_listen",
        },
    }


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer integration-test-token"}])
def test_action_server_refuses_calls_without_its_secret(
    stack: Stack, linked_sender: str, headers: dict[str, str]
) -> None:
    """Rasa's own token is not the action server's secret either."""
    resp = httpx.post(
        f"{stack.action_url}/webhook", json=action_call(linked_sender), headers=headers, timeout=30
    )
    assert CARD_TAIL not in resp.text
    assert resp.status_code == 401
    assert httpx.get(f"{stack.action_url}/actions", headers=headers).status_code == 401
    # The health check stays open: it says only that the server runs.
    assert httpx.get(f"{stack.action_url}/health").json() == {"status": "ok"}


def test_action_server_serves_rasa_with_the_secret(stack: Stack) -> None:
    resp = httpx.get(
        f"{stack.action_url}/actions", headers={"Authorization": f"Bearer {stack.action_token}"}
    )
    assert resp.status_code == 200
    assert {"name": "action_check_card_status"} in resp.json()


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""  # ended meanwhile


def test_no_secret_on_any_command_line(stack: Stack) -> None:
    """`ps` shows every user every process's arguments."""
    pids = [int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit()]
    lines = [cmdline(pid) for pid in pids]
    assert stack.rasa.pgid is not None
    assert "rasa_addons.serve run" in cmdline(stack.rasa.pgid)  # the Rasa process itself
    assert not [line for line in lines if stack.token in line or stack.action_token in line]


def test_each_server_is_the_one_process_the_supervisor_watches(stack: Stack) -> None:
    """No worker behind a manager: the process that answers /health is the one that
    serves, and its death is its exit. (The action server used to run a manager, a
    worker and two multiprocessing helpers.)"""
    for service in (stack.actions, stack.rasa):
        assert service.pgid is not None and service.port is not None
        assert ports.group_members(service.pgid) == [service.pgid], service.name
        assert [h.pid for h in ports.listeners(service.port)] == [service.pgid], service.name
