"""The `expatbot` command line.

A condition the user can cause or fix (no database yet, a database that cannot be
reached, a file not found, a bad setting or argument) ends a command with one line on
standard error and a non-zero exit, never a traceback (`-v` adds the traceback).
Commands that use the database first bring it to the newest migration, as `run` does.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import getpass
import logging
import os
import sys
import time
import traceback
from pathlib import Path
from typing import Any

from bot.logging_setup import configure as configure_logging
from bot.settings import get_settings


def say(text: str) -> None:
    print(text, flush=True)


def current_database() -> str:
    """The database URL, migrated to the newest revision (a no-op when it is already)."""
    from bot.db import upgrade

    url = get_settings().database_url
    upgrade(url)
    return url


def iso_date(value: str) -> dt.date:
    """An argparse type: a bad date is a usage error, not a traceback."""
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {value!r}") from None


def safe_url(url: str) -> str:
    """A database URL fit to print: without its password."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # an unparsable URL: its scheme is still a useful hint
        return url.split("://", 1)[0] + "://..."


def first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0].strip() if lines else exc.__class__.__name__


def expected_problem(exc: Exception) -> str | None:
    """One line for an error the user can cause or fix; None for a bug (a traceback)."""
    from alembic.util.exc import CommandError
    from pydantic import ValidationError
    from sqlalchemy.exc import (
        ArgumentError,
        InterfaceError,
        NoSuchModuleError,
        OperationalError,
        ProgrammingError,
    )

    from bot.errors import ExpatbotError

    if isinstance(exc, ValidationError):
        problems = [
            (".".join(str(p) for p in e["loc"]) + ": " if e["loc"] else "")
            + str(e["msg"]).removeprefix("Value error, ")
            for e in exc.errors()
        ]
        return "bad setting: " + "; ".join(problems)
    if isinstance(exc, ExpatbotError):
        return first_line(exc)
    if isinstance(exc, OperationalError | InterfaceError | ProgrammingError):
        url = safe_url(get_settings().database_url)
        detail = first_line(exc.orig) if exc.orig is not None else first_line(exc)
        # SQLite says "no such table", PostgreSQL 'relation "..." does not exist'.
        if "no such table" in detail or ("relation" in detail and "does not exist" in detail):
            return f"the database {url} lacks this version's tables: run `expatbot db upgrade`"
        if isinstance(exc, ProgrammingError):
            return None  # a bad statement: a bug, not the user's database
        return f"cannot use the database {url}: {detail} (is it running? DATABASE_URL names it)"
    if isinstance(exc, ArgumentError | NoSuchModuleError):
        return f"DATABASE_URL is not a database URL this can use: {first_line(exc)}"
    if isinstance(exc, CommandError):
        return f"database migration: {first_line(exc)}"
    from telegram.error import TelegramError

    if isinstance(exc, TelegramError):
        return f"Telegram: {first_line(exc)}"
    if isinstance(exc, OSError):
        if exc.filename is not None:
            return f"{exc.strerror or first_line(exc)}: {exc.filename}"
        return first_line(exc)
    return None


def cmd_db_upgrade(_args: argparse.Namespace) -> int:
    current_database()
    say("database is up to date")
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from bot.nlu.rasa_runtime import ensure_model

    path, seconds = ensure_model(force=args.force)
    if seconds is None:
        say(f"model is current: {path.name} (training data unchanged)")
    else:
        say(f"trained {path.name} in {seconds:.1f}s")
    return 0


def cmd_gateway(_args: argparse.Namespace) -> int:
    import uvicorn

    from bot.app import create_app

    settings = get_settings()
    uvicorn.run(
        create_app(settings),
        host=settings.gateway_host,
        port=settings.gateway_port,
        log_level="warning",
    )
    return 0


