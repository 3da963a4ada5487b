"""The gateway's input channel: Rasa's REST channel behind a shared secret.

Rasa's own `rest` channel answers anyone who can reach its port, and its `sender` is
trusted as is: a linked chat's public id sent there returned that resident's card
status. This channel is the same REST protocol (same body, same reply), under
/webhooks/gateway/, and refuses every request without `Authorization: Bearer <token>`.
credentials.yml names it and enables no other channel; the token comes from the
environment (${RASA_TOKEN} there).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from rasa.core.channels.channel import UserMessage
from rasa.core.channels.rest import RestInput
from rasa.shared.exceptions import RasaException
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from rasa_addons.bearer import bearer_matches

log = logging.getLogger(__name__)


class GatewayInput(RestInput):
    def __init__(self, token: str) -> None:
        self._token = token

    @classmethod
    def name(cls) -> str:
        return "gateway"

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> GatewayInput:
        token = str((credentials or {}).get("token") or "").strip()
        if not token:
            # Without a secret the channel would be as open as `rest`: refuse to start.
            raise RasaException(f"credentials.yml: {cls.__module__}.{cls.__name__} needs a token")
        return cls(token)

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        blueprint = super().blueprint(on_new_message)

        # Blueprint middleware runs for this channel's routes only, before the handler.
        @blueprint.middleware("request")
        async def require_secret(request: Request) -> HTTPResponse | None:
            if bearer_matches(request.headers.get("Authorization"), self._token):
                return None
            log.warning("refused a request to %s without the gateway's secret", request.path)
            return response.json({"error": "unauthorized"}, status=401)

        return blueprint
