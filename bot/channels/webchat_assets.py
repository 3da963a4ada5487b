"""The web chat page's script and style sheet, served by the gateway under /static/.

They are files of their own so that the page's Content-Security-Policy
(bot/channels/web_security.py) can forbid inline script and style. Only these two files
are served: bot/static/ also holds the page's template, which is served by WebChat.page
with its placeholders filled in.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import Route

STATIC = Path(__file__).resolve().parent.parent / "static"
ASSETS = {
    "/static/webchat.js": (STATIC / "webchat.js", "text/javascript; charset=utf-8"),
    "/static/webchat.css": (STATIC / "webchat.css", "text/css; charset=utf-8"),
}


def _serve(path: Path, media_type: str) -> Callable[[Request], Awaitable[Response]]:
    async def asset(request: Request) -> Response:
        # "no-cache" means revalidate (FileResponse sends an ETag): a new release of the
        # page is never run with an old script.
        return FileResponse(path, media_type=media_type, headers={"cache-control": "no-cache"})

    return asset


def asset_routes() -> list[Route]:
    return [
        Route(url, _serve(path, media_type), methods=["GET", "HEAD"])
        for url, (path, media_type) in ASSETS.items()
    ]
