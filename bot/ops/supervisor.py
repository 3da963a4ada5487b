"""`expatbot run`: the Rasa server, the action server and the gateway, as one command.

Each process is started in its own process group, then waited for until its health
check answers. While they run, the supervisor watches each one: a service that exits,
or fails several health checks in a row (a hung or half-dead server that still holds its
port), has its whole process group ended and is started again after a pause that
doubles with each restart; it says so on the console. A service that keeps failing
(too many restarts in a window) ends the run with exit code 1, so a crash loop is never
hidden. Ctrl-C (or SIGTERM) stops all three.

Hand-written rather than supervisord or circus: neither checks HTTP health by itself,
and the run command must print its own lines (demo resident, web chat address); the
whole policy fits in this module.
"""

from __future__ import annotations

import contextlib
import functools
import os
import signal
import subprocess
import sys
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from bot.nlu import rasa_runtime
from bot.ops import ports
from bot.settings import PROJECT_ROOT, Settings

Say = Callable[[str], None]


class PortInUse(RuntimeError):
    """The service's port is held by another process (often a stale one of ours)."""


@dataclass
class Service:
    name: str
    command: list[str]
    health_url: str
    env: dict[str, str]
    log_path: Path
    # Answers of the health URL that mean "the process serves": the gateway answers 503
    # while one of its dependencies is down, and must not be restarted for that.
    alive_statuses: frozenset[int] = frozenset({200})
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    # The process group, kept after the leader died: its children may still run.
    pgid: int | None = field(default=None, repr=False)

    @property
    def host(self) -> str:
        return urlsplit(self.health_url).hostname or "127.0.0.1"

    @property
    def port(self) -> int | None:
        return urlsplit(self.health_url).port

    def public_url(self) -> str:
        # Without the query string: the Rasa health URL carries its auth token.
        return self.health_url.split("?", 1)[0]

    def start(self) -> None:
        """Start the process in a new session (so its group can be ended as one).

        Refuses when the port is taken: a stale server would answer the health check
        in place of this one, and the new one would die on "address already in use".
        """
        if self.port is not None and not ports.port_free(host=self.host, port=self.port):
            raise PortInUse(
                f"cannot start {self.name}: "
                + ports.describe_holders(host=self.host, port=self.port)
            )
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log_file:  # the child keeps its own copy
            self.process = subprocess.Popen(
                self.command,
                cwd=PROJECT_ROOT,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # our Ctrl-C handling stops it, not the terminal's
            )
        self.pgid = self.process.pid

    def _status(self, timeout: float) -> int | None:
        try:
            return _probe_client().get(self.health_url, timeout=timeout).status_code
        except httpx.HTTPError:
            return None

    def healthy(self, timeout: float = 2) -> bool:
        """Ready: the health URL answers 200 (used while starting)."""
        return self._status(timeout) == 200

    def alive(self, timeout: float = 2) -> bool:
        """Serving: the health URL answers at all, with one of alive_statuses."""
        return self._status(timeout) in self.alive_statuses

    def exit_code(self) -> int | None:
        return None if self.process is None else self.process.poll()

    def _signal_group(self, sig: signal.Signals) -> None:
        if self.pgid is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.pgid, sig)

    def _wait_group_gone(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while True:
            self.exit_code()  # reaps the leader, so that it does not count as a zombie
            if self.pgid is None or not ports.group_members(self.pgid):
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.05)

    def stop(self, timeout: float = 15) -> None:
        """End the whole process group, even when its leader is already dead.

        A server's workers and helper processes outlive a killed leader and keep its
        port; they are in the leader's group, so the group is what gets signalled.
        """
        if self.pgid is None:
            return
        self._signal_group(signal.SIGTERM)
        self._signal_group(signal.SIGCONT)  # a stopped (SIGSTOP) process must see it
        if not self._wait_group_gone(timeout):
            self._signal_group(signal.SIGKILL)
            self._wait_group_gone(10)
        if self.process is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(5)
        self.pgid = None


