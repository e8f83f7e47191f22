"""Refresh load with many chains, and the chain check that follows every fault."""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from dataclasses import dataclass, field

import grpc
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from identity.domain.refresh import refresh_token_digest
from identity.v1 import identity_pb2 as pb
from identity.v1 import identity_pb2_grpc


@dataclass
class Chain:
    email: str
    token: str
    session_id: str
    rotations: int = 0
    errors: Counter[str] = field(default_factory=Counter)


async def refresh_storm(
    target: str,
    credential: str,
    chains: list[Chain],
    seconds: float,
    deadline: float = 3.0,
    lose_responses: float = 0.0,
) -> None:
    """Every chain refreshes in a loop; a failed call keeps the token it had (the client never
    saw an answer) and retries, as a browser would. With `lose_responses`, that share of calls
    gets a deadline of a few milliseconds: the server may commit a rotation whose answer the
    client never receives, the lost-response case the grace window exists for."""
    channel = grpc.aio.insecure_channel(target)
    stub = identity_pb2_grpc.IdentityServiceStub(channel)
    md = (("authorization", f"Bearer {credential}"), ("x-client-ip", "198.51.100.5"))
    stop_at = time.monotonic() + seconds

    async def run(chain: Chain) -> None:
        while time.monotonic() < stop_at:
            timeout = random.uniform(0.001, 0.02) if random.random() < lose_responses else deadline
            try:
                answer = await stub.Refresh(
                    pb.RefreshRequest(refresh_token=chain.token), metadata=md, timeout=timeout
                )
            except grpc.aio.AioRpcError as error:
                chain.errors[error.code().name] += 1
                await asyncio.sleep(0.05)
                continue
            chain.token = answer.refresh_token
            chain.rotations += 1

    await asyncio.gather(*(run(c) for c in chains))
    await channel.close()


async def check_chains(
    database_url: str, chains: list[Chain], *, holds_live_token: bool = False
) -> None:
    """Every session is live, has exactly one unused refresh token (its newest), and no reuse
    was ever recorded. With `holds_live_token`, that one live token is also the one the client
    holds (`chain.token`): the client's cookie jar ended on it."""
    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as conn:
            for chain in chains:
                session = (
                    await conn.execute(
                        text(
                            "SELECT revoked_at, revoked_reason, generation"
                            " FROM sessions WHERE id = :s"
                        ),
                        {"s": chain.session_id},
                    )
                ).one()
                assert session.revoked_at is None, (chain.email, session.revoked_reason)
                unused = (
                    await conn.execute(
                        text(
                            "SELECT generation, digest FROM refresh_tokens"
                            " WHERE session_id = :s AND used_at IS NULL"
                        ),
                        {"s": chain.session_id},
                    )
                ).all()
                assert [r.generation for r in unused] == [session.generation], chain.email
                if holds_live_token:
                    held = refresh_token_digest(chain.token)
                    assert bytes(unused[0].digest) == held, f"{chain.email} holds a dead token"
            reuse = await conn.scalar(
                text("SELECT count(*) FROM audit_events WHERE kind = 'refresh_token_reuse'")
            )
            assert reuse == 0
    finally:
        await engine.dispose()
