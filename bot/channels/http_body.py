"""Reading a request's body without trusting its size."""

from __future__ import annotations

from starlette.requests import Request


async def read_body(request: Request, *, limit: int) -> bytes | None:
    """The request's body, or None as soon as it is known to exceed ``limit`` bytes:
    from Content-Length before anything is read, or while a body without one (chunked)
    streams in, so that a huge body is never held in memory."""
    declared = request.headers.get("content-length", "")
    if declared.strip().isdigit() and int(declared) > limit:
        return None
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            return None
    return bytes(body)
