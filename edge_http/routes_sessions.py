"""Self-service session list and revoke (Bearer access token)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from edge_http.body import bearer_token
from edge_http.csrf import check_origin
from edge_http.deps import RouteGroup
from edge_http.identity_answers import SessionInfo
from edge_http.problems import NOT_FOUND, Problem
from edge_http.wire import NO_STORE_HEADERS

_SESSION_ID = re.compile(r"[A-Za-z0-9_-]{1,128}")


def _time(moment: datetime | None) -> str | None:
    return None if moment is None else moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def session_json(session: SessionInfo, now: datetime) -> dict[str, Any]:
    """One session for the browser. User agent and IP are data: the page renders them as text."""
    expired = session.expires_at is not None and session.expires_at <= now
    return {
        "session_id": session.session_id,
        "created_at": _time(session.created_at),
        "last_used_at": _time(session.last_used_at),
        "expires_at": _time(session.expires_at),
        "revoked_at": _time(session.revoked_at),
        "revoked_reason": session.revoked_reason or None,
        "status_text": session.status_text,
        "client_ip": session.client_ip,
        "user_agent": session.user_agent,
        "client_id": session.client_id,
        "current": session.current,
        "active": session.revoked_at is None and not expired,
    }


class SessionRoutes(RouteGroup):
    def routes(self) -> list[BaseRoute]:
        return [
            Route("/auth/sessions", self.list_sessions, methods=["GET"]),
            Route("/auth/sessions/{session_id}", self.revoke_session, methods=["DELETE"]),
        ]

    async def list_sessions(self, request: Request) -> Response:
        access_token = bearer_token(request)
        sessions = await self._deps.identity.list_my_sessions(
            access_token, self._deps.client(request)
        )
        now = datetime.now(UTC)
        body = {"sessions": [session_json(s, now) for s in sessions]}
        return JSONResponse(body, headers=NO_STORE_HEADERS)

    async def revoke_session(self, request: Request) -> Response:
        check_origin(request, self._deps.settings.allowed_origins)
        access_token = bearer_token(request)
        session_id = request.path_params["session_id"]
        if not isinstance(session_id, str) or _SESSION_ID.fullmatch(session_id) is None:
            raise Problem.of(NOT_FOUND)
        await self._deps.identity.revoke_my_session(
            access_token, session_id, self._deps.client(request)
        )
        return Response(status_code=204)
