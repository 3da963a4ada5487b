"""/metrics of a Rasa server, for Prometheus, behind METRICS_TOKEN.

Rasa has no metrics of its own. This module runs inside Rasa (.venv-rasa, Python 3.10)
and imports nothing of the gateway. Its route is registered as one more input channel
(credentials.yml), whose prefix puts it at the server's root, /metrics, where every
other process of the assistant serves its own; it accepts no messages.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, Counter, Histogram, generate_latest
from rasa.core.channels.channel import InputChannel, UserMessage
from rasa.shared.exceptions import RasaException
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from rasa_addons.bearer import bearer_matches

log = logging.getLogger(__name__)

BUCKETS = (0.025, 0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0, 30.0)

TURNS = Counter(
    "expatbot_rasa_turns",
    "Messages the gateway's channel handled: ok, replayed (a repeated message id), "
    "failed (HTTP 500), cancelled",
    ["result"],
)
TURN_SECONDS = Histogram(
    "expatbot_rasa_turn_seconds",
    "Time to handle one message: NLU, policies, actions, tracker store",
    buckets=BUCKETS,
)
LOCK_STORE_FALLBACKS = Counter(
    "expatbot_rasa_lock_store_fallbacks",
    "Conversation locks taken in this server's memory because Redis was unreachable",
)
TRACKER_STORE_ERRORS = Counter(
    "expatbot_rasa_tracker_store_errors",
    "Tracker store failures (each one failed its turn instead of falling back to memory)",
)


class MetricsInput(InputChannel):
    def __init__(self, token: str) -> None:
        self._token = token

    @classmethod
    def name(cls) -> str:
        return "metrics"

    def url_prefix(self) -> str:
        # Rasa mounts channels at urljoin("/webhooks/", prefix): "/" is the root.
        return "/"

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> MetricsInput:
        token = str((credentials or {}).get("token") or "").strip()
        if not token:
            raise RasaException(f"credentials.yml: {cls.__module__}.{cls.__name__} needs a token")
        return cls(token)

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        blueprint = Blueprint("expatbot_metrics", __name__)

        @blueprint.route("/metrics", methods=["GET"])
        async def metrics(request: Request) -> HTTPResponse:
            if not bearer_matches(request.headers.get("Authorization"), self._token):
                return response.text("metrics need Authorization: Bearer <METRICS_TOKEN>\n", 401)
            return response.raw(generate_latest(REGISTRY), content_type=CONTENT_TYPE_LATEST)

        return blueprint
