"""The gateway's input channel: Rasa's REST channel behind a shared secret.

Rasa's own `rest` channel answers anyone who can reach its port, and its `sender` is
trusted as is: a linked chat's public id sent there returned that resident's card
status. This channel is the same REST protocol (same body, same reply), under
/webhooks/gateway/, and refuses every request without `Authorization: Bearer <token>`.
credentials.yml names it and enables no other channel; the token comes from the
environment (${RASA_TOKEN} there).

Where it differs from `rest`, so that several Rasa servers can share conversations:

- **A failure is an error.** `rest` answers 200 with whatever was collected when
  handling the message raised (often an empty list). This channel answers 500, so the
  gateway apologises instead of trusting half a turn.
- **The tracker store is never silently replaced.** Rasa wraps the configured store in
  a fail-safe one that, when the database fails, starts the conversation afresh in
  memory: a link form half filled would be forgotten and the user would never know.
  Here a tracker-store error fails the turn (500), and the health route answers 503
  while the store cannot be reached, so the proxy stops sending this server messages.
- **A message is processed once.** The gateway sends its own id of the message
  (metadata "message"). When the conversation already holds a user turn with that id
  (a retry after a gateway died waiting), the replies that followed it are sent again
  and nothing is recorded a second time. The check reads the tracker the turn loads
  anyway, under the conversation's lock: loading it once more before the turn cost a
  second read of the conversation from the tracker store on every message.
- **A conversation can be forgotten.** ``POST /webhooks/gateway/forget`` with
  ``{"sender": id}`` deletes it from the tracker store (rasa_addons/forget.py), for the
  gateway's erasure job after a user's "forget me"; Rasa has no route for that.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from rasa.core.channels.channel import CollectingOutputChannel, UserMessage
from rasa.core.channels.rest import RestInput
from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.events import BotUttered, UserUttered
from rasa.shared.exceptions import RasaException
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from rasa_addons import forget, metrics
from rasa_addons.bearer import bearer_matches

log = logging.getLogger(__name__)

# bot/protocol.py's METADATA_MESSAGE (this module runs inside Rasa and imports nothing
# of the gateway).
METADATA_MESSAGE = "message"
# How long the health route waits for the tracker store's database.
STORE_CHECK_TIMEOUT_S = 1.0


class TrackerStoreFailed(RasaException):
    """The configured tracker store failed; the turn must fail, not go on in memory."""


def _refuse_fallback(error: Exception) -> None:
    metrics.TRACKER_STORE_ERRORS.inc()
    raise TrackerStoreFailed(f"tracker store failed: {error.__class__.__name__}") from error


def make_strict(agent: Any) -> None:
    """Make Rasa's fail-safe tracker store raise instead of falling back to memory.

    The agent's store is a FailSafeTrackerStore around the configured one; it calls
    `_on_tracker_store_error` (when set) instead of logging and falling back. Raising
    there fails the turn before anything is kept in memory.
    """
    store = getattr(agent, "tracker_store", None)
    if store is not None and hasattr(store, "_on_tracker_store_error"):
        store._on_tracker_store_error = _refuse_fallback


def _primary_store(agent: Any) -> Any:
    store = getattr(agent, "tracker_store", None)
    return getattr(store, "_tracker_store", store)


def store_kind(agent: Any) -> str:
    """'sql', 'memory', ... : what the configured (wrapped) tracker store is."""
    store = _primary_store(agent)
    if isinstance(store, SQLTrackerStore):  # Rasa's, or rasa_addons.tracker_store's
        return "sql"
    name = type(store).__name__
    return {"InMemoryTrackerStore": "memory"}.get(name, name)


def _ping_sql(engine: Any) -> None:
    with engine.connect() as conn:
        conn.exec_driver_sql("SELECT 1")


async def store_status(agent: Any) -> str:
    """'ok' when the tracker store can be used now, else why not."""
    engine = getattr(_primary_store(agent), "engine", None)
    if engine is None:  # an in-memory store is always there
        return "ok"
    try:
        await asyncio.wait_for(asyncio.to_thread(_ping_sql, engine), STORE_CHECK_TIMEOUT_S)
    except Exception as exc:
        return f"unavailable ({exc.__class__.__name__})"
    return "ok"


# The gateway's id of the message this task is handling (None: not a gateway turn).
_MESSAGE: contextvars.ContextVar[Any] = contextvars.ContextVar("gateway_message", default=None)


class AlreadyHandled(Exception):  # not an error: it carries the turn's replies again
    """The conversation holds this message's turn already: its recorded replies."""

    def __init__(self, replies: list[dict[str, Any]]) -> None:
        super().__init__("message handled before")
        self.replies = replies


async def recorded_replies(
    events: list[Any], message_id: Any, sender_id: str
) -> list[dict[str, Any]] | None:
    """The replies that followed the user turn with this message id, or None when the
    conversation holds no such turn (the message is new)."""
    start = None
    for index in range(len(events) - 1, -1, -1):
        event = events[index]
        if (
            isinstance(event, UserUttered)
            and (event.metadata or {}).get(METADATA_MESSAGE) == message_id
        ):
            start = index
            break
    if start is None:
        return None
    collector = CollectingOutputChannel()
    for event in events[start + 1 :]:
        if isinstance(event, UserUttered):
            break
        if isinstance(event, BotUttered):
            await collector.send_response(sender_id, {"text": event.text, **(event.data or {})})
    return collector.messages


