"""`identity dev`: identity and the edge in one process, on SQLite in a private data folder.

The demo URL is printed only once the edge is listening. Both addresses are checked before
anything starts, so that a port held by another program is named, with the flag that moves it,
instead of a URL that would lead to that other program. Mail goes to IDENTITY_SMTP_URL, or,
when that is unset, to a local catcher the edge shows at /dev/inbox (identity.dev_mail).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import errno
import os
import socket
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from edge_http.config import LISTEN as EDGE_LISTEN
from identity import dev_data
from identity.app import IdentityApp
from identity.config import Settings
from identity.config_schema import Variable, declared, split_host_port
from identity.dev_mail import dev_mail
from identity.domain.errors import ConfigurationError
from identity.runtime import freeze_startup_objects, until_signal

GRPC_LISTEN: Variable[Any] = next(v for f, v in declared(Settings) if f.name == "grpc_listen")
ISSUER: Variable[Any] = next(v for f, v in declared(Settings) if f.name == "issuer")
# flag -> (the variable it sets, what listens there)
FLAGS = {
    "--edge-listen": (EDGE_LISTEN, "the edge and its demo page"),
    "--grpc-listen": (GRPC_LISTEN, "identity's gRPC API"),
}


def add_arguments(command: argparse.ArgumentParser) -> None:
    for flag, (variable, what) in FLAGS.items():
        command.add_argument(
            flag,
            metavar="HOST:PORT",
            help=f"address of {what} (sets {variable.name}; "
            f"default {variable.kind.write(variable.default)})",
        )


def environment(args: argparse.Namespace, env: Mapping[str, str]) -> dict[str, str]:
    """`env` with the variables the flags set."""
    chosen = dict(env)
    for flag, (variable, _) in FLAGS.items():
        value = getattr(args, flag.removeprefix("--").replace("-", "_"), None)
        if value:
            chosen[variable.name] = value
    return chosen


class PortTaken(ConfigurationError):
    """An address `identity dev` must listen on is not available (one line per address)."""


def _taken(flag: str, host: str, port: int, error: OSError) -> str:
    variable, what = FLAGS[flag]
    shown, other = (_address(host, port), _address(host, port + 1 if port < 65535 else port - 1))
    if error.errno == errno.EADDRINUSE:
        problem = f"{shown} ({what}) is in use by another program: stop it, or choose another"
    else:
        problem = f"cannot listen on {shown} ({what}): {error.strerror}; choose another"
    return f"{problem} address with {flag} {other} (or {variable.name}={other})"


def _address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _bind(host: str, port: int) -> socket.socket:
    """A socket bound as uvicorn and gRPC bind theirs (SO_REUSEADDR, no SO_REUSEPORT), so the
    bind fails exactly when theirs would."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


def _claim_addresses(env: Mapping[str, str], settings: Settings) -> socket.socket:
    """The edge's bound socket, kept for it; the gRPC address only tried (gRPC binds its own).
    Raises PortTaken naming every address that is not available."""
    problems: list[str] = []
    edge_host, edge_port = EDGE_LISTEN.value(env)
    edge: socket.socket | None = None
    try:
        edge = _bind(edge_host, edge_port)
    except OSError as error:
        problems.append(_taken("--edge-listen", edge_host, edge_port, error))
    with contextlib.suppress(ValueError):  # not host:port: gRPC itself will say what is wrong
        grpc_host, grpc_port = split_host_port(settings.grpc_listen)
        if grpc_port:
            try:
                _bind(grpc_host, grpc_port).close()
            except OSError as error:
                problems.append(_taken("--grpc-listen", grpc_host, grpc_port, error))
    if problems or edge is None:
        if edge is not None:
            edge.close()
        raise PortTaken("\n".join(problems))
    return edge


async def run(settings: Settings, data_dir: Path, env: Mapping[str, str]) -> None:
    """Serve until SIGINT/SIGTERM; `env` holds the EDGE_* variables (flags included)."""
    # The edge's server and app load here, so that other commands start without them.
    from edge_http.app import create_app
    from edge_http.config import EdgeSettings
    from edge_http.dev_inbox import DEV_INBOX_PATH
    from edge_http.identity_client import IdentityClient
    from edge_http.server import build_server

    EdgeSettings.from_env(env)  # refuse a bad EDGE_* variable before anything starts
    edge_socket = _claim_addresses(env, settings)
    # The port bound, which is the one asked for unless that was 0 (any free port).
    edge_address = _address(*edge_socket.getsockname()[:2])
    if ISSUER.text(env) is None:  # tokens name the demo's own origin, wherever it listens
        settings = dataclasses.replace(settings, issuer=f"http://{edge_address}")
    settings, inbox = await dev_mail(settings)
    app = IdentityApp(settings)
    try:
        port = await app.start()
    except RuntimeError:  # grpc.aio could not bind: another program took the port since
        edge_socket.close()
        await app.stop(grace=0)
        if inbox is not None:
            await inbox.stop()
        host, port = split_host_port(settings.grpc_listen)
        in_use = OSError(errno.EADDRINUSE, os.strerror(errno.EADDRINUSE))
        raise PortTaken(_taken("--grpc-listen", host, port, in_use)) from None
    secrets = await _dev_credentials(app, data_dir)
    grpc_host = settings.grpc_listen.rpartition(":")[0]
    if grpc_host in ("", "0.0.0.0", "[::]"):
        grpc_host = "127.0.0.1"
    edge_env = {
        **env,
        "EDGE_LISTEN": edge_address,
        "EDGE_IDENTITY_TARGET": f"{grpc_host}:{port}",
        "EDGE_IDENTITY_CREDENTIAL": secrets["edge"],
    }
    edge_env.setdefault("EDGE_ISSUER", settings.issuer)
    edge_env.setdefault("EDGE_AUDIENCE", settings.audience)
    edge_settings = EdgeSettings.from_env(edge_env)
    edge = build_server(
        edge_settings, create_app(edge_settings, IdentityClient(edge_settings), dev_inbox=inbox)
    )
    freeze_startup_objects()
    edge_task = asyncio.create_task(edge.serve(sockets=[edge_socket]))

    async def stop() -> None:
        edge.should_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await edge_task
        await app.stop(grace=2.0)
        if inbox is not None:
            await inbox.stop()

    # uvicorn sets `started` once its server accepts on the socket; only then is the URL true.
    while not edge.started and not edge_task.done():
        await asyncio.sleep(0.02)
    if not edge.started:
        await stop()
        raise ConfigurationError("the edge did not start (see the log above)")
    print(
        f"identity gRPC on {grpc_host}:{port}; credentials in {data_dir / dev_data.CREDENTIALS}",
        file=sys.stderr,
    )
    if inbox is not None:
        where = f"http://{edge_settings.listen}{DEV_INBOX_PATH}"
        print(f"mail to {inbox.url} is shown at {where}", file=sys.stderr)
    print(f"demo page: http://{edge_settings.listen}/", flush=True)
    await until_signal(stop, edge_task)


async def _dev_credentials(app: IdentityApp, data_dir: Path) -> dict[str, str]:
    """One credential per role, kept in the data folder; made again if the database was reset."""
    secrets = dev_data.read_credentials(data_dir)
    changed = False
    for role in dev_data.DEV_ROLES:
        if role in secrets and await app.callers.identify(secrets[role]) is not None:
            continue
        secrets[role] = await app.create_credential(role, f"dev-{role}-{os.urandom(3).hex()}")
        changed = True
    if changed:
        dev_data.write_credentials(data_dir, secrets)
    return secrets
