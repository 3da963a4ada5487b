"""`expatbot cluster`: the production topology of deploy/, on one machine.

What runs (deploy/haproxy.cfg is the list: one process per `server` line):

    users ──> HAProxy ──> gateway 1..n ──> HAProxy ──> Rasa 1..n ──> HAProxy ──> actions 1..n
                                 │                       │ trackers: PostgreSQL (own database)
                                 │                       │ locks:    Redis
                                 └── PostgreSQL <── worker 1..n (jobs, outbox)

Every process is the same command a deployment on several machines runs, with the
environment of deploy/cluster.env (the environment first); here each replica gets a free
port on 127.0.0.1. PostgreSQL and Redis are not started: they come from DATABASE_URL and
REDIS_URL, as in production. The proxy is Debian's HAProxy (`make proxy`).

The run: migrate the database, create Rasa's tracker database if missing, train the
model if its data changed, start the proxy, the action servers, the Rasa servers, the
gateways and the workers (each kind together, then waited for), wait until a message
can go all the way through the proxy, print the address users connect to, and watch
every process as `expatbot run` does (bot.ops.supervisor).
"""

from __future__ import annotations

import csv
import io
import os
import re
import shutil
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

import httpx
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from bot.ops import ports
from bot.ops.supervisor import (
    Service,
    action_service,
    gateway_service,
    rasa_service,
    wait_healthy,
)
from bot.settings import PROJECT_ROOT, Settings

Say = Callable[[str], None]

DEPLOY = PROJECT_ROOT / "deploy"
PROXY_CONFIG = DEPLOY / "haproxy.cfg"
ENV_FILE = DEPLOY / "cluster.env"
RASA_ENDPOINTS = DEPLOY / "rasa-endpoints.yml"
# The backends of deploy/haproxy.cfg whose servers are this project's processes.
BACKENDS = ("gateways", "rasa", "actions")
DOORS = ("PROXY_ADDR", "RASA_PROXY_ADDR", "ACTIONS_PROXY_ADDR", "STATS_ADDR")

_BACKEND = re.compile(r"^\s*backend\s+(\S+)")
_SECTION = re.compile(r"^\s*(global|defaults|frontend|listen|backend|resolvers|peers)\b")
_SERVER = re.compile(r'^\s*server\s+\S+\s+"?\$\{(\w+)\}"?')


class ClusterError(RuntimeError):
    """The cluster cannot start; the message says what to change."""


@dataclass(frozen=True)
class Topology:
    """The address variable of each replica, per backend, in the proxy's order."""

    servers: Mapping[str, tuple[str, ...]]

    def count(self, backend: str) -> int:
        return len(self.servers.get(backend, ()))


def read_topology(path: Path = PROXY_CONFIG) -> Topology:
    servers: dict[str, list[str]] = {name: [] for name in BACKENDS}
    backend: str | None = None
    for line in path.read_text().splitlines():
        if _SECTION.match(line):
            match = _BACKEND.match(line)
            backend = match.group(1) if match else None
            continue
        match = _SERVER.match(line)
        if match and backend in servers:
            servers[backend].append(match.group(1))
    for name, names in servers.items():
        if not names:
            raise ClusterError(f"{path}: backend {name} has no server line")
    return Topology({name: tuple(names) for name, names in servers.items()})