def seed_demo_data(url: str) -> bool:
    """Demo chats and demo registry data, into a database that has none."""
    from sqlalchemy import func, select

    from bot.db import make_engine, make_sessionmaker, transaction
    from bot.db.models import Resident
    from bot.ops.demo import seed_demo
    from bot.records.registry.demo import demo_csv
    from bot.records.registry.importer import import_registry

    engine = make_engine(url)
    key = get_settings().registry_hash_key.encode()
    try:
        with transaction(make_sessionmaker(engine)) as session:
            seeded = seed_demo(session)
            if not session.scalar(select(func.count()).select_from(Resident)):
                import_registry(session, demo_csv().encode(), key=key)
            return seeded
    finally:
        engine.dispose()


def cmd_run(_args: argparse.Namespace) -> int:
    from bot.db import upgrade
    from bot.nlu.rasa_runtime import ensure_model
    from bot.ops.supervisor import build_services, supervise, wait_healthy
    from bot.records.registry.demo import demo_identity

    settings = get_settings()
    say(f"database: {settings.database_url.split('@')[-1]}")
    upgrade(settings.database_url)
    if settings.environment == "development":
        if seed_demo_data(settings.database_url):
            say("database: new, demo chats added (channel 'demo')")
        card, born = demo_identity()
        say(f"demo resident to link with (/link): card {card}, born {born}")
    say("model: checking training data…")
    model, seconds = ensure_model()
    say(f"model: {model.name}" + (f" (trained in {seconds:.0f}s)" if seconds else " (unchanged)"))
    services = build_services(settings, model)
    started = time.monotonic()
    try:
        for service in services:
            say(f"starting {service.name}…")
            service.start()
            wait_healthy(service, timeout=180, say=say)
    except (RuntimeError, KeyboardInterrupt) as exc:
        say(f"!! {exc}")
        for service in reversed(services):
            service.stop()
        return 1
    say(f"all up in {time.monotonic() - started:.0f}s")
    token_file = share_dev_token(settings)
    say(f"web chat: http://{settings.gateway_host}:{settings.gateway_port}/")
    say("terminal chat: .venv/bin/expatbot chat   (in another terminal)")
    metrics_file = share_metrics_token(settings)
    where = f"the token in {metrics_file}" if metrics_file else "$METRICS_TOKEN"
    say(
        f"metrics: http://{settings.gateway_host}:{settings.gateway_port}/metrics "
        f"(Authorization: Bearer {where})"
    )
    if settings.telegram_bot_token:
        say("Telegram: polling with TELEGRAM_BOT_TOKEN")
    say("Ctrl-C stops everything.")
    try:
        return supervise(services, say=say)
    finally:
        if token_file is not None:
            token_file.unlink(missing_ok=True)


def cmd_cluster(_args: argparse.Namespace) -> int:
    from bot.db import upgrade
    from bot.nlu.rasa_runtime import ensure_model
    from bot.ops import cluster
    from bot.ops.supervisor import supervise

    settings = get_settings()
    try:
        topology = cluster.read_topology()
        file_env = cluster.read_env_file()
        # Checked before anything starts: a missing proxy or database says so at once.
        cluster.haproxy_executable()
        database_url = os.environ.get("DATABASE_URL") or file_env.get("DATABASE_URL", "")
        redis_url = os.environ.get("REDIS_URL") or file_env.get("REDIS_URL", "")
        env = dict(file_env) | {"DATABASE_URL": database_url, "REDIS_URL": redis_url}
        env |= cluster.store_env(database_url, redis_url, env.get("RASA_TRACKER_DB", ""))
        cluster.check_redis(redis_url)
    except cluster.ClusterError as exc:
        say(f"!! {exc}")
        return 2
    say(f"database: {database_url.split('@')[-1]}")
    upgrade(database_url)
    if settings.environment == "development" and seed_demo_data(database_url):
        say("database: new, demo chats added (channel 'demo')")
    if cluster.prepare_databases(env):
        say(f"Rasa's trackers: database {env['RASA_TRACKER_DB']} created")
    say("model: checking training data…")
    model, seconds = ensure_model()
    say(f"model: {model.name}" + (f" (trained in {seconds:.0f}s)" if seconds else " (unchanged)"))
    run_dir = settings.var_dir / "cluster"
    plan = cluster.plan(
        settings.model_copy(update={"database_url": database_url}),
        model=model,
        environ=os.environ,
        run_dir=run_dir / "run",
        topology=topology,
        file_env=file_env,
    )
    counts = ", ".join(f"{len(g)} {g[0].name.rsplit(' ', 1)[0]}" for g in plan.groups if g)
    say(f"topology (deploy/haproxy.cfg): {counts}")
    started = time.monotonic()
    try:
        cluster.start(plan, say=say)
    except (RuntimeError, KeyboardInterrupt) as exc:
        say(f"!! {exc}")
        cluster.stop(plan)
        return 1
    say(f"all up in {time.monotonic() - started:.0f}s")
    token_file = share_metrics_token(settings.model_copy(update={"var_dir": run_dir}))
    where = f"the token in {token_file}" if token_file else "$METRICS_TOKEN"
    say(f"operator: {plan.stats_url} and /metrics of every process (Authorization: Bearer {where})")
    say(f"cluster ready: users connect to {plan.users_url}")
    say("Ctrl-C stops everything.")
    return supervise(plan.services, say=say)


