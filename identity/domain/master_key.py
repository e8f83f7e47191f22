"""The master key: AES-256-GCM encryption of signing keys and session secrets at rest."""

from __future__ import annotations

import base64
import binascii
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from identity.domain.errors import ConfigurationError

_NONCE_BYTES = 12


class MasterKey:
    """Holds 32 secret bytes; its repr never shows them."""

    __slots__ = ("_aead",)

    def __init__(self, key: bytes) -> None:
        if len(key) != 32:
            raise ConfigurationError("IDENTITY_MASTER_KEY: must be base64 of exactly 32 bytes")
        self._aead = AESGCM(key)

    @classmethod
    def from_base64(cls, text: str) -> MasterKey:
        try:
            raw = base64.b64decode(text.strip(), validate=True)
        except (binascii.Error, ValueError):
            raise ConfigurationError("IDENTITY_MASTER_KEY: not valid base64") from None
        return cls(raw)

    @staticmethod
    def generate_base64() -> str:
        return base64.b64encode(os.urandom(32)).decode("ascii")

    def encrypt(self, plaintext: bytes, associated_data: bytes) -> bytes:
        """nonce ‖ ciphertext ‖ tag; the associated data (a key id, a session id) binds the
        ciphertext to its row so rows cannot be swapped."""
        nonce = os.urandom(_NONCE_BYTES)
        return nonce + self._aead.encrypt(nonce, plaintext, associated_data)

    def decrypt(self, blob: bytes, associated_data: bytes) -> bytes:
        try:
            return self._aead.decrypt(blob[:_NONCE_BYTES], blob[_NONCE_BYTES:], associated_data)
        except (InvalidTag, ValueError):
            raise ConfigurationError(
                "IDENTITY_MASTER_KEY does not decrypt the stored keys: wrong master key?"
            ) from None

    def __repr__(self) -> str:
        return "MasterKey(***)"
