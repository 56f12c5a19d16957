"""The supervisor's signature check: with trusted keys, only signed modules are built.

``ModuleVerifier.check`` runs after a deploy's parts are fetched and before anything is
compiled or laid out (supervisor/deployments.py): every module must carry a
``wasmfleet.signature`` section made by a trusted key over its exact bytes, and every data file
the deployment gives it must be listed in its signed manifest with the sha256 of its bytes
(core/signing.py). A refusal is a SignatureInvalid (422) naming the module and the reason;
nothing installed changes. Without trusted keys there is no verifier and no
``cryptography`` import (about 25 ms and 8 MB: docs/signing.md).

What was verified is remembered by the module's sha256 (bounded), so a hot swap to a module
that this process compiled before (the compile cache hands back a compiled module, not bytes)
is checked without re-reading its binary.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Mapping
from pathlib import Path

from wasmfleet.core.errors import SignatureInvalid
from wasmfleet.core.models import DeploymentSpec
from wasmfleet.core.signing import ModuleSignature, PublicKey, check_files, verify_module
from wasmfleet.runtime.engine import CompiledModule
from wasmfleet.service.trusted_keys import load_trusted_keys
from wasmfleet.supervisor.fetching import Fetched
from wasmfleet.supervisor.store import DeploymentStore

__all__ = ["ModuleVerifier", "load_trusted_keys"]

REMEMBERED = 1024
"""Verified module signatures kept by sha256."""


class ModuleVerifier:
    """Checks a deploy's modules and data files against the trusted keys."""

    def __init__(self, keys: Mapping[str, PublicKey], store: DeploymentStore) -> None:
        self.keys = dict(keys)
        self.store = store
        self._verified: OrderedDict[str, ModuleSignature] = OrderedDict()
        self.refused = 0

    def check(self, spec: DeploymentSpec, fetched: Mapping[str, Fetched]) -> None:
        """Refuse (SignatureInvalid) the first module or data file that does not verify."""
        for module in spec.modules:
            parts = fetched[module.name]
            what = f"module {module.name!r} of deployment {spec.id!r}"
            try:
                signature = self._signature(parts.binary, what)
                check_files(signature, self._file_shas(parts), what)
            except SignatureInvalid:
                self.refused += 1
                raise

    def check_binary(self, binary: bytes, what: str) -> None:
        """Refuse a stored binary that does not verify (restoring after a restart)."""
        self._signature(binary, what)

    def _signature(self, binary: bytes | CompiledModule, what: str) -> ModuleSignature:
        if isinstance(binary, CompiledModule):
            known = self._verified.get(binary.sha256)
            if known is not None:
                self._verified.move_to_end(binary.sha256)
                return known
            try:  # compiled before the verifier saw it: check the stored bytes
                binary = self.store.load_binary(binary.sha256)
            except OSError:
                raise SignatureInvalid(
                    f"{what[:1].upper()}{what[1:]} cannot be checked: its binary is not stored "
                    "on this device; deploy it again."
                ) from None
        signature = verify_module(binary, self.keys, what)
        self._remember(hashlib.sha256(binary).hexdigest(), signature)
        return signature

    def _remember(self, sha: str, signature: ModuleSignature) -> None:
        self._verified[sha] = signature
        self._verified.move_to_end(sha)
        while len(self._verified) > REMEMBERED:
            self._verified.popitem(last=False)

    @staticmethod
    def _file_shas(parts: Fetched) -> dict[str, str]:
        """Each data file's sha256: computed for downloaded bytes; for a stored copy, the
        sha256 the fetcher checked it has (fetching.py re-hashes stored files once)."""
        shas: dict[str, str] = {}
        for name, data in parts.files.items():
            if isinstance(data, Path):
                shas[name] = parts.file_sha256[name]
            else:
                shas[name] = hashlib.sha256(data).hexdigest()
        return shas

    def stats(self) -> dict[str, int]:
        """Counters for /api/v1/status."""
        return {"trusted_keys": len(self.keys), "refused": self.refused}
