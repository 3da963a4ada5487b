"""Live updates of the console's pages: a stream of Server-Sent Events that says
"changed" whenever what a page shows changed (the queue and its chats, the tickets),
for the open pages to refresh themselves. The database is the only shared state, so the
stream polls a version string of it; the page sends the version it was drawn at."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable

from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.requests import Request

# How often an open page's stream reads the version (seconds).
LIVE_POLL_S = 1.0


def changes(request: Request, version: Callable[[], Awaitable[str]]) -> EventSourceResponse:
    seen = request.query_params.get("version", "")

    async def events() -> AsyncIterator[ServerSentEvent]:
        nonlocal seen
        while True:
            now = await version()
            if now != seen:
                seen = now
                yield ServerSentEvent(data=json.dumps({"version": now}), event="changed")
            await asyncio.sleep(LIVE_POLL_S)

    return EventSourceResponse(events(), ping=15)