# In development the Rasa server's token is random per `expatbot run`; `expatbot chat`,
# started in another terminal, finds it here. Only in development (production sets
# RASA_TOKEN in every process's environment), readable by this user only, removed when
# `expatbot run` stops.
DEV_TOKEN_FILE = "rasa-token"


def share_dev_token(settings: Any) -> Path | None:
    if settings.environment != "development" or os.environ.get("RASA_TOKEN"):
        return None
    path = Path(settings.var_dir) / "run" / DEV_TOKEN_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(settings.rasa_token)
    return path


def share_metrics_token(settings: Any) -> Path | None:
    """Development without METRICS_TOKEN: the run's random one, for the operator to
    read (this user only). None when the environment set it."""
    if settings.environment != "development" or os.environ.get("METRICS_TOKEN"):
        return None
    path = Path(settings.var_dir) / "run" / "metrics-token"
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(settings.metrics_token)
    return path


def use_dev_token() -> None:
    """`expatbot chat` beside a running `expatbot run`: its Rasa token, in development."""
    settings = get_settings()
    path = Path(settings.var_dir) / "run" / DEV_TOKEN_FILE
    if settings.environment == "development" and not os.environ.get("RASA_TOKEN"):
        if path.exists():
            os.environ["RASA_TOKEN"] = path.read_text().strip()
            get_settings.cache_clear()
        else:
            say("note: no running `expatbot run` found; messages will get the 'unavailable' reply")


def cmd_nlu_eval(args: argparse.Namespace) -> int:
    from bot.nlu.evaluation import run

    text, code = run([Path(f) for f in args.files], as_json=args.json)
    print(text)
    return code


def cmd_answers_check(args: argparse.Namespace) -> int:
    from bot.answers.check import check_all, faq_topics
    from bot.answers.office import load_office

    locales = get_settings().locales_dir
    problems = check_all(
        locales,
        office=load_office(locales / "office.yml"),
        topics=faq_topics(),
        max_age_days=args.max_age_days,
    )
    for problem in problems:
        print(problem)
    errors = sum(p.level == "error" for p in problems)
    print(f"{errors} errors, {len(problems) - errors} warnings in {locales}")
    return 1 if errors else 0


def cmd_answers_show(args: argparse.Namespace) -> int:
    from bot import texts
    from bot.answers.render import to_html, to_plain
    from bot.answers.store import AnswerStore
    from bot.i18n import gettext

    locales = get_settings().locales_dir
    answer = AnswerStore(locales, locales / "office.yml").get(args.topic, args.lang)
    if answer is None:
        print(f"no answer for {args.topic}")
        return 1
    render = to_html if args.channel == "telegram" else to_plain
    print(render(f"{answer.title}\n\n{answer.text}"))
    if answer.details:
        # What the "More details" button under the answer shows.
        print(f"\n[{gettext(args.lang, texts.MORE_DETAILS)}]\n")
        print(render(answer.details))
    if answer.language != args.lang:
        print(f"(not translated into {args.lang}: users see the English answer)")
    return 0