def read_env_file(path: Path = ENV_FILE) -> dict[str, str]:
    """KEY=VALUE lines (systemd's EnvironmentFile without quoting); # starts a comment."""
    values: dict[str, str] = {}
    for number, raw in enumerate(path.read_text().splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not sep or not re.fullmatch(r"[A-Z_][A-Z0-9_]*", key.strip()):
            raise ClusterError(f"{path}:{number}: not KEY=VALUE")
        values[key.strip()] = value.strip()
    return values


def _split_addr(addr: str) -> tuple[str, int]:
    host, _, port = addr.rpartition(":")
    if not host or not port.isdigit():
        raise ClusterError(f"not host:port: {addr!r}")
    return host, int(port)


def store_env(database_url: str, redis_url: str, tracker_db: str) -> dict[str, str]:
    """What deploy/rasa-endpoints.yml reads, from DATABASE_URL and REDIS_URL."""
    url = make_url(database_url)
    if not url.drivername.startswith("postgresql"):
        raise ClusterError(
            "DATABASE_URL must be PostgreSQL for the cluster (several processes share it), "
            f"not {url.drivername}"
        )
    redis = urlsplit(redis_url)
    if redis.scheme not in ("redis", "rediss") or not redis.hostname:
        raise ClusterError(f"REDIS_URL must be redis://host:port/db, not {redis_url!r}")
    return {
        "RASA_DB_HOST": url.host or "127.0.0.1",
        "RASA_DB_PORT": str(url.port or 5432),
        "RASA_DB_USER": url.username or "",
        "RASA_DB_PASSWORD": url.password or "",
        "RASA_TRACKER_DB": tracker_db or f"{url.database}_rasa",
        "REDIS_HOST": redis.hostname,
        "REDIS_PORT": str(redis.port or 6379),
        "REDIS_DB": redis.path.strip("/") or "0",
        "REDIS_PASSWORD": unquote(redis.password or ""),
    }


@dataclass
class Plan:
    """Everything the cluster starts, in order, and the addresses it prints."""

    env: dict[str, str]
    groups: list[list[Service]]
    users_url: str
    stats_url: str

    @property
    def services(self) -> list[Service]:
        return [service for group in self.groups for service in group]


def plan(
    settings: Settings,
    *,
    model: Path,
    environ: Mapping[str, str],
    run_dir: Path,
    topology: Topology | None = None,
    file_env: Mapping[str, str] | None = None,
) -> Plan:
    """The processes of the topology with their environments (nothing is started)."""
    topology = topology or read_topology()
    env = dict(read_env_file() if file_env is None else file_env)
    env.update({k: v for k, v in environ.items() if k in env or k.endswith("_ADDR")})
    for name in ("DATABASE_URL", "REDIS_URL"):
        value = environ.get(name) or env.get(name, "")
        if not value:
            raise ClusterError(f"{name} is not set: the cluster runs on PostgreSQL and Redis")
        env[name] = value
    env |= store_env(env["DATABASE_URL"], env["REDIS_URL"], env.get("RASA_TRACKER_DB", ""))
    env["METRICS_TOKEN"] = environ.get("METRICS_TOKEN") or settings.metrics_token
    env["RASA_TOKEN"], env["ACTION_SERVER_TOKEN"] = (
        settings.rasa_token,
        settings.action_server_token,
    )
    workers = int(env.get("EXPATBOT_WORKERS") or 1)
    replica_vars = [v for names in topology.servers.values() for v in names]
    replica_vars += [f"WORKER{i}_ADDR" for i in range(1, workers + 1)]
    for var in (*DOORS, *replica_vars):
        if not env.get(var):
            env[var] = f"127.0.0.1:{ports.free_port()}"

    logs = run_dir.parent / "log"
    common = {
        "DATABASE_URL": env["DATABASE_URL"],
        "REDIS_URL": env["REDIS_URL"],
        "METRICS_TOKEN": env["METRICS_TOKEN"],
    } | {k: env[k] for k in ("LOG_FORMAT",) if env.get(k)}
    proxy = _proxy_service(env, logs=logs)
    actions = []
    for i, var in enumerate(topology.servers["actions"], 1):
        host, port = _split_addr(env[var])
        service = action_service(
            settings.model_copy(update={"action_port": port}),
            logs=logs,
            name=f"action server {i}",
            log_name=f"actions{i}.log",
        )
        service.env |= common | {"SANIC_HOST": host}
        actions.append(service)
    rasa = []
    for i, var in enumerate(topology.servers["rasa"], 1):
        host, port = _split_addr(env[var])
        service = rasa_service(
            settings.model_copy(update={"rasa_port": port}),
            model=model,
            endpoints=RASA_ENDPOINTS,
            logs=logs,
            name=f"Rasa server {i}",
            log_name=f"rasa{i}.log",
        )
        service.command[service.command.index("--interface") + 1] = host
        service.env |= {
            k: env[k]
            for k in (
                "ACTIONS_PROXY_ADDR",
                "RASA_DB_HOST",
                "RASA_DB_PORT",
                "RASA_DB_USER",
                "RASA_DB_PASSWORD",
                "RASA_TRACKER_DB",
                "REDIS_HOST",
                "REDIS_PORT",
                "REDIS_DB",
                "REDIS_PASSWORD",
            )
        }
        tuning = ("SQL_POOL_SIZE", "SQL_MAX_OVERFLOW", "TICKET_LOCK_LIFETIME")
        service.env |= {k: env[k] for k in tuning if env.get(k)}
        rasa.append(service)
    behind_proxy = {
        "RASA_URL": f"http://{env['RASA_PROXY_ADDR']}",
        "ACTION_SERVER_URL": f"http://{env['ACTIONS_PROXY_ADDR']}",
        "EXPATBOT_GATEWAY_JOBS": env.get("EXPATBOT_GATEWAY_JOBS") or "false",
    }
    gateways = []
    for i, var in enumerate(topology.servers["gateways"], 1):
        host, port = _split_addr(env[var])
        service = gateway_service(
            settings.model_copy(update={"gateway_host": host, "gateway_port": port}),
            logs=logs,
            name=f"gateway {i}",
            log_name=f"gateway{i}.log",
        )
        service.env |= common | behind_proxy
        gateways.append(service)
    workers_ = []
    for i in range(1, workers + 1):
        host, port = _split_addr(env[f"WORKER{i}_ADDR"])
        service_env = dict(gateways[0].env) | {"WORKER_HOST": host, "WORKER_PORT": str(port)}
        service_env.pop("GATEWAY_PORT", None)
        workers_.append(
            Service(
                f"worker {i}",
                [sys.executable, "-m", "bot.ops.cli", "worker"],
                f"http://{host}:{port}/healthz",
                service_env,
                logs / f"worker{i}.log",
            )
        )
    return Plan(
        env=env,
        groups=[[proxy], actions, rasa, gateways, workers_],
        users_url=f"http://{env['PROXY_ADDR']}/",
        stats_url=f"http://{env['STATS_ADDR']}/stats",
    )


def haproxy_executable() -> str:
    found = shutil.which("haproxy") or (
        "/usr/sbin/haproxy" if Path("/usr/sbin/haproxy").exists() else None
    )
    if not found:
        raise ClusterError("haproxy is not installed: `make proxy` installs Debian's (as root)")
    return found


def _proxy_service(env: Mapping[str, str], *, logs: Path) -> Service:
    wanted = {k: v for k, v in env.items() if k.endswith("_ADDR")}
    wanted |= {k: env[k] for k in ("RASA_TOKEN", "METRICS_TOKEN")}
    return Service(
        "proxy",
        # -db: stay in the foreground, as every supervised process does.
        [haproxy_executable(), "-db", "-f", str(PROXY_CONFIG)],
        f"http://{env['STATS_ADDR']}/healthz",
        {"PATH": os.environ.get("PATH", "/usr/bin:/bin")} | wanted,
        logs / "proxy.log",
    )


def prepare_databases(env: Mapping[str, str]) -> bool:
    """Create Rasa's tracker database when missing (True when it was created)."""
    url = make_url(env["DATABASE_URL"])
    name = env["RASA_TRACKER_DB"]
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            exists = conn.scalar(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name})
            if not exists:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
        return not exists
    finally:
        admin.dispose()


