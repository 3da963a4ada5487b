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
# What a model is trained from: any change here means a new model.
TRAINING_INPUTS = ("nlu_data", "domain.yml", "config.yml", "rasa_addons")


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


def training_fingerprint(root: Path = PROJECT_ROOT) -> str:
    digest = hashlib.sha256()
    for name in TRAINING_INPUTS:
        path = root / name
        files = (
            sorted(p for p in path.rglob("*") if p.is_file() and "__pycache__" not in p.parts)
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
    path.write_text(
        yaml.safe_dump({"action_endpoint": {"url": f"http://127.0.0.1:{action_port}/webhook"}})
    )
    return path


def rasa_server_command(*, model: Path, port: int, token: str, endpoints: Path) -> list[str]:
    return [
        str(rasa_executable()),
        "run",
        "--enable-api",
        # One argument with "=": a token that starts with "-" is not read as an option.
        f"--auth-token={token}",
        # Never a public interface: the REST webhook is not covered by the token.
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


def action_server_command(*, port: int) -> list[str]:
    return [sys.executable, "-m", "rasa_sdk", "--actions", "actions", "--port", str(port)]


def action_server_env() -> dict[str, str]:
    env = dict(os.environ)
    env["SANIC_HOST"] = "127.0.0.1"  # rasa-sdk reads its bind address from here
    env["PYTHONPATH"] = str(PROJECT_ROOT)
    return env


def domain_intents(root: Path = PROJECT_ROOT) -> frozenset[str]:
    domain = yaml.safe_load((root / "domain.yml").read_text(encoding="utf-8"))
    return frozenset(str(i) for i in domain.get("intents", []))