def cmd_answers_status(args: argparse.Namespace) -> int:
    from sqlalchemy.exc import SQLAlchemyError

    from bot.answers.status import status_table
    from bot.db import make_engine, make_sessionmaker
    from bot.db.conversations import english_fallbacks, vote_counts

    settings = get_settings()
    votes = fallbacks = None
    engine = make_engine(settings.database_url)
    try:
        with make_sessionmaker(engine)() as session:
            votes = vote_counts(session)
            fallbacks = english_fallbacks(session)
    except SQLAlchemyError:
        pass  # the table says so; the review dates are still worth seeing
    finally:
        engine.dispose()
    table = status_table(
        settings.locales_dir, max_age_days=args.max_age_days, votes=votes, fallbacks=fallbacks
    )
    print(table)
    return 0


def cmd_registry_import(args: argparse.Namespace) -> int:
    from bot.db import make_engine, make_sessionmaker
    from bot.records.registry.importer import import_registry

    settings = get_settings()
    raw = Path(args.file).read_bytes()
    engine = make_engine(current_database())
    try:
        with make_sessionmaker(engine)() as session:
            report = import_registry(session, raw, key=settings.registry_hash_key.encode())
            if report.ok:
                session.commit()
            else:
                session.rollback()
    finally:
        engine.dispose()
    print(report)
    return 0 if report.ok else 1


def cmd_registry_demo(args: argparse.Namespace) -> int:
    from bot.records.registry.demo import demo_csv

    text = demo_csv(count=args.count)
    if args.out == "-":
        print(text, end="")
    else:
        Path(args.out).write_text(text, encoding="utf-8")
    return 0


def cmd_reminders_run(args: argparse.Namespace) -> int:
    from bot.db import make_engine, make_sessionmaker
    from bot.db.models import utcnow
    from bot.jobs.reminders import run_reminders
    from bot.jobs.scheduler import SERVICE_TZ

    today = args.date or utcnow().astimezone(SERVICE_TZ).date()
    engine = make_engine(current_database())
    try:
        summary = asyncio.run(
            run_reminders(make_sessionmaker(engine), today=today, dry_run=args.dry_run)
        )
    finally:
        engine.dispose()
    for line in summary.lines:
        print(line)
    if args.dry_run:
        print(f"{summary.due} reminders due on {today} (dry run: nothing sent, nothing claimed)")
    else:
        print(
            f"{summary.due} reminders due on {today}: {summary.queued} messages queued, "
            f"{summary.already_claimed} queued before, {summary.no_chat} without a chat; "
            "the gateway or `expatbot worker` delivers them"
        )
    return 0


def cmd_tickets_export(args: argparse.Namespace) -> int:
    from bot.db import make_engine, make_sessionmaker
    from bot.tickets.export import write_csv

    engine = make_engine(current_database())
    try:
        with make_sessionmaker(engine)() as session:
            if args.output == "-":
                count = write_csv(session, sys.stdout, since=args.since)
            else:
                # newline="": the csv module writes its own line ends (RFC 4180).
                with open(args.output, "w", encoding="utf-8", newline="") as out:
                    count = write_csv(session, out, since=args.since)
    finally:
        engine.dispose()
    print(f"{count} tickets submitted since {args.since}", file=sys.stderr)
    return 0


def cmd_staff_alerts(_args: argparse.Namespace) -> int:
    """Open alerts for staff (until the staff console exists, this is where they show)."""
    from bot.db import make_engine, make_sessionmaker
    from bot.records.accounts import open_alerts

    engine = make_engine(current_database())
    try:
        with make_sessionmaker(engine)() as session:
            alerts = open_alerts(session)
            for alert in alerts:
                print(
                    f"#{alert.id} {alert.created_at:%Y-%m-%d %H:%M} {alert.kind}: {alert.details}"
                )
    finally:
        engine.dispose()
    print(f"{len(alerts)} open alerts")
    return 0


