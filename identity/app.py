"""Wiring: builds every part of the identity service from Settings. The only place that does."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from wsgiref.simple_server import WSGIServer

import grpc
from grpc_health.v1 import health, health_pb2
from prometheus_client import start_http_server

from identity.config import Settings
from identity.domain.clock import Clock, SystemClock
from identity.domain.errors import ConfigurationError
from identity.domain.hash_params import Argon2Params
from identity.domain.keys import KeyTimings
from identity.domain.links import LinkLifetimes
from identity.domain.mail import VerificationMode
from identity.domain.passwords import PasswordPolicy
from identity.domain.sessions import SessionLifetimes
from identity.domain.throttle import register_ip_policy
from identity.domain.token_rules import TokenPolicy
from identity.persistence.database import create_engine, current_revision, head_revision, migrate
from identity.persistence.notify import REVOCATION_CHANNEL, PgNotifications
from identity.persistence.uow import SqlUnitOfWorkFactory
from identity.rpc.admin import AdminServicer
from identity.rpc.auth import AuthInterceptor
from identity.rpc.server import SERVICE_NAMES, build_server
from identity.rpc.servicer import IdentityServicer
from identity.services.accounts import Accounts, AccountSettings
from identity.services.admin import Administration
from identity.services.audit import AuditTrail
from identity.services.hashing import PasswordHashing
from identity.services.introspection import Introspection
from identity.services.keyring import KeyRing
from identity.services.mail_templates import MailTemplates
from identity.services.mailer import Mailer
from identity.services.outbox_sender import OutboxSender
from identity.services.recovery import PasswordRecovery
from identity.services.refresh import RefreshRotation
from identity.services.revocation_cache import RevocationCache
from identity.services.revocation_stream import RevocationStream
from identity.services.revocation_sync import RevocationSync
from identity.services.revoker import Revoker
from identity.services.second_factor_codes import SecondFactorCodes
from identity.services.second_factor_enrolment import SecondFactorEnrolment
from identity.services.second_factor_login import SecondFactorLogin
from identity.services.service_accounts import CallerDirectory, create_credential
from identity.services.sessions import Sessions
from identity.services.tokens import AccessTokens
from identity.services.verification import EmailVerification

log = logging.getLogger(__name__)


class IdentityApp:
    """The running service: `await start()` returns the bound port, `await stop()` drains."""

    def __init__(self, settings: Settings, clock: Clock | None = None) -> None:
        self.settings = settings
        self.clock = clock or SystemClock()
        self.engine = create_engine(settings.database_url)
        self.uow = SqlUnitOfWorkFactory(self.engine)
        timings = KeyTimings(
            jwks_max_age=settings.jwks_max_age,
            max_token_ttl=settings.access_token_ttl,
            leeway=settings.leeway,
            rotation_interval=settings.key_rotation_interval,
        )
        self.keyring = KeyRing(
            self.uow, settings.master_key, settings.signing_alg, timings, self.clock
        )
        self.revocation_cache = RevocationCache()
        self.revoker = Revoker(self.revocation_cache, settings.access_token_ttl + settings.leeway)
        self.revocation_sync = RevocationSync(self.uow, self.revocation_cache, self.clock)
        policy = TokenPolicy(
            issuer=settings.issuer, audience=settings.audience, leeway=settings.leeway
        )
        self.tokens = AccessTokens(
            self.keyring, self.revocation_cache, policy, settings.access_token_ttl, self.clock
        )
        self.hashing = PasswordHashing(
            Argon2Params(
                settings.argon2_memory_kib, settings.argon2_time_cost, settings.argon2_parallelism
            ),
            workers=settings.hash_workers,
            max_waiting=settings.hash_queue,
            priority=settings.hash_priority,
        )
        lifetimes = SessionLifetimes(idle=settings.session_idle, absolute=settings.session_absolute)
        password_policy = PasswordPolicy(min_length=settings.password_min_length)
        self.mail_templates = MailTemplates(settings.mail_templates)
        self.mailer = Mailer(
            self.mail_templates,
            settings.master_key,
            settings.link_base,
            LinkLifetimes(settings.reset_link_ttl, settings.verification_link_ttl),
        )
        self.accounts = Accounts(
            self.uow,
            self.hashing,
            self.tokens,
            self.revoker,
            settings.master_key,
            AccountSettings(
                password_policy,
                lifetimes,
                settings.default_client_id,
                settings.default_scope,
                VerificationMode(settings.email_verification),
                register_ip_policy(settings.registrations_per_ip),
                settings.mfa_ticket_ttl,
            ),
            self.clock,
            self.mailer,
        )
        self.recovery = PasswordRecovery(
            self.uow, self.hashing, self.revoker, self.mailer, password_policy, self.clock
        )
        self.verification = EmailVerification(
            self.uow, self.tokens, self.accounts, self.mailer, self.clock
        )
        codes = SecondFactorCodes(self.uow, settings.master_key, self.clock)
        self.second_factor_login = SecondFactorLogin(
            self.uow, codes, self.accounts, self.tokens, settings.default_scope, self.clock
        )
        self.enrolment = SecondFactorEnrolment(
            self.uow,
            codes,
            self.accounts,
            self.tokens,
            self.revoker,
            self.mailer,
            settings.master_key,
            self.clock,
            settings.totp_issuer_name,
            settings.step_up_max_age,
        )
        self.outbox_sender = OutboxSender(
            self.uow,
            self.mailer,
            settings.smtp_url,
            settings.mail_from,
            settings.mail_max_tries,
            self.clock,
        )
        self.refresh_rotation = RefreshRotation(
            self.uow,
            self.tokens,
            self.revoker,
            settings.master_key,
            lifetimes,
            settings.refresh_grace,
            settings.default_scope,
            settings.reuse_revokes_all,
            self.clock,
        )
        self.sessions = Sessions(self.uow, self.tokens, self.revoker, self.clock)
        self.audit = AuditTrail(self.uow, self.clock)
        self.callers = CallerDirectory(self.uow)
        self.introspection = Introspection(self.tokens)
        self.revocation_stream = RevocationStream(
            self.uow, self.revocation_cache, self.clock, settings.revocation_heartbeat
        )
        self.admin = Administration(self.uow, self.revoker, self.keyring, self.clock, self.mailer)
        # PostgreSQL: other replicas' revocations arrive by LISTEN/NOTIFY (the poller is the
        # fallback). SQLite has one process, so publishing in-process is enough.
        self.notifications: PgNotifications | None = None
        if self.engine.dialect.name == "postgresql":
            self.notifications = PgNotifications(
                settings.database_url,
                REVOCATION_CHANNEL,
                self.revocation_sync.notified,
                self.revocation_sync.poll,
            )
        self.health = health.aio.HealthServicer()
        self.port = 0
        self.metrics_port = 0
        self._metrics: WSGIServer | None = None
        self._server: grpc.aio.Server | None = None
        self._tasks: list[asyncio.Task[None]] = []

    async def prepare_database(self) -> None:
        """Refuse a schema below head unless told to migrate (IDENTITY_MIGRATE)."""
        current, head = await current_revision(self.engine), head_revision()
        if current == head:
            return
        if not self.settings.migrate:
            raise ConfigurationError(
                f"database schema is at {current or 'empty'}, the code needs {head}: "
                "run `identity migrate` (or set IDENTITY_MIGRATE=true)"
            )
        await migrate(self.engine, self.settings.database_url)
        log.info("database migrated to head")

    async def start(self, reuse_port: bool = False) -> int:
        """Serve; `reuse_port` when the port is shared with other workers (`--workers N`)."""
        self.mail_templates.check()  # a broken template override refuses to start
        await self.prepare_database()
        await self.keyring.start()
        await self.revocation_sync.load()
        await self.callers.load()
        servicer = IdentityServicer(
            self.accounts,
            self.refresh_rotation,
            self.sessions,
            self.keyring,
            self.clock,
            self.introspection,
            self.revocation_stream,
            self.recovery,
            self.verification,
            self.second_factor_login,
            self.enrolment,
        )
        admin = AdminServicer(self.admin, self.clock)
        interceptor = AuthInterceptor(self.callers, on_denied=self.audit.denied)
        self._server, self.port = build_server(
            self.settings, servicer, admin, [interceptor], self.health, reuse_port
        )
        await self._server.start()
        for name in ("", *SERVICE_NAMES):
            await self.health.set(name, health_pb2.HealthCheckResponse.SERVING)
        self._tasks = [
            asyncio.create_task(self.keyring.run_maintenance()),
            asyncio.create_task(self.revocation_sync.run_poller()),
            asyncio.create_task(self.outbox_sender.run()),
        ]
        if self.notifications is not None:
            self._tasks.append(asyncio.create_task(self.notifications.run()))
        if self.settings.metrics_listen:
            host, _, port = self.settings.metrics_listen.rpartition(":")
            self._metrics, _thread = start_http_server(int(port), addr=host.strip("[]"))
            self.metrics_port = self._metrics.server_port
            log.info("metrics listening", extra={"port": self.metrics_port})
        log.info("identity gRPC listening", extra={"port": self.port})
        return self.port

    async def drain(self, period: float | None = None) -> None:
        """Say NOT_SERVING on grpc.health.v1 and go on serving for `period` seconds (default
        IDENTITY_DRAIN_PERIOD), so that callers following health (the edge's channel) send new
        calls to other replicas before this one stops accepting. Each process drains itself:
        `serve` runs it on SIGTERM, in every worker process alike."""
        seconds = self.settings.drain_period.total_seconds() if period is None else period
        await self.health.enter_graceful_shutdown()
        log.info("draining: health says NOT_SERVING, still serving for %.1f s", seconds)
        await asyncio.sleep(seconds)

    async def stop(self, grace: float = 5.0) -> None:
        """Health goes NOT_SERVING (if `drain` has not already), the server stops accepting, and
        in-flight calls get `grace` seconds; then everything closes."""
        await self.health.enter_graceful_shutdown()
        self.revocation_cache.close()  # WatchRevocations streams end; clients resume elsewhere
        if self._server is not None:
            await self._server.stop(grace)
        # Only now: the calls finishing above still need revocations from other replicas.
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self.hashing.close()
        if self._metrics is not None:
            await asyncio.to_thread(self._metrics.shutdown)
            self._metrics.server_close()
        await self.uow.aclose()
        await self.engine.dispose()

    async def wait(self) -> None:
        if self._server is not None:
            await self._server.wait_for_termination()

    async def create_credential(self, role: str, name: str) -> str:
        secret = await create_credential(self.uow, role, name, self.clock)
        await self.callers.load()
        return secret
