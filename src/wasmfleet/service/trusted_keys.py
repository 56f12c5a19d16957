"""Trusted public keys read from files, for the services that check module signatures.

``cryptography`` is imported only when this runs (when keys are configured).
"""

from __future__ import annotations

from pathlib import Path

from wasmfleet.core.errors import ConfigurationError
from wasmfleet.core.signing import PublicKey


def load_trusted_keys(paths: tuple[Path, ...], flag: str = "--trusted-key") -> dict[str, PublicKey]:
    """Key id → public key for each file; ConfigurationError naming a file that is not one."""
    from wasmfleet.core.signing_keys import public_key_from_pem

    keys: dict[str, PublicKey] = {}
    for path in paths:
        try:
            text = Path(path).read_bytes()
        except OSError as err:
            raise ConfigurationError(
                f"{flag} {path} cannot be read ({err.strerror}); give the .pub file "
                "made by `wasmfleet key generate`."
            ) from None
        key = public_key_from_pem(text, f"{flag} {path}")
        keys[key.key_id] = key
    return keys
