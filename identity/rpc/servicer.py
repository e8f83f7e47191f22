"""identity.v1.IdentityService: each method decodes, calls one use case, encodes."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc

from identity.domain.clock import Clock
from identity.domain.errors import InvalidArgument
from identity.rpc import convert
from identity.rpc.auth import client_info, current_caller
from identity.rpc.errors import Context, grpc_errors
from identity.services.accounts import Accounts
from identity.services.introspection import Introspection
from identity.services.keyring import KeyRing
from identity.services.recovery import PasswordRecovery
from identity.services.refresh import RefreshRotation
from identity.services.revocation_stream import RevocationStream
from identity.services.second_factor_enrolment import SecondFactorEnrolment
from identity.services.second_factor_login import SecondFactorLogin
from identity.services.sessions import Sessions
from identity.services.verification import EmailVerification
from identity.v1 import identity_pb2 as pb
from identity.v1 import identity_pb2_grpc

MAX_ID_LENGTH = 64


class IdentityServicer(identity_pb2_grpc.IdentityServiceServicer):
    def __init__(
        self,
        accounts: Accounts,
        refresh_rotation: RefreshRotation,
        sessions: Sessions,
        keyring: KeyRing,
        clock: Clock,
        introspection: Introspection,
        revocation_stream: RevocationStream,
        recovery: PasswordRecovery,
        verification: EmailVerification,
        second_factor_login: SecondFactorLogin,
        enrolment: SecondFactorEnrolment,
    ) -> None:
        self._second_factor_login = second_factor_login
        self._enrolment = enrolment
        self._recovery = recovery
        self._verification = verification
        self._accounts = accounts
        self._refresh_rotation = refresh_rotation
        self._sessions = sessions
        self._keyring = keyring
        self._clock = clock
        self._introspection = introspection
        self._revocation_stream = revocation_stream

    async def Register(self, request: pb.RegisterRequest, context: Context) -> pb.RegisterResponse:
        async with grpc_errors(context):
            user_id = await self._accounts.register(
                request.email, request.password, client_info(context)
            )
        return pb.RegisterResponse(user_id=user_id or "", verification_required=user_id is None)

    async def Login(self, request: pb.LoginRequest, context: Context) -> pb.TokenResponse:
        async with grpc_errors(context):
            issued = await self._accounts.login(
                request.email, request.password, request.client_id, client_info(context)
            )
        return convert.login_response(issued)

    async def Refresh(self, request: pb.RefreshRequest, context: Context) -> pb.TokenResponse:
        async with grpc_errors(context):
            issued = await self._refresh_rotation.refresh(
                request.refresh_token, client_info(context)
            )
        return convert.token_response(issued)

    async def Logout(self, request: pb.LogoutRequest, context: Context) -> pb.LogoutResponse:
        async with grpc_errors(context):
            await self._sessions.logout(request.refresh_token, request.access_token, request.all)
        return pb.LogoutResponse()

    async def GetJwks(self, request: pb.GetJwksRequest, context: Context) -> pb.GetJwksResponse:
        jwks = self._keyring.jwks
        return pb.GetJwksResponse(jwks_json=jwks.json, max_age_seconds=jwks.max_age, etag=jwks.etag)

    async def ListMySessions(
        self, request: pb.ListMySessionsRequest, context: Context
    ) -> pb.ListSessionsResponse:
        async with grpc_errors(context):
            claims, views = await self._sessions.list_mine(request.access_token)
        now = self._clock.now()
        return pb.ListSessionsResponse(
            sessions=[convert.session(v, now, claims.sid) for v in views]
        )

    async def RevokeMySession(
        self, request: pb.RevokeMySessionRequest, context: Context
    ) -> pb.RevokeMySessionResponse:
        async with grpc_errors(context):
            if not request.session_id or len(request.session_id) > MAX_ID_LENGTH:
                raise InvalidArgument("session_id: required, at most 64 characters")
            await self._sessions.revoke_mine(request.access_token, request.session_id)
        return pb.RevokeMySessionResponse()

    async def ChangePassword(
        self, request: pb.ChangePasswordRequest, context: Context
    ) -> pb.ChangePasswordResponse:
        async with grpc_errors(context):
            revoked = await self._accounts.change_password(
                request.access_token,
                request.current_password,
                request.new_password,
                client_info(context),
            )
        return pb.ChangePasswordResponse(revoked_sessions=revoked)

    async def Introspect(
        self, request: pb.IntrospectRequest, context: Context
    ) -> pb.IntrospectResponse:
        async with grpc_errors(context):
            caller = current_caller()
            info = self._introspection.introspect(
                request.token, request.token_type_hint, caller.name if caller else ""
            )
        return convert.introspection(info)

    async def RequestPasswordReset(
        self, request: pb.RequestPasswordResetRequest, context: Context
    ) -> pb.RequestPasswordResetResponse:
        async with grpc_errors(context):
            await self._recovery.request_reset(request.email, client_info(context))
        return pb.RequestPasswordResetResponse()

    async def ResetPassword(
        self, request: pb.ResetPasswordRequest, context: Context
    ) -> pb.ResetPasswordResponse:
        async with grpc_errors(context):
            await self._recovery.reset_password(request.token, request.new_password)
        return pb.ResetPasswordResponse()

    async def VerifyEmail(
        self, request: pb.VerifyEmailRequest, context: Context
    ) -> pb.VerifyEmailResponse:
        async with grpc_errors(context):
            await self._verification.verify_email(request.token)
        return pb.VerifyEmailResponse()

    async def ResendVerification(
        self, request: pb.ResendVerificationRequest, context: Context
    ) -> pb.ResendVerificationResponse:
        async with grpc_errors(context):
            await self._verification.resend(request.access_token)
        return pb.ResendVerificationResponse()

    async def ChangeEmail(
        self, request: pb.ChangeEmailRequest, context: Context
    ) -> pb.ChangeEmailResponse:
        async with grpc_errors(context):
            await self._verification.change_email(
                request.access_token, request.new_email, request.password, client_info(context)
            )
        return pb.ChangeEmailResponse()

    async def ConfirmEmailChange(
        self, request: pb.ConfirmEmailChangeRequest, context: Context
    ) -> pb.ConfirmEmailChangeResponse:
        async with grpc_errors(context):
            await self._verification.confirm_change(request.token)
        return pb.ConfirmEmailChangeResponse()

    async def CompleteLogin(
        self, request: pb.CompleteLoginRequest, context: Context
    ) -> pb.TokenResponse:
        async with grpc_errors(context):
            issued = await self._second_factor_login.complete_login(
                request.mfa_ticket, request.code
            )
        return convert.token_response(issued)

    async def BeginTotpEnrollment(
        self, request: pb.BeginTotpEnrollmentRequest, context: Context
    ) -> pb.BeginTotpEnrollmentResponse:
        async with grpc_errors(context):
            enrolment = await self._enrolment.begin(
                request.access_token, request.password, client_info(context)
            )
        return pb.BeginTotpEnrollmentResponse(
            secret=enrolment.secret, otpauth_uri=enrolment.otpauth_uri, qr_svg=enrolment.qr_svg
        )

    async def ConfirmTotpEnrollment(
        self, request: pb.ConfirmTotpEnrollmentRequest, context: Context
    ) -> pb.ConfirmTotpEnrollmentResponse:
        async with grpc_errors(context):
            confirmed = await self._enrolment.confirm(request.access_token, request.code)
        return pb.ConfirmTotpEnrollmentResponse(
            recovery_codes=confirmed.recovery_codes,
            access_token=confirmed.access.token,
            expires_in=confirmed.access.expires_in,
        )

    async def StepUp(self, request: pb.StepUpRequest, context: Context) -> pb.StepUpResponse:
        async with grpc_errors(context):
            access = await self._second_factor_login.step_up(request.access_token, request.code)
        return pb.StepUpResponse(
            access_token=access.token, token_type="Bearer", expires_in=access.expires_in
        )

    async def GetSecondFactor(
        self, request: pb.GetSecondFactorRequest, context: Context
    ) -> pb.SecondFactorState:
        async with grpc_errors(context):
            state = await self._enrolment.state(request.access_token)
        return pb.SecondFactorState(
            totp_enabled=state.enabled_at is not None,
            enabled_at=convert.timestamp(state.enabled_at),
            recovery_codes_left=state.recovery_codes_left,
            acr=str(state.authentication.acr),
            auth_time=convert.timestamp(state.authentication.at),
        )

    async def RegenerateRecoveryCodes(
        self, request: pb.RegenerateRecoveryCodesRequest, context: Context
    ) -> pb.RegenerateRecoveryCodesResponse:
        async with grpc_errors(context):
            changed = await self._enrolment.regenerate_recovery_codes(request.access_token)
        return pb.RegenerateRecoveryCodesResponse(
            recovery_codes=changed.recovery_codes, revoked_sessions=changed.revoked_sessions
        )

    async def DisableTotp(
        self, request: pb.DisableTotpRequest, context: Context
    ) -> pb.DisableTotpResponse:
        async with grpc_errors(context):
            ended = await self._enrolment.disable(request.access_token)
        return pb.DisableTotpResponse(revoked_sessions=ended)

    async def WatchRevocations(
        self, request: pb.WatchRevocationsRequest, context: Context
    ) -> AsyncIterator[pb.RevocationEvent]:
        async with grpc_errors(context):
            if request.after_cursor < 0:
                raise InvalidArgument("after_cursor: not negative")
            async for event in self._revocation_stream.watch(request.after_cursor):
                yield convert.revocation_event(event)
        # The stream ends only when this server shuts down: tell the client to come back.
        await context.abort(
            grpc.StatusCode.UNAVAILABLE, "server shutting down; resume from your cursor"
        )
