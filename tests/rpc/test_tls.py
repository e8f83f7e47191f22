"""Checklist GA-06: TLS and mutual TLS on a real port, with certificates made here.

With IDENTITY_TLS_CERT/KEY the server speaks only TLS (a plaintext client gets nowhere); with
IDENTITY_TLS_CLIENT_CA too, a client needs a certificate from that CA: none, or one from
another CA, fails the handshake before any RPC runs."""

from __future__ import annotations

import datetime
import ipaddress
from pathlib import Path

import grpc
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from identity.v1 import identity_pb2 as pb
from identity.v1 import identity_pb2_grpc


class Authority:
    def __init__(self, name: str) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        self.name = subject
        self.cert = (
            _builder(subject, subject, self.key)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .sign(self.key, hashes.SHA256())
        )

    def issue(self, cn: str, server: bool) -> tuple[bytes, bytes]:
        """(certificate PEM, key PEM) for a server on 127.0.0.1 or a client."""
        key = ec.generate_private_key(ec.SECP256R1())
        builder = _builder(
            x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]), self.name, key
        ).add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH]
            ),
            critical=False,
        )
        if server:
            builder = builder.add_extension(
                x509.SubjectAlternativeName(
                    [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
                ),
                critical=False,
            )
        cert = builder.sign(self.key, hashes.SHA256())
        return cert.public_bytes(serialization.Encoding.PEM), _pem(key)

    @property
    def pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)


def _builder(subject: x509.Name, issuer: x509.Name, key: ec.EllipticCurvePrivateKey):
    now = datetime.datetime.now(datetime.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
    )


def _pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _write(folder: Path, name: str, data: bytes) -> Path:
    path = folder / name
    path.write_bytes(data)
    return path


async def _jwks_code(target: str, credentials: grpc.ChannelCredentials | None) -> grpc.StatusCode:
    channel = (
        grpc.aio.secure_channel(target, credentials)
        if credentials is not None
        else grpc.aio.insecure_channel(target)
    )
    try:
        stub = identity_pb2_grpc.IdentityServiceStub(channel)
        await stub.GetJwks(pb.GetJwksRequest(), timeout=3)
        return grpc.StatusCode.OK
    except grpc.aio.AioRpcError as error:
        return error.code()
    finally:
        await channel.close()


@pytest.fixture
def pki(tmp_path: Path) -> dict[str, object]:
    ca, stranger = Authority("identity test CA"), Authority("someone else's CA")
    server_cert, server_key = ca.issue("identity", server=True)
    return {
        "ca": ca,
        "stranger": stranger,
        "cert": _write(tmp_path, "server.pem", server_cert),
        "key": _write(tmp_path, "server.key", server_key),
        "client_ca": _write(tmp_path, "ca.pem", ca.pem),
    }


async def test_tls_only_refuses_plaintext_and_serves_a_verifying_client(start_identity, pki):
    s = await start_identity("sqlite", tls_cert=pki["cert"], tls_key=pki["key"])
    ca = pki["ca"]
    assert isinstance(ca, Authority)
    trusted = grpc.ssl_channel_credentials(root_certificates=ca.pem)
    assert await _jwks_code(s.target, trusted) == grpc.StatusCode.OK
    assert await _jwks_code(s.target, None) == grpc.StatusCode.UNAVAILABLE
    stranger = pki["stranger"]
    assert isinstance(stranger, Authority)
    wrong_root = grpc.ssl_channel_credentials(root_certificates=stranger.pem)
    assert await _jwks_code(s.target, wrong_root) == grpc.StatusCode.UNAVAILABLE


async def test_mutual_tls_needs_a_client_certificate_from_the_configured_ca(start_identity, pki):
    s = await start_identity(
        "sqlite", tls_cert=pki["cert"], tls_key=pki["key"], tls_client_ca=pki["client_ca"]
    )
    ca, stranger = pki["ca"], pki["stranger"]
    assert isinstance(ca, Authority) and isinstance(stranger, Authority)

    def client(authority: Authority | None) -> grpc.ChannelCredentials:
        if authority is None:
            return grpc.ssl_channel_credentials(root_certificates=ca.pem)
        cert, key = authority.issue("a service", server=False)
        return grpc.ssl_channel_credentials(
            root_certificates=ca.pem, private_key=key, certificate_chain=cert
        )

    assert await _jwks_code(s.target, client(ca)) == grpc.StatusCode.OK
    assert await _jwks_code(s.target, client(None)) == grpc.StatusCode.UNAVAILABLE
    assert await _jwks_code(s.target, client(stranger)) == grpc.StatusCode.UNAVAILABLE
    assert await _jwks_code(s.target, None) == grpc.StatusCode.UNAVAILABLE
