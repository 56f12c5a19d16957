"""Module signatures at the orchestrator: ``--require-signatures`` on upload, and who signed.

With ``--require-signatures`` (and ``--trusted-key`` files) every upload of a binary — POST
/api/v1/modules, POST /file/module, a new version — must carry a ``wasmfleet.signature``
section made by a trusted key over its exact bytes (core/signing.py), and every data file
uploaded for it must be one its signed manifest lists with that sha256; anything else is a
422 with nothing stored. Whatever the settings, module views show the key id a binary is
signed with (``signed_by``), read from the stored binary (not verified unless required) and
remembered by its sha256 (a version's bytes never change).
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Callable, Mapping

from wasmfleet.core.errors import WasmfleetError
from wasmfleet.core.signing import PublicKey, check_files, read_signature, signer, verify_module
from wasmfleet.orchestrator.settings import OrchestratorSettings

SIGNERS_REMEMBERED = 4096


def trusted_keys(settings: OrchestratorSettings) -> dict[str, PublicKey] | None:
    """The keys uploads must be signed with, or None when signatures are not required."""
    if not settings.require_signatures:
        return None
    from wasmfleet.service.trusted_keys import load_trusted_keys

    return load_trusted_keys(settings.trusted_keys)


class UploadSignatures:
    """Checks uploads against the trusted keys (when required) and names their signers."""

    def __init__(self, trusted: Mapping[str, PublicKey] | None) -> None:
        self.trusted = dict(trusted) if trusted is not None else None
        self._signers: OrderedDict[str, str | None] = OrderedDict()

    @property
    def required(self) -> bool:
        """Whether uploads must be signed."""
        return self.trusted is not None

    def check_binary(self, name: str, data: bytes) -> str | None:
        """The signer's key id; SignatureInvalid when signatures are required and ``data``
        is not signed by a trusted key."""
        what = f"the module uploaded as {name!r}"
        if self.trusted is not None:
            key_id: str | None = verify_module(data, self.trusted, what).key_id
        else:
            key_id = signer(data)
        self._remember(hashlib.sha256(data).hexdigest(), key_id)
        return key_id

    def check_files(self, name: str, binary: bytes, files: Mapping[str, bytes]) -> None:
        """When signatures are required: refuse data files the module's signed manifest does
        not list with the sha256 of their bytes."""
        if self.trusted is None or not files:
            return
        what = f"module {name!r}"
        signature = verify_module(binary, self.trusted, what)
        digests = {n: hashlib.sha256(d).hexdigest() for n, d in files.items()}
        check_files(signature, digests, what)

    def signed_by(self, sha: str, read: Callable[[str], bytes]) -> str | None:
        """The key id the binary with that sha256 is signed with (None: unsigned)."""
        if sha in self._signers:
            self._signers.move_to_end(sha)
            return self._signers[sha]
        try:
            found = read_signature(read(sha))
        except (WasmfleetError, OSError):  # a missing blob, a malformed section: unsigned
            found = None
        key_id = found.key_id if found is not None else None
        self._remember(sha, key_id)
        return key_id

    def _remember(self, sha: str, key_id: str | None) -> None:
        self._signers[sha] = key_id
        self._signers.move_to_end(sha)
        while len(self._signers) > SIGNERS_REMEMBERED:
            self._signers.popitem(last=False)
