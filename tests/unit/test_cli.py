"""The command line on conditions a user can cause: one line on standard error, an exit
code that says so, never a traceback (issue 9, item 14). Each command runs in its own
process, as a user runs it, against a fresh EXPATBOT_VAR."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy.exc import OperationalError, ProgrammingError

from bot.ops.cli import expected_problem
from bot.records.registry.demo import demo_csv
from bot.settings import PROJECT_ROOT

# Nothing listens on port 1: connecting is refused at once.
UNREACHABLE = "postgresql://postgres:not-this-password@127.0.0.1:1/x"


def cli(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environ = dict(os.environ) | {"EXPATBOT_VAR": str(tmp_path / "var")} | env
    if "DATABASE_URL" not in env:
        environ.pop("DATABASE_URL", None)  # the default: var/expatbot.db, not there yet
    return subprocess.run(
        [sys.executable, "-m", "bot.ops.cli", *args],
        capture_output=True,
        text=True,
        env=environ,
        cwd=PROJECT_ROOT,
        timeout=120,
    )


def one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    """The error line, after checking that it is the only thing on standard error."""
    assert "Traceback" not in result.stdout + result.stderr, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("expatbot: ")
    return lines[0]


def test_fresh_clone_dry_run_lists_nothing_due(tmp_path: Path) -> None:
    """The README's command on a database that does not exist yet (it said "no such
    table: chat_identity" with a traceback)."""
    result = cli(tmp_path, "reminders", "run", "--dry-run", "--date", "2026-11-27")
    assert "Traceback" not in result.stdout + result.stderr, result.stderr
    assert result.returncode == 0
    assert result.stdout.strip() == (
        "0 reminders due on 2026-11-27 (dry run: nothing sent, nothing claimed)"
    )
    assert (tmp_path / "var" / "expatbot.db").exists()


def test_fresh_clone_staff_alerts_and_import(tmp_path: Path) -> None:
    alerts = cli(tmp_path, "staff", "alerts")
    assert (alerts.returncode, alerts.stdout.strip(), alerts.stderr) == (0, "0 open alerts", "")
    csv_file = tmp_path / "registry.csv"
    csv_file.write_text(demo_csv(count=3), encoding="utf-8")
    fresh = tmp_path / "other"
    imported = cli(fresh, "registry", "import", str(csv_file))
    assert imported.returncode == 0, imported.stderr
    assert imported.stdout.strip() == "3 rows imported: 3 new, 0 updated, 0 unchanged"


@pytest.mark.parametrize(
    "args",
    [
        ("reminders", "run", "--dry-run"),
        ("staff", "alerts"),
        ("db", "upgrade"),
        ("registry", "import", "REGISTRY"),
    ],
)
def test_unreachable_postgresql_is_one_line(tmp_path: Path, args: tuple[str, ...]) -> None:
    registry = tmp_path / "registry.csv"
    registry.write_text(demo_csv(count=2), encoding="utf-8")
    args = tuple(str(registry) if a == "REGISTRY" else a for a in args)
    result = cli(tmp_path, *args, DATABASE_URL=UNREACHABLE)
    line = one_line_error(result)
    assert result.returncode == 1
    assert line.startswith(
        "expatbot: cannot use the database postgresql://postgres:***@127.0.0.1:1/x:"
    )
    assert "Connection refused" in line
    assert "not-this-password" not in line
    assert result.stdout == ""


@pytest.mark.parametrize(
    "args",
    [
        ("registry", "import", "MISSING"),
        ("nlu", "eval", "MISSING"),
        ("registry", "demo", "--out", "MISSING/demo.csv"),
    ],
)
def test_missing_file_is_one_line(tmp_path: Path, args: tuple[str, ...]) -> None:
    missing = tmp_path / "not-there"
    args = tuple(a.replace("MISSING", str(missing)) for a in args)
    result = cli(tmp_path, *args)
    line = one_line_error(result)
    assert result.returncode == 1
    assert line == f"expatbot: No such file or directory: {args[-1]}"


