"""The command line as operators run it: real processes, real signals."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from tests.conftest import TEST_MASTER_KEY


def _env(tmp_path, **extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("IDENTITY_", "EDGE_"))}
    env.update(
        IDENTITY_DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}",
        IDENTITY_MASTER_KEY=TEST_MASTER_KEY,
        **extra,
    )
    return env


def _identity(*args, env, **kwargs):
    return subprocess.run(
        [sys.executable, "-m", "identity.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        **kwargs,
    )


def _spawn(command: str, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "identity.cli", command],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_credentials_create_prints_the_secret_alone_once(tmp_path):
    env = _env(tmp_path)
    assert _identity("migrate", env=env).returncode == 0
    made = _identity("credentials", "create", "--role", "edge", "--name", "web-edge", env=env)
    assert made.returncode == 0, made.stderr
    assert re.fullmatch(r"idsk_[A-Za-z0-9_-]{43}\n", made.stdout)
    assert made.stdout.strip() not in made.stderr
    again = _identity("credentials", "create", "--role", "edge", "--name", "web-edge", env=env)
    assert again.returncode == 2 and "already exists" in again.stderr and again.stdout == ""


def test_serve_refuses_to_start_without_a_master_key(tmp_path):
    env = _env(tmp_path)
    del env["IDENTITY_MASTER_KEY"]
    result = _identity("serve", env=env)
    assert result.returncode == 2
    assert "IDENTITY_MASTER_KEY: required in production" in result.stderr


def test_serve_refuses_plaintext_on_a_public_address(tmp_path):
    result = _identity("serve", env=_env(tmp_path, IDENTITY_GRPC_LISTEN="0.0.0.0:50999"))
    assert result.returncode == 2
    assert "plaintext gRPC binds to loopback only" in result.stderr


def test_serve_refuses_a_schema_below_head(tmp_path):
    result = _identity("serve", env=_env(tmp_path))
    assert result.returncode == 2 and "identity migrate" in result.stderr


def test_a_wrong_master_key_is_a_clear_startup_error(tmp_path):
    env = _env(tmp_path, IDENTITY_MIGRATE="true")
    assert _identity("keys", "list", env=env).returncode == 0  # makes the first key
    env["IDENTITY_MASTER_KEY"] = "B" * 43 + "="
    result = _identity("keys", "list", env=env)
    assert result.returncode == 2
    assert "does not decrypt the stored keys" in result.stderr


@contextlib.contextmanager
def _serving(tmp_path) -> Iterator[tuple[subprocess.Popen[str], grpc.Channel]]:
    """`identity serve` on a new SQLite database and a free port, once health answers SERVING;
    killed afterwards if the test left it running."""
    port = _free_port()
    env = _env(tmp_path, IDENTITY_MIGRATE="true", IDENTITY_GRPC_LISTEN=f"127.0.0.1:{port}")
    proc = _spawn("serve", env)
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    try:
        health = health_pb2_grpc.HealthStub(channel)
        deadline = time.monotonic() + 30
        while True:
            try:
                status = health.Check(health_pb2.HealthCheckRequest(), timeout=1).status
                break
            except grpc.RpcError:
                assert time.monotonic() < deadline, (
                    proc.stderr.read() if proc.poll() is not None else "no start"
                )
                time.sleep(0.2)
        assert status == health_pb2.HealthCheckResponse.SERVING
        yield proc, channel
    finally:
        channel.close()
        if proc.poll() is None:
            proc.kill()
        proc.communicate()


def test_sigterm_drains_and_exits_cleanly(tmp_path):
    with _serving(tmp_path) as (proc, _):
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0


def test_sigterm_the_moment_the_port_accepts_still_stops_cleanly(tmp_path):
    """The signal handlers are in place before the port opens: a deploy that stops identity just
    as it came up gets a clean exit, not a process killed mid start-up."""
    port = _free_port()
    env = _env(tmp_path, IDENTITY_MIGRATE="true", IDENTITY_GRPC_LISTEN=f"127.0.0.1:{port}")
    proc = _spawn("serve", env)
    try:
        deadline = time.monotonic() + 30
        while True:
            assert proc.poll() is None and time.monotonic() < deadline
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.001)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()


def test_identity_dev_serves_the_demo_keeps_its_secrets_private_and_stops_on_ctrl_c(tmp_path):
    """The README's first command, as a newcomer runs it: the demo page and readiness answer,
    the dev master key and credentials are files only their owner can read (SL-02), and
    Ctrl-C (SIGINT) stops both servers with exit code 0 (AV-05)."""
    import httpx

    data = tmp_path / "data"
    http_port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("IDENTITY_", "EDGE_"))}
    env.update(
        IDENTITY_DATA_DIR=str(data),
        IDENTITY_GRPC_LISTEN=f"127.0.0.1:{_free_port()}",
        EDGE_LISTEN=f"127.0.0.1:{http_port}",
    )
    proc = _spawn("dev", env)
    try:
        base = f"http://127.0.0.1:{http_port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                page = httpx.get(base + "/", timeout=2)
                if page.status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert proc.poll() is None, proc.communicate()[1][-2000:]
            assert time.monotonic() < deadline, "identity dev did not serve the demo page"
            time.sleep(0.2)
        assert "/app.js" in page.text  # the demo, which imports auth-client.js
        assert httpx.get(base + "/readyz", timeout=2).status_code == 200
        assert httpx.get(base + "/auth-client.js", timeout=2).status_code == 200

        assert data.stat().st_mode & 0o777 == 0o700
        for name in ("master.key", "credentials.json"):
            assert (data / name).stat().st_mode & 0o777 == 0o600, name

        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=20) == 0
        out, err = proc.communicate()
        assert f"demo page: {base}/" in out
        assert "Traceback" not in err
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


def test_a_fresh_production_start_has_no_user_and_no_credential(tmp_path):
    """Checklist CR-15: `identity serve` on a new database creates its schema and a signing key
    and nothing else: no user, no service credential (they come from `identity credentials
    create`), so no call but the public ones can succeed."""
    import sqlite3

    with _serving(tmp_path) as (_, channel):
        register = channel.unary_unary("/identity.v1.IdentityService/Register")
        try:
            register(b"", metadata=(("authorization", "Bearer idsk_guess"),), timeout=5)
            code = grpc.StatusCode.OK
        except grpc.RpcError as error:
            code = error.code()
        assert code == grpc.StatusCode.UNAUTHENTICATED
        with sqlite3.connect(tmp_path / "cli.db") as db:
            counts = {
                table: db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
                for table in ("users", "service_credentials", "sessions", "signing_keys")
            }
    assert counts == {"users": 0, "service_credentials": 0, "sessions": 0, "signing_keys": 1}
