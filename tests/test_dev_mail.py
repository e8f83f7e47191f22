"""`identity dev`'s mail, as a newcomer runs it: without IDENTITY_SMTP_URL the mail is caught
locally and shown at /dev/inbox, where its link works; with IDENTITY_SMTP_URL it goes there and
there is no inbox. Neither logs a link token or an address."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import httpx

from identity.domain.links import LinkPurpose, find_links
from tests.conftest import PASSWORD, remember
from tests.mail import MailCatcher, free_port

TOKEN = re.compile(r"idev_[A-Za-z0-9_-]{43}")


@contextlib.asynccontextmanager
async def identity_dev(data_dir: Path, **env: str) -> AsyncIterator[tuple[str, list[bytes]]]:
    """`identity dev` on free ports: (the demo page's origin, its stderr so far)."""
    edge = f"127.0.0.1:{free_port()}"
    variables = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("IDENTITY_", "EDGE_"))},
        "EDGE_LISTEN": edge,
        "IDENTITY_GRPC_LISTEN": f"127.0.0.1:{free_port()}",
        "IDENTITY_ISSUER": f"http://{edge}",
        **env,
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "identity.cli",
        "dev",
        "--data-dir",
        str(data_dir),
        env=variables,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stderr is not None
    errors: list[bytes] = []
    drain = asyncio.create_task(_collect(proc.stderr, errors))
    try:
        line = await asyncio.wait_for(proc.stdout.readline(), 60)
        assert line.startswith(b"demo page: http://"), b"".join(errors)
        async with httpx.AsyncClient(base_url=f"http://{edge}") as client:
            for _ in range(200):  # the URL may be printed just before the edge accepts
                with contextlib.suppress(httpx.TransportError):
                    await client.get("/healthz")
                    break
                await asyncio.sleep(0.05)
        yield f"http://{edge}", errors
    finally:
        proc.terminate()
        await asyncio.wait_for(proc.wait(), 30)
        await drain


async def _collect(stream: asyncio.StreamReader, into: list[bytes]) -> None:
    while line := await stream.readline():
        into.append(line)


async def _register(client: httpx.AsyncClient, origin: str, email: str) -> None:
    answer = await client.post(
        "/auth/register",
        json={"email": email, "password": PASSWORD},
        headers={"Origin": origin},
    )
    assert answer.status_code == 201, answer.text


async def test_identity_dev_catches_mail_and_shows_it_at_dev_inbox(tmp_path):
    email = f"newcomer-{os.urandom(4).hex()}@example.com"
    async with identity_dev(tmp_path / "dev") as (origin, stderr):
        async with httpx.AsyncClient(base_url=origin) as client:
            demo = await client.get("/")
            assert '<meta name="dev-inbox" content="/dev/inbox" />' in demo.text
            await _register(client, origin, email)
            for _ in range(100):
                inbox = await client.get("/dev/inbox")
                # Each link shows twice, as the anchor's href and as its text.
                found = {link.token: link for link in find_links(inbox.text)}
                links = list(found.values()) if email in inbox.text else []
                if links:
                    break
                await asyncio.sleep(0.1)
            [link] = links
            remember(link.token)
            assert link.purpose is LinkPurpose.VERIFY_EMAIL and link.url.startswith(origin + "/#/")
            verified = await client.post(
                "/auth/verify-email", json={"token": link.token}, headers={"Origin": origin}
            )
            assert verified.status_code == 204
    logged = b"".join(stderr).decode()
    assert "/dev/inbox" in logged  # the start-up lines say where the mail is
    assert link.token not in logged and email not in logged
    assert not TOKEN.search(logged)


async def test_with_identity_smtp_url_mail_goes_there_and_there_is_no_inbox(tmp_path):
    catcher = MailCatcher().start()
    email = f"newcomer-{os.urandom(4).hex()}@example.com"
    try:
        smtp = str(catcher.url)
        async with identity_dev(tmp_path / "dev", IDENTITY_SMTP_URL=smtp) as (origin, stderr):
            async with httpx.AsyncClient(base_url=origin) as client:
                assert (await client.get("/dev/inbox")).status_code == 404
                demo = await client.get("/")
                assert '<meta name="dev-inbox" content="" />' in demo.text
                await _register(client, origin, email)
                await catcher.wait(email, "verify your email")
    finally:
        catcher.stop()
    assert "/dev/inbox" not in b"".join(stderr).decode()