def test_nlu_file_that_is_not_yaml_is_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "fr.yml"
    bad.write_text("nlu:\n- intent: greet\n  examples: [bonjour\n", encoding="utf-8")
    result = cli(tmp_path, "nlu", "eval", str(bad))
    assert one_line_error(result) == f"expatbot: {bad} is not valid YAML (line 4)"
    assert result.returncode == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ("reminders", "run", "--dry-run", "--date", "2026-13-01"),
            "argument --date: not a date (YYYY-MM-DD): '2026-13-01'",
        ),
        (("registry", "demo", "--count", "many"), "argument --count: invalid int value"),
        (("registry", "import"), "the following arguments are required: file"),
        (("answers", "show", "faq_visa_types", "--lang", "de"), "argument --lang: invalid choice"),
        (("no-such-command",), "argument command: invalid choice"),
    ],
)
def test_bad_arguments_are_a_usage_error(
    tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    result = cli(tmp_path, *args)
    assert "Traceback" not in result.stdout + result.stderr, result.stderr
    assert result.returncode == 2
    assert result.stderr.startswith("usage: expatbot")
    assert message in result.stderr.strip().splitlines()[-1]


@pytest.mark.parametrize(
    ("env", "message"),
    [
        (
            {"GATEWAY_PORT": "eighty"},
            "expatbot: bad setting: GATEWAY_PORT: Input should be a valid integer",
        ),
        (
            {"EXPATBOT_ENV": "production", "RASA_TOKEN": ""},
            "expatbot: bad setting: RASA_TOKEN must be set to a real secret in production",
        ),
        ({"DATABASE_URL": "not a url"}, "expatbot: DATABASE_URL is not a database URL"),
    ],
)
def test_bad_settings_are_one_line(tmp_path: Path, env: dict[str, str], message: str) -> None:
    result = cli(tmp_path, "staff", "alerts", **env)
    assert one_line_error(result).startswith(message)
    assert result.returncode == 1


def test_missing_tables_say_what_to_run() -> None:
    """The fallback when a database lacks tables anyway (commands migrate it first)."""
    sqlite = OperationalError("SELECT ...", {}, Exception("no such table: chat_identity"))
    postgres = ProgrammingError(
        "SELECT ...", {}, Exception('relation "chat_identity" does not exist')
    )
    for exc in (sqlite, postgres):
        message = expected_problem(exc)
        assert message is not None and message.endswith(": run `expatbot db upgrade`")


@pytest.mark.parametrize(
    "exc",
    [
        RuntimeError("a bug"),
        KeyError("a bug"),
        ProgrammingError("SELEC 1", {}, Exception('syntax error at or near "SELEC"')),
    ],
)
def test_bugs_keep_their_traceback(exc: Exception) -> None:
    assert expected_problem(exc) is None


def test_the_terminal_chat_finds_the_token_of_a_running_expatbot_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """In development the Rasa token is random per `expatbot run`; `expatbot chat` in
    another terminal reads it from var/run/, which only this user can read."""
    from bot.ops import cli
    from bot.settings import Settings, get_settings

    monkeypatch.delenv("RASA_TOKEN", raising=False)
    monkeypatch.setenv("EXPATBOT_VAR", str(tmp_path))
    run_settings = Settings()  # type: ignore[call-arg]
    path = cli.share_dev_token(run_settings)
    assert path is not None and path.read_text() == run_settings.rasa_token
    assert path.stat().st_mode & 0o777 == 0o600
    get_settings.cache_clear()
    try:
        cli.use_dev_token()
        assert get_settings().rasa_token == run_settings.rasa_token
    finally:
        monkeypatch.delenv("RASA_TOKEN", raising=False)
        get_settings.cache_clear()
    production = Settings(  # type: ignore[call-arg]
        EXPATBOT_ENV="production",
        RASA_TOKEN="r" * 24,
        ACTION_SERVER_TOKEN="a" * 24,
        METRICS_TOKEN="m" * 24,
        REGISTRY_HASH_KEY="k" * 24,
        EXPATBOT_VAR=str(tmp_path / "prod"),
    )
    assert cli.share_dev_token(production) is None  # never written outside development


def test_staff_add_reads_the_password_from_standard_input(tmp_path: Path) -> None:
    """`expatbot staff add NAME --role ROLE`, as a deployment script runs it."""
    from bot.db import make_engine, make_sessionmaker
    from bot.staff import accounts

    db = f"sqlite:///{tmp_path / 'staff.db'}"

    def add(*args: str, password: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "bot.ops.cli", "staff", "add", *args],
            input=password + "\n",
            capture_output=True,
            text=True,
            cwd=PROJECT_ROOT,
            env=dict(os.environ) | {"DATABASE_URL": db, "EXPATBOT_VAR": str(tmp_path)},
            timeout=120,
        )

    done = add("Li.Wei", "--role", "supervisor", password="a long enough password")
    assert done.returncode == 0, done.stderr
    assert "li.wei (supervisor)" in done.stdout
    short = add("chen", "--role", "agent", password="short")
    assert short.returncode == 1
    assert short.stderr.strip() == "expatbot: the password must have at least 12 characters"
    twice = add("li.wei", "--role", "agent", password="another long password")
    assert twice.returncode == 1 and "already an account" in twice.stderr
    wrong_role = add("zhao", "--role", "boss", password="a long enough password")
    assert wrong_role.returncode == 2 and "invalid choice" in wrong_role.stderr
    engine = make_engine(db)
    with make_sessionmaker(engine)() as s:
        staff = accounts.find(s, name="li.wei")
        assert staff is not None and staff.role == "supervisor"
        assert accounts.password_matches(staff, "a long enough password")
        assert "a long enough password" not in staff.password_hash
        assert accounts.find(s, name="chen") is None
    engine.dispose()
