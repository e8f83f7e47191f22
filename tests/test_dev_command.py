"""The README's first command as a newcomer meets it, from a clean clone: a taken port is named
with the way around it and no URL is printed; chosen ports serve the demo as soon as its URL is
printed; the data folder is the owner's alone, also when it existed before with looser modes."""

from __future__ import annotations

import contextlib
import socket
import stat
import subprocess
from collections.abc import Iterator

import grpc
import httpx
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from identity.config_schema import split_host_port
from identity.dev_server import FLAGS
from tests.clean_clone import clean_clone, dev_command, free_port, reader_environment, running_dev
from tests.conftest import PASSWORD

EDGE_DEFAULT = FLAGS["--edge-listen"][0].default
GRPC_DEFAULT = split_host_port(FLAGS["--grpc-listen"][0].default)


@contextlib.contextmanager
def taken(host: str, port: int) -> Iterator[None]:
    """The address held by another listener: ours, or whoever already holds it."""
    holder = socket.socket()
    try:
        holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            holder.bind((host, port))
            holder.listen()
        except OSError:
            probe = socket.socket()
            with contextlib.closing(probe):
                assert probe.connect_ex((host, port)) == 0, f"{host}:{port} is not listening"
        yield
    finally:
        holder.close()


def test_taken_default_ports_are_named_and_no_url_is_printed(tmp_path):
    clone = clean_clone(tmp_path / "clone")
    edge_host, edge_port = EDGE_DEFAULT
    grpc_host, grpc_port = GRPC_DEFAULT
    with taken(edge_host, edge_port), taken(grpc_host, grpc_port):
        result = subprocess.run(
            dev_command(),
            cwd=clone,
            env=reader_environment(),
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 2, result.stderr
    assert result.stdout == ""
    assert "http://" not in result.stderr and "demo page:" not in result.stderr
    assert result.stderr.splitlines() == [
        f"identity: {edge_host}:{edge_port} (the edge and its demo page) is in use by another "
        f"program: stop it, or choose another address with --edge-listen "
        f"{edge_host}:{edge_port + 1} (or EDGE_LISTEN={edge_host}:{edge_port + 1})",
        f"identity: {grpc_host}:{grpc_port} (identity's gRPC API) is in use by another "
        f"program: stop it, or choose another address with --grpc-listen "
        f"{grpc_host}:{grpc_port + 1} (or IDENTITY_GRPC_LISTEN={grpc_host}:{grpc_port + 1})",
    ]


def test_help_shows_the_address_flags_with_their_variables():
    result = subprocess.run(
        [*dev_command(), "--help"], env=reader_environment(), capture_output=True, text=True
    )
    text = " ".join(result.stdout.split())
    assert "--edge-listen HOST:PORT address of the edge and its demo page" in text
    assert "--grpc-listen HOST:PORT address of identity's gRPC API" in text
    assert "(sets EDGE_LISTEN; default 127.0.0.1:8080)" in text
    assert "(sets IDENTITY_GRPC_LISTEN; default 127.0.0.1:50051)" in text


def test_chosen_ports_serve_the_demo_and_the_data_folder_is_private(tmp_path):
    """The folder exists beforehand, 0755, as `mkdir` in a umask-022 shell leaves it: identity
    dev makes it 0700, and every file it writes there 0600 (the SQLite database and its -wal and
    -shm files included, checked after a sign-up has written to them)."""
    clone = clean_clone(tmp_path / "clone")
    data = clone / ".identity-dev"
    data.mkdir()
    data.chmod(0o755)
    edge_port, grpc_port = free_port(), free_port()
    flags = ("--edge-listen", f"127.0.0.1:{edge_port}", "--grpc-listen", f"127.0.0.1:{grpc_port}")
    with running_dev(clone, *flags) as dev:
        assert dev.url == f"http://127.0.0.1:{edge_port}/"
        page = httpx.get(dev.url, timeout=5)  # at once: the URL is printed once it answers
        assert page.status_code == 200 and "/app.js" in page.text
        with grpc.insecure_channel(f"127.0.0.1:{grpc_port}") as channel:
            health = health_pb2_grpc.HealthStub(channel)
            answer = health.Check(health_pb2.HealthCheckRequest(), timeout=5)
            assert answer.status == health_pb2.HealthCheckResponse.SERVING
        body = {"email": "newcomer@example.com", "password": PASSWORD}
        assert httpx.post(dev.url + "auth/register", json=body, timeout=10).status_code == 201
        assert httpx.post(dev.url + "auth/login", json=body, timeout=10).status_code == 200

        assert stat.S_IMODE(data.stat().st_mode) == 0o700
        modes = {entry.name: stat.S_IMODE(entry.stat().st_mode) for entry in data.iterdir()}
        expected = {"identity.db", "identity.db-wal", "identity.db-shm", "master.key"}
        assert expected | {"credentials.json"} <= set(modes), modes
        assert modes == dict.fromkeys(modes, 0o600)


@pytest.mark.parametrize("leftover", ["identity.db", "master.key"])
def test_loose_files_left_in_the_data_folder_are_made_private(tmp_path, leftover):
    """A data folder from an older version, with a world-readable database or key: the next
    `identity dev` command that opens it (here `keys list`) makes every file 0600."""
    clone = clean_clone(tmp_path / "clone")
    data = clone / ".identity-dev"
    data.mkdir()
    data.chmod(0o755)
    identity = [dev_command()[0], "keys", "list", "--data-dir", ".identity-dev"]
    first = subprocess.run(identity, cwd=clone, env=reader_environment(), capture_output=True)
    assert first.returncode == 0, first.stderr
    (data / leftover).chmod(0o644)
    data.chmod(0o755)
    again = subprocess.run(identity, cwd=clone, env=reader_environment(), capture_output=True)
    assert again.returncode == 0, again.stderr
    assert stat.S_IMODE(data.stat().st_mode) == 0o700
    assert {e.name: stat.S_IMODE(e.stat().st_mode) for e in data.iterdir()} == {
        e.name: 0o600 for e in data.iterdir()
    }