def wait_healthy(service: Service, *, timeout: float, say: Say, poll: float = 0.5) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        code = service.exit_code()
        if code is not None:
            raise RuntimeError(
                f"{service.name} exited with code {code} while starting; see {service.log_path}"
            )
        if service.healthy():
            say(f"  {service.name} is up ({service.public_url()})")
            return
        time.sleep(poll)
    raise RuntimeError(
        f"{service.name} did not become healthy in {timeout:.0f}s; see {service.log_path}"
    )


@dataclass(frozen=True)
class RestartPolicy:
    first_backoff_s: float = 1.0
    max_backoff_s: float = 30.0
    # More restarts than this within window_s: the service is broken, not unlucky.
    max_restarts: int = 5
    window_s: float = 300.0
    health_interval_s: float = 3.0
    # More than the gateway's own timeout for each of its dependencies (1 s), and long
    # enough for a busy server to answer: under load (bench/load.py at 20/s) Rasa took
    # over 3 s to answer its check and was restarted for being busy, not hung.
    health_timeout_s: float = 5.0
    # Consecutive failed health checks before a running service counts as dead.
    health_failures: int = 3
    start_timeout_s: float = 180.0
    # A service that ignores SIGTERM this long gets SIGKILL.
    stop_timeout_s: float = 10.0
    tick_s: float = 0.2


@dataclass
class _Watch:
    """What the supervisor knows about one service between ticks."""

    service: Service
    state: str = "running"  # running | waiting | starting
    due: float = 0.0  # waiting: when to start; starting: when to give up
    next_check: float = 0.0
    failures: int = 0
    restarts: deque[float] = field(default_factory=deque)


class GiveUp(Exception):
    pass


def _failed(watch: _Watch, reason: str, *, now: float, policy: RestartPolicy, say: Say) -> None:
    service = watch.service
    service.stop(policy.stop_timeout_s)
    while watch.restarts and now - watch.restarts[0] > policy.window_s:
        watch.restarts.popleft()
    if len(watch.restarts) >= policy.max_restarts:
        say(
            f"!! {service.name} {reason}; restarted {len(watch.restarts)} times in "
            f"{policy.window_s:g}s, giving up"
        )
        say(f"   its log: {service.log_path}")
        raise GiveUp
    delay = min(policy.max_backoff_s, policy.first_backoff_s * 2 ** len(watch.restarts))
    watch.restarts.append(now)
    say(f"!! {service.name} {reason}; restarting in {delay:g}s")
    say(f"   its log: {service.log_path}")
    watch.state, watch.due, watch.failures = "waiting", now + delay, 0


@functools.cache
def _probe_client() -> httpx.Client:
    """One client for every health check of this supervisor. ``httpx.get`` makes a client
    each time, and with it a TLS context that loads the system's certificates: 77% of
    the cluster supervisor's CPU (7% of a core, py-spy) for plain-HTTP probes on
    127.0.0.1. No kept-alive connections: each probe meets the process as it is now."""
    return httpx.Client(limits=httpx.Limits(max_keepalive_connections=0))


def _tick(watch: _Watch, *, now: float, policy: RestartPolicy, say: Say) -> None:
    service = watch.service
    if watch.state == "waiting":
        if now >= watch.due:
            try:
                service.start()
            except PortInUse as exc:
                _failed(watch, f"could not start: {exc}", now=now, policy=policy, say=say)
                return
            watch.state, watch.due = "starting", now + policy.start_timeout_s
        return
    code = service.exit_code()
    if code is not None:
        when = " while starting" if watch.state == "starting" else ""
        _failed(watch, f"exited{when} (code {code})", now=now, policy=policy, say=say)
        return
    if watch.state == "starting":
        if service.healthy(policy.health_timeout_s):
            say(f"  {service.name} is up again ({service.public_url()})")
            watch.state, watch.next_check = "running", now + policy.health_interval_s
        elif now >= watch.due:
            reason = f"did not become healthy in {policy.start_timeout_s:g}s"
            _failed(watch, reason, now=now, policy=policy, say=say)
        return
    if now < watch.next_check:
        return
    watch.next_check = now + policy.health_interval_s
    if service.alive(policy.health_timeout_s):
        watch.failures = 0
        return
    watch.failures += 1
    if watch.failures >= policy.health_failures:
        reason = f"failed {watch.failures} health checks in a row ({service.public_url()})"
        _failed(watch, reason, now=now, policy=policy, say=say)