def check_redis(redis_url: str) -> None:
    import redis

    client = redis.Redis.from_url(redis_url, socket_timeout=3, socket_connect_timeout=3)
    try:
        client.ping()
    except redis.RedisError as exc:
        raise ClusterError(f"Redis not reachable at REDIS_URL: {exc}") from exc
    finally:
        client.close()


def wait_through_proxy(users_url: str, *, timeout: float, poll: float = 0.5) -> None:
    """Until the gateways' /healthz, reached through the proxy, says that Rasa and the
    action servers (also through the proxy) and the database all answer."""
    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        try:
            resp = httpx.get(f"{users_url}healthz", timeout=5)
            if resp.status_code == 200:
                return
            last = f"HTTP {resp.status_code} {resp.text[:200]}"
        except httpx.HTTPError as exc:
            last = exc.__class__.__name__
        time.sleep(poll)
    raise ClusterError(f"the cluster did not answer through the proxy in {timeout:.0f}s: {last}")


def proxy_servers(stats_url: str, token: str) -> dict[str, dict[str, str]]:
    """HAProxy's statistics of each server (its CSV export), by server name."""
    resp = httpx.get(f"{stats_url};csv", headers={"Authorization": f"Bearer {token}"}, timeout=10)
    resp.raise_for_status()
    rows = csv.DictReader(io.StringIO(resp.text.lstrip("# ")))
    return {r["svname"]: r for r in rows if r["svname"] not in ("FRONTEND", "BACKEND")}


def wait_all_in_rotation(plan_: Plan, *, timeout: float, poll: float = 0.5) -> None:
    """Until the proxy counts every server UP (its checks must pass `rise` times)."""
    deadline = time.monotonic() + timeout
    down: list[str] = []
    while time.monotonic() < deadline:
        servers = proxy_servers(plan_.stats_url, plan_.env["METRICS_TOKEN"])
        down = [name for name, row in servers.items() if row["status"] != "UP"]
        if not down:
            return
        time.sleep(poll)
    raise ClusterError(f"the proxy still counts {', '.join(down)} down after {timeout:.0f}s")


def start(plan_: Plan, *, say: Say, timeout: float = 240) -> None:
    """Start each group together, then wait for each of its processes."""
    for group in plan_.groups:
        for service in group:
            say(f"starting {service.name}…")
            service.start()
        for service in group:
            wait_healthy(service, timeout=timeout, say=say)
    wait_through_proxy(plan_.users_url, timeout=60)
    wait_all_in_rotation(plan_, timeout=60)


def stop(plan_: Plan) -> None:
    for service in reversed(plan_.services):
        service.stop()
