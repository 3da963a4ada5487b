"""rasa_addons/action_validation.py, inside Rasa's runtime: the same check of the action
server's responses as Rasa's own (a valid one passes, an invalid one fails with Rasa's
message), with the validator built once instead of on every call."""

from __future__ import annotations

import pytest

from tests.cluster_rig import run_in_rasa

pytestmark = pytest.mark.integration

SCRIPT = """
import json, time
import jsonschema
from rasa.core.actions.action import RemoteAction
from rasa.utils.endpoints import EndpointConfig
from rasa_addons import action_validation

action = RemoteAction("action_answer_faq", EndpointConfig("http://127.0.0.1:9/webhook"))
good = {"events": [{"event": "slot", "name": "language", "value": "en"}],
        "responses": [{"text": "x", "buttons": [{"title": "a", "payload": "/b"}]}]}
bad = {"events": "not a list", "responses": []}

def outcome(result):
    try:
        return action._validate_action_result(result)
    except jsonschema.ValidationError as error:
        return error.message

def per_call_ms():
    started = time.perf_counter()
    for _ in range(50):
        action._validate_action_result(good)
    return (time.perf_counter() - started) / 50 * 1000

out = {"rasa": [outcome(good), outcome(bad)], "rasa_ms": per_call_ms()}
action_validation.install()
out["ours"] = [outcome(good), outcome(bad)]
out["ours_ms"] = per_call_ms()
print(json.dumps(out))
"""


def test_the_same_check_built_once() -> None:
    out = run_in_rasa(SCRIPT)
    assert out["ours"] == out["rasa"]  # the same verdicts, the same message
    assert out["rasa"][0] is True and "Failed to validate Action server response" in out["rasa"][1]
    rasa_ms, ours_ms = out["rasa_ms"], out["ours_ms"]
    print(f"\nchecking an action's response: Rasa {rasa_ms:.2f} ms, ours {ours_ms:.2f} ms")
