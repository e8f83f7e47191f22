"""Command line: identity dev | serve | migrate | credentials create | keys rotate|list."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import signal
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

from identity import logs, runtime
from identity.app import IdentityApp
from identity.config import DATA_DIR, LOG_LEVEL, Settings
from identity.domain.errors import IdentityError
from identity.persistence.database import migrate
from identity.runtime import freeze_startup_objects

log = logging.getLogger(__name__)

DEV_ROLES = ("edge", "service", "admin")


def _settings(args: argparse.Namespace) -> Settings:
    data_dir = Path(args.data_dir) if getattr(args, "data_dir", None) else None
    if args.command == "dev" and data_dir is None:
        data_dir = DATA_DIR.value(os.environ)
    return Settings.from_env(os.environ, dev_data_dir=data_dir)


async def _until_signal(
    stop: Callable[[], Awaitable[None]], wait: Awaitable[None] | None = None
) -> None:
    loop = asyncio.get_running_loop()
    stopping = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stopping.set)
    signalled = asyncio.ensure_future(stopping.wait())
    waiters: list[asyncio.Future[Any]] = [signalled]
    if wait is not None:
        waiters.append(asyncio.ensure_future(wait))
    await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
    # Only our own signal waiter is cancelled: the awaited task (the edge) must shut down
    # through `stop`, not be cancelled under it.
    signalled.cancel()
    await stop()


# Seconds in-flight calls get once the drain is over and the server stops accepting.
STOP_GRACE = 10.0


async def serve(settings: Settings) -> None:
    """One process serving until SIGTERM/SIGINT, then drained and stopped. A future
    `--workers N` runs this in each worker and forwards the signal: each drains itself."""
    app = IdentityApp(settings)
    await app.start()
    freeze_startup_objects()

    async def drain_and_stop() -> None:
        started = time.monotonic()
        await app.drain()
        await app.stop(grace=STOP_GRACE)
        log.info("stopped %.1f s after the signal", time.monotonic() - started)

    await _until_signal(drain_and_stop)


async def dev(settings: Settings, data_dir: Path) -> None:
    from edge_http.config import EdgeSettings
    from edge_http.server import build_server

    app = IdentityApp(settings)
    port = await app.start()
    secrets = await _dev_credentials(app, data_dir / "credentials.json")
    env = {
        **os.environ,
        "EDGE_IDENTITY_TARGET": f"127.0.0.1:{port}",
        "EDGE_IDENTITY_CREDENTIAL": secrets["edge"],
    }
    env.setdefault("EDGE_ISSUER", settings.issuer)
    env.setdefault("EDGE_AUDIENCE", settings.audience)
    edge = build_server(EdgeSettings.from_env(env))
    freeze_startup_objects()
    edge_task = asyncio.create_task(edge.serve())
    listen = env.get("EDGE_LISTEN", "127.0.0.1:8080")
    print(
        f"identity gRPC on 127.0.0.1:{port}; credentials in {data_dir / 'credentials.json'}",
        file=sys.stderr,
    )
    print(f"demo page: http://{listen}/", flush=True)

    async def stop() -> None:
        edge.should_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await edge_task
        await app.stop(grace=2.0)

    await _until_signal(stop, edge_task)


async def _dev_credentials(app: IdentityApp, path: Path) -> dict[str, str]:
    """One credential per role, kept in a 0600 file; made again if the database was reset."""
    secrets: dict[str, str] = {}
    if path.exists():
        secrets = {k: v for k, v in json.loads(path.read_text()).items() if k in DEV_ROLES}
    changed = False
    for role in DEV_ROLES:
        if role in secrets and await app.callers.identify(secrets[role]) is not None:
            continue
        secrets[role] = await app.create_credential(role, f"dev-{role}-{os.urandom(3).hex()}")
        changed = True
    if changed:
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(secrets, handle, indent=2)
        os.replace(tmp, path)
    return secrets


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
    from identity.conformance.checks import Options
    from identity.conformance.client import Deployment
    from identity.conformance.run import run

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
    results = await run(
        deployment, Options(concurrency=args.concurrency, wait_grace=args.wait_grace)
    )
    return 0 if results and all(r.passed for r in results) else 1


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="identity", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    dev_cmd = sub.add_parser("dev", help="run identity and the edge on embedded SQLite")
    dev_cmd.add_argument("--data-dir", help=f"data folder (default {DATA_DIR.default})")
    sub.add_parser("serve", help="run the identity gRPC service")
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
    keys = sub.add_parser("keys", help="signing keys")
    keys_sub = keys.add_subparsers(dest="action", required=True)
    rotate = keys_sub.add_parser("rotate", help="publish a new signing key")
    rotate.add_argument("--alg", choices=["ES256", "EdDSA", "RS256"])
    rotate.add_argument("--data-dir", help="use a dev data folder instead of the environment")
    listing = keys_sub.add_parser("list", help="list signing keys")
    listing.add_argument("--data-dir", help="use a dev data folder instead of the environment")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logs.configure(LOG_LEVEL.value(os.environ))
    if args.command == "conformance":
        return asyncio.run(_conformance(args))
    try:
        settings = _settings(args)
        if args.command == "dev":
            data_dir = Path(args.data_dir) if args.data_dir else DATA_DIR.value(os.environ)
            runtime.run(dev(settings, data_dir))
        elif args.command == "serve":
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
        print(f"identity: {error.message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
