"""CR-01/02/07/14: Argon2id hashes, rehash on parameter change, one error for all failures."""

from __future__ import annotations

import grpc
from argon2 import extract_parameters

from identity.app import IdentityApp
from identity.v1 import identity_pb2 as pb
from tests.conftest import PASSWORD, Running, make_channel, settings_for
from tests.helpers import error_of, login, register_and_login


async def _hash_of(s, email):
    async with s.app.uow() as uow:
        return (await uow.users.by_email(email.casefold())).password_hash


async def test_passwords_are_stored_as_argon2id_with_owasp_minimum_and_unique_salts(
    identity_server, unique_email
):
    s = identity_server
    a, b = unique_email(), unique_email()
    await register_and_login(s, a)
    await register_and_login(s, b)
    hash_a, hash_b = await _hash_of(s, a), await _hash_of(s, b)
    assert hash_a.startswith("$argon2id$") and hash_a != hash_b
    params = extract_parameters(hash_a)
    assert params.memory_cost >= 19456 and params.time_cost >= 2 and params.parallelism >= 1
    assert params.salt_len >= 16
    assert PASSWORD not in hash_a


async def test_a_login_rehashes_with_new_parameters_and_a_failed_login_rewrites_nothing(
    start_identity, unique_email
):
    old = await start_identity("postgres")
    email = unique_email()
    await register_and_login(old, email)
    before = await _hash_of(old, email)
    stronger = IdentityApp(settings_for(old.app.settings.database_url, argon2_memory_kib=24576))
    port = await stronger.start()
    try:
        new = Running(
            stronger,
            f"127.0.0.1:{port}",
            old.credentials,
            make_channel(f"127.0.0.1:{port}"),
            "postgres",
        )
        await error_of(
            new.stub.Login(
                pb.LoginRequest(email=email, password="not the password at all"), metadata=new.md()
            )
        )
        assert await _hash_of(new, email) == before
        await login(new, email)
        after = await _hash_of(new, email)
        assert after != before and extract_parameters(after).memory_cost == 24576
        await login(new, email)  # still the same password
        await new.channel.close()
    finally:
        await stronger.stop(grace=0.1)


async def test_unknown_email_wrong_password_and_locked_user_get_the_same_answer(
    identity_server, unique_email
):
    s = identity_server
    known, locked = unique_email(), unique_email()
    await register_and_login(s, known)
    tokens = await register_and_login(s, locked)
    async with s.app.uow() as uow:
        from datetime import UTC, datetime

        await uow.users.set_locked(tokens.user_id, datetime.now(UTC), "test")
        await uow.commit()
    answers = set()
    for email, password in (
        (unique_email(), PASSWORD),
        (known, "the wrong password here"),
        (locked, PASSWORD),
    ):
        error = await error_of(
            s.stub.Login(pb.LoginRequest(email=email, password=password), metadata=s.md(ip=email))
        )
        answers.add((error.code(), error.details()))
    assert answers == {(grpc.StatusCode.UNAUTHENTICATED, "invalid or expired credentials")}


async def test_emails_are_unique_case_insensitively(identity_server, unique_email):
    s = identity_server
    email = unique_email()
    tokens = await register_and_login(s, email)
    error = await error_of(
        s.stub.Register(pb.RegisterRequest(email=email.upper(), password=PASSWORD), metadata=s.md())
    )
    assert error.code() == grpc.StatusCode.ALREADY_EXISTS
    again = await login(s, email.upper())
    assert again.user_id == tokens.user_id
