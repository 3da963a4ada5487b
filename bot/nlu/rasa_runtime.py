"""The Rasa side, seen from the project: its virtualenv, model training, and start commands.

Rasa Open Source 3.6 runs only on Python <= 3.10, so it lives in its own virtualenv
(.venv-rasa) and is treated like a database server: trained and started as a
subprocess, and talked to over HTTP. The action server runs on the project's own
Python (rasa-sdk), so that actions share the project's code.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import yaml

from bot.errors import ConfigurationError
from bot.settings import PROJECT_ROOT

log = logging.getLogger(__name__)

RASA_VENV = PROJECT_ROOT / ".venv-rasa"
MODELS_DIR = PROJECT_ROOT / "models"
# What a model is trained from: any change here means a new model. Not locales/*/words.yml:
# its month names serve PatternEntityExtractor, which is not trained (is_trainable=False,
# so not in Rasa's training graph) and re-reads the file when it changes (rasa_addons.words).
TRAINING_INPUTS = ("nlu_data", "domain.yml", "config.yml", "rasa_addons")
# Modules of rasa_addons/ that only serve (start-up, input channel), never shape a model:
# changing them must not retrain.
SERVING_ONLY = frozenset(
    {"rasa_addons/bearer.py", "rasa_addons/channel.py", "rasa_addons/serve.py"}
)
# The secrets travel in the environment (never on a command line, which every user of
# the machine can read in `ps`); Rasa substitutes ${...} in credentials.yml and in the
# generated endpoints.yml, so neither file holds a secret either.
RASA_TOKEN_ENV = "RASA_TOKEN"
ACTION_TOKEN_ENV = "ACTION_SERVER_TOKEN"


def rasa_executable() -> Path:
    exe = RASA_VENV / "bin" / "rasa"
    if not exe.exists():
        raise ConfigurationError(f"{exe} not found: run `make setup` to install the Rasa runtime")
    return exe


def quiet_env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            # No network here (and none wanted): Rasa must not try to send telemetry.
            "RASA_TELEMETRY_ENABLED": "false",
            "TF_CPP_MIN_LOG_LEVEL": "2",
            "SQLALCHEMY_SILENCE_UBER_WARNING": "1",
            "PYTHONWARNINGS": "ignore",
            # config.yml names components in rasa_addons/, imported from the project root.
            "PYTHONPATH": str(PROJECT_ROOT),
        }
    )
    return env


def _trained_from(path: Path, root: Path) -> bool:
    return (
        path.is_file()
        and "__pycache__" not in path.parts
        and path.relative_to(root).as_posix() not in SERVING_ONLY
    )


def training_fingerprint(root: Path = PROJECT_ROOT) -> str:
    digest = hashlib.sha256()
    for name in TRAINING_INPUTS:
        path = root / name
        files = (
            sorted(p for p in path.rglob("*") if _trained_from(p, root))
            if path.is_dir()
            else [path]
        )
        for file in files:
            digest.update(str(file.relative_to(root)).encode())
            digest.update(b"\0")
            digest.update(file.read_bytes())
            digest.update(b"\0")
    return digest.hexdigest()[:16]


def model_path(root: Path = PROJECT_ROOT) -> Path:
    return MODELS_DIR / f"model-{training_fingerprint(root)}.tar.gz"


@contextmanager
def _training_lock() -> Iterator[None]:
    MODELS_DIR.mkdir(exist_ok=True)
    with open(MODELS_DIR / ".train.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def ensure_model(*, force: bool = False) -> tuple[Path, float | None]:
    """Train unless a model of exactly the current training data exists.

    Returns the model's path and the training time in seconds (None when reused).
    """
    target = model_path()
    with _training_lock():
        if target.exists() and not force:
            return target, None
        log.info("training a new model: %s", target.name)
        started = time.monotonic()
        cmd = [
            str(rasa_executable()),
            "train",
            "--data",
            "nlu_data",
            "--domain",
            "domain.yml",
            "--config",
            "config.yml",
            "--out",
            str(MODELS_DIR),
            "--fixed-model-name",
            target.name.removesuffix(".tar.gz"),
        ]
        result = subprocess.run(
            cmd, cwd=PROJECT_ROOT, env=quiet_env(), capture_output=True, text=True
        )
        if result.returncode != 0 or not target.exists():
            sys.stderr.write(result.stdout[-4000:] + result.stderr[-4000:])
            raise ConfigurationError(f"rasa train failed (exit {result.returncode})")
        return target, time.monotonic() - started


def write_endpoints(path: Path, *, action_port: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    endpoint = {
        "url": f"http://127.0.0.1:{action_port}/webhook",
        # Rasa replaces ${...} from its environment when it reads the file (an unquoted
        # YAML scalar: Rasa skips quoted ones); the action server refuses calls without it.
        "headers": {"Authorization": f"Bearer ${{{ACTION_TOKEN_ENV}}}"},
    }
    path.write_text(yaml.safe_dump({"action_endpoint": endpoint}))
    return path


def rasa_python() -> Path:
    rasa_executable()  # the same check and message when the runtime is missing
    return RASA_VENV / "bin" / "python"


def rasa_server_command(*, model: Path, port: int, endpoints: Path) -> list[str]:
    """`rasa run` through rasa_addons.serve, which adds the auth token from RASA_TOKEN."""
    return [
        str(rasa_python()),
        "-m",
        "rasa_addons.serve",
        "run",
        "--enable-api",
        # Never a public interface: the gateway is Rasa's only client.
        "--interface",
        "127.0.0.1",
        "--port",
        str(port),
        "--model",
        str(model),
        "--endpoints",
        str(endpoints),
        "--credentials",
        str(PROJECT_ROOT / "credentials.yml"),
    ]


def rasa_server_env(*, rasa_token: str, action_token: str) -> dict[str, str]:
    return quiet_env() | {RASA_TOKEN_ENV: rasa_token, ACTION_TOKEN_ENV: action_token}


def action_server_command(*, port: int) -> list[str]:
    return [sys.executable, "-m", "actions.server", "--port", str(port)]


def action_server_env(*, action_token: str) -> dict[str, str]:
    env = dict(os.environ)
    env.pop(RASA_TOKEN_ENV, None)  # the action server never talks to Rasa's API
    env["SANIC_HOST"] = "127.0.0.1"  # rasa-sdk reads its bind address from here
    env["PYTHONPATH"] = str(PROJECT_ROOT)
    env[ACTION_TOKEN_ENV] = action_token
    return env


def domain_intents(root: Path = PROJECT_ROOT) -> frozenset[str]:
    domain = yaml.safe_load((root / "domain.yml").read_text(encoding="utf-8"))
    return frozenset(str(i) for i in domain.get("intents", []))
