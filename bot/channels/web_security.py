"""What protects the gateway's web pages and the web chat's API in a browser.

Every response gets a Content-Security-Policy that allows only the gateway's own
scripts, styles and fetches (the web chat page has no inline script or style: they are
bot/static/webchat.js and webchat.css), may not be framed (clickjacking), is never
content-sniffed and sends no Referer. A route that sets one of these headers itself
keeps its own.

The message API takes only JSON from the page's own origin. A cross-site form or a
``fetch(..., {mode: "no-cors"})`` can send ``text/plain`` without a CORS preflight, and
the session cookie would go with it where SameSite does not apply; requiring
``application/json`` forces a preflight that the gateway never answers, and the Origin
and Sec-Fetch-Site headers that browsers send name the page that sent the request.

Behind a reverse proxy, the proxy must pass the Host the browser used (nginx:
``proxy_set_header Host $host;``), or every message is refused as cross-origin.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from starlette.datastructures import MutableHeaders
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self'",
        "connect-src 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
    )
)
HEADERS = {
    "content-security-policy": CONTENT_SECURITY_POLICY,
    "x-frame-options": "DENY",  # frame-ancestors for browsers that predate it
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
}
# Sec-Fetch-Site values of a request the page itself made ("none": typed or bookmarked).
_OWN_SITE = frozenset({"same-origin", "none"})
_DEFAULT_PORTS = {"http": ":80", "https": ":443"}


class SecurityHeaders:
    """ASGI middleware: HEADERS on every HTTP response that does not set them itself."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in HEADERS.items():
                    if name not in headers:
                        headers[name] = value
            await send(message)

        await self.app(scope, receive, send_with_headers)


# For Starlette(middleware=...): the gateway's app (bot/app.py).
SECURITY_MIDDLEWARE = (Middleware(SecurityHeaders),)


def _authority(host: str, scheme: str) -> str:
    host = host.strip().lower()
    default = _DEFAULT_PORTS.get(scheme, "")
    return host[: -len(default)] if default and host.endswith(default) else host


def same_origin(origin: str, host: str) -> bool:
    """Whether an Origin header names the host that the request was sent to.

    The scheme is not compared: behind a proxy that ends TLS the gateway sees http while
    the browser's origin is https; what a cross-site request cannot fake is the host.
    """
    parts = urlsplit(origin.strip())
    if parts.scheme not in _DEFAULT_PORTS or not parts.netloc or not host:
        return False  # "null" (a sandboxed frame, a file:// page) or nonsense
    return _authority(parts.netloc, parts.scheme) == _authority(host, parts.scheme)


def refuse_unless_same_origin_json(
    request: Request, *, media_type: str = "application/json"
) -> Response | None:
    """The refusal of a message request from elsewhere or in another format, or None.

    403 when the Origin header names another site or Sec-Fetch-Site says the request
    came from one; 415 unless the body is declared ``media_type`` (JSON, or a file's
    raw bytes as ``application/octet-stream``: neither is a type a cross-site form can
    send without the browser asking first, which this server never grants). Checked
    before the body is read or anything is stored.
    """
    expected = media_type
    origin = request.headers.get("origin")
    if origin is not None and not same_origin(origin, request.headers.get("host", "")):
        return JSONResponse({"error": "cross-origin request refused"}, status_code=403)
    site = request.headers.get("sec-fetch-site")
    if site is not None and site.strip().lower() not in _OWN_SITE:
        return JSONResponse({"error": "cross-origin request refused"}, status_code=403)
    declared = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if declared != expected:
        return JSONResponse({"error": f"Content-Type must be {expected}"}, status_code=415)
    return None
