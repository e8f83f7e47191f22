"""The dev inbox (/dev/inbox): only `identity dev` serves it; `edge-http serve` never does. The
page escapes every mail, links only identity's own links, has no script and the strict CSP."""

from __future__ import annotations

import asyncio
import os
import re
import sys
from email.message import EmailMessage

import aiosmtplib
import httpx

from edge_http.app import create_app
from edge_http.identity_client import IdentityClient
from edge_http.middleware import HTML_CSP
from identity.mail_catcher import MailCatcher
from tests.conftest import Running
from tests.edge.support import edge_settings, edge_thread, listening_socket
from tests.mail import free_port

TOKEN = "idpr_" + "Q" * 43
LINK = f"http://127.0.0.1:8080/#/reset-password?token={TOKEN}"
HOSTILE_SUBJECT = '<script>alert("subject")</script>'
HOSTILE_TEXT = (
    f"Open {LINK}\n"
    '<img src=x onerror=alert(1)> <a href="javascript:alert(2)">click</a>\n'
    'javascript:alert(3) http://127.0.0.1:8080/#/verify-email?token=x"onmouseover="alert(4)\n'
)


async def _mail(catcher: MailCatcher, to: str, subject: str, text: str) -> None:
    message = EmailMessage()
    message["From"] = "identity@example.com"
    message["To"] = to
    message["Subject"] = subject
    message.set_content(text)
    await aiosmtplib.send(message, hostname=catcher.host, port=catcher.port, timeout=5)


async def test_the_inbox_escapes_mail_and_links_only_identitys_links(edge_identity: Running):
    catcher = await MailCatcher().start()
    sock = listening_socket()
    settings = edge_settings(edge_identity, sock.getsockname()[1])
    app = create_app(settings, IdentityClient(settings), dev_inbox=catcher)
    try:
        await _mail(catcher, "victim@example.com", HOSTILE_SUBJECT, HOSTILE_TEXT)
        async with edge_thread(sock, settings, app) as url, httpx.AsyncClient(base_url=url) as c:
            page = await c.get("/dev/inbox")
            demo = await c.get("/")
    finally:
        await catcher.stop()
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert page.headers["content-security-policy"] == HTML_CSP
    assert page.headers["cache-control"] == "no-store"  # it holds live link tokens
    html = page.text
    assert "<script" not in html.lower() and "<img src=x" not in html
    tags = re.findall(r"<[a-z][^>]*>", html)
    assert not [t for t in tags if re.search(r"\son\w+\s*=", t)]  # no handler in any tag
    assert "&lt;script&gt;alert(&#34;subject&#34;)&lt;/script&gt;" in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    anchors = re.findall(r"<a\b[^>]*>", html)
    mail_links = [a for a in anchors if "token=" in a]
    # Links of identity's shape only, cut where the token ends: no attribute breaks out.
    cut = "http://127.0.0.1:8080/#/verify-email?token=x"
    assert mail_links == [f'<a href="{LINK}">', f'<a href="{cut}">'], anchors
    assert "javascript:" not in "".join(anchors)
    # The demo page names the inbox, so its links to it show.
    assert '<meta name="dev-inbox" content="/dev/inbox" />' in demo.text


async def test_edge_http_serve_has_no_dev_inbox(edge_identity: Running, tmp_path):
    """The real `edge-http serve` entry point, as a deployment runs it."""
    port = free_port()
    env = {
        **os.environ,
        "EDGE_LISTEN": f"127.0.0.1:{port}",
        "EDGE_IDENTITY_TARGET": edge_identity.target,
        "EDGE_IDENTITY_CREDENTIAL": edge_identity.credentials["edge"],
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "edge_http.cli",
        "serve",
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            for _ in range(200):
                try:
                    health = await client.get("/healthz")
                    break
                except httpx.TransportError:
                    await asyncio.sleep(0.05)
            assert health.status_code == 200
            inbox = await client.get("/dev/inbox")
            demo = await client.get("/")
    finally:
        proc.terminate()
        await proc.wait()
    assert inbox.status_code == 404
    assert inbox.headers["content-type"] == "application/problem+json"
    assert '<meta name="dev-inbox" content="" />' in demo.text
