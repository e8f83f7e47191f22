"""Valid access tokens are accepted, by HTTP and by gRPC JWKS sources, sync and async."""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent import futures

import grpc
import pytest

from identity.v1 import identity_pb2 as pb
from identity.v1 import identity_pb2_grpc as pb_grpc
from identity.verify import GrpcJwksSource, JwksUnavailable

ALGS = ["ES256", "EdDSA", "RS256"]


@pytest.mark.parametrize("alg", ALGS)
def test_valid_token_is_accepted(verifier, keys, tokens, alg):
    claims = tokens.claims(scope="orders:read orders:write")
    result = verifier.verify(tokens.sign(keys[alg], claims))
    assert dict(result) == claims


@pytest.mark.parametrize("alg", ALGS)
async def test_valid_token_is_accepted_from_an_event_loop(verifier, keys, tokens, alg):
    claims = tokens.claims()
    assert dict(await verifier.averify(tokens.sign(keys[alg], claims))) == claims


def test_claims_are_read_only(verifier, keys, tokens):
    result = verifier.verify(tokens.sign(keys["ES256"]))
    with pytest.raises(TypeError):
        result["sub"] = "admin"


@pytest.mark.parametrize("typ", ["at+jwt", "AT+JWT", "application/at+jwt"])
def test_access_token_types_are_case_insensitive(verifier, keys, tokens, typ):
    assert verifier.verify(tokens.sign(keys["ES256"], typ=typ))["sub"] == "user-1"


def test_audience_list_containing_ours_is_accepted(verifier, keys, tokens):
    token = tokens.sign(keys["EdDSA"], tokens.claims(aud=["billing", "api"]))
    assert verifier.verify(token)["aud"] == ["billing", "api"]


def test_missing_nbf_defaults_to_iat(verifier, keys, tokens):
    claims = tokens.claims()
    del claims["nbf"]
    assert verifier.verify(tokens.sign(keys["ES256"], claims))["jti"] == claims["jti"]


class _Jwks(pb_grpc.IdentityServiceServicer):
    """A stand-in identity service answering GetJwks only."""

    def __init__(self, document: dict[str, object]) -> None:
        self.document = document
        self.calls = 0

    def GetJwks(self, request, context):  # noqa: N802 (gRPC method name)
        self.calls += 1
        return pb.GetJwksResponse(
            jwks_json=json.dumps(self.document), max_age_seconds=300, etag='"v1"'
        )


@pytest.fixture
def grpc_jwks(keys) -> Iterator[tuple[str, _Jwks]]:
    servicer = _Jwks({"keys": [key.jwk for key in keys.values()]})
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    pb_grpc.add_IdentityServiceServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    yield f"127.0.0.1:{port}", servicer
    server.stop(None).wait()


@pytest.mark.parametrize("alg", ALGS)
def test_grpc_source_feeds_the_verifier(make_verifier, grpc_jwks, keys, tokens, alg):
    target, servicer = grpc_jwks
    verifier = make_verifier(jwks_source=GrpcJwksSource(target))
    for _ in range(3):
        assert verifier.verify(tokens.sign(keys[alg]))["sub"] == "user-1"
    assert servicer.calls == 1


async def test_grpc_source_feeds_the_async_verifier(make_verifier, grpc_jwks, keys, tokens):
    target, servicer = grpc_jwks
    verifier = make_verifier(jwks_source=GrpcJwksSource(target))
    for alg in ALGS:
        assert (await verifier.averify(tokens.sign(keys[alg])))["sub"] == "user-1"
    assert servicer.calls == 1


def test_unreachable_grpc_source_fails_closed(make_verifier, keys, tokens):
    verifier = make_verifier(jwks_source=GrpcJwksSource("127.0.0.1:1", timeout=0.5))
    with pytest.raises(JwksUnavailable):
        verifier.verify(tokens.sign(keys["ES256"]))


async def test_unreachable_http_source_fails_closed_from_an_event_loop(make_verifier, keys, tokens):
    verifier = make_verifier(jwks_url="http://127.0.0.1:1/jwks.json")
    with pytest.raises(JwksUnavailable):
        await verifier.averify(tokens.sign(keys["ES256"]))
