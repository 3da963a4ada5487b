"""`expatbot cluster`'s plan: the topology read from deploy/haproxy.cfg, the environment
from deploy/cluster.env, and the bad configurations it refuses before starting anything."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.ops import cluster
from bot.settings import Settings

PG = "postgresql+psycopg://expatbot:s%40cret@db.internal:6543/expatbot"


def settings() -> Settings:
    return Settings(RASA_TOKEN="rasa-secret", ACTION_SERVER_TOKEN="action-secret")  # type: ignore[call-arg]


def test_the_shipped_proxy_config_has_two_of_each_replica() -> None:
    topology = cluster.read_topology()
    assert topology.servers == {
        "gateways": ("GATEWAY1_ADDR", "GATEWAY2_ADDR"),
        "rasa": ("RASA1_ADDR", "RASA2_ADDR"),
        "actions": ("ACTIONS1_ADDR", "ACTIONS2_ADDR"),
    }


def test_a_server_line_added_to_the_proxy_config_is_one_more_process(tmp_path: Path) -> None:
    config = tmp_path / "haproxy.cfg"
    text = cluster.PROXY_CONFIG.read_text().replace(
        '    server gateway2 "${GATEWAY2_ADDR}" check\n',
        '    server gateway2 "${GATEWAY2_ADDR}" check\n'
        '    server gateway3 "${GATEWAY3_ADDR}" check\n',
    )
    config.write_text(text)
    assert cluster.read_topology(config).count("gateways") == 3


def test_a_backend_without_servers_is_refused(tmp_path: Path) -> None:
    config = tmp_path / "haproxy.cfg"
    config.write_text("backend gateways\n    balance leastconn\nbackend rasa\nbackend actions\n")
    with pytest.raises(cluster.ClusterError, match="backend gateways has no server line"):
        cluster.read_topology(config)


def test_the_environment_file_is_key_value_and_a_bad_line_is_named(tmp_path: Path) -> None:
    assert cluster.read_env_file()["SQL_POOL_SIZE"] == "4"
    bad = tmp_path / "cluster.env"
    bad.write_text("# comment\nPROXY_ADDR=127.0.0.1:8000\nexport THING\n")
    with pytest.raises(cluster.ClusterError, match=r"cluster.env:3: not KEY=VALUE"):
        cluster.read_env_file(bad)


def test_rasa_stores_come_from_database_url_and_redis_url() -> None:
    env = cluster.store_env(PG, "redis://:p%40ss@cache.internal:6380/4", "")
    assert env == {
        "RASA_DB_HOST": "db.internal",
        "RASA_DB_PORT": "6543",
        "RASA_DB_USER": "expatbot",
        "RASA_DB_PASSWORD": "s@cret",
        "RASA_TRACKER_DB": "expatbot_rasa",
        "REDIS_HOST": "cache.internal",
        "REDIS_PORT": "6380",
        "REDIS_DB": "4",
        "REDIS_PASSWORD": "p@ss",
    }
    assert cluster.store_env(PG, "redis://127.0.0.1", "trackers")["RASA_TRACKER_DB"] == "trackers"


@pytest.mark.parametrize(
    ("database_url", "redis_url", "message"),
    [
        ("sqlite:///var/expatbot.db", "redis://127.0.0.1:6379/0", "must be PostgreSQL"),
        (PG, "http://127.0.0.1:6379", "REDIS_URL must be redis://"),
        (PG, "redis://", "REDIS_URL must be redis://"),
    ],
    ids=["sqlite", "not-redis-scheme", "no-host"],
)
def test_bad_database_or_redis_urls_are_refused(
    database_url: str, redis_url: str, message: str
) -> None:
    with pytest.raises(cluster.ClusterError, match=message):
        cluster.store_env(database_url, redis_url, "")


@pytest.mark.parametrize("missing", ["DATABASE_URL", "REDIS_URL"])
def test_the_plan_needs_postgresql_and_redis(missing: str, tmp_path: Path) -> None:
    environ = {"DATABASE_URL": PG, "REDIS_URL": "redis://127.0.0.1:6379/0"}
    del environ[missing]
    with pytest.raises(cluster.ClusterError, match=f"{missing} is not set"):
        cluster.plan(
            settings(), model=tmp_path / "m.tar.gz", environ=environ, run_dir=tmp_path, file_env={}
        )


def test_the_plan_wires_every_process_through_the_proxy(tmp_path: Path) -> None:
    environ = {
        "DATABASE_URL": PG,
        "REDIS_URL": "redis://127.0.0.1:6379/0",
        "PROXY_ADDR": "127.0.0.1:18000",
        "RASA_PROXY_ADDR": "127.0.0.1:18004",
        "ACTIONS_PROXY_ADDR": "127.0.0.1:18054",
        "UNRELATED": "not passed on",
    }
    plan = cluster.plan(
        settings(),
        model=tmp_path / "model.tar.gz",
        environ=environ,
        run_dir=tmp_path / "run",
        file_env=cluster.read_env_file(),
    )
    names = [s.name for s in plan.services]
    assert names == [
        "proxy",
        "action server 1",
        "action server 2",
        "Rasa server 1",
        "Rasa server 2",
        "gateway 1",
        "gateway 2",
        "worker 1",
    ]
    assert plan.users_url == "http://127.0.0.1:18000/"
    by_name = {s.name: s for s in plan.services}
    gateway = by_name["gateway 1"].env
    assert gateway["RASA_URL"] == "http://127.0.0.1:18004"
    assert gateway["ACTION_SERVER_URL"] == "http://127.0.0.1:18054"
    assert gateway["EXPATBOT_GATEWAY_JOBS"] == "false" and gateway["LOG_FORMAT"] == "json"
    rasa = by_name["Rasa server 2"]
    assert rasa.env["ACTIONS_PROXY_ADDR"] == "127.0.0.1:18054"
    assert rasa.env["RASA_TRACKER_DB"] == "expatbot_rasa"
    assert rasa.env["SQL_POOL_SIZE"] == "4" and rasa.env["TICKET_LOCK_LIFETIME"] == "25"
    assert str(cluster.RASA_ENDPOINTS) in rasa.command
    # Every replica has its own port; the proxy is told each one.
    proxy_env = by_name["proxy"].env
    replica_addrs = [proxy_env[v] for v in ("GATEWAY1_ADDR", "GATEWAY2_ADDR", "RASA1_ADDR")]
    assert len(set(replica_addrs)) == 3
    assert by_name["gateway 1"].health_url == f"http://{proxy_env['GATEWAY1_ADDR']}/healthz"
    # Secrets: the proxy gets only what its checks need; never the action server's.
    assert proxy_env["RASA_TOKEN"] == "rasa-secret"
    assert "ACTION_SERVER_TOKEN" not in proxy_env and "DATABASE_URL" not in proxy_env
    assert "UNRELATED" not in plan.env
    # The worker serves its health on its own port, not the gateway's.
    worker = by_name["worker 1"]
    assert worker.env["WORKER_PORT"] == worker.health_url.rsplit(":", 1)[1].split("/")[0]
    assert "GATEWAY_PORT" not in worker.env
