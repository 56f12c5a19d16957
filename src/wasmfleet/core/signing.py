"""Signed modules: an Ed25519 signature inside the ``.wasm``, in a custom section (pure).

Layout (docs/signing.md). The signature is the **last** section of the module, a custom
section named ``wasmfleet.signature``; it signs a small canonical *manifest*::

    {"files": {NAME: SHA256, ...}, "module_sha256": SHA256, "v": 1}

where ``module_sha256`` is the sha256 of every byte before the section (header and all other
sections) and ``files`` names the module's data files with the sha256 of their bytes, so one
flipped byte in the code or in a data file is refused. The section's content is::

    u8 format version (1) | u8 algorithm (1: Ed25519) | key id (16 bytes)
    | varuint32 manifest length | manifest (canonical JSON, UTF-8)
    | varuint32 signature length (64) | Ed25519 signature of DOMAIN + manifest

The key id is the first 16 bytes of the sha256 of the raw 32-byte public key: a verifier that
trusts several keys knows which one to use. Like wasmsign2 the signature lives in a custom
section (runtimes ignore it; one file stays one file) and covers the SHA-256 of the module's
bytes, but its name differs on purpose: its content also covers data files, so a wasmsign2
verifier must not mistake it for its own ``signature`` section. Being last, signing only
appends (the bytes before it are exactly the signed ones); anything after the section would
be unsigned, so a section that is not last is refused.

The Ed25519 arithmetic is the caller's (``core/signing_keys.py`` wraps ``cryptography``,
imported only where keys are used); this module only frames, parses and checks.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

from wasmfleet.core.errors import SignatureInvalid
from wasmfleet.core.names import is_safe_name
from wasmfleet.core.wasm_sections import (
    CUSTOM_SECTION,
    Section,
    custom_name,
    read_u32,
    sections,
    u32_bytes,
)

SECTION_NAME = "wasmfleet.signature"
FORMAT_VERSION = 1
ED25519 = 1
KEY_ID_BYTES = 16
SIGNATURE_BYTES = 64
DOMAIN = b"wasmfleet module signature v1\0"
"""Prefix of every signed message, so a signature made here means nothing elsewhere."""
MAX_MANIFEST_BYTES = 64 * 1024
MAX_FILES = 256
_SHA = re.compile(r"[0-9a-f]{64}")


class PublicKey(Protocol):
    """A trusted public key: its id and a check of a signature."""

    @property
    def key_id(self) -> str: ...

    def verifies(self, signature: bytes, message: bytes) -> bool:
        """True when ``signature`` is this key's signature of ``message``."""
        ...


class PrivateKey(Protocol):
    """A signing key: the id of its public key and a signing operation."""

    @property
    def key_id(self) -> str: ...

    def sign(self, message: bytes) -> bytes:
        """The Ed25519 signature of ``message``."""
        ...


@dataclass(frozen=True, slots=True)
class SignedManifest:
    """What a signature covers: the module's bytes before the section, and its data files."""

    module_sha256: str
    files: Mapping[str, str] = field(default_factory=dict)

    def canonical(self) -> bytes:
        """The manifest's one byte representation (sorted keys, no spaces)."""
        body = {"files": dict(sorted(self.files.items())), "module_sha256": self.module_sha256}
        return json.dumps({**body, "v": 1}, sort_keys=True, separators=(",", ":")).encode()


@dataclass(frozen=True, slots=True)
class ModuleSignature:
    """A parsed signature section."""

    key_id: str
    """Hex, 32 characters."""
    manifest: SignedManifest
    manifest_bytes: bytes
    signature: bytes
    body_end: int
    """Where the signed bytes end (the section's first byte)."""


def file_digests(files: Mapping[str, bytes]) -> dict[str, str]:
    """Data file name → sha256 hex of its bytes."""
    return {name: hashlib.sha256(data).hexdigest() for name, data in files.items()}


def signed_message(manifest_bytes: bytes) -> bytes:
    """The bytes the Ed25519 signature is made over."""
    return DOMAIN + manifest_bytes


def strip_signature(data: bytes, what: str = "the module") -> bytes:
    """``data`` without any ``wasmfleet.signature`` section (wherever it is)."""
    kept = bytearray(data[:8])
    for section in _sections(data, what):
        if not _is_signature(data, section, what):
            kept += data[section.start : section.end]
    return bytes(kept)


