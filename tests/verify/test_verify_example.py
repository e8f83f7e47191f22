"""examples/protected_service.py answers 200, 401 or 503 as its docstring promises."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import httpx
import pytest

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