def read_new_password() -> str:
    """From standard input when it is not a terminal (scripts, CI); else asked twice."""
    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass("password: ")
    if getpass.getpass("again: ") != first:
        from bot.errors import ConfigurationError

        raise ConfigurationError("the two passwords differ")
    return first


def _staff_session() -> Any:
    from bot.db import make_engine, make_sessionmaker

    return make_sessionmaker(make_engine(current_database()))


def cmd_staff_add(args: argparse.Namespace) -> int:
    from bot.db import audit, transaction
    from bot.errors import ConfigurationError
    from bot.staff import accounts

    password = read_new_password()
    try:
        with transaction(_staff_session()) as session:
            staff = accounts.add(
                session, name=args.name, role=args.role, password=password, language=args.language
            )
            audit.record(
                session,
                action="account_added",
                staff_name="(command line)",
                details={"name": staff.name, "role": staff.role},
            )
            name, role = staff.name, staff.role
    except accounts.AccountError as exc:
        raise ConfigurationError(str(exc)) from None
    say(f"staff account {name} ({role}) added; log in at /staff/login")
    return 0


def cmd_staff_list(_args: argparse.Namespace) -> int:
    from sqlalchemy import select

    from bot.db.models import StaffUser

    with _staff_session()() as session:
        rows = list(session.scalars(select(StaffUser).order_by(StaffUser.name)))
        for staff in rows:
            second = "TOTP" if staff.totp_secret else "-"
            state = "active" if staff.active else "disabled"
            say(f"{staff.name:<24} {staff.role:<11} {staff.language:<3} {second:<5} {state}")
    say(f"{len(rows)} staff accounts")
    return 0


def cmd_staff_totp(args: argparse.Namespace) -> int:
    from bot.db import transaction
    from bot.errors import ConfigurationError
    from bot.staff import accounts

    with transaction(_staff_session()) as session:
        staff = accounts.find(session, name=args.name)
        if staff is None:
            raise ConfigurationError(f"no staff account named {args.name}")
        uri = accounts.enable_totp(staff)
    say("second factor on; add it to an authenticator app with this address:")
    say(uri)
    return 0


def cmd_staff_disable(args: argparse.Namespace) -> int:
    from bot.db import audit, transaction
    from bot.errors import ConfigurationError
    from bot.staff import accounts, sessions

    with transaction(_staff_session()) as session:
        staff = accounts.find(session, name=args.name)
        if staff is None:
            raise ConfigurationError(f"no staff account named {args.name}")
        staff.active = False
        sessions.end_all(session, staff_id=staff.id)
        audit.record(
            session,
            action="account_disabled",
            staff_name="(command line)",
            details={"name": staff.name},
        )
    say(f"staff account {args.name} disabled; its sessions ended")
    return 0


def cmd_chat(args: argparse.Namespace) -> int:
    from bot.app import build_assistant
    from bot.channels.terminal import run_terminal_chat

    current_database()  # every message is stored first: a fresh clone needs the tables
    use_dev_token()

    async def chat() -> int:
        assistant, rasa, engine = build_assistant(get_settings())
        try:
            return await run_terminal_chat(assistant, user=args.user)
        finally:
            await rasa.aclose()
            engine.dispose()

    return asyncio.run(chat())


def cmd_worker(_args: argparse.Namespace) -> int:
    """The scheduled jobs and the outbox, without serving anything."""
    from bot.app import run_worker

    current_database()
    say("worker: reminders, staff alerts, the sweeper and the outbox; Ctrl-C stops it")
    settings = get_settings()
    if settings.worker_port:
        import uvicorn

        from bot.app import create_worker_app

        say(f"worker: health at http://{settings.worker_host}:{settings.worker_port}/healthz")
        uvicorn.run(
            create_worker_app(settings),
            host=settings.worker_host,
            port=settings.worker_port,
            log_level="warning",
        )
        return 0
    return asyncio.run(run_worker(settings))


