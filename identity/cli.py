"""Command line: identity dev | serve | migrate | credentials create | keys rotate|list."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path

from sqlalchemy.engine import make_url

from identity import dev_server, logs, runtime
from identity.app import IdentityApp
from identity.config import DATA_DIR, LOG_LEVEL, WORKERS, Settings
from identity.domain.errors import ConfigurationError, IdentityError
from identity.persistence.database import migrate
from identity.runtime import catch_stop_signals, freeze_startup_objects, until_signal
from identity.workers import Workers, available_cores, parent_gone, serve_metrics

log = logging.getLogger(__name__)


def _data_dir(args: argparse.Namespace, env: Mapping[str, str]) -> Path | None:
    """The dev data folder a command works on: `--data-dir`, else `identity dev`'s default."""
    if getattr(args, "data_dir", None):
        return Path(args.data_dir)
    return DATA_DIR.value(env) if args.command == "dev" else None


# Seconds in-flight calls get once the drain is over and the server stops accepting.
STOP_GRACE = 10.0


async def serve(settings: Settings, parent: int | None = None) -> None:
    """One process serving until SIGTERM/SIGINT, then drained and stopped. `--workers N` runs
    this in each worker (`parent` set: it also stops when the parent is gone) and forwards the
    signal to them: each drains itself."""
    stopping = catch_stop_signals()
    app = IdentityApp(settings)
    await app.start(reuse_port=parent is not None)
    freeze_startup_objects()

    async def drain_and_stop() -> None:
        started = time.monotonic()
        await app.drain()
        await app.stop(grace=STOP_GRACE)
        log.info("stopped %.1f s after the signal", time.monotonic() - started)

    await until_signal(drain_and_stop, None if parent is None else parent_gone(parent), stopping)


def worker_count(requested: int | None, settings: Settings) -> int:
    """IDENTITY_WORKERS (or --workers), else one per core; SQLite runs one process only."""
    if make_url(settings.database_url).get_backend_name() == "sqlite":
        if requested is not None and requested > 1:
            raise ConfigurationError(
                f"IDENTITY_WORKERS={requested}: SQLite is served by one process (its revocations"
                " reach the memory of that process only, and the file has one writer); use"
                " PostgreSQL to run more workers, or leave IDENTITY_WORKERS unset"
            )
        if requested is None:
            log.info("SQLite: one process serves (IDENTITY_WORKERS needs PostgreSQL)")
        return 1
    count = requested if requested is not None else available_cores()
    if count > 1 and settings.grpc_listen.rpartition(":")[2] == "0":
        raise ConfigurationError(
            "IDENTITY_GRPC_LISTEN: workers share one port, so it cannot be 0 (any free port)"
        )
    return count


def serve_workers(settings: Settings, count: int) -> int:
    """The parent of `count` workers: migrates (if told) and makes the first key once, so the
    workers do not race for it, serves their metrics, and returns when all have stopped."""
    asyncio.run(_with_app(settings, lambda app: app.keyring.start()))
    env = {k: v for k, v in os.environ.items() if k != "IDENTITY_METRICS_LISTEN"}
    workers = Workers([sys.executable, "-m", "identity.cli", "serve"], count, env)
    if settings.metrics_listen:
        port = serve_metrics(settings.metrics_listen, workers.metrics_dir)
        log.info("metrics of every worker listening", extra={"port": port})
    log.info("identity serve: %d workers on %s", count, settings.grpc_listen)
    return workers.run()


async def _with_app(settings: Settings, action: Callable[[IdentityApp], Awaitable[None]]) -> None:
    app = IdentityApp(settings)
    try:
        await app.prepare_database()
        await action(app)
    finally:
        await app.engine.dispose()
        app.hashing.close()


async def _credentials_create(app: IdentityApp, role: str, name: str) -> None:
    secret = await app.create_credential(role, name)
    print(secret)  # alone on stdout, once


async def _keys(app: IdentityApp, rotate: bool, alg: str | None) -> None:
    await app.keyring.start()
    if rotate:
        record = await app.keyring.rotate(alg)
        print(
            f"published {record.kid} ({record.alg}); signs from {record.activates_at.isoformat()}"
        )
    for r in app.keyring.records:
        print(f"{r.kid}\t{r.alg}\t{r.state.value}\tactivates {r.activates_at.isoformat()}")