def sign_module(data: bytes, key: PrivateKey, files: Mapping[str, bytes] | None = None) -> bytes:
    """``data`` signed by ``key``, covering ``files`` (name → bytes); an old signature
    section is replaced."""
    body = strip_signature(data)
    digests = file_digests(files or {})
    for name in digests:
        _check_file_name(name, "the module")
    if len(digests) > MAX_FILES:
        raise SignatureInvalid(f"A module can sign at most {MAX_FILES} data files.")
    manifest = SignedManifest(hashlib.sha256(body).hexdigest(), digests).canonical()
    signature = key.sign(signed_message(manifest))
    key_id = bytes.fromhex(key.key_id)
    content = bytes([FORMAT_VERSION, ED25519]) + key_id
    content += u32_bytes(len(manifest)) + manifest
    content += u32_bytes(len(signature)) + signature
    title = SECTION_NAME.encode()
    payload = u32_bytes(len(title)) + title + content
    return body + bytes([CUSTOM_SECTION]) + u32_bytes(len(payload)) + payload


def read_signature(data: bytes, what: str = "the module") -> ModuleSignature | None:
    """The module's signature section parsed, None when it has none; SignatureInvalid
    with a sentence when the section is malformed, repeated or not the last one."""
    found: list[Section] = [s for s in _sections(data, what) if _is_signature(data, s, what)]
    if not found:
        return None
    if len(found) > 1:
        raise SignatureInvalid(
            f"{_cap(what)} has {len(found)} {SECTION_NAME} sections; sign it again "
            "(signing replaces the old section)."
        )
    section = found[0]
    if section.end != len(data):
        raise SignatureInvalid(
            f"{_cap(what)} has bytes after its {SECTION_NAME} section, which the signature "
            "does not cover; sign the module again after changing it."
        )
    return _parse(data, section, what)


def verify_module(
    data: bytes,
    trusted: Mapping[str, PublicKey],
    what: str = "the module",
) -> ModuleSignature:
    """The module's signature when one of ``trusted`` (key id → key) made it over these
    exact bytes; else SignatureInvalid saying why (unsigned, unknown key, altered)."""
    signature = read_signature(data, what)
    if signature is None:
        raise SignatureInvalid(
            f"{_cap(what)} is not signed (it has no {SECTION_NAME} section) and only signed "
            "modules are accepted; sign it with `wasmfleet module sign FILE.wasm --key KEY.key`."
        )
    key = trusted.get(signature.key_id)
    if key is None:
        known = ", ".join(sorted(trusted)) or "none"
        raise SignatureInvalid(
            f"{_cap(what)} is signed by key {signature.key_id}, which is not trusted here "
            f"(trusted keys: {known}); sign it with a trusted key or trust its public key."
        )
    if not key.verifies(signature.signature, signed_message(signature.manifest_bytes)):
        raise SignatureInvalid(
            f"The signature of {what} by key {signature.key_id} does not verify: its signed "
            "manifest was altered or the signature was not made by that key."
        )
    body_sha = hashlib.sha256(memoryview(data)[: signature.body_end]).hexdigest()
    if body_sha != signature.manifest.module_sha256:
        raise SignatureInvalid(
            f"{_cap(what)} was changed after it was signed (its sha256 is {body_sha[:12]}, "
            f"the signature covers {signature.manifest.module_sha256[:12]}); sign it again."
        )
    return signature


def check_files(signature: ModuleSignature, files: Mapping[str, str], what: str) -> None:
    """Refuse data files (name → sha256 hex) the signed manifest does not list with that
    sha256; files it lists but that are not given are fine (a deployment may use fewer)."""
    signed = signature.manifest.files
    for name, sha in sorted(files.items()):
        expected = signed.get(name)
        if expected is None:
            listed = ", ".join(sorted(signed)) or "none"
            raise SignatureInvalid(
                f"Data file {name!r} of {what} is not covered by its signature (signed "
                f"files: {listed}); sign the module with --data {name}=FILE."
            )
        if expected != sha:
            raise SignatureInvalid(
                f"Data file {name!r} of {what} is not the one that was signed (its sha256 is "
                f"{sha[:12]}, the signature covers {expected[:12]}); it was altered or "
                "replaced."
            )


