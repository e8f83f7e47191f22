"""`identity dev`'s mail: sent to IDENTITY_SMTP_URL when that is set; otherwise caught by a local
SMTP server (identity.mail_catcher) on a free loopback port, whose mail the edge shows at
/dev/inbox, so that a newcomer can click through reset and verification with no mail server."""

from __future__ import annotations

import dataclasses

from identity.config import Settings
from identity.mail_catcher import MailCatcher


async def dev_mail(settings: Settings) -> tuple[Settings, MailCatcher | None]:
    """The settings to run with, and the catcher when mail is caught locally."""
    if settings.smtp_url is not None:
        return settings, None
    catcher = await MailCatcher("127.0.0.1", 0).start()
    return dataclasses.replace(settings, smtp_url=catcher.url), catcher
