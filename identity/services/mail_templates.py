"""Mail templates (Jinja2): text and HTML per kind, overridable from a folder.

`<kind>.txt` starts with a `Subject:` line, then a blank line, then the text body; `<kind>.html`
is the HTML body, auto-escaped (an address or any other value cannot inject markup). A file of
the same name in IDENTITY_MAIL_TEMPLATES replaces the built-in one, as in ory/kratos's courier.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jinja2

from identity.domain.mail import Mail, MailKind

# Every value a template may use besides `email`: what `check` renders with.
SAMPLE = {
    "link": "https://example.com/#/verify-email?token=sample",
    "minutes": 30,
    "hours": 24,
    "new_email": "new@example.com",
}


class MailTemplates:
    def __init__(self, folder: Path | None = None) -> None:
        loaders: list[jinja2.BaseLoader] = []
        if folder is not None:
            loaders.append(jinja2.FileSystemLoader(folder))
        loaders.append(jinja2.PackageLoader("identity", "mail_templates"))
        loader = jinja2.ChoiceLoader(loaders)
        options: dict[str, Any] = {
            "undefined": jinja2.StrictUndefined,
            "keep_trailing_newline": True,
        }
        self._text = jinja2.Environment(loader=loader, autoescape=False, **options)
        self._html = jinja2.Environment(loader=loader, autoescape=True, **options)

    def render(self, kind: MailKind, to: str, **context: Any) -> Mail:
        context = {**dict.fromkeys(SAMPLE), "email": to, **context}
        text = self._text.get_template(f"{kind.value}.txt").render(context)
        head, _, body = text.partition("\n\n")
        if not head.startswith("Subject:"):
            raise ValueError(f"{kind.value}.txt must start with a 'Subject:' line")
        subject = " ".join(head.removeprefix("Subject:").split())
        html = self._html.get_template(f"{kind.value}.html").render(context, subject=subject)
        return Mail(kind, to, subject, body, html)

    def check(self) -> None:
        """Render every kind once, so a broken override refuses to start, not to send."""
        for kind in MailKind:
            self.render(kind, "someone@example.com", **SAMPLE)
