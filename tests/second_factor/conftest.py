"""Identity with an injected clock (TOTP codes are computed from it) and a real SMTP server,
one per backend."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import pytest

from identity.domain.clock import FixedClock
from tests.conftest import BACKENDS, StartIdentity
from tests.mail import MailCatcher
from tests.second_factor.support import Mfa

logging.getLogger("httpcore").setLevel(logging.WARNING)
logging.getLogger("httpx").setLevel(logging.WARNING)


@pytest.fixture(scope="session", params=BACKENDS)
async def mfa(
    request: pytest.FixtureRequest, start_shared_identity: StartIdentity, catcher: MailCatcher
) -> Mfa:
    clock = FixedClock(datetime.now(UTC).replace(microsecond=0))
    s = await start_shared_identity(request.param, clock=clock, smtp_url=catcher.url)
    return Mfa(s, clock, catcher)