def _telegram_bot() -> Any:
    from telegram import Bot

    from bot.errors import ConfigurationError

    settings = get_settings()
    if not settings.telegram_bot_token:
        raise ConfigurationError("TELEGRAM_BOT_TOKEN is not set")
    return Bot(settings.telegram_bot_token, base_url=settings.telegram_base_url)


def cmd_telegram_set_webhook(args: argparse.Namespace) -> int:
    """Register the gateway's webhook with Telegram: once, when deploying."""
    from bot.channels.telegram import ALLOWED_UPDATES, WEBHOOK_PATH
    from bot.errors import ConfigurationError

    secret = get_settings().telegram_webhook_secret
    if not secret:
        raise ConfigurationError(
            "TELEGRAM_WEBHOOK_SECRET is not set: the gateway would accept no update"
        )
    if not args.url.startswith("https://"):
        raise ConfigurationError(f"Telegram sends webhooks only to https:// addresses: {args.url}")
    if not args.url.rstrip("/").endswith(WEBHOOK_PATH):
        say(f"note: the gateway serves the webhook at {WEBHOOK_PATH}; this URL ends elsewhere")

    async def set_it() -> bool:
        async with _telegram_bot() as bot:
            done: bool = await bot.set_webhook(
                args.url,
                secret_token=secret,
                allowed_updates=list(ALLOWED_UPDATES),
                max_connections=args.max_connections,
                drop_pending_updates=False,
            )
            return done

    if not asyncio.run(set_it()):
        print("expatbot: Telegram refused the webhook", file=sys.stderr)
        return 1
    say(f"webhook set: {args.url} (updates: {', '.join(ALLOWED_UPDATES)})")
    return 0


def cmd_telegram_webhook_info(_args: argparse.Namespace) -> int:
    async def get_info() -> Any:
        async with _telegram_bot() as bot:
            return await bot.get_webhook_info()

    info = asyncio.run(get_info())
    say(f"url: {info.url or '(none: the bot is polled)'}")
    say(f"pending updates: {info.pending_update_count}")
    say(f"allowed updates: {', '.join(info.allowed_updates or ()) or '(all but a few)'}")
    say(f"max connections: {info.max_connections or '-'}")
    if info.last_error_date:
        say(f"last error: {info.last_error_date:%Y-%m-%d %H:%M:%S} {info.last_error_message}")
    else:
        say("last error: none")
    return 0


def _wechat_menu() -> dict[str, Any]:
    from bot.channels.wechat_menu import load
    from bot.nlu.rasa_runtime import domain_intents

    return load(get_settings().locales_dir, intents=domain_intents())


def cmd_wechat_menu_check(_args: argparse.Namespace) -> int:
    """Validate locales/wechat_menu.yml without publishing it."""
    menu = _wechat_menu()
    for top in menu["button"]:
        say(top["name"])
        for item in top.get("sub_button", [top]):
            action = item.get("key") or item.get("url")
            say(f"  {item['name']}: {action}")
    say("the menu is valid")
    return 0


