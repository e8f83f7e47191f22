"""The floor of any edge on this stack: what `POST /auth/refresh` costs with nothing of ours.

    python -m bench.edge_floor        (settings: the edge's own EDGE_* variables)

One raw ASGI function on uvicorn (httptools, uvloop: the edge's server and loop) that reads the
refresh cookie, makes the one gRPC `Refresh` call the edge makes (same metadata, same deadline)
and answers the new cookie and the JSON token answer. No Starlette, no middleware, no CSRF or
origin check, no metrics, no limits, no error handling: never serve it. bench.edge_servers runs
it beside the real edge, against the same identity and load, so the edge's CPU per refresh can
be read as this floor plus what the edge itself adds.
"""

from __future__ import annotations

import os
import re
from typing import Any

import grpc.aio
import orjson
import uvicorn

from edge_http.config import EdgeSettings
from identity import runtime
from identity.v1 import identity_pb2 as pb
from identity.wire import MD_AUTHORIZATION, MD_CLIENT_IP, MD_CLIENT_USER_AGENT

_COOKIE = re.compile(rb"__Secure-refresh_token=([^;]*)")
_REFRESH = "/identity.v1.IdentityService/Refresh"

Scope = dict[str, Any]


def floor_app(settings: EdgeSettings) -> Any:
    credential = settings.identity_credential
    authorization = f"Bearer {credential.reveal() if credential else ''}"
    calls: dict[str, Any] = {}

    async def app(scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                channel = grpc.aio.insecure_channel(settings.identity_target)
                calls["refresh"] = channel.unary_unary(
                    _REFRESH,
                    request_serializer=pb.RefreshRequest.SerializeToString,
                    response_deserializer=pb.TokenResponse.FromString,
                )
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        await receive()
        if scope["path"] != "/auth/refresh":  # /healthz, for the harness's readiness check
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"ok"})
            return
        headers = dict(scope["headers"])
        found = _COOKIE.search(headers.get(b"cookie", b""))
        token = found.group(1).decode() if found else ""
        metadata = (
            (MD_AUTHORIZATION, authorization),
            (MD_CLIENT_IP, scope["client"][0]),
            (MD_CLIENT_USER_AGENT, headers.get(b"user-agent", b"").decode()),
        )
        answer = await calls["refresh"](
            pb.RefreshRequest(refresh_token=token),
            timeout=settings.grpc_deadline_seconds,
            metadata=metadata,
        )
        cookie = f"__Secure-refresh_token={answer.refresh_token}; HttpOnly; Secure; Path=/auth"
        body = {"access_token": answer.access_token, "expires_in": answer.expires_in}
        headers = [(b"content-type", b"application/json"), (b"set-cookie", cookie.encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": orjson.dumps(body)})

    return app


def main() -> None:
    settings = EdgeSettings.from_env(os.environ)
    config = uvicorn.Config(
        floor_app(settings),
        host=settings.listen_host,
        port=settings.listen_port,
        http="httptools",
        lifespan="on",
        access_log=False,
        log_config=None,
    )
    runtime.run(uvicorn.Server(config).serve())


if __name__ == "__main__":
    main()