def supervise(services: list[Service], *, say: Say, policy: RestartPolicy | None = None) -> int:
    """Watch started services until Ctrl-C (exit 0) or until one keeps failing (exit 1)."""
    policy = policy or RestartPolicy()
    stopping = False

    def on_signal(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    start = time.monotonic()
    watches = [_Watch(s, next_check=start + policy.health_interval_s) for s in services]
    try:
        while not stopping:
            for watch in watches:
                if stopping:
                    break
                _tick(watch, now=time.monotonic(), policy=policy, say=say)
            time.sleep(policy.tick_s)
        say("stopping…")
        return 0
    except GiveUp:
        return 1
    finally:
        for service in reversed(services):
            service.stop(policy.stop_timeout_s)
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def action_service(
    settings: Settings, *, logs: Path, name: str = "action server", log_name: str = "actions.log"
) -> Service:
    return Service(
        name,
        rasa_runtime.action_server_command(port=settings.action_port),
        f"http://127.0.0.1:{settings.action_port}/health",
        rasa_runtime.action_server_env(action_token=settings.action_server_token)
        | {
            "DATABASE_URL": settings.database_url,
            "EXPATBOT_LOCALES": str(settings.locales_dir),
            "REGISTRY_HASH_KEY": settings.registry_hash_key,
            "METRICS_TOKEN": settings.metrics_token,
            # A cancelled complaint's files are deleted by the action server: the same
            # directory as the gateway's, which stores them.
            "EVIDENCE_DIR": str(settings.evidence_dir),
        },
        logs / log_name,
    )


def rasa_service(
    settings: Settings,
    *,
    model: Path,
    endpoints: Path,
    logs: Path,
    name: str = "Rasa server",
    log_name: str = "rasa.log",
) -> Service:
    return Service(
        name,
        rasa_runtime.rasa_server_command(model=model, port=settings.rasa_port, endpoints=endpoints),
        # /status needs the token, and answers only once the model is loaded.
        f"http://127.0.0.1:{settings.rasa_port}/status?token={settings.rasa_token}",
        rasa_runtime.rasa_server_env(
            rasa_token=settings.rasa_token, action_token=settings.action_server_token
        )
        # The entity extractor reads month names from locales/<lang>/words.yml
        # (rasa_addons.words): the same directory as the gateway's, also when the settings
        # were built in code rather than from the environment.
        | {"EXPATBOT_LOCALES": str(settings.locales_dir), "METRICS_TOKEN": settings.metrics_token},
        logs / log_name,
    )


def gateway_service(
    settings: Settings, *, logs: Path, name: str = "gateway", log_name: str = "gateway.log"
) -> Service:
    env = dict(os.environ)
    env.update(
        {
            "RASA_TOKEN": settings.rasa_token,
            "METRICS_TOKEN": settings.metrics_token,
            "RASA_URL": f"http://127.0.0.1:{settings.rasa_port}",
            "ACTION_SERVER_URL": f"http://127.0.0.1:{settings.action_port}",
            "DATABASE_URL": settings.database_url,
            "GATEWAY_HOST": settings.gateway_host,
            "GATEWAY_PORT": str(settings.gateway_port),
            "EVIDENCE_DIR": str(settings.evidence_dir),
        }
    )
    env.pop(rasa_runtime.ACTION_TOKEN_ENV, None)  # the gateway has no use for it
    return Service(
        name,
        [sys.executable, "-m", "bot.ops.cli", "gateway"],
        f"http://{settings.gateway_host}:{settings.gateway_port}/healthz",
        env,
        logs / log_name,
        # 503 is the gateway saying a dependency is down: it serves, and says so.
        alive_statuses=frozenset({200, 503}),
    )


def build_services(settings: Settings, model: Path, run_dir: Path | None = None) -> list[Service]:
    run_dir = run_dir or settings.var_dir / "run"
    endpoints = rasa_runtime.write_endpoints(
        run_dir / "endpoints.yml", action_port=settings.action_port
    )
    logs = run_dir.parent / "log"
    return [
        action_service(settings, logs=logs),
        rasa_service(settings, model=model, endpoints=endpoints, logs=logs),
        gateway_service(settings, logs=logs),
    ]