def signer(data: bytes) -> str | None:
    """The key id a module is signed with, None when unsigned or malformed (display only:
    nothing is verified)."""
    try:
        found = read_signature(data)
    except SignatureInvalid:
        return None
    return found.key_id if found is not None else None


# ----- parsing ---------------------------------------------------------------------------


def _sections(data: bytes, what: str) -> list[Section]:
    try:
        return sections(data)
    except ValueError as err:
        raise SignatureInvalid(
            f"{_cap(what)} is not a well-formed WebAssembly binary: {err}."
        ) from None


def _is_signature(data: bytes, section: Section, what: str) -> bool:
    if section.id != CUSTOM_SECTION:
        return False
    try:
        name, _ = custom_name(data, section)
    except ValueError as err:
        raise SignatureInvalid(f"{_cap(what)} has a malformed custom section: {err}.") from None
    return name == SECTION_NAME


def _parse(data: bytes, section: Section, what: str) -> ModuleSignature:
    _, pos = custom_name(data, section)
    end = section.end

    def bad(reason: str) -> SignatureInvalid:
        return SignatureInvalid(
            f"The {SECTION_NAME} section of {what} is malformed ({reason}); sign the module again."
        )

    if end - pos < 2 + KEY_ID_BYTES:
        raise bad("it is too short")
    if data[pos] != FORMAT_VERSION:
        raise bad(f"format version {data[pos]}, this version of wasmfleet reads {FORMAT_VERSION}")
    if data[pos + 1] != ED25519:
        raise bad(f"algorithm {data[pos + 1]}, only Ed25519 ({ED25519}) is known")
    key_id = data[pos + 2 : pos + 2 + KEY_ID_BYTES].hex()
    pos += 2 + KEY_ID_BYTES
    manifest_bytes, pos = _chunk(data, pos, end, MAX_MANIFEST_BYTES, "manifest", bad)
    signature, pos = _chunk(data, pos, end, SIGNATURE_BYTES, "signature", bad)
    if len(signature) != SIGNATURE_BYTES:
        raise bad(f"a signature of {len(signature)} bytes, Ed25519 ones have {SIGNATURE_BYTES}")
    if pos != end:
        raise bad(f"{end - pos} bytes after the signature")
    manifest = _manifest(manifest_bytes, bad)
    return ModuleSignature(key_id, manifest, manifest_bytes, signature, section.start)


def _chunk(data: bytes, pos: int, end: int, limit: int, what: str, bad: _Bad) -> tuple[bytes, int]:
    try:
        length, pos = read_u32(data, pos)
    except ValueError as err:
        raise bad(f"the {what} length: {err}") from None
    if pos > end:
        raise bad(f"the {what} length runs past the section")
    if length > limit:
        raise bad(f"a {what} of {length} bytes, at most {limit} are allowed")
    if pos + length > end:
        raise bad(f"the {what} runs past the section")
    return data[pos : pos + length], pos + length


def _manifest(raw: bytes, bad: _Bad) -> SignedManifest:
    try:
        doc = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise bad("the manifest is not JSON") from None
    if not isinstance(doc, dict) or set(doc) != {"v", "module_sha256", "files"} or doc["v"] != 1:
        raise bad('the manifest is not {"files", "module_sha256", "v": 1}')
    module_sha = doc["module_sha256"]
    files = doc["files"]
    if not isinstance(module_sha, str) or not _SHA.fullmatch(module_sha):
        raise bad("module_sha256 is not 64 lowercase hex digits")
    if not isinstance(files, dict) or len(files) > MAX_FILES:
        raise bad(f"files is not an object of at most {MAX_FILES} entries")
    for name, sha in files.items():
        if not is_safe_name(name) or not isinstance(sha, str) or not _SHA.fullmatch(sha):
            raise bad(f"the entry for data file {name[:40]!r} is not NAME: sha256 hex")
    return SignedManifest(module_sha, dict(files))


class _Bad(Protocol):
    def __call__(self, reason: str) -> SignatureInvalid: ...


def _check_file_name(name: str, what: str) -> None:
    if not is_safe_name(name):
        raise SignatureInvalid(
            f"Data file name {name!r} of {what} is not a plain file name (letters, digits, "
            "'.', '_', '-'); rename it."
        )


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]
