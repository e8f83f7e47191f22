"""Domain values to protobuf messages."""

from __future__ import annotations

from datetime import datetime

from google.protobuf.timestamp_pb2 import Timestamp

from identity.domain.sessions import SessionView
from identity.ports import RevocationEvent
from identity.services.introspection import TokenInfo
from identity.services.revocation_stream import HEARTBEAT
from identity.services.tokens import IssuedTokens, SecondFactorChallenge
from identity.v1 import identity_pb2 as pb


def timestamp(when: datetime | None) -> Timestamp | None:
    if when is None:
        return None
    stamp = Timestamp()
    stamp.FromDatetime(when)
    return stamp


def login_response(answer: IssuedTokens | SecondFactorChallenge) -> pb.TokenResponse:
    if isinstance(answer, IssuedTokens):
        return token_response(answer)
    return pb.TokenResponse(
        second_factor_required=True,
        mfa_ticket=answer.ticket,
        mfa_ticket_expires_in=answer.expires_in,
    )


def token_response(issued: IssuedTokens) -> pb.TokenResponse:
    return pb.TokenResponse(
        access_token=issued.access.token,
        token_type="Bearer",
        expires_in=issued.access.expires_in,
        refresh_token=issued.refresh_token,
        refresh_expires_in=issued.refresh_expires_in,
        session_id=issued.session_id,
        user_id=issued.user_id,
        grace_replay=issued.grace_replay,
    )


def session(view: SessionView, now: datetime, current_sid: str | None = None) -> pb.Session:
    return pb.Session(
        session_id=view.session_id,
        user_id=view.user_id,
        created_at=timestamp(view.created_at),
        last_used_at=timestamp(view.last_used_at),
        expires_at=timestamp(view.expires_at),
        client_ip=view.client_ip,
        user_agent=view.user_agent,
        client_id=view.client_id,
        revoked_at=timestamp(view.revoked_at),
        revoked_reason=view.revoked_reason or "",
        status_text=view.status_text(now),
        current=view.session_id == current_sid,
    )


def introspection(info: TokenInfo) -> pb.IntrospectResponse:
    """Only the members that are set: an inactive token leaves every optional field unset."""
    if not info.active:
        return pb.IntrospectResponse(active=False)
    members = {
        name: getattr(info, name)
        for name in ("scope", "client_id", "token_type", "exp", "iat", "nbf")
        + ("sub", "aud", "iss", "jti", "sid", "email_verified", "acr", "auth_time")
    }
    return pb.IntrospectResponse(
        active=True, amr=info.amr, **{k: v for k, v in members.items() if v is not None}
    )


def revocation_event(event: RevocationEvent) -> pb.RevocationEvent:
    if event.kind == HEARTBEAT:
        return pb.RevocationEvent(cursor=0, kind=HEARTBEAT)
    return pb.RevocationEvent(
        cursor=event.cursor,
        kind=event.kind,
        session_id=event.session_id or "",
        user_id=event.user_id or "",
        jti=event.jti or "",
        not_before=timestamp(event.not_before),
        revoked_at=timestamp(event.at),
        forget_after=timestamp(event.forget_after),
        reason=event.reason,
    )
