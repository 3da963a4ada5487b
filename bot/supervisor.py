"""`expatbot run`: the Rasa server, the action server and the gateway, as one command.

Each process is started, then waited for until its health check answers. Ctrl-C (or
SIGTERM) stops all three; if one of them dies, the supervisor says which one and how,
stops the others and exits non-zero, so that a crash is never hidden.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from bot import rasa_runtime
from bot.settings import PROJECT_ROOT, Settings


@dataclass
class Service:
    name: str
    command: list[str]
    health_url: str
    env: dict[str, str]
    log_path: Path
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log_file = open(self.log_path, "ab")  # noqa: SIM115 - lives as long as the process
        self.process = subprocess.Popen(
            self.command,
            cwd=PROJECT_ROOT,
            env=self.env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # our Ctrl-C handling stops it, not the terminal's
        )

    def healthy(self) -> bool:
        try:
            return httpx.get(self.health_url, timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def exit_code(self) -> int | None:
        return None if self.process is None else self.process.poll()

    def stop(self, timeout: float = 15) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


def wait_healthy(
    service: Service, *, timeout: float, say: Callable[[str], None], poll: float = 0.5
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        code = service.exit_code()
        if code is not None:
            raise RuntimeError(
                f"{service.name} exited with code {code} while starting; see {service.log_path}"
            )
        if service.healthy():
            # Without the query string: the Rasa health URL carries its auth token.
            say(f"  {service.name} is up ({service.health_url.split('?', 1)[0]})")
            return
        time.sleep(poll)
    raise RuntimeError(
        f"{service.name} did not become healthy in {timeout:.0f}s; see {service.log_path}"
    )


def build_services(settings: Settings, model: Path, run_dir: Path | None = None) -> list[Service]:
    run_dir = run_dir or settings.var_dir / "run"
    endpoints = rasa_runtime.write_endpoints(
        run_dir / "endpoints.yml", action_port=settings.action_port
    )
    env = dict(os.environ)
    env.update(
        {
            "RASA_TOKEN": settings.rasa_token,
            "RASA_URL": f"http://127.0.0.1:{settings.rasa_port}",
            "DATABASE_URL": settings.database_url,
            "GATEWAY_HOST": settings.gateway_host,
            "GATEWAY_PORT": str(settings.gateway_port),
        }
    )
    logs = run_dir.parent / "log"
    return [
        Service(
            "action server",
            rasa_runtime.action_server_command(port=settings.action_port),
            f"http://127.0.0.1:{settings.action_port}/health",
            rasa_runtime.action_server_env()
            | {
                "DATABASE_URL": settings.database_url,
                "EXPATBOT_LOCALES": str(settings.locales_dir),
            },
            logs / "actions.log",
        ),
        Service(
            "Rasa server",
            rasa_runtime.rasa_server_command(
                model=model, port=settings.rasa_port, token=settings.rasa_token, endpoints=endpoints
            ),
            f"http://127.0.0.1:{settings.rasa_port}/status?token={settings.rasa_token}",
            rasa_runtime.quiet_env(),
            logs / "rasa.log",
        ),
        Service(
            "gateway",
            [sys.executable, "-m", "bot.cli", "gateway"],
            f"http://{settings.gateway_host}:{settings.gateway_port}/healthz",
            env,
            logs / "gateway.log",
        ),
    ]


def supervise(services: list[Service], *, say: Callable[[str], None]) -> int:
    """Block until Ctrl-C (exit 0) or until a service dies (exit 1)."""
    stopping = False

    def on_signal(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        while not stopping:
            for service in services:
                code = service.exit_code()
                if code is not None:
                    say(f"!! {service.name} stopped unexpectedly (exit code {code})")
                    say(f"   its log: {service.log_path}")
                    return 1
            time.sleep(0.5)
        say("stopping…")
        return 0
    finally:
        for service in reversed(services):
            service.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