def check_replays(processor: Any) -> None:
    """Make ``processor`` look, in each tracker it loads for a gateway turn, for the
    turn's message id: AlreadyHandled then ends the turn before anything is recorded.
    Idempotent; a model reload brings a new processor, hence the check per request."""
    if getattr(processor, "_gateway_replays", False):
        return
    load = processor.get_tracker

    async def get_tracker(sender_id: str) -> Any:
        tracker = await load(sender_id)
        message_id = _MESSAGE.get()
        if message_id is not None:
            _MESSAGE.set(None)  # the turn's first load only: later ones hold the turn itself
        if message_id is not None and tracker is not None:
            replies = await recorded_replies(list(tracker.events), message_id, sender_id)
            if replies is not None:
                raise AlreadyHandled(replies)
        return tracker

    processor.get_tracker = get_tracker
    processor._gateway_replays = True


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
        blueprint = Blueprint(f"custom_webhook_{type(self).__name__}", __name__)

        # Blueprint middleware runs for this channel's routes only, before the handler.
        @blueprint.middleware("request")
        async def require_secret(request: Request) -> HTTPResponse | None:
            if bearer_matches(request.headers.get("Authorization"), self._token):
                return None
            log.warning("refused a request to %s without the gateway's secret", request.path)
            return response.json({"error": "unauthorized"}, status=401)

        @blueprint.route("/", methods=["GET"])
        async def health(request: Request) -> HTTPResponse:
            agent = request.app.ctx.agent
            if agent is None or not agent.is_ready():
                return response.json({"status": "loading"}, status=503)
            make_strict(agent)
            status = await store_status(agent)
            body = {"status": "ok" if status == "ok" else "degraded"}
            body |= {"tracker_store": store_kind(agent), "tracker_store_status": status}
            return response.json(body, status=200 if status == "ok" else 503)

        @blueprint.route("/forget", methods=["POST"])
        async def forget_route(request: Request) -> HTTPResponse:
            """Delete one conversation from the tracker store (rasa_addons/forget.py)."""
            agent = request.app.ctx.agent
            if agent is None or getattr(agent, "tracker_store", None) is None:
                return response.json({"error": "no tracker store"}, status=503)
            try:
                body = request.json
            except Exception:  # not JSON: Sanic raises on reading it
                body = None
            sender = body.get("sender") if isinstance(body, dict) else None
            if not isinstance(sender, str) or not sender or len(sender) > 255:
                return response.json({"error": 'expected {"sender": string}'}, status=400)
            try:
                deleted = await forget.forget(agent.tracker_store, sender)
            except forget.CannotForget as exc:
                log.error("%s", exc)
                return response.json({"error": str(exc)}, status=501)
            except Exception as exc:
                log.exception("forgetting a conversation failed: %s", exc.__class__.__name__)
                return response.json({"error": exc.__class__.__name__}, status=503)
            return response.json({"deleted": deleted})

        @blueprint.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> HTTPResponse:
            agent = request.app.ctx.agent
            if agent is None or not agent.is_ready():
                return response.json({"error": "no model loaded"}, status=503)
            make_strict(agent)
            with metrics.TURN_SECONDS.time():
                status, body = await self._handle(request, on_new_message, agent)
            return response.json(body, status=status)

        return blueprint

    async def _handle(
        self,
        request: Request,
        on_new_message: Callable[[UserMessage], Awaitable[Any]],
        agent: Any,
    ) -> tuple[int, Any]:
        """One message: (HTTP status, body), counted by its result."""
        sender_id = await self._extract_sender(request)
        text = self._extract_message(request)
        metadata = self.get_metadata(request) or {}
        message_id = metadata.get(METADATA_MESSAGE) if isinstance(metadata, dict) else None
        check_replays(agent.processor)
        token = _MESSAGE.set(message_id)
        try:
            collector = CollectingOutputChannel()
            await on_new_message(
                UserMessage(
                    text,
                    collector,
                    sender_id,
                    input_channel=self._extract_input_channel(request),
                    metadata=metadata,
                )
            )
        except AlreadyHandled as handled:
            log.info("message %s was processed before: its replies again", message_id)
            metrics.TURNS.labels("replayed").inc()
            return 200, handled.replies
        except asyncio.CancelledError:
            log.error("handling a message was cancelled")
            metrics.TURNS.labels("cancelled").inc()
            return 503, {"error": "cancelled"}
        except Exception as exc:
            # Never the message's text: it is the user's.
            log.exception("handling a message failed: %s", exc.__class__.__name__)
            metrics.TURNS.labels("failed").inc()
            return 500, {"error": exc.__class__.__name__}
        finally:
            _MESSAGE.reset(token)
        metrics.TURNS.labels("ok").inc()
        return 200, collector.messages
