"""SL-06 / SL-08: log lines are one escaped JSON object each, hostile input cannot forge a line,
and neither the settings' text nor start-up logs show the master key or a database password."""

from __future__ import annotations

import json
import logging
import os

import pytest
from sqlalchemy.engine import make_url

from identity.app import IdentityApp
from identity.config import Settings
from identity.logs import MAX_VALUE, JsonFormatter
from identity.v1 import identity_pb2 as pb
from tests.conftest import PASSWORD, TEST_MASTER_KEY, settings_for

FORGED = '\r\n{"level":"INFO","msg":"admin ok"}'
ANSI = "\x1b[31mred\x1b[0m\x07"


def _lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    formatter = JsonFormatter()
    return [formatter.format(r) for r in caplog.records]


def test_a_hostile_value_stays_inside_one_escaped_truncated_line():
    record = logging.LogRecord(
        "identity.test", logging.INFO, __file__, 1, "msg" + FORGED, None, None
    )
    record.reason = FORGED + ANSI + "x" * 10240  # an allowed field, hostile content
    line = JsonFormatter().format(record)
    assert "\n" not in line and "\r" not in line and "\x1b" not in line
    parsed = json.loads(line)
    assert parsed["msg"] == "msg" + FORGED  # kept, but as data inside the one object
    assert parsed["reason"].startswith(FORGED + ANSI)
    assert len(parsed["reason"]) == MAX_VALUE + 1 and parsed["reason"].endswith("…")


async def test_hostile_emails_and_user_agents_never_reach_the_log(
    identity_server, caplog: pytest.LogCaptureFixture
):
    """Control characters never get this far (an email with them is INVALID_ARGUMENT, gRPC
    metadata cannot carry them); what does, a JSON-shaped email and a 10 KiB user agent, is
    data the log lines do not carry at all: they name ids."""
    caplog.set_level(logging.DEBUG)
    s = identity_server
    forged = '{"level":"INFO","msg":"admin-ok"}'
    email = f"a{forged}{os.urandom(3).hex()}@x.com"
    md = s.md(user_agent=forged + "A" * 10240)
    await s.stub.Register(pb.RegisterRequest(email=email, password=PASSWORD), metadata=md)
    await s.stub.Login(pb.LoginRequest(email=email, password=PASSWORD), metadata=md)
    lines = [line for line in _lines(caplog) if '"logger": "identity' in line]
    assert any('"msg": "login succeeded"' in line for line in lines)
    for line in lines:
        assert "\n" not in line and "\x1b" not in line
        json.loads(line)
    text = "\n".join(lines)
    assert "admin-ok" not in text and "AAAAAAAAAA" not in text


async def test_settings_and_start_up_logs_hide_the_master_key_and_the_db_password(
    pg, caplog: pytest.LogCaptureFixture
):
    caplog.set_level(logging.DEBUG)
    url = await pg.create_database()
    secret = "not-a-real-pw-7f3a"  # local PostgreSQL trusts 127.0.0.1, so any password works
    with_password = make_url(url).set(password=secret).render_as_string(hide_password=False)
    assert secret in with_password, with_password
    settings = settings_for(with_password)
    for text in (repr(settings), str(settings)):
        assert secret not in text and TEST_MASTER_KEY not in text
        assert "master_key=***" in text and ":***@" in text
    from_env = Settings.from_env(
        {"IDENTITY_DATABASE_URL": with_password, "IDENTITY_MASTER_KEY": TEST_MASTER_KEY}
    )
    assert secret not in repr(from_env) and TEST_MASTER_KEY not in repr(from_env)

    app = IdentityApp(settings)
    await app.start()
    try:
        records = "\n".join(_lines(caplog)) + "\n".join(repr(r.args) for r in caplog.records)
        assert "identity gRPC listening" in records
        assert secret not in records and TEST_MASTER_KEY not in records
    finally:
        await app.stop(grace=0.1)
        await pg.drop_database(url)


def test_grpc_status_is_copied_only_as_a_status_name_and_code_never():
    """The edge logs a failed call's status under `grpc_status`; a value that is not a gRPC
    status name (a token passed there by mistake) is replaced, and a `code` key (the usual name
    of one-time secrets) is not copied at all."""
    secret = "idrt_" + "s" * 43
    for value, shown in (("CANCELLED", "CANCELLED"), (secret, "(not a known value)")):
        record = logging.LogRecord("edge_http.test", logging.WARNING, __file__, 1, "m", None, None)
        record.grpc_status = value
        record.code = secret
        line = JsonFormatter().format(record)
        assert json.loads(line)["grpc_status"] == shown
        assert secret not in line and '"code"' not in line
