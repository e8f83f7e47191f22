"""EdgeSettings.from_env: defaults, validation that names the variable, redacted secrets."""

from __future__ import annotations

import ipaddress

import pytest

from edge_http.config import EdgeSettings


def test_defaults():
    settings = EdgeSettings.from_env({})
    assert settings.listen == "127.0.0.1:8080"
    assert settings.identity_target == "127.0.0.1:50051"
    assert settings.allowed_origins == ("http://127.0.0.1:8080", "http://localhost:8080")
    assert settings.max_body_bytes == 16384
    assert settings.grpc_deadline_seconds == 5.0
    assert (settings.issuer, settings.audience) == ("http://127.0.0.1:8080", "api")
    assert settings.trusted_proxies == ()
    assert settings.identity_credential is None


def test_issuer_and_audience_follow_identity_unless_set():
    env = {"IDENTITY_ISSUER": "https://id.example.com", "IDENTITY_AUDIENCE": "orders"}
    assert EdgeSettings.from_env(env).issuer == "https://id.example.com"
    assert EdgeSettings.from_env(env).audience == "orders"
    env["EDGE_ISSUER"] = "https://edge.example.com"
    assert EdgeSettings.from_env(env).issuer == "https://edge.example.com"


def test_origins_are_normalised_and_exact():
    settings = EdgeSettings.from_env(
        {"EDGE_ALLOWED_ORIGINS": "HTTPS://App.Example.com:443/, http://localhost:3000"}
    )
    assert settings.allowed_origins == ("https://app.example.com", "http://localhost:3000")


def test_a_non_loopback_listen_address_is_its_own_origin():
    settings = EdgeSettings.from_env({"EDGE_LISTEN": "10.0.0.5:80"})
    assert settings.allowed_origins == ("http://10.0.0.5",)


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("EDGE_LISTEN", "no-port"),
        ("EDGE_LISTEN", "127.0.0.1:99999"),
        ("EDGE_ALLOWED_ORIGINS", "*"),
        ("EDGE_ALLOWED_ORIGINS", "https://app.example.com/path"),
        ("EDGE_ALLOWED_ORIGINS", "ftp://app.example.com"),
        ("EDGE_ALLOWED_ORIGINS", "app.example.com"),
        ("EDGE_TRUSTED_PROXIES", "10.0.0.0/8, not-an-ip"),
        ("EDGE_MAX_BODY_BYTES", "lots"),
        ("EDGE_MAX_BODY_BYTES", "10"),
        ("EDGE_GRPC_DEADLINE_SECONDS", "0"),
        ("EDGE_GRPC_DEADLINE_SECONDS", "nan"),
        ("EDGE_IDENTITY_CREDENTIAL_FILE", "/nonexistent/credential"),
        ("EDGE_IDENTITY_CERT_FILE", "/some/cert.pem"),
    ],
)
def test_bad_values_are_refused_naming_the_variable(variable, value):
    with pytest.raises(ValueError, match=variable):
        EdgeSettings.from_env({variable: value})


def test_credential_from_a_file_is_redacted(tmp_path):
    path = tmp_path / "edge.credential"
    path.write_text("s3cret-edge-credential\n")
    settings = EdgeSettings.from_env({"EDGE_IDENTITY_CREDENTIAL_FILE": str(path)})
    assert settings.identity_credential is not None
    assert settings.identity_credential.reveal() == "s3cret-edge-credential"
    assert "s3cret" not in repr(settings)
    assert "s3cret" not in str(settings.identity_credential)


def test_credential_inline_and_file_together_are_refused(tmp_path):
    path = tmp_path / "c"
    path.write_text("x")
    with pytest.raises(ValueError, match="EDGE_IDENTITY_CREDENTIAL"):
        EdgeSettings.from_env(
            {"EDGE_IDENTITY_CREDENTIAL": "y", "EDGE_IDENTITY_CREDENTIAL_FILE": str(path)}
        )


def test_trusted_proxies_accept_addresses_and_networks():
    settings = EdgeSettings.from_env({"EDGE_TRUSTED_PROXIES": "10.0.0.1, 192.168.0.0/16, ::1"})
    assert ipaddress.ip_address("192.168.4.4") in settings.trusted_proxies[1]
    assert len(settings.trusted_proxies) == 3


def test_cli_refuses_to_start_without_a_credential(monkeypatch, capsys):
    from edge_http.cli import main

    for name in ("EDGE_IDENTITY_CREDENTIAL", "EDGE_IDENTITY_CREDENTIAL_FILE"):
        monkeypatch.delenv(name, raising=False)
    assert main(["serve"]) == 2
    assert "EDGE_IDENTITY_CREDENTIAL" in capsys.readouterr().err


def test_cli_reports_bad_configuration(monkeypatch, capsys):
    from edge_http.cli import main

    monkeypatch.setenv("EDGE_MAX_BODY_BYTES", "nope")
    assert main(["serve"]) == 2
    assert "EDGE_MAX_BODY_BYTES" in capsys.readouterr().err
