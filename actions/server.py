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

import os
import sys
from typing import Any

from rasa_sdk import utils
from rasa_sdk.endpoint import create_app_for_serve, create_argument_parser
from rasa_sdk.executor import ActionExecutor
from sanic import response

from rasa_addons.bearer import bearer_matches

TOKEN_ENV = "ACTION_SERVER_TOKEN"
# What the supervisor polls; it says only that the server runs.
OPEN_PATHS = frozenset({"/health"})


def create_app(*, secret: str, actions_package: str = "actions") -> Any:
    if not secret:
        raise ValueError(f"{TOKEN_ENV} is empty: the action server would be open to anyone")
    executor = ActionExecutor()
    executor.register_package(actions_package)
    # No CORS: no browser has any business here.
    app = create_app_for_serve(executor, cors_origins=None)

    async def require_secret(request: Any) -> Any:
        if request.path in OPEN_PATHS:
            return None
        if bearer_matches(request.headers.get("Authorization"), secret):
            return None
        return response.json({"error": "unauthorized"}, status=401)

    app.on_request(require_secret)
    return app


def main(argv: list[str] | None = None) -> None:
    args = create_argument_parser().parse_args(argv)
    secret = os.environ.get(TOKEN_ENV, "").strip()
    if not secret:
        sys.exit(f"{TOKEN_ENV} is not set: the action server will not run without it")
    # Logging first, as rasa-sdk does: actions/__init__.py adds its filter to the handlers.
    utils.configure_colored_logging(args.loglevel)
    utils.update_sanic_log_level()
    app = create_app(secret=secret, actions_package=args.actions or "actions")
    app.run(
        host=os.environ.get("SANIC_HOST", "127.0.0.1"),
        port=args.port,
        single_process=True,
        motd=False,
        access_log=False,
    )


if __name__ == "__main__":
    main()
