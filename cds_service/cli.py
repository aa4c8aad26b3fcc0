"""`cds-service`: serve, evaluate a request file offline, export feedback."""

import argparse
import asyncio
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from cds_service.errors import CDSError, operation_outcome
from cds_service.knowledge import KnowledgeError, load_knowledge
from cds_service.settings import get_settings, prepare_default_database, setting_problems, sqlite_file_problem

if TYPE_CHECKING:
    from collections.abc import Callable
    from datetime import date

    from fastapi import FastAPI

    from cds_service.engine import Engine
    from cds_service.hook_context import Hook
    from cds_service.protocol.cards import CardsResponse
    from cds_service.protocol.request import HookRequest
    from cds_service.store import FeedbackStore


def uvicorn_options() -> dict[str, Any]:
    """How every worker is served (event loop, HTTP parser, logging); bench/ serves its baseline the same way."""
    from cds_service.logs import uvicorn_log_config

    settings = get_settings()
    level = settings.log_level
    return {
        # asyncio's own loop, not uvloop: under load uvloop accepted a burst of new connections one per event-loop
        # iteration, so the 32nd of 32 connections opened together waited some 31 iterations (0.2-1.3 s) before its
        # first request was read; asyncio's loop accepts them all at once, at the same CPU per request
        # (`python -m bench.stalls` shows when each connection was accepted; README, "Speed").
        "loop": "asyncio",
        # httptools, with the request line, headers and time to send a request bounded (uvicorn bounds none)
        "http": "cds_service.http_limits:BoundedHttpToolsProtocol",
        "ws": "none",
        "limit_concurrency": settings.max_connections,
        "timeout_keep_alive": 5,
        "h11_max_incomplete_event_size": settings.max_header_bytes,  # only if someone serves with h11 instead
        "log_level": level,
        "log_config": uvicorn_log_config(level),
        "proxy_headers": True,
    }


def worker_app(engine: "Engine | None" = None) -> "FastAPI":
    """The app as each worker serves it: logging configured, then the long-lived heap frozen."""
    import gc

    from cds_service.app import create_app
    from cds_service.logs import configure_logging

    configure_logging(get_settings().log_level)
    app = create_app(engine=engine)
    # Modules, schemas and the knowledge base live as long as the worker. Frozen, they are left out of every later
    # collection, so a large request that sets the collector off pays for its own objects, not for the whole heap.
    gc.freeze()
    return app


