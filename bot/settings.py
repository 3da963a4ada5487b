"""One settings object for every process of the assistant.

Every setting has a working default for one development machine; production changes
environment variables, never code. Secrets come only from the environment, and outside
development a missing or placeholder secret stops the process at start-up.
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent
# Yiwu's time: daily jobs and the staff's hours are in it.
SERVICE_TZ = dt.timezone(dt.timedelta(hours=8), "Asia/Shanghai")
PLACEHOLDER_SECRETS = {"", "changeme", "change-me", "secret", "token", "xxx"}
DEV_REGISTRY_KEY = "development-only-registry-key"
_WEBHOOK_SECRET = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
_AES_KEY = re.compile(r"^[A-Za-z0-9+/]{43}$")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="", extra="ignore", env_file=None)

    environment: Literal["development", "production", "test"] = Field(
        default="development", alias="EXPATBOT_ENV"
    )
    project_root: Path = Field(default=PROJECT_ROOT, alias="EXPATBOT_ROOT")
    # Runtime files: the SQLite database, logs, generated endpoints.
    var_dir: Path = Field(default=PROJECT_ROOT / "var", alias="EXPATBOT_VAR")
    database_url: str = Field(default="", alias="DATABASE_URL")
    locales_dir: Path = Field(default=PROJECT_ROOT / "locales", alias="EXPATBOT_LOCALES")

    rasa_url: str = Field(default="http://127.0.0.1:5005", alias="RASA_URL")
    # Protects Rasa's HTTP API (status, tracker, model) and the gateway's input channel
    # (rasa_addons/channel.py: Authorization: Bearer); Rasa listens on 127.0.0.1 only.
    rasa_token: str = Field(default="", alias="RASA_TOKEN")
    rasa_timeout_s: float = Field(default=30.0, alias="RASA_TIMEOUT")
    # Turns one gateway process has at Rasa at once; more wait here. Rasa works a turn on
    # one core: piled-up turns only slow each other, and its health checks answered so
    # late under load that Rasa was taken out and restarted (bench/load.py at 20/s). 10
    # instead of 4 made the cluster's p95 at 20/s 2.3 s instead of 0.95 s on 2 cores.
    rasa_max_in_flight: int = Field(default=4, alias="RASA_MAX_IN_FLIGHT")
    action_server_url: str = Field(default="http://127.0.0.1:5055", alias="ACTION_SERVER_URL")
    # Shared by Rasa (endpoints.yml sends it) and the action server (refuses calls
    # without it); random per run in development, like RASA_TOKEN.
    action_server_token: str = Field(default="", alias="ACTION_SERVER_TOKEN")

    # What Prometheus sends to read /metrics ("Authorization: Bearer ..."), on every
    # process that serves it; random per run in development, like RASA_TOKEN.
    metrics_token: str = Field(default="", alias="METRICS_TOKEN")

    gateway_host: str = Field(default="127.0.0.1", alias="GATEWAY_HOST")
    gateway_port: int = Field(default=8080, alias="GATEWAY_PORT")
    rasa_port: int = Field(default=5005, alias="RASA_PORT")
    action_port: int = Field(default=5055, alias="ACTION_PORT")
    # `expatbot worker` serves its health (and metrics) here when WORKER_PORT is set, so
    # that a process manager or proxy can check it over HTTP; 0: it serves nothing.
    worker_host: str = Field(default="127.0.0.1", alias="WORKER_HOST")
    worker_port: int = Field(default=0, alias="WORKER_PORT")

    telegram_bot_token: str = Field(default="", alias="TELEGRAM_BOT_TOKEN")
    # Lets tests point the real python-telegram-bot client at a local fake of the Bot API.
    telegram_base_url: str = Field(
        default="https://api.telegram.org/bot", alias="TELEGRAM_BASE_URL"
    )

    # Set: Telegram posts updates to the gateway's /telegram/webhook with this secret in
    # X-Telegram-Bot-Api-Secret-Token (`expatbot telegram set-webhook URL` registers it).
    # Empty: the gateway polls (development).
    telegram_webhook_secret: str = Field(default="", alias="TELEGRAM_WEBHOOK_SECRET")

    # WeChat official account (bot.channels.wechat): off unless the four are set. The
    # callback is the gateway's /wechat; WECHAT_API_BASE_URL points the client at a fake
    # server in tests, as TELEGRAM_BASE_URL does.
    wechat_app_id: str = Field(default="", alias="WECHAT_APP_ID")
    wechat_app_secret: str = Field(default="", alias="WECHAT_APP_SECRET")
    wechat_token: str = Field(default="", alias="WECHAT_TOKEN")
    # Safe mode (messages encrypted with AES): 43 characters; empty: plain mode.
    wechat_encoding_aes_key: str = Field(default="", alias="WECHAT_ENCODING_AES_KEY")
    wechat_api_base_url: str = Field(
        default="https://api.weixin.qq.com", alias="WECHAT_API_BASE_URL"
    )
    # Template messages (ids from the account's template library): sent when WeChat's
    # customer-service window is closed, for reminders and ticket updates. Each template
    # has a "first" field, which gets the message in the user's language. Empty: such a
    # message waits for the user's next message instead.
    wechat_template_reminder: str = Field(default="", alias="WECHAT_TEMPLATE_REMINDER")
    wechat_template_ticket_update: str = Field(default="", alias="WECHAT_TEMPLATE_TICKET_UPDATE")

    # A Telegram chat (e.g. the service center's staff group) that gets staff alerts.
    staff_telegram_chat_id: str = Field(default="", alias="STAFF_TELEGRAM_CHAT_ID")
    # The language of what staff read (alerts; the console's default).
    staff_language: str = Field(default="zh", alias="STAFF_LANGUAGE")
    # Minutes staff take per waiting chat, for the wait users are told before there is
    # any history; and how long a chat may wait before supervisors see it flagged.
    handoff_minutes_per_chat: float = Field(default=5.0, alias="HANDOFF_MINUTES_PER_CHAT")
    handoff_long_wait_minutes: float = Field(default=10.0, alias="HANDOFF_LONG_WAIT_MINUTES")

    # Whether the gateway runs the scheduled jobs (reminders, alerts, the sweeper) too:
    # off when `expatbot worker` runs them; on both is safe (each job runs once anyway).
    gateway_runs_jobs: bool = Field(default=True, alias="EXPATBOT_GATEWAY_JOBS")
    # A scheduled job's lease, renewed every third of it while the job runs: a process
    # that dies in a job loses it to another process this long after (bot.jobs.scheduler).
    job_lease_s: float = Field(default=60.0, alias="EXPATBOT_JOB_LEASE")
    # A message that waited longer than this (seconds) for its turn, after a breakdown,
    # gets an apology instead of an answer.
    inbox_max_age_s: float = Field(default=900.0, alias="INBOX_MAX_AGE")

    # Dispute tickets (bot.tickets): where evidence files are kept, outside the web root
    # (default: var/evidence); the file limits; how many days a resolved ticket waits
    # for the user to confirm or reopen it before it closes; the response and resolution
    # targets per kind of dispute (a YAML file; default bot/tickets/targets.yml).
    evidence_dir: Path | None = Field(default=None, alias="EVIDENCE_DIR")
    evidence_max_bytes: int = Field(default=10 * 1024 * 1024, alias="EVIDENCE_MAX_BYTES")
    evidence_max_files: int = Field(default=10, alias="EVIDENCE_MAX_FILES")
    ticket_autoclose_days: int = Field(default=7, alias="TICKET_AUTOCLOSE_DAYS")
    ticket_targets_file: Path | None = Field(default=None, alias="TICKET_TARGETS")

    max_message_chars: int = Field(default=2000, alias="MAX_MESSAGE_CHARS")
    # Short-lived state shared by every process of a deployment (the chats' flood
    # counters); empty: each process keeps its own in memory (the one-process default).
    redis_url: str = Field(default="", alias="REDIS_URL")
    # How fast one chat may write (the `limits` library's notation, ";" between limits;
    # empty: bot.pipeline.flood's "20 per 10 seconds; 60 per minute"); beyond, it is told
    # once to slow down and its messages do not reach Rasa.
    flood_limits: str = Field(default="", alias="FLOOD_LIMITS")
    # Key of the hashes under which card and passport numbers are stored (bot.records.registry).
    # The development default is public and fixed so that demo data stays linkable.
    registry_hash_key: str = Field(default=DEV_REGISTRY_KEY, alias="REGISTRY_HASH_KEY")
    default_language: str = "en"

    @property
    def wechat_templates(self) -> dict[str, str]:
        """Template ids by outbox kind."""
        return {
            "reminder": self.wechat_template_reminder,
            "ticket_update": self.wechat_template_ticket_update,
        }

    @property
    def wechat_enabled(self) -> bool:
        """WeChat is on when the account's id, secret and callback token are set."""
        return bool(self.wechat_app_id and self.wechat_app_secret and self.wechat_token)

    @model_validator(mode="after")
    def _defaults_and_secrets(self) -> Settings:
        if not self.database_url:
            self.database_url = f"sqlite:///{self.var_dir / 'expatbot.db'}"
        if self.evidence_dir is None:
            self.evidence_dir = self.var_dir / "evidence"
        key = self.wechat_encoding_aes_key
        if key and not _AES_KEY.match(key):
            # WeChat's own rule: 43 characters of base64 (a 32-byte key without its "=").
            raise ValueError("WECHAT_ENCODING_AES_KEY: 43 characters of A-Z, a-z, 0-9, + and /")
        secret = self.telegram_webhook_secret
        if secret and not _WEBHOOK_SECRET.match(secret):
            # Telegram's own rule for secret_token.
            raise ValueError("TELEGRAM_WEBHOOK_SECRET: 1-256 characters of A-Z, a-z, 0-9, _ and -")
        if self.environment == "production":
            if self.rasa_token.strip().lower() in PLACEHOLDER_SECRETS:
                raise ValueError("RASA_TOKEN must be set to a real secret in production")
            if self.action_server_token.strip().lower() in PLACEHOLDER_SECRETS:
                raise ValueError("ACTION_SERVER_TOKEN must be set to a real secret in production")
            if self.metrics_token.strip().lower() in PLACEHOLDER_SECRETS:
                raise ValueError("METRICS_TOKEN must be set to a real secret in production")
            if self.wechat_enabled:
                for name in ("wechat_app_secret", "wechat_token"):
                    if getattr(self, name).strip().lower() in PLACEHOLDER_SECRETS:
                        raise ValueError(f"{name.upper()} must be a real secret in production")
            if secret and (secret.lower() in PLACEHOLDER_SECRETS or len(secret) < 16):
                raise ValueError("TELEGRAM_WEBHOOK_SECRET must be a real secret (16+ characters)")
            key = self.registry_hash_key.strip()
            if key.lower() in PLACEHOLDER_SECRETS | {DEV_REGISTRY_KEY} or len(key) < 16:
                raise ValueError("REGISTRY_HASH_KEY must be a real secret (16+ characters)")
        elif not self.rasa_token:
            # Development: a fresh random token per process tree; the supervisor passes
            # it to the Rasa server and the gateway through the environment.
            self.rasa_token = secrets.token_urlsafe(24)
        if self.environment != "production" and not self.action_server_token:
            self.action_server_token = secrets.token_urlsafe(24)
        if self.environment != "production" and not self.metrics_token:
            self.metrics_token = secrets.token_urlsafe(24)
        return self


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
