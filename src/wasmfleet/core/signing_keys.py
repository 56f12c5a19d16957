"""Ed25519 keys for signed modules: generate, read and write PEM, sign, verify (no I/O).

The ``cryptography`` package is imported here and only here; the services import this
module only when keys are configured (it costs about 25 ms and 8 MB of RSS: docs/signing.md).
Private keys are PKCS#8 PEM without a passphrase, public keys SubjectPublicKeyInfo PEM.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from wasmfleet.core.errors import ConfigurationError
from wasmfleet.core.signing import KEY_ID_BYTES


def key_id_of(raw_public: bytes) -> str:
    """The key id: the first 16 bytes of the sha256 of the raw public key, in hex."""
    return hashlib.sha256(raw_public).digest()[:KEY_ID_BYTES].hex()


@dataclass(frozen=True, slots=True)
class VerifyingKey:
    """A trusted Ed25519 public key."""

    key: Ed25519PublicKey
    key_id: str

    def verifies(self, signature: bytes, message: bytes) -> bool:
        """True when ``signature`` is this key's signature of ``message``."""
        try:
            self.key.verify(signature, message)
        except InvalidSignature:
            return False
        return True

    def pem(self) -> bytes:
        """The public key as PEM."""
        return self.key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )


@dataclass(frozen=True, slots=True)
class SigningKey:
    """An Ed25519 private key."""

    key: Ed25519PrivateKey
    key_id: str

    def sign(self, message: bytes) -> bytes:
        """The Ed25519 signature of ``message``."""
        return self.key.sign(message)

    @property
    def public(self) -> VerifyingKey:
        """Its public key."""
        return _verifying(self.key.public_key())

    def pem(self) -> bytes:
        """The private key as unencrypted PKCS#8 PEM."""
        return self.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )


def generate_key() -> SigningKey:
    """A new random signing key."""
    key = Ed25519PrivateKey.generate()
    raw = key.public_key().public_bytes_raw()
    return SigningKey(key, key_id_of(raw))


def _verifying(key: Ed25519PublicKey) -> VerifyingKey:
    return VerifyingKey(key, key_id_of(key.public_bytes_raw()))


def public_key_from_pem(data: bytes, what: str) -> VerifyingKey:
    """An Ed25519 public key from PEM; ConfigurationError naming ``what`` otherwise."""
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, TypeError):
        raise ConfigurationError(
            f"{what} is not a PEM public key; make one with `wasmfleet key generate`."
        ) from None
    if not isinstance(key, Ed25519PublicKey):
        raise ConfigurationError(f"{what} is not an Ed25519 public key.")
    return _verifying(key)


def private_key_from_pem(data: bytes, what: str) -> SigningKey:
    """An Ed25519 private key from unencrypted PEM; ConfigurationError naming ``what``."""
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError):
        raise ConfigurationError(
            f"{what} is not an unencrypted PEM private key; make one with `wasmfleet key generate`."
        ) from None
    if not isinstance(key, Ed25519PrivateKey):
        raise ConfigurationError(f"{what} is not an Ed25519 private key.")
    return SigningKey(key, key_id_of(key.public_key().public_bytes_raw()))