def _metrics_directory(workers: int) -> str | None:
    """Set up prometheus_client's multiprocess mode for several workers: each worker writes its values to files
    in PROMETHEUS_MULTIPROC_DIR and a scrape adds them up. A directory given is emptied (values from an earlier run
    would be added in); otherwise one is made, and returned so it is removed at exit. Done before anything imports
    prometheus_client, which reads the variable once."""
    import os
    import tempfile

    given = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if given:
        directory = Path(given)
        directory.mkdir(parents=True, exist_ok=True)
        for stale in directory.glob("*.db"):
            stale.unlink()
        return None
    if workers <= 1:
        return None
    made = tempfile.mkdtemp(prefix="cds-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = made
    return made


def _serve(args: argparse.Namespace) -> int:
    import shutil

    made = _metrics_directory(args.workers or get_settings().workers)
    try:
        return _serve_workers(args)
    finally:
        if made:
            shutil.rmtree(made, ignore_errors=True)


def _serve_workers(args: argparse.Namespace) -> int:
    import uvicorn

    settings = get_settings()
    try:
        load_knowledge(settings.knowledge_dir)  # fail here, with the file named, not in every worker
    except KnowledgeError as exc:
        print(f"cds-service: the knowledge base is broken: {exc}", file=sys.stderr)
        return 2
    if settings.auth_required:
        from cds_service.auth import TrustedIssuersError, trusted_issuers_for

        try:
            trusted_issuers_for(settings.trusted_issuers_file)
        except TrustedIssuersError as exc:
            print(f"cds-service: client authentication cannot start: {exc}", file=sys.stderr)
            return 2
    from cds_service.app import open_store
    from cds_service.store import SchemaError

    prepare_default_database(settings.database_url)
    if problem := sqlite_file_problem(settings.database_url):
        print(f"cds-service: CDS_DATABASE_URL: feedback cannot be stored: {problem}", file=sys.stderr)
        return 2
    try:  # once here, before the workers fork, so a database that cannot be migrated is one line, not N tracebacks
        open_store(settings).close()
    except SchemaError as exc:
        print(f"cds-service: CDS_DATABASE_URL: {exc}", file=sys.stderr)
        return 2
    uvicorn.run(
        "cds_service.asgi:app",
        host=args.host or settings.host,
        port=args.port or settings.port,
        workers=args.workers or settings.workers,
        **uvicorn_options(),
    )
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    from cds_service.engine import Engine
    from cds_service.protocol.request import parse_hook_request
    from hooks import ALL_HOOKS, HOOKS_BY_SERVICE_ID

    settings = get_settings()
    try:
        knowledge = load_knowledge(settings.knowledge_dir)
    except KnowledgeError as exc:
        print(f"cds-service: the knowledge base is broken: {exc}", file=sys.stderr)
        return 2
    try:
        body = Path(args.request).read_bytes() if args.request != "-" else sys.stdin.buffer.read()
    except OSError as exc:
        print(f"cds-service: cannot read the request file {args.request}: {exc.strerror}", file=sys.stderr)
        return 2
    try:
        request = parse_hook_request(body)
        if args.service:
            hook = HOOKS_BY_SERVICE_ID.get(args.service)
            if hook is None:
                raise CDSError(f"No service '{args.service}'; choose one of {sorted(HOOKS_BY_SERVICE_ID)}.")
        else:
            hook = next((h for h in ALL_HOOKS if h.name == request.hook), None)
            if hook is None:
                raise CDSError(f"No service answers the '{request.hook}' hook.")
        response = asyncio.run(_evaluate_with_client(Engine(knowledge, settings), hook, request))
    except CDSError as exc:
        print(orjson.dumps(operation_outcome(exc.message, exc.issue_code), option=orjson.OPT_INDENT_2).decode())
        return 1
    print(orjson.dumps(orjson.loads(response.to_json()), option=orjson.OPT_INDENT_2).decode())
    return 0


def _dosing(args: argparse.Namespace) -> int:
    """The dosing API's answer for a request file, offline: the same computation and the same JSON."""
    from cds_service.web.dosing import answer

    try:
        knowledge = load_knowledge(get_settings().knowledge_dir)
    except KnowledgeError as exc:
        print(f"cds-service: the knowledge base is broken: {exc}", file=sys.stderr)
        return 2
    body = Path(args.request).read_bytes() if args.request != "-" else sys.stdin.buffer.read()
    status, content = answer(body, knowledge)
    print(orjson.dumps(content, option=orjson.OPT_INDENT_2).decode())
    return 0 if status == 200 else 1


async def _evaluate_with_client(engine: "Engine", hook: "Hook", request: "HookRequest") -> "CardsResponse":
    import httpx

    async with httpx.AsyncClient(timeout=engine.settings.fhir_timeout_seconds) as http:
        return await engine.evaluate(hook, request, http)


def _current_store() -> "FeedbackStore | None":
    """The store for a command that reads it: refused (None, after one line) unless its schema is current.

    A SQLite file that does not exist is not created, and a database without the feedback table is not "at an old
    revision" but the wrong database (run from elsewhere, or a typo): both are said as such."""
    from sqlalchemy import inspect
    from sqlalchemy.exc import SQLAlchemyError

    from cds_service.settings import _sqlite_path
    from cds_service.store import FeedbackStore, SchemaError, migrate
    from cds_service.store.schema import card_feedback

    url = get_settings().database_url
    where = _sqlite_path(url)
    if where is not None and where != ":memory:" and not Path(where).is_file():
        print(f"cds-service: CDS_DATABASE_URL: there is no feedback database at {Path(where).absolute()} "
              "(`cds-service serve` creates it; set CDS_DATABASE_URL to the one the service uses)", file=sys.stderr)
        return None
    store = FeedbackStore(url, migrate_schema=False)
    try:
        try:
            has_feedback = inspect(store.engine).has_table(card_feedback.name)
        except SQLAlchemyError as exc:
            raise SchemaError(f"the database could not be read ({type(exc).__name__})") from None
        if not has_feedback:
            raise SchemaError(f"the database{f' at {Path(where).absolute()}' if where else ''} has no feedback "
                              "tables: is CDS_DATABASE_URL the database the service uses?")
        migrate.check_current(store.engine)
    except SchemaError as exc:
        store.close()
        print(f"cds-service: CDS_DATABASE_URL: {exc}", file=sys.stderr)
        return None
    return store


def _feedback_export(_args: argparse.Namespace) -> int:
    store = _current_store()
    if store is None:
        return 2
    try:
        for row in store.export():
            sys.stdout.write(orjson.dumps(row).decode() + "\n")
    finally:
        store.close()
    return 0


def _knowledge_check(args: argparse.Namespace) -> int:
    """Load DIR exactly as start-up would (every file, every citation and cross-check) and build the rules over
    it, without serving: exit 0 and a summary when CDS_KNOWLEDGE_DIR=DIR would start, else 2 and what is wrong."""
    from cds_service.engine import Engine
    from cds_service.settings import Settings

    directory = Path(args.directory)
    if not directory.is_dir():
        print(f"cds-service: knowledge check: {directory} is not a directory", file=sys.stderr)
        return 2
    try:
        knowledge = load_knowledge(directory)
        Engine(knowledge, Settings(knowledge_dir=directory))
    except KnowledgeError as exc:
        print(f"cds-service: knowledge check: {directory}: {exc}", file=sys.stderr)
        return 2
    bundled = load_knowledge()
    print(f"{directory}: knowledge base {knowledge.version} (released {knowledge.manifest.released}) is valid: "
          f"{len(knowledge.sources)} sources, {len(knowledge.ingredients)} ingredients, {len(knowledge.inducers)} "
          f"inducers, {len(knowledge.products)} products; the bundled one is {bundled.version}")
    return 0


def _day(option: str) -> "Callable[[str], date]":
    """An argparse type: a date as YYYY-MM-DD, the error naming the option."""
    from datetime import date

    def parse(text: str) -> date:
        try:
            return date.fromisoformat(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{option} must be a date as YYYY-MM-DD, not '{text}'") from None

    return parse


def _feedback_report(args: argparse.Namespace) -> int:
    from cds_service.store.reports import feedback_report
    from hooks import HOOKS_BY_SERVICE_ID

    if args.service is not None and args.service not in HOOKS_BY_SERVICE_ID:
        print(f"cds-service: --service must be one of {', '.join(sorted(HOOKS_BY_SERVICE_ID))}", file=sys.stderr)
        return 2
    store = _current_store()
    if store is None:
        return 2
    try:
        report = feedback_report(store.engine, since=args.since, service_id=args.service)
    finally:
        store.close()
    print(orjson.dumps(report, option=orjson.OPT_INDENT_2).decode())
    return 0


def _feedback_purge(args: argparse.Namespace) -> int:
    from datetime import UTC, datetime, time, timedelta

    store = _current_store()
    if store is None:
        return 2
    try:
        deleted = store.purge(datetime.combine(args.before, time.min, tzinfo=UTC))
        keep_days = get_settings().feedback_comment_days
        deleted["comments_cleared"] = store.clear_comments(datetime.now(UTC) - timedelta(days=keep_days))
    finally:
        store.close()
    print(orjson.dumps({"before": args.before.isoformat(), **deleted}).decode())
    return 0


def _db_upgrade(_args: argparse.Namespace) -> int:
    from cds_service.store import SchemaError, migrate, open_engine

    prepare_default_database(get_settings().database_url)
    engine = open_engine(get_settings().database_url)
    try:
        before = migrate.current_revision(engine)
        migrate.upgrade(engine)
        after = migrate.current_revision(engine)
    except SchemaError as exc:
        print(f"cds-service: CDS_DATABASE_URL: {exc}", file=sys.stderr)
        return 2
    finally:
        engine.dispose()
    print(f"schema revision {before or 'none'} -> {after}" if before != after else f"schema revision {after}: current")
    return 0


def _db_status(_args: argparse.Namespace) -> int:
    from sqlalchemy.exc import SQLAlchemyError

    from cds_service.store import migrate, open_engine

    engine = open_engine(get_settings().database_url)
    try:
        found = migrate.current_revision(engine)
    except SQLAlchemyError as exc:
        print(f"cds-service: CDS_DATABASE_URL: the database could not be read: {type(exc).__name__}", file=sys.stderr)
        return 2
    finally:
        engine.dispose()
    head = migrate.head_revision()
    print(f"schema revision {found or 'none'}; this version needs {head}")
    return 0 if found == head else 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cds-service", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the HTTP service (settings from CDS_* variables)")
    serve.add_argument("--host", help="address to bind (CDS_HOST, default 127.0.0.1)")
    serve.add_argument("--port", type=_within(1, 65535), help="port (CDS_PORT, default 8000)")
    serve.add_argument("--workers", type=_within(1, 256), help="worker processes (CDS_WORKERS, default 1)")
    serve.set_defaults(func=_serve)

    evaluate = commands.add_parser("evaluate", help="print the cards for a CDS Hooks request file, no server")
    evaluate.add_argument("request", help="a CDS Hooks request JSON file, or - for standard input")
    evaluate.add_argument("--service", help="service id (default: the one for the request's hook)")
    evaluate.set_defaults(func=_evaluate)

    dosing = commands.add_parser("dosing", help="print the POST /dosing/imatinib answer for a request file, no server")
    dosing.add_argument("request", help="a dosing request JSON file (fixtures/dosing/), or - for standard input")
    dosing.set_defaults(func=_dosing)

    feedback = commands.add_parser("feedback", help="stored card feedback")
    feedback_commands = feedback.add_subparsers(dest="feedback_command", required=True)
    export = feedback_commands.add_parser("export", help="print stored feedback as JSON lines")
    export.set_defaults(func=_feedback_export)
    report = feedback_commands.add_parser(
        "report", help="per card topic: shown, accepted, overridden by reason, acceptance rate per week (JSON)"
    )
    report.add_argument("--since", type=_day("--since"), help="cards shown on or after this day (YYYY-MM-DD, UTC)")
    report.add_argument("--service", help="one service id (default: all)")
    report.set_defaults(func=_feedback_report)
    purge = feedback_commands.add_parser(
        "purge", help="delete feedback received and cards shown before a day; clear comments past "
        "CDS_FEEDBACK_COMMENT_DAYS"
    )
    purge.add_argument("--before", type=_day("--before"), required=True, help="YYYY-MM-DD (UTC), kept from then on")
    purge.set_defaults(func=_feedback_purge)

    knowledge = commands.add_parser("knowledge", help="the knowledge base")
    knowledge_commands = knowledge.add_subparsers(dest="knowledge_command", required=True)
    check = knowledge_commands.add_parser(
        "check", help="validate a knowledge directory as start-up would, without starting (exit 0 valid, 2 not)"
    )
    check.add_argument("directory", help="a directory of knowledge files (what CDS_KNOWLEDGE_DIR would name)")
    check.set_defaults(func=_knowledge_check)

    database = commands.add_parser("db", help="the database schema (Alembic migrations shipped with the service)")
    database_commands = database.add_subparsers(dest="db_command", required=True)
    database_commands.add_parser("upgrade", help="run pending migrations (serve does it too, unless "
                                 "CDS_DATABASE_MIGRATE=false)").set_defaults(func=_db_upgrade)
    database_commands.add_parser("status", help="the schema revision of the database; exit 1 when not "
                                 "current").set_defaults(func=_db_status)
    return parser


def _within(low: int, high: int) -> "Callable[[str], int]":
    """An argparse type: a whole number from `low` to `high`, as the matching setting requires."""

    def number(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be a whole number, not {text!r}") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be from {low} to {high}, not {value}")
        return value

    return number


def main(argv: list[str] | None = None) -> int:
    from pydantic import ValidationError
    from pydantic_settings import SettingsError

    args = build_parser().parse_args(argv)
    try:  # every command reads the settings first: a value that cannot work is one line, not a traceback
        get_settings()
    except (ValidationError, SettingsError) as exc:
        print(f"cds-service: {setting_problems(exc)}", file=sys.stderr)
        return 2
    status: int = args.func(args)
    return status


if __name__ == "__main__":
    sys.exit(main())
