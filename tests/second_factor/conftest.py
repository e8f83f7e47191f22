"""Identity with an injected clock (TOTP codes are computed from it) and a real SMTP server,
one per backend."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from identity.domain.clock import FixedClock
from tests.conftest import BACKENDS, StartIdentity
from tests.mail import MailCatcher
from tests.second_factor.support import Mfa

logging.getLogger("httpcore").setLevel(logging.WARNING)
logging.getLogger("httpx").setLevel(logging.WARNING)


@pytest.fixture(scope="session")
def mfa_catcher() -> Iterator[MailCatcher]:
    caught = MailCatcher().start()
    yield caught
    caught.stop()


@pytest.fixture(scope="session", params=BACKENDS)
async def mfa(
    request: pytest.FixtureRequest, start_shared_identity: StartIdentity, mfa_catcher: MailCatcher
) -> Mfa:
    clock = FixedClock(datetime.now(UTC).replace(microsecond=0))
    s = await start_shared_identity(request.param, clock=clock, smtp_url=mfa_catcher.url)
    return Mfa(s, clock, mfa_catcher)