async def _conformance(args: argparse.Namespace) -> int:
    from identity.config_schema import split_host_port
    from identity.conformance.checks import Options
    from identity.conformance.client import Deployment
    from identity.conformance.run import run, succeeded
    from identity.mail_catcher import MailCatcher

    secrets: dict[str, str] = {}
    if args.credentials_file:
        secrets = json.loads(Path(args.credentials_file).read_text())
    deployment = Deployment(
        edge=args.edge,
        grpc_target=args.grpc,
        service_credential=secrets.get("service")
        or os.environ.get("IDENTITY_CONFORMANCE_SERVICE_CREDENTIAL"),
        admin_credential=secrets.get("admin")
        or os.environ.get("IDENTITY_CONFORMANCE_ADMIN_CREDENTIAL"),
    )
    mail = None
    if args.smtp_capture:
        mail = await MailCatcher(*split_host_port(args.smtp_capture)).start()
    try:
        options = Options(concurrency=args.concurrency, wait_grace=args.wait_grace, mail=mail)
        results = await run(deployment, options)
    finally:
        if mail is not None:
            await mail.stop()
    return 0 if succeeded(results) else 1


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="identity", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    dev_cmd = sub.add_parser("dev", help="run identity and the edge on embedded SQLite")
    dev_cmd.add_argument(
        "--data-dir", help=f"data folder (sets {DATA_DIR.name}; default {DATA_DIR.default})"
    )
    dev_server.add_arguments(dev_cmd)
    serve_cmd = sub.add_parser("serve", help="run the identity gRPC service")
    serve_cmd.add_argument("--workers", metavar="N", help=f"processes (overrides {WORKERS.name})")
    serve_cmd.add_argument("--worker-of", type=int, help=argparse.SUPPRESS)  # set by the parent
    for name, text in (("migrate", "upgrade the database schema to head"),):
        cmd = sub.add_parser(name, help=text)
        cmd.add_argument("--data-dir", help="use a dev data folder instead of the environment")
    creds = sub.add_parser("credentials", help="service credentials")
    creds_sub = creds.add_subparsers(dest="action", required=True)
    create = creds_sub.add_parser("create", help="create a credential and print its secret once")
    create.add_argument("--role", required=True, choices=["edge", "service", "admin"])
    create.add_argument("--name", required=True)
    create.add_argument("--data-dir", help="use a dev data folder instead of the environment")
    kit = sub.add_parser("conformance", help="check a running deployment's promises")
    kit.add_argument("--edge", required=True, help="edge base URL, e.g. https://auth.example.com")
    kit.add_argument("--grpc", required=True, help="identity gRPC target, e.g. identity:50051")
    kit.add_argument(
        "--credentials-file",
        help="JSON {role: secret} with 'service' and/or 'admin' (or set "
        "IDENTITY_CONFORMANCE_SERVICE_CREDENTIAL / IDENTITY_CONFORMANCE_ADMIN_CREDENTIAL)",
    )
    kit.add_argument("--concurrency", type=int, default=8, help="parallel refreshes of one cookie")
    kit.add_argument(
        "--wait-grace",
        type=float,
        metavar="SECONDS",
        help="also wait this grace window out and check reuse after it (default: by successor)",
    )
    kit.add_argument(
        "--smtp-capture",
        metavar="HOST:PORT",
        help="receive the deployment's mail here (its IDENTITY_SMTP_URL=smtp://HOST:PORT) to "
        "check password reset and email verification; without it they are not checked",
    )
    keys = sub.add_parser("keys", help="signing keys")
    keys_sub = keys.add_subparsers(dest="action", required=True)
    rotate = keys_sub.add_parser("rotate", help="publish a new signing key")
    rotate.add_argument("--alg", choices=["ES256", "EdDSA", "RS256"])
    rotate.add_argument("--data-dir", help="use a dev data folder instead of the environment")
    listing = keys_sub.add_parser("list", help="list signing keys")
    listing.add_argument("--data-dir", help="use a dev data folder instead of the environment")
    return parser


def _requested_workers(flag: str | None) -> int | None:
    try:
        return WORKERS.read(os.environ) if flag is None else WORKERS.parse(flag)
    except ValueError as exc:
        raise ConfigurationError(f"--workers / {exc}") from None


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logs.configure(LOG_LEVEL.value(os.environ))
    if args.command == "conformance":
        return asyncio.run(_conformance(args))
    env = dev_server.environment(args, os.environ) if args.command == "dev" else os.environ
    try:
        data_dir = _data_dir(args, env)
        settings = Settings.from_env(env, dev_data_dir=data_dir)
        if args.command == "dev" and data_dir is not None:
            runtime.run(dev_server.run(settings, data_dir, env))
        elif args.command == "serve":
            if args.worker_of is not None:
                runtime.run(serve(settings, parent=args.worker_of))
                return 0
            count = worker_count(_requested_workers(args.workers), settings)
            if count > 1:
                return serve_workers(settings, count)
            runtime.run(serve(settings))
        elif args.command == "migrate":
            app = IdentityApp(settings)
            asyncio.run(migrate(app.engine, settings.database_url))
            print("database at head", file=sys.stderr)
        elif args.command == "credentials":
            asyncio.run(
                _with_app(settings, lambda app: _credentials_create(app, args.role, args.name))
            )
        elif args.command == "keys":
            asyncio.run(
                _with_app(
                    settings,
                    lambda app: _keys(app, args.action == "rotate", getattr(args, "alg", None)),
                )
            )
    except IdentityError as error:
        for line in error.message.splitlines():
            print(f"identity: {line}", file=sys.stderr)
        return 2
    except ValueError as error:  # a flag's value that its variable refuses (EDGE_LISTEN...)
        print(f"identity: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
