"""Settings of identity: each variable parsed and range-checked as declared, however a Settings is
built; errors name the variable; out-of-range values are refused, never clamped."""

from __future__ import annotations

from datetime import timedelta

import pytest

from identity.config import Settings
from identity.domain.errors import ConfigurationError
from identity.domain.master_key import MasterKey
from tests.conftest import TEST_MASTER_KEY

ENV = {"IDENTITY_DATABASE_URL": "sqlite+aiosqlite:///x.db", "IDENTITY_MASTER_KEY": TEST_MASTER_KEY}


def test_defaults_come_from_the_declarations():
    settings = Settings.from_env(ENV)
    assert settings.access_token_ttl == timedelta(seconds=600)
    assert settings.refresh_grace == timedelta(seconds=30)
    assert settings.key_rotation_interval == timedelta(days=30)
    assert (settings.argon2_memory_kib, settings.argon2_time_cost) == (19456, 2)
    assert settings.migrate is False
    assert settings.metrics_listen is None


def test_values_are_parsed_as_declared():
    settings = Settings.from_env(
        {
            **ENV,
            "IDENTITY_ACCESS_TOKEN_TTL": "3600",
            "IDENTITY_KEY_ROTATION_DAYS": "7",
            "IDENTITY_REUSE_REVOKES_ALL": "yes",
            "IDENTITY_TLS_CERT": "/c.pem",
            "IDENTITY_TLS_KEY": "/k.pem",
            "IDENTITY_METRICS_LISTEN": "127.0.0.1:9100",
        }
    )
    assert settings.access_token_ttl == timedelta(hours=1)
    assert settings.key_rotation_interval == timedelta(days=7)
    assert settings.reuse_revokes_all is True
    assert str(settings.tls_cert) == "/c.pem"
    assert settings.metrics_listen == "127.0.0.1:9100"


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("IDENTITY_ACCESS_TOKEN_TTL", "59"),
        ("IDENTITY_ACCESS_TOKEN_TTL", "3601"),
        ("IDENTITY_ACCESS_TOKEN_TTL", "ten"),
        ("IDENTITY_REFRESH_GRACE", "301"),
        ("IDENTITY_PASSWORD_MIN_LENGTH", "7"),
        ("IDENTITY_ARGON2_MEMORY_KIB", "19455"),
        ("IDENTITY_ARGON2_TIME_COST", "1"),
        ("IDENTITY_LEEWAY", "61"),
        ("IDENTITY_REVOCATION_HEARTBEAT", "0"),
        ("IDENTITY_SIGNING_ALG", "HS256"),
        ("IDENTITY_REUSE_REVOKES_ALL", "maybe"),
        ("IDENTITY_METRICS_LISTEN", "no-port"),
    ],
)
def test_bad_values_in_the_environment_are_refused_naming_the_variable(variable, value):
    with pytest.raises(ConfigurationError, match=variable):
        Settings.from_env({**ENV, variable: value})


@pytest.mark.parametrize(
    ("field", "value", "variable"),
    [
        ("access_token_ttl", timedelta(seconds=59), "IDENTITY_ACCESS_TOKEN_TTL"),
        ("access_token_ttl", timedelta(hours=2), "IDENTITY_ACCESS_TOKEN_TTL"),
        ("refresh_grace", timedelta(minutes=6), "IDENTITY_REFRESH_GRACE"),
        ("argon2_memory_kib", 1024, "IDENTITY_ARGON2_MEMORY_KIB"),
        ("password_min_length", 65, "IDENTITY_PASSWORD_MIN_LENGTH"),
        ("hash_priority", "realtime", "IDENTITY_HASH_PRIORITY"),
        ("signing_alg", "none", "IDENTITY_SIGNING_ALG"),
        ("metrics_listen", "127.0.0.1:99999", "IDENTITY_METRICS_LISTEN"),
    ],
)
def test_a_settings_built_in_code_is_checked_as_strictly(field, value, variable):
    with pytest.raises(ConfigurationError, match=variable):
        Settings(
            database_url="sqlite+aiosqlite://",
            master_key=MasterKey.from_base64(TEST_MASTER_KEY),
            **{field: value},
        )


def test_the_database_url_and_master_key_are_required_outside_dev():
    with pytest.raises(ConfigurationError, match="IDENTITY_DATABASE_URL"):
        Settings.from_env({"IDENTITY_MASTER_KEY": TEST_MASTER_KEY})
    with pytest.raises(ConfigurationError, match="IDENTITY_MASTER_KEY"):
        Settings.from_env({"IDENTITY_DATABASE_URL": "sqlite+aiosqlite://"})


def test_dev_mode_migrates_unless_told_not_to(tmp_path):
    assert Settings.from_env({}, dev_data_dir=tmp_path).migrate is True
    assert Settings.from_env({"IDENTITY_MIGRATE": "false"}, dev_data_dir=tmp_path).migrate is False
