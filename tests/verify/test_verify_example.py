"""examples/protected_service.py answers 200, 401 or 503 as its docstring promises."""

from __future__ import annotations

import importlib.util
import itertools
import json
import os
import signal
import subprocess
import textwrap
import time
from pathlib import Path

import httpx
import pytest

from tests.clean_clone import clean_clone, free_port, reader_environment, running_dev

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "protected_service.py"


@pytest.fixture(scope="module")
def example():
    spec = importlib.util.spec_from_file_location("protected_service_example", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _client(app) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://example")


async def test_orders_need_a_valid_access_token(example, make_verifier, keys, tokens):
    async with _client(example.create_app(make_verifier())) as client:
        missing = await client.get("/orders")
        assert missing.status_code == 401
        assert missing.headers["www-authenticate"] == "Bearer"
        forged = await client.get("/orders", headers={"authorization": "Bearer a.b.c"})
        assert forged.status_code == 401
        assert forged.headers["www-authenticate"] == 'Bearer error="invalid_token"'
        token = tokens.sign(keys["ES256"])
        ok = await client.get("/orders", headers={"authorization": f"Bearer {token}"})
        assert ok.status_code == 200
        assert ok.json() == {"user_id": "user-1", "orders": []}


async def test_orders_answer_503_while_no_keys_could_be_fetched(
    example, make_verifier, keys, tokens
):
    verifier = make_verifier(jwks_url="http://127.0.0.1:1/jwks.json")
    async with _client(example.create_app(verifier)) as client:
        token = tokens.sign(keys["ES256"])
        response = await client.get("/orders", headers={"authorization": f"Bearer {token}"})
        assert response.status_code == 503


def test_the_example_builds_a_verifier_from_the_environment(example):
    http = example.verifier_from_env({"ISSUER": "https://id.example", "AUDIENCE": "orders"})
    assert http.policy.issuer == "https://id.example"
    assert http.policy.audience == "orders"
    grpc = example.verifier_from_env({"IDENTITY_GRPC_TARGET": "127.0.0.1:50051"})
    assert grpc.policy.audience == "api"


def test_the_docstring_commands_work_against_identity_dev(tmp_path):
    """The docstring's shell lines, run as written from a clean clone while `identity dev` runs
    (on free ports instead of 8080 and 9000): the access token from the edge's login opens
    /orders."""
    docstring = EXAMPLE.read_text().split('"""')[1].replace("\\\\", "\\")
    blocks = [
        textwrap.dedent("\n".join(lines))
        for indented, lines in itertools.groupby(
            docstring.splitlines(), key=lambda line: line.startswith("    ")
        )
        if indented
    ]
    start, call = blocks
    clone = clean_clone(tmp_path / "clone")
    edge, service = f"127.0.0.1:{free_port()}", free_port()
    with running_dev(clone, "--edge-listen", edge, "--grpc-listen", f"127.0.0.1:{free_port()}"):

        def as_here(block: str) -> str:
            return block.replace("127.0.0.1:8080", edge).replace("9000", str(service))

        server = subprocess.Popen(
            ["bash", "-c", as_here(start)],
            cwd=clone,
            env=reader_environment(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,  # bash and uvicorn in a group of their own, stopped together
        )
        try:
            deadline = time.monotonic() + 30
            while httpx_status(f"http://127.0.0.1:{service}/orders") != 401:
                assert server.poll() is None and time.monotonic() < deadline
                time.sleep(0.2)
            result = subprocess.run(
                ["bash", "-c", "set -euo pipefail\n" + as_here(call)],
                cwd=clone,
                env=reader_environment(),
                capture_output=True,
                text=True,
                timeout=60,
            )
        finally:
            os.killpg(server.pid, signal.SIGTERM)
            server.communicate(timeout=10)
    assert result.returncode == 0, result.stderr
    # curl prints the answers without newlines: the registration's, then the service's.
    registered, end = json.JSONDecoder().raw_decode(result.stdout)
    orders = json.loads(result.stdout[end:])
    assert orders == {"user_id": registered["user_id"], "orders": []}


def httpx_status(url: str) -> int:
    try:
        return httpx.get(url, timeout=2).status_code
    except httpx.TransportError:
        return 0
