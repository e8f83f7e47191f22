"""IDENTITY_SMTP_URL: where mail goes, as `smtp://`, `smtp+starttls://` or `smtps://` URLs."""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit

_PORTS = {"smtp": 25, "smtp+starttls": 587, "smtps": 465}


@dataclass(frozen=True)
class SmtpUrl:
    """A parsed SMTP URL. The password never shows in repr or str (logs, settings repr)."""

    scheme: str
    host: str
    port: int
    username: str | None = None
    password: str | None = field(default=None, repr=False)

    @property
    def implicit_tls(self) -> bool:
        return self.scheme == "smtps"

    @property
    def starttls(self) -> bool:
        return self.scheme == "smtp+starttls"

    @classmethod
    def parse(cls, text: str) -> SmtpUrl:
        try:
            parts = urlsplit(text.strip())
            port = parts.port
        except ValueError:
            raise ValueError("not a URL") from None
        if parts.scheme not in _PORTS:
            raise ValueError("scheme must be smtp://, smtp+starttls:// or smtps://")
        if not parts.hostname:
            raise ValueError("a host is required")
        if parts.path not in ("", "/") or parts.query or parts.fragment:
            raise ValueError("only scheme://[user:password@]host[:port]")
        return cls(
            parts.scheme,
            parts.hostname,
            port if port is not None else _PORTS[parts.scheme],
            unquote(parts.username) if parts.username else None,
            unquote(parts.password) if parts.password is not None else None,
        )

    def __str__(self) -> str:
        user = ""
        if self.username is not None:
            user = self.username + (":***" if self.password is not None else "") + "@"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{user}{host}:{self.port}"