def cmd_wechat_menu_publish(_args: argparse.Namespace) -> int:
    """Publish locales/wechat_menu.yml as the official account's menu."""
    import httpx

    from bot.channels.wechat_api import WeChatApi, WeChatError
    from bot.db import make_engine, make_sessionmaker
    from bot.errors import ConfigurationError

    settings = get_settings()
    if not settings.wechat_enabled:
        raise ConfigurationError("WECHAT_APP_ID, WECHAT_APP_SECRET and WECHAT_TOKEN are not set")
    menu = _wechat_menu()
    engine = make_engine(current_database())

    async def publish() -> None:
        api = WeChatApi(
            make_sessionmaker(engine),
            app_id=settings.wechat_app_id,
            secret=settings.wechat_app_secret,
            base_url=settings.wechat_api_base_url,
        )
        try:
            await api.create_menu(menu)
        finally:
            await api.aclose()

    try:
        asyncio.run(publish())
    except WeChatError as exc:
        print(f"expatbot: WeChat refused the menu: {exc}", file=sys.stderr)
        return 1
    except httpx.HTTPError as exc:
        url = settings.wechat_api_base_url
        print(f"expatbot: WeChat's API at {url} unreachable: {exc!r}", file=sys.stderr)
        return 1
    finally:
        engine.dispose()
    items = sum(len(top.get("sub_button", [top])) for top in menu["button"])
    say(f"menu published: {len(menu['button'])} top-level items, {items} entries")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="expatbot", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("run", help="start Rasa, the action server and the gateway").set_defaults(
        func=cmd_run
    )
    sub.add_parser("gateway", help="run the gateway process alone").set_defaults(func=cmd_gateway)
    sub.add_parser(
        "cluster",
        help="the production topology on this machine (deploy/): a proxy, replicated "
        "gateways, Rasa and action servers, a worker; DATABASE_URL and REDIS_URL",
    ).set_defaults(func=cmd_cluster)
    sub.add_parser(
        "worker", help="run the scheduled jobs and the outbox in a process of their own"
    ).set_defaults(func=cmd_worker)
    telegram = sub.add_parser("telegram", help="Telegram deploy commands")
    tgsub = telegram.add_subparsers(dest="telegram_command", required=True)
    hook = tgsub.add_parser("set-webhook", help="register the gateway's webhook URL with Telegram")
    hook.add_argument("url", help="https://<public address>/telegram/webhook")
    hook.add_argument("--max-connections", type=int, default=40)
    hook.set_defaults(func=cmd_telegram_set_webhook)
    tgsub.add_parser("webhook-info", help="what Telegram knows of the webhook").set_defaults(
        func=cmd_telegram_webhook_info
    )
    wechat = sub.add_parser("wechat", help="WeChat official-account commands")
    wxsub = wechat.add_subparsers(dest="wechat_command", required=True)
    menu = wxsub.add_parser("menu", help="the account's menu (locales/wechat_menu.yml)")
    menusub = menu.add_subparsers(dest="menu_command", required=True)
    menusub.add_parser("publish", help="publish the menu to WeChat").set_defaults(
        func=cmd_wechat_menu_publish
    )
    menusub.add_parser("check", help="validate the menu file").set_defaults(
        func=cmd_wechat_menu_check
    )
    chat = sub.add_parser("chat", help="chat in this terminal (needs a running Rasa server)")
    chat.add_argument("--user", default=getpass.getuser(), help="who you are in the chat")
    chat.set_defaults(func=cmd_chat)
    train = sub.add_parser("train", help="train the NLU model if its data changed")
    train.add_argument("--force", action="store_true", help="train even if unchanged")
    train.set_defaults(func=cmd_train)
    nlu = sub.add_parser("nlu", help="NLU model commands")
    nlusub = nlu.add_subparsers(dest="nlu_command", required=True)
    ev = nlusub.add_parser(
        "eval", help="accuracy per language: the held-out split, or FILEs evaluated together"
    )
    ev.add_argument(
        "files",
        nargs="*",
        metavar="FILE",
        help="Rasa NLU files, evaluated together; a file <lang>.yml gives its examples' language",
    )
    ev.add_argument("--json", action="store_true", help="print one JSON object")
    ev.set_defaults(func=cmd_nlu_eval)
    answers = sub.add_parser("answers", help="policy answer files (for editors)")
    ansub = answers.add_subparsers(dest="answers_command", required=True)
    chk = ansub.add_parser("check", help="validate every answer file")
    chk.add_argument("--max-age-days", type=int, default=365, help="warn when older")
    chk.set_defaults(func=cmd_answers_check)
    st = ansub.add_parser("status", help="topics x languages: review dates, gaps")
    st.add_argument("--max-age-days", type=int, default=365)
    st.set_defaults(func=cmd_answers_status)
    show = ansub.add_parser("show", help="preview an answer as a user sees it")
    show.add_argument("topic")
    show.add_argument("--lang", default="en", choices=["en", "zh", "ar", "ru", "fr", "es"])
    show.add_argument("--channel", default="wechat", choices=["telegram", "wechat", "web"])
    show.set_defaults(func=cmd_answers_show)
    registry = sub.add_parser("registry", help="residents, cards and visas (imported)")
    regsub = registry.add_subparsers(dest="registry_command", required=True)
    imp = regsub.add_parser("import", help="import a registry CSV (all or nothing)")
    imp.add_argument("file")
    imp.set_defaults(func=cmd_registry_import)
    dem = regsub.add_parser("demo", help="write demo registry data as CSV")
    dem.add_argument("--out", default="-")
    dem.add_argument("--count", type=int, default=24)
    dem.set_defaults(func=cmd_registry_demo)
    reminders = sub.add_parser("reminders", help="visa and card expiry reminders")
    remsub = reminders.add_subparsers(dest="reminders_command", required=True)
    rr = remsub.add_parser("run", help="queue today's reminders now (--dry-run: list them)")
    rr.add_argument("--dry-run", action="store_true")
    rr.add_argument("--date", type=iso_date, help="pretend today is this day (YYYY-MM-DD)")
    rr.set_defaults(func=cmd_reminders_run)
    tickets = sub.add_parser("tickets", help="dispute tickets")
    tksub = tickets.add_subparsers(dest="tickets_command", required=True)
    export = tksub.add_parser("export", help="tickets submitted since a day, as CSV")
    export.add_argument("--since", type=iso_date, required=True, help="YYYY-MM-DD (Yiwu time)")
    export.add_argument("--output", "-o", default="-", help="a file (default: standard output)")
    export.set_defaults(func=cmd_tickets_export)
    staff = sub.add_parser("staff", help="for the service center's staff")
    staffsub = staff.add_subparsers(dest="staff_command", required=True)
    staffsub.add_parser("alerts", help="open alerts (lockouts, ...)").set_defaults(
        func=cmd_staff_alerts
    )
    add = staffsub.add_parser(
        "add", help="add a console account (password from standard input, or asked)"
    )
    add.add_argument("name")
    add.add_argument("--role", required=True, choices=["agent", "supervisor", "editor", "admin"])
    add.add_argument("--language", default="zh", choices=["zh", "en"], help="of the console")
    add.set_defaults(func=cmd_staff_add)
    staffsub.add_parser("list", help="console accounts").set_defaults(func=cmd_staff_list)
    totp = staffsub.add_parser("totp", help="turn on the second factor (TOTP) of an account")
    totp.add_argument("name")
    totp.set_defaults(func=cmd_staff_totp)
    disable = staffsub.add_parser("disable", help="disable an account and end its sessions")
    disable.add_argument("name")
    disable.set_defaults(func=cmd_staff_disable)
    db = sub.add_parser("db", help="database commands")
    dbsub = db.add_subparsers(dest="db_command", required=True)
    dbsub.add_parser("upgrade", help="apply migrations").set_defaults(func=cmd_db_upgrade)

    args = parser.parse_args(argv)
    configure_logging(logging.INFO if args.verbose else logging.WARNING)
    try:
        code: int = args.func(args)
    except KeyboardInterrupt:
        return 130  # Ctrl-C: what the user asked for, nothing to explain
    except Exception as exc:
        message = expected_problem(exc)
        if message is None:
            raise  # a bug: the traceback is what a developer needs
        if args.verbose:
            traceback.print_exc()
        print(f"expatbot: {message}", file=sys.stderr, flush=True)
        return 1
    return code


if __name__ == "__main__":
    sys.exit(main())
