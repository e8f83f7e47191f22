"""Identity with a real SMTP server (aiosmtpd on a free port), on PostgreSQL and SQLite."""

from __future__ import annotations

import logging

import pytest

from tests.conftest import BACKENDS, Running, StartIdentity
from tests.mail import MailCatcher

# As tests/edge/conftest.py: the test client's own wire logs (cookies, bodies) stay out of the
# run-wide log-leak check, which is about identity's and the edge's lines.
logging.getLogger("httpcore").setLevel(logging.WARNING)
logging.getLogger("httpx").setLevel(logging.WARNING)


@pytest.fixture(scope="session", params=BACKENDS)
async def mailing(
    request: pytest.FixtureRequest, start_shared_identity: StartIdentity, catcher: MailCatcher
) -> Running:
    """One identity per backend that mails through `catcher` (verification `optional`)."""
    return await start_shared_identity(request.param, smtp_url=catcher.url)
