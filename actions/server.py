"""The action server: rasa-sdk's own app, in one process, behind a shared secret.

`python -m actions.server --port 5055` instead of `python -m rasa_sdk`, for two reasons:

- rasa-sdk has no authentication: anyone on the machine could call /webhook with any
  `sender_id` and run an action (a card lookup) for it. Every route but /health needs
  `Authorization: Bearer $ACTION_SERVER_TOKEN` here; Rasa sends it (endpoints.yml).
- rasa-sdk serves through Sanic's worker manager: a main process, a worker and two
  multiprocessing helpers. A dead worker left the port open and /health unanswered by
  anyone the supervisor watched. One process serves everything here (Sanic's
  single_process mode), so the process the supervisor watches is the one that answers
  /health and runs the actions, and its death is its exit.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST
from rasa_sdk import utils
from rasa_sdk.endpoint import create_app_for_serve, create_argument_parser
from rasa_sdk.executor import ActionExecutor
from sanic import response

from bot import metrics
from rasa_addons.bearer import bearer_matches

TOKEN_ENV = "ACTION_SERVER_TOKEN"
METRICS_TOKEN_ENV = "METRICS_TOKEN"
# What the supervisor polls (the server runs) and what a proxy or orchestrator asks
# (it can serve: its database answers); neither says more than ok or not.
OPEN_PATHS = frozenset({"/health", "/readyz"})
# Prometheus's door: its own secret (METRICS_TOKEN), not Rasa's.
METRICS_PATH = "/metrics"


def create_app(*, secret: str, actions_package: str = "actions", metrics_token: str = "") -> Any:
    if not secret:
        raise ValueError(f"{TOKEN_ENV} is empty: the action server would be open to anyone")
    executor = ActionExecutor()
    executor.register_package(actions_package)
    # No CORS: no browser has any business here.
    app = create_app_for_serve(executor, cors_origins=None)

    async def require_secret(request: Any) -> Any:
        if request.path in OPEN_PATHS or request.path == METRICS_PATH:
            return None
        if bearer_matches(request.headers.get("Authorization"), secret):
            request.ctx.started = time.monotonic()
            return None
        return response.json({"error": "unauthorized"}, status=401)

    async def count(request: Any, resp: Any) -> None:
        started = getattr(request.ctx, "started", None)
        if started is None or request.path != "/webhook":
            return
        try:
            action = str((request.json or {}).get("next_action") or "unknown")
        except Exception:
            action = "unknown"
        result = "ok" if resp.status < 400 else f"http_{resp.status}"
        metrics.ACTIONS.labels(action, result).inc()
        metrics.ACTION_SECONDS.labels(action).observe(time.monotonic() - started)

    async def serve_metrics(request: Any) -> Any:
        if not metrics.authorised(request.headers.get("Authorization"), metrics_token):
            return response.text("metrics need Authorization: Bearer <METRICS_TOKEN>\n", 401)
        return response.raw(metrics.exposition(), content_type=CONTENT_TYPE_LATEST)

    async def readyz(request: Any) -> Any:
        try:
            await asyncio.wait_for(asyncio.to_thread(_ping_database), READY_TIMEOUT_S)
        except Exception:
            return response.json({"status": "degraded", "database": "unavailable"}, 503)
        return response.json({"status": "ok", "database": "ok"})

    app.on_request(require_secret)
    app.on_response(count)
    app.add_route(serve_metrics, METRICS_PATH, methods=["GET"])
    app.add_route(readyz, "/readyz", methods=["GET"])
    return app


READY_TIMEOUT_S = 1.0


def _ping_database() -> None:
    from sqlalchemy import text

    from actions.common import db_sessions

    with db_sessions()() as session:
        session.execute(text("SELECT 1"))


def main(argv: list[str] | None = None) -> None:
    args = create_argument_parser().parse_args(argv)
    secret = os.environ.get(TOKEN_ENV, "").strip()
    if not secret:
        sys.exit(f"{TOKEN_ENV} is not set: the action server will not run without it")
    # Logging first, as rasa-sdk does: actions/__init__.py adds its filter to the handlers.
    utils.configure_colored_logging(args.loglevel)
    utils.update_sanic_log_level()
    app = create_app(
        secret=secret,
        actions_package=args.actions or "actions",
        metrics_token=os.environ.get(METRICS_TOKEN_ENV, "").strip(),
    )
    app.run(
        host=os.environ.get("SANIC_HOST", "127.0.0.1"),
        port=args.port,
        single_process=True,
        motd=False,
        access_log=False,
    )


if __name__ == "__main__":
    main()
