"""Link tokens (shape, digest, URL) and the outbox retry schedule, as pure functions."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import pytest

from identity.domain.errors import InvalidLinkToken
from identity.domain.links import LinkLifetimes, LinkPurpose, link_digest, link_url, new_link
from identity.domain.mail import MAX_RETRY_DELAY, Mail, MailKind, retry_delay
from identity.domain.smtp_url import SmtpUrl

NOW = datetime(2026, 12, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("purpose", "prefix", "ttl"),
    [
        (LinkPurpose.RESET_PASSWORD, "idpr_", timedelta(minutes=30)),
        (LinkPurpose.VERIFY_EMAIL, "idev_", timedelta(hours=24)),
        (LinkPurpose.CONFIRM_EMAIL, "idev_", timedelta(hours=24)),
    ],
)
def test_a_link_token_is_a_prefix_and_32_random_bytes_stored_as_its_sha256(purpose, prefix, ttl):
    link = new_link(purpose, NOW, LinkLifetimes())
    assert link.token.startswith(prefix) and len(link.token) == len(prefix) + 43
    assert link.digest == hashlib.sha256(link.token.encode()).digest()
    assert link_digest(link.token, purpose) == link.digest
    assert link.expires_at == NOW + ttl
    assert link.token not in repr(link)
    assert new_link(purpose, NOW, LinkLifetimes()).token != link.token


@pytest.mark.parametrize(
    "token",
    [
        "",
        "idpr_",
        "idpr_" + "A" * 42,
        "idpr_" + "A" * 44,
        "idrt_" + "A" * 43,
        "idpr_" + "+" * 43,
        "idev_" + "A" * 43,
        None,
        7,
        "idpr_" + "A" * 42 + "\n",
    ],
)
def test_anything_not_shaped_like_a_reset_token_is_the_one_link_error(token):
    with pytest.raises(InvalidLinkToken) as caught:
        link_digest(token, LinkPurpose.RESET_PASSWORD)
    assert caught.value.message == "invalid or expired link"


def test_the_link_carries_the_token_in_its_fragment_only():
    link = new_link(LinkPurpose.RESET_PASSWORD, NOW, LinkLifetimes())
    url = link_url("https://app.example.com/", link)
    parts = urlsplit(url)
    assert url == f"https://app.example.com/#/reset-password?token={link.token}"
    assert link.token not in parts.path + parts.query
    verify = new_link(LinkPurpose.VERIFY_EMAIL, NOW, LinkLifetimes())
    assert link_url("https://a.example", verify).startswith("https://a.example/#/verify-email?")
    confirm = new_link(LinkPurpose.CONFIRM_EMAIL, NOW, LinkLifetimes())
    assert "/#/confirm-email?token=" in link_url("https://a.example", confirm)


def test_retries_back_off_exponentially_up_to_a_minute():
    assert [retry_delay(n).total_seconds() for n in range(1, 9)] == [1, 2, 4, 8, 16, 32, 60, 60]
    assert retry_delay(10_000) == MAX_RETRY_DELAY


def test_a_mail_repr_shows_no_body():
    mail = Mail(MailKind.RESET_PASSWORD, "a@example.com", "s", "secret-body", "<p>secret</p>")
    assert "secret" not in repr(mail) and "a@example.com" not in repr(mail)


@pytest.mark.parametrize(
    ("url", "scheme", "port", "user"),
    [
        ("smtp://mail.example.com", "smtp", 25, None),
        ("smtp+starttls://u:p%40ss@mail.example.com", "smtp+starttls", 587, "u"),
        ("smtps://u:pw@[::1]:2465", "smtps", 2465, "u"),
    ],
)
def test_smtp_urls_parse_and_never_show_the_password(url, scheme, port, user):
    parsed = SmtpUrl.parse(url)
    assert (parsed.scheme, parsed.port, parsed.username) == (scheme, port, user)
    for shown in (repr(parsed), str(parsed)):
        assert "p@ss" not in shown and ":pw" not in shown and "p%40ss" not in shown


@pytest.mark.parametrize(
    "url", ["http://x", "smtp://", "smtp://h/path", "smtp://h:99999", "smtp://h?x=1"]
)
def test_bad_smtp_urls_are_refused(url):
    with pytest.raises(ValueError):
        SmtpUrl.parse(url)
