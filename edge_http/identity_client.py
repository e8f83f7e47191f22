"""A thin async client of `identity.v1.IdentityService` for the edge.

Every call has a deadline and carries the edge's credential plus the end user's IP and user
agent as metadata. Nothing is retried: Login, Refresh and Logout are not idempotent, and a
second Refresh with the same token would count as reuse once the grace window is over. The
channels (EDGE_IDENTITY_CONNECTIONS, calls taking them in turn) are created on first use, inside
the event loop that serves requests. Answers come back
as the edge's own types (`identity_answers`); every auth operation's outcome is counted here.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import grpc
from google.protobuf.message import Message
from grpc import aio
from grpc_health.v1 import health_pb2

from edge_http.client_info import ClientContext
from edge_http.config import EdgeSettings
from edge_http.hash_admission import HashAdmission, ShedAtEdge
from edge_http.identity_answers import (
    AccessToken,
    Jwks,
    SecondFactorRequired,
    SecondFactorState,
    SessionInfo,
    Tokens,
    TotpConfirmed,
    TotpEnrollment,
    login_answer,
)
from edge_http.metrics import EdgeMetrics
from edge_http.problems import IdentityCallError
from identity.v1 import identity_pb2 as pb
from identity.wire import (
    HEALTH_CHECKED_ROUND_ROBIN,
    MD_AUTHORIZATION,
    MD_CLIENT_IP,
    MD_CLIENT_USER_AGENT,
    MD_ERROR_CODE,
    MD_RETRY_AFTER,
    MD_SERVICE_CREDENTIAL_REFUSED,
)

log = logging.getLogger(__name__)

_SERVICE = pb.DESCRIPTOR.services_by_name["IdentityService"].full_name
_HEALTH_CHECK = "/grpc.health.v1.Health/Check"
_CHANNEL_OPTIONS: list[tuple[str, Any]] = [
    ("grpc.enable_retries", 0),  # no transparent or configured retries, ever
    # Round-robin over the replicas whose health says SERVING: a draining one gets no new calls.
    ("grpc.service_config", HEALTH_CHECKED_ROUND_ROBIN),
    # Reconnect quickly after identity restarts; calls fail fast (503) while it is down.
    ("grpc.initial_reconnect_backoff_ms", 250),
    ("grpc.min_reconnect_backoff_ms", 250),
    ("grpc.max_reconnect_backoff_ms", 3000),
    ("grpc.max_receive_message_length", 1 << 20),
    # Each channel its own connections (grpc shares them between channels by default), so that
    # EDGE_IDENTITY_CONNECTIONS channels reach identity's worker processes apart.
    ("grpc.use_local_subchannel_pool", 1),
]
_MAX_RETRY_AFTER = 3600

Req = TypeVar("Req", bound=Message)
Resp = TypeVar("Resp", bound=Message)


def _trailing(error: aio.AioRpcError, key: str) -> str | None:
    for name, value in error.trailing_metadata() or ():
        if name == key:
            return value.decode("ascii", "replace") if isinstance(value, bytes) else value
    return None


def _retry_after(error: aio.AioRpcError) -> int | None:
    text = _trailing(error, MD_RETRY_AFTER)
    if text is None:
        return None
    try:
        return min(max(1, int(float(text))), _MAX_RETRY_AFTER)
    except ValueError:
        return 1


def _succeeded(answer: object) -> str:
    return "success"


def _registered(answer: pb.RegisterResponse) -> str:
    return "accepted" if answer.verification_required else "created"


def _signed_in(answer: pb.TokenResponse) -> str:
    return "second_factor_required" if answer.second_factor_required else "success"


def _rotated(answer: pb.TokenResponse) -> str:
    return "grace_replay" if answer.grace_replay else "rotated"


def channel_credentials(settings: EdgeSettings) -> grpc.ChannelCredentials | None:
    """TLS towards identity when a CA is configured; mutual TLS with a client certificate."""
    if not settings.identity_ca_file:
        return None
    key = Path(settings.identity_key_file).read_bytes() if settings.identity_key_file else None
    cert = Path(settings.identity_cert_file).read_bytes() if settings.identity_cert_file else None
    return grpc.ssl_channel_credentials(Path(settings.identity_ca_file).read_bytes(), key, cert)


class IdentityClient:
    """The edge's view of identity. Raises `IdentityCallError` for every failed call."""

    def __init__(self, settings: EdgeSettings, metrics: EdgeMetrics | None = None) -> None:
        self._settings = settings
        self._channels: list[aio.Channel] = []
        self._turn = 0
        self.metrics = metrics or EdgeMetrics()
        # Calls that make identity hash a password take a place here first (hash_admission.py).
        self.hashing = HashAdmission()

    def _open(self) -> aio.Channel:
        """The next READY channel in turn (else the next one). One channel would be one
        connection per identity address, and so one of its worker processes doing all of this
        edge's work. Skipping the channels not READY (still reconnecting after identity
        restarted, each on its own back-off) keeps a call from failing on one of them while
        another could take it: a call on a channel with no serving connection is never sent."""
        if not self._channels:
            target = self._settings.identity_target
            creds = channel_credentials(self._settings)
            for _ in range(self._settings.identity_connections):
                if creds is not None:
                    channel = aio.secure_channel(target, creds, _CHANNEL_OPTIONS)
                else:
                    channel = aio.insecure_channel(target, _CHANNEL_OPTIONS)
                self._channels.append(channel)
        count = len(self._channels)
        for _ in range(count):
            self._turn = (self._turn + 1) % count
            channel = self._channels[self._turn]
            if channel.get_state(try_to_connect=True) is grpc.ChannelConnectivity.READY:
                return channel
        return channel

    async def aclose(self) -> None:
        channels, self._channels = self._channels, []
        for channel in channels:
            await channel.close()

    def _metadata(self, client: ClientContext | None) -> list[tuple[str, str]]:
        metadata: list[tuple[str, str]] = []
        credential = self._settings.identity_credential
        if credential is not None:
            metadata.append((MD_AUTHORIZATION, f"Bearer {credential.reveal()}"))
        if client is not None:
            if client.ip:
                metadata.append((MD_CLIENT_IP, client.ip))
            if client.user_agent:
                metadata.append((MD_CLIENT_USER_AGENT, client.user_agent))
        return metadata

    async def _call(
        self, method: str, request: Req, response_type: type[Resp], client: ClientContext | None
    ) -> Resp:
        path = method if method.startswith("/") else f"/{_SERVICE}/{method}"
        multicallable = self._open().unary_unary(
            path,
            request_serializer=type(request).SerializeToString,
            response_deserializer=response_type.FromString,
        )
        started = time.perf_counter()
        code = "OK"
        try:
            return await multicallable(
                request,
                timeout=self._settings.grpc_deadline_seconds,
                metadata=self._metadata(client),
                wait_for_ready=False,
            )
        except aio.AioRpcError as error:
            status = error.code()
            code = status.name
            # identity flags a refused *edge* credential: never a verdict on the user's token.
            if (
                status == grpc.StatusCode.UNAUTHENTICATED
                and _trailing(error, MD_SERVICE_CREDENTIAL_REFUSED) is not None
            ):
                log.error("identity refused the edge's credential (EDGE_IDENTITY_CREDENTIAL)")
                code = "EDGE_CREDENTIAL_REFUSED"
                raise IdentityCallError(grpc.StatusCode.INTERNAL) from None
            if status not in (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.INVALID_ARGUMENT):
                log.warning("identity call failed", extra={"method": method, "grpc_status": code})
            raise IdentityCallError(
                status,
                error.details() or "",
                _retry_after(error),
                code=_trailing(error, MD_ERROR_CODE) or "",
            ) from None
        finally:
            self.metrics.identity_call(method, code, time.perf_counter() - started)

    async def _counted(
        self,
        operation: str,
        call: Awaitable[Resp],
        success: Callable[[Resp], str] = _succeeded,
    ) -> Resp:
        """Counts an auth operation (edge_auth_outcomes): its success label or the failed status."""
        try:
            answer = await call
        except IdentityCallError as error:
            self.metrics.outcome(operation, error.status.name.lower())
            raise
        self.metrics.outcome(operation, success(answer))
        return answer

    async def _hashing(
        self,
        operation: str,
        call: Callable[[], Awaitable[Resp]],
        success: Callable[[Resp], str],
    ) -> Resp:
        """A call that has identity hash a password (login, registration, a password change or
        reset, a change of address or a TOTP enrolment, which confirm the password), through
        the edge's admission: all of them share identity's hash queue, so all of them count in
        flight and teach the bound; while the queue is known to be full, refused here before any
        other work, and counted as `shed`."""
        try:
            with self.hashing.place():
                return await self._counted(operation, call(), success)
        except ShedAtEdge:
            self.metrics.outcome(operation, "shed")
            raise

    async def register(self, email: str, password: str, client: ClientContext) -> str | None:
        """The new user's id; None when registration waits for the address to be verified
        (IDENTITY_EMAIL_VERIFICATION=required), where a taken address answers alike."""
        request = pb.RegisterRequest(email=email, password=password)
        answer = await self._hashing(
            "register",
            lambda: self._call("Register", request, pb.RegisterResponse, client),
            _registered,
        )
        return None if answer.verification_required else answer.user_id

    async def request_password_reset(self, email: str, client: ClientContext) -> None:
        request = pb.RequestPasswordResetRequest(email=email)
        call = self._call("RequestPasswordReset", request, pb.RequestPasswordResetResponse, client)
        await self._counted("password_reset_request", call)

    async def reset_password(self, token: str, password: str, client: ClientContext) -> None:
        request = pb.ResetPasswordRequest(token=token, new_password=password)
        await self._hashing(
            "password_reset",
            lambda: self._call("ResetPassword", request, pb.ResetPasswordResponse, client),
            _succeeded,
        )

    async def verify_email(self, token: str, client: ClientContext) -> None:
        request = pb.VerifyEmailRequest(token=token)
        call = self._call("VerifyEmail", request, pb.VerifyEmailResponse, client)
        await self._counted("verify_email", call)

    async def resend_verification(self, access_token: str, client: ClientContext) -> None:
        request = pb.ResendVerificationRequest(access_token=access_token)
        call = self._call("ResendVerification", request, pb.ResendVerificationResponse, client)
        await self._counted("resend_verification", call)

    async def change_email(
        self, access_token: str, new_email: str, password: str, client: ClientContext
    ) -> None:
        request = pb.ChangeEmailRequest(
            access_token=access_token, new_email=new_email, password=password
        )
        await self._hashing(
            "change_email",
            lambda: self._call("ChangeEmail", request, pb.ChangeEmailResponse, client),
            _succeeded,
        )

    async def confirm_email_change(self, token: str, client: ClientContext) -> None:
        request = pb.ConfirmEmailChangeRequest(token=token)
        call = self._call("ConfirmEmailChange", request, pb.ConfirmEmailChangeResponse, client)
        await self._counted("confirm_email", call)

    async def login(
        self, email: str, password: str, client: ClientContext
    ) -> Tokens | SecondFactorRequired:
        request = pb.LoginRequest(email=email, password=password)
        answer = await self._hashing(
            "login", lambda: self._call("Login", request, pb.TokenResponse, client), _signed_in
        )
        return login_answer(answer)

    async def complete_login(self, mfa_ticket: str, code: str, client: ClientContext) -> Tokens:
        request = pb.CompleteLoginRequest(mfa_ticket=mfa_ticket, code=code)
        call = self._call("CompleteLogin", request, pb.TokenResponse, client)
        return Tokens.from_pb(await self._counted("login_second_factor", call))

    async def get_second_factor(
        self, access_token: str, client: ClientContext
    ) -> SecondFactorState:
        request = pb.GetSecondFactorRequest(access_token=access_token)
        answer = await self._call("GetSecondFactor", request, pb.SecondFactorState, client)
        return SecondFactorState.from_pb(answer)

    async def begin_totp_enrollment(
        self, access_token: str, password: str, client: ClientContext
    ) -> TotpEnrollment:
        request = pb.BeginTotpEnrollmentRequest(access_token=access_token, password=password)
        answer = await self._hashing(
            "totp_enroll",
            lambda: self._call(
                "BeginTotpEnrollment", request, pb.BeginTotpEnrollmentResponse, client
            ),
            _succeeded,
        )
        return TotpEnrollment(answer.secret, answer.otpauth_uri, answer.qr_svg)

    async def confirm_totp_enrollment(
        self, access_token: str, code: str, client: ClientContext
    ) -> TotpConfirmed:
        request = pb.ConfirmTotpEnrollmentRequest(access_token=access_token, code=code)
        call = self._call(
            "ConfirmTotpEnrollment", request, pb.ConfirmTotpEnrollmentResponse, client
        )
        answer = await self._counted("totp_confirm", call)
        token = AccessToken(answer.access_token, int(answer.expires_in))
        return TotpConfirmed(tuple(answer.recovery_codes), token)

    async def step_up(self, access_token: str, code: str, client: ClientContext) -> AccessToken:
        request = pb.StepUpRequest(access_token=access_token, code=code)
        call = self._call("StepUp", request, pb.StepUpResponse, client)
        answer = await self._counted("step_up", call)
        return AccessToken(answer.access_token, int(answer.expires_in))

    async def regenerate_recovery_codes(
        self, access_token: str, client: ClientContext
    ) -> tuple[str, ...]:
        request = pb.RegenerateRecoveryCodesRequest(access_token=access_token)
        call = self._call(
            "RegenerateRecoveryCodes", request, pb.RegenerateRecoveryCodesResponse, client
        )
        return tuple((await self._counted("recovery_codes", call)).recovery_codes)

    async def disable_totp(self, access_token: str, client: ClientContext) -> None:
        request = pb.DisableTotpRequest(access_token=access_token)
        call = self._call("DisableTotp", request, pb.DisableTotpResponse, client)
        await self._counted("totp_disable", call)

    async def refresh(self, refresh_token: str, client: ClientContext) -> Tokens:
        request = pb.RefreshRequest(refresh_token=refresh_token)
        call = self._call("Refresh", request, pb.TokenResponse, client)
        return Tokens.from_pb(await self._counted("refresh", call, _rotated))

    async def logout(
        self,
        client: ClientContext,
        *,
        refresh_token: str = "",
        access_token: str = "",
        everywhere: bool = False,
    ) -> None:
        request = pb.LogoutRequest(
            refresh_token=refresh_token, access_token=access_token, all=everywhere
        )
        call = self._call("Logout", request, pb.LogoutResponse, client)
        await self._counted("logout_all" if everywhere else "logout", call)

    async def get_jwks(self) -> Jwks:
        answer = await self._call("GetJwks", pb.GetJwksRequest(), pb.GetJwksResponse, None)
        return Jwks.from_pb(answer)

    async def list_my_sessions(self, access_token: str, client: ClientContext) -> list[SessionInfo]:
        request = pb.ListMySessionsRequest(access_token=access_token)
        answer = await self._call("ListMySessions", request, pb.ListSessionsResponse, client)
        return [SessionInfo.from_pb(session) for session in answer.sessions]

    async def revoke_my_session(
        self, access_token: str, session_id: str, client: ClientContext
    ) -> None:
        request = pb.RevokeMySessionRequest(access_token=access_token, session_id=session_id)
        call = self._call("RevokeMySession", request, pb.RevokeMySessionResponse, client)
        await self._counted("revoke_session", call)

    async def change_password(
        self, access_token: str, current: str, new: str, client: ClientContext
    ) -> int:
        request = pb.ChangePasswordRequest(
            access_token=access_token, current_password=current, new_password=new
        )
        answer = await self._hashing(
            "change_password",
            lambda: self._call("ChangePassword", request, pb.ChangePasswordResponse, client),
            _succeeded,
        )
        return answer.revoked_sessions

    async def is_ready(self) -> bool:
        """Identity answers: the standard health check, or GetJwks where health is missing."""
        request = health_pb2.HealthCheckRequest(service="")
        try:
            answer = await self._call(_HEALTH_CHECK, request, health_pb2.HealthCheckResponse, None)
            return bool(answer.status == health_pb2.HealthCheckResponse.SERVING)
        except IdentityCallError as error:
            if error.status != grpc.StatusCode.UNIMPLEMENTED:
                return False
        try:
            await self.get_jwks()
        except IdentityCallError:
            return False
        return True
