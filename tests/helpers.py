"""Small helpers shared by tests."""

from __future__ import annotations

import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import httpx

if TYPE_CHECKING:
    from bot.pipeline.assistant import Assistant
    from bot.settings import Settings


def new_id() -> str:
    """A channel message id no other message has (what a channel gives each message)."""
    return uuid.uuid4().hex


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# The development key (bot.settings): what the action server of the test stack uses too.
REGISTRY_KEY = b"development-only-registry-key"

# One limit of 1 a second with bursts of 3, asked at these moments (seconds from a start)
# with no wait allowed: what the generic cell rate algorithm answers (delay, booked).
# Both implementations are held to it: the database's and Redis's.
GCRA_BURST_MOMENTS = (0.0, 0.0, 0.0, 0.0, 0.5, 1.0, 1.0, 2.0)
GCRA_BURST_ANSWERS = [
    (0.0, True),
    (0.0, True),
    (0.0, True),
    (1.0, False),
    (0.5, False),
    (0.0, True),
    (1.0, False),
    (0.0, True),
]
# Six senders at one moment, one limit of 2 a second, up to 2 s of wait allowed: each is
# booked half a second after the one before, until the wait would pass 2 s.
GCRA_QUEUE_ANSWERS = [(0.0, True), (0.5, True), (1.0, True), (1.5, True), (2.0, True), (2.5, False)]


def webchat_client(assistant: Assistant, *, secure: bool = False) -> httpx.AsyncClient:
    """An HTTP client of the web chat's routes alone, over ASGI (no server, no port)."""
    from starlette.applications import Starlette

    from bot.channels.webchat import WebChat

    app = Starlette(routes=WebChat(assistant, secure_cookies=secure).routes())
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gw.test")


@contextmanager
def serving(settings: Settings) -> Iterator[str]:
    """The real gateway app (its lifespan runs the outbox, the mailbox and the jobs) on a
    free port, in a thread; its address."""
    import uvicorn

    from bot.app import create_app

    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="error")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        server.should_exit = True
        thread.join(10)
