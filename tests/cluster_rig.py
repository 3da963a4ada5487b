"""What the cluster tests start: `expatbot cluster` as an operator starts it, and for the
fault tests its own PostgreSQL and Redis (to be restarted and stopped without touching
the machine's), and a fake Telegram Bot API over HTTP (the real client code runs).

Every process started here is stopped in a `finally`; traffic stays on 127.0.0.1.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from starlette.responses import JSONResponse

from bot.ops import ports
from bot.ops.cluster import haproxy_executable, proxy_servers
from bot.settings import PROJECT_ROOT
from tests.conftest import POSTGRES_EXPECTED
from tests.fakes.telegram_api import FakeTelegram

READY = "cluster ready: users connect to "
METRICS_TOKEN = "cluster-test-metrics-token"
TELEGRAM_TOKEN = "424242:cluster-test-bot-token"
WEBHOOK_SECRET = "cluster-test-webhook-secret"


def skip_or_fail(reason: str) -> None:
    """Where the machine's services are expected (CI), a missing one fails the tests."""
    if POSTGRES_EXPECTED:
        pytest.fail(f"{reason} (expected here: CI)")
    pytest.skip(reason)


def run_in_rasa(script: str, *args: str, timeout: float = 180) -> dict[str, Any]:
    """Run ``script`` with Rasa's own Python (.venv-rasa), where rasa_addons runs, and
    return the JSON object it prints last; skipped (failed in CI) without that runtime."""
    from bot.nlu.rasa_runtime import RASA_VENV, quiet_env

    python = RASA_VENV / "bin" / "python"
    if not python.exists():
        skip_or_fail("the Rasa runtime is not set up (make setup)")
    result = subprocess.run(
        [str(python), "-c", script, *args],
        cwd=PROJECT_ROOT,
        env=quiet_env() | {"PYTHONPATH": str(PROJECT_ROOT)},
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    out: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return out


def need_haproxy() -> None:
    try:
        haproxy_executable()
    except RuntimeError as exc:
        skip_or_fail(str(exc))


@dataclass
class Cluster:
    url: str
    stats: str
    database_url: str
    tracker_db: str
    addrs: dict[str, str]
    logs: Path
    process: subprocess.Popen[str]
    output: list[str]

    def servers(self) -> dict[str, dict[str, str]]:
        """HAProxy's statistics, per server."""
        return proxy_servers(self.stats, METRICS_TOKEN)

    def wait_server(self, name: str, status: str, timeout: float = 120) -> float:
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            if self.servers()[name]["status"].startswith(status):
                return time.monotonic() - started
            time.sleep(0.3)
        raise AssertionError(f"{name} not {status} after {timeout}s: {self.servers()[name]}")

    def downs(self, name: str) -> int:
        """How many times the proxy has taken the server out (HAProxy's chkdown)."""
        return int(self.servers()[name]["chkdown"] or 0)

    def wait_taken_out(self, name: str, *, downs_before: int, timeout: float = 30) -> float:
        """Until the proxy has taken the server out since ``downs_before`` was read: it may
        be back in already (a restart quicker than what the test did meanwhile)."""
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            if self.downs(name) > downs_before:
                return time.monotonic() - started
            time.sleep(0.3)
        raise AssertionError(f"{name} not taken out after {timeout}s: {self.servers()[name]}")

    def pid(self, var: str) -> int:
        """The process listening on a replica's address (GATEWAY1_ADDR, RASA2_ADDR...)."""
        port = int(self.addrs[var].rsplit(":", 1)[1])
        holders = ports.listeners(port)
        assert holders, f"nothing listens on {self.addrs[var]}"
        return holders[0].pid

    def log_tail(self) -> str:
        tails = ["--- expatbot cluster\n" + "".join(self.output[-40:])]
        for path in sorted(self.logs.glob("*.log")):
            tails.append(f"--- {path.name}\n{path.read_text(errors='replace')[-1500:]}")
        return "\n".join(tails)


@contextmanager
def running_cluster(
    *,
    database_url: str,
    redis_url: str,
    var: Path,
    replicas: tuple[str, ...] = ("RASA1_ADDR", "RASA2_ADDR"),
    env: dict[str, str] | None = None,
) -> Iterator[Cluster]:
    """`expatbot cluster` on a database (created by the caller), until the block ends.
    The addresses named in ``replicas`` are chosen here, so that tests can find each."""
    addrs = {
        key: f"127.0.0.1:{ports.free_port()}" for key in ("PROXY_ADDR", "STATS_ADDR", *replicas)
    }
    child_env = dict(os.environ) | addrs | (env or {})
    child_env |= {
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "EXPATBOT_VAR": str(var),
        "METRICS_TOKEN": METRICS_TOKEN,
    }
    for secret in ("RASA_TOKEN", "ACTION_SERVER_TOKEN"):
        child_env.pop(secret, None)
    process = subprocess.Popen(
        [sys.executable, "-m", "bot.ops.cli", "cluster"],
        cwd=PROJECT_ROOT,
        env=child_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    output: list[str] = []
    ready = threading.Event()

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            output.append(line)
            if line.startswith(READY):
                ready.set()

    threading.Thread(target=read, daemon=True).start()
    cluster = Cluster(
        url="",
        stats=f"http://{addrs['STATS_ADDR']}/stats",
        database_url=database_url,
        tracker_db=database_url.rsplit("/", 1)[1] + "_rasa",
        addrs=addrs,
        logs=var / "cluster" / "log",
        process=process,
        output=output,
    )
    try:
        deadline = time.monotonic() + 400
        while not ready.is_set() and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        if not ready.is_set():
            raise AssertionError("the cluster did not start:\n" + cluster.log_tail())
        line = next(x for x in output if x.startswith(READY))
        cluster.url = line[len(READY) :].strip()
        yield cluster
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(90)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)


# --- PostgreSQL and Redis of the test's own ----------------------------------------------


def _pg_bin(name: str) -> str:
    for root in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (root / name).exists():
            return str(root / name)
    found = shutil.which(name)
    if not found:
        skip_or_fail(f"PostgreSQL's {name} is not installed")
    assert found is not None
    return found


@dataclass
class OwnPostgres:
    """A PostgreSQL server of the test's own (initdb in a temp dir, trust on 127.0.0.1),
    so that a test may restart it. As root it runs as the `postgres` user."""

    port: int = field(default_factory=ports.free_port)
    root: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="expatbot-pg-")))

    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        return subprocess.run(
            [*prefix, *args], check=check, capture_output=True, text=True, timeout=120
        )

    @property
    def data(self) -> Path:
        return self.root / "data"

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def init(self) -> None:
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres", "postgres")
        self._run(
            _pg_bin("initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync"
        )

    def start(self) -> None:
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.root} "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
            "-c max_connections=200"
        )
        self._run(
            _pg_bin("pg_ctl"), "-D", str(self.data), "-o", options, "-l",
            str(self.root / "log"), "-w", "start",
        )  # fmt: skip

    def restart(self) -> None:
        """A fast restart: every connection is cut, the server comes back. Stop, then
        start (pg_ctl's own restart would not log to the file, and the new server would
        hold this process's output pipes open)."""
        self._run(_pg_bin("pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")
        self.start()

    def stop(self) -> None:
        self._run(_pg_bin("pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop", check=False)
        shutil.rmtree(self.root, ignore_errors=True)


@dataclass
class OwnRedis:
    """A Redis server of the test's own, keeping nothing on disk, to stop and start."""

    port: int = field(default_factory=ports.free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            skip_or_fail("redis-server is not installed")
        assert binary is not None
        self.process = subprocess.Popen(
            [
                *(binary, "--port", str(self.port), "--bind", "127.0.0.1"),
                *("--save", "", "--appendonly", "no"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while ports.port_free(host="127.0.0.1", port=self.port):
            if time.monotonic() > deadline:
                raise AssertionError("redis-server did not start")
            time.sleep(0.05)

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait(10)
            self.process = None


# --- a fake Telegram over HTTP, served from a thread ----------------------------------------


class CountingTelegram(FakeTelegram):
    """The fake Bot API, which can answer 429 (with retry_after) to every n-th send."""

    def __init__(self, token: str) -> None:
        super().__init__(token)
        self.every_nth_429 = 0
        self.sends = 0
        # (monotonic time, chat id, retry_after) of each 429 given.
        self.limited: list[tuple[float, int, int]] = []
        self.lock = threading.Lock()

    def _send_message(self, params: dict[str, Any]) -> JSONResponse:
        with self.lock:
            self.sends += 1
            nth = self.every_nth_429 and self.sends % self.every_nth_429 == 0
        if nth:
            chat_id = int(params["chat_id"])
            self.attempts.append((time.monotonic(), chat_id))
            self.limited.append((time.monotonic(), chat_id, 1))
            return self._error(429, "Too Many Requests: retry after 1", retry_after=1)
        return super()._send_message(params)

    def delivered_to(self, chat_id: int, after: float = 0.0) -> int:
        return sum(1 for at, chat in list(self.delivered) if chat == chat_id and at >= after)


@contextmanager
def fake_telegram() -> Iterator[tuple[CountingTelegram, str]]:
    """The fake, served on a free port from a thread; its base URL for TELEGRAM_BASE_URL."""
    fake = CountingTelegram(TELEGRAM_TOKEN)
    port = ports.free_port()
    server = uvicorn.Server(
        uvicorn.Config(fake.app, host="127.0.0.1", port=port, log_level="error")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if time.monotonic() > deadline:
            raise AssertionError("the fake Telegram did not start")
        time.sleep(0.02)
    try:
        yield fake, f"http://127.0.0.1:{port}/bot"
    finally:
        server.should_exit = True
        thread.join(10)


def telegram_env(base_url: str) -> dict[str, str]:
    return {
        "TELEGRAM_BOT_TOKEN": TELEGRAM_TOKEN,
        "TELEGRAM_BASE_URL": base_url,
        "TELEGRAM_WEBHOOK_SECRET": WEBHOOK_SECRET,
    }


def post_update(client: httpx.Client, url: str, update: dict[str, Any]) -> httpx.Response:
    return client.post(
        f"{url}telegram/webhook",
        json=update,
        headers={"X-Telegram-Bot-Api-Secret-Token": WEBHOOK_SECRET},
    )
