"""Signed modules: the section layout, re-signing, tampering, and malformed sections."""

from __future__ import annotations

import hashlib
import json

import pytest
import wasmtime

from wasmfleet.core.errors import ConfigurationError, SignatureInvalid
from wasmfleet.core.signing import (
    DOMAIN,
    SECTION_NAME,
    check_files,
    read_signature,
    sign_module,
    signer,
    strip_signature,
    verify_module,
)
from wasmfleet.core.signing_keys import (
    generate_key,
    private_key_from_pem,
    public_key_from_pem,
)
from wasmfleet.core.wasm_sections import custom_name, sections, u32_bytes

MODULE = bytes(
    wasmtime.wat2wasm(
        '(module (memory 1) (func (export "f") (param i32) (result i32)'
        " (i32.add (local.get 0) (i32.const 41))))"
    )
)
KEY = generate_key()
OTHER = generate_key()
TRUSTED = {KEY.key_id: KEY.public}
FILES = {"model.bin": b"\x00\x01weights", "prefix.txt": b"hello"}


def file_shas(files: dict[str, bytes]) -> dict[str, str]:
    return {name: hashlib.sha256(data).hexdigest() for name, data in files.items()}


def custom(name: str, content: bytes) -> bytes:
    payload = u32_bytes(len(name.encode())) + name.encode() + content
    return b"\x00" + u32_bytes(len(payload)) + payload


def test_round_trip_and_the_section_is_last() -> None:
    signed = sign_module(MODULE, KEY, FILES)
    assert signed.startswith(MODULE)  # signing only appends
    last = sections(signed)[-1]
    assert custom_name(signed, last)[0] == SECTION_NAME
    found = verify_module(signed, TRUSTED)
    assert found.key_id == KEY.key_id and len(found.key_id) == 32
    assert found.manifest.module_sha256 == hashlib.sha256(MODULE).hexdigest()
    assert dict(found.manifest.files) == file_shas(FILES)
    check_files(found, file_shas(FILES), "module m")
    check_files(found, file_shas({"prefix.txt": FILES["prefix.txt"]}), "module m")  # a subset
    assert signer(signed) == KEY.key_id and signer(MODULE) is None
    assert strip_signature(signed) == MODULE
    wasmtime.Module(wasmtime.Engine(), signed)  # still a module a runtime accepts


def test_re_signing_replaces_the_old_section() -> None:
    once = sign_module(MODULE, OTHER)
    twice = sign_module(once, KEY, FILES)
    names = [custom_name(twice, s)[0] for s in sections(twice) if s.id == 0]
    assert names == [SECTION_NAME]
    assert verify_module(twice, TRUSTED).key_id == KEY.key_id
    assert sign_module(twice, KEY, FILES) == twice  # Ed25519 is deterministic


def test_a_flipped_byte_in_the_code_is_refused() -> None:
    signed = bytearray(sign_module(MODULE, KEY))
    code = next(s for s in sections(bytes(signed)) if s.id == 10)
    signed[code.end - 2] ^= 0x01  # inside the function body
    with pytest.raises(SignatureInvalid, match=r"changed after it was signed"):
        verify_module(bytes(signed), TRUSTED)


def test_every_flipped_byte_before_the_section_is_refused() -> None:
    signed = sign_module(MODULE, KEY)
    for index in range(len(MODULE)):
        tampered = bytearray(signed)
        tampered[index] ^= 0x40
        with pytest.raises(SignatureInvalid):
            verify_module(bytes(tampered), TRUSTED)


def test_a_flipped_byte_in_a_data_file_is_refused() -> None:
    found = verify_module(sign_module(MODULE, KEY, FILES), TRUSTED)
    tampered = {"model.bin": b"\x00\x01weightz", "prefix.txt": FILES["prefix.txt"]}
    with pytest.raises(SignatureInvalid, match=r"'model.bin'.*not the one that was signed"):
        check_files(found, file_shas(tampered), "module m")
    with pytest.raises(SignatureInvalid, match=r"'extra.bin'.*not covered"):
        check_files(found, file_shas({**FILES, "extra.bin": b"x"}), "module m")


def test_unsigned_and_other_keys_are_refused() -> None:
    with pytest.raises(SignatureInvalid, match=r"is not signed"):
        verify_module(MODULE, TRUSTED, "module 'm'")
    with pytest.raises(SignatureInvalid, match=f"signed by key {OTHER.key_id}.*not trusted"):
        verify_module(sign_module(MODULE, OTHER), TRUSTED)


def test_a_forged_section_with_a_trusted_key_id_is_refused() -> None:
    """Another key signs, but the section claims the trusted key's id."""
    forged = sign_module(MODULE, OTHER)
    at = forged.index(bytes.fromhex(OTHER.key_id))
    forged = forged[:at] + bytes.fromhex(KEY.key_id) + forged[at + 16 :]
    with pytest.raises(SignatureInvalid, match=r"does not verify"):
        verify_module(forged, TRUSTED)


def test_a_section_not_last_is_refused() -> None:
    signed = sign_module(MODULE, KEY)
    with pytest.raises(SignatureInvalid, match=r"bytes after"):
        verify_module(signed + custom("extra", b"x"), TRUSTED)
    doubled = signed + sections_bytes(signed)[-1]
    with pytest.raises(SignatureInvalid, match=r"2 wasmfleet.signature sections"):
        read_signature(doubled)
    assert verify_module(sign_module(doubled, KEY), TRUSTED)  # signing again repairs it


def sections_bytes(data: bytes) -> list[bytes]:
    return [data[s.start : s.end] for s in sections(data)]


def _content(manifest: bytes, signature: bytes = b"s" * 64, head: bytes | None = None) -> bytes:
    head = bytes([1, 1]) + bytes(16) if head is None else head
    return head + u32_bytes(len(manifest)) + manifest + u32_bytes(len(signature)) + signature


GOOD_MANIFEST = json.dumps(
    {"files": {}, "module_sha256": "0" * 64, "v": 1}, separators=(",", ":")
).encode()


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"", "too short"),
        (bytes([1, 1]) + bytes(5), "too short"),
        (bytes([2, 1]) + bytes(16) + b"\0\0", "format version 2"),
        (bytes([1, 7]) + bytes(16) + b"\0\0", "algorithm 7"),
        (bytes([1, 1]) + bytes(16) + b"\xff\xff\xff\xff\xff\xff", "manifest length"),
        (bytes([1, 1]) + bytes(16) + b"\xff\xff\x7f", "at most 65536"),
        (bytes([1, 1]) + bytes(16) + b"\x10{}", "runs past"),
        (_content(GOOD_MANIFEST, b"s" * 63), "63 bytes"),
        (_content(GOOD_MANIFEST, b"s" * 65), "at most 64"),
        (_content(GOOD_MANIFEST) + b"zz", "after the signature"),
        (_content(b"\xff\xfe"), "not JSON"),
        (_content(b"[1]"), "is not {"),
        (_content(b'{"v":2,"module_sha256":"","files":{}}'), "is not {"),
        (_content(b'{"v":1,"module_sha256":"AB","files":{}}'), "64 lowercase hex"),
        (_content(b'{"v":1,"module_sha256":"' + b"0" * 64 + b'","files":[]}'), "files is not"),
        (
            _content(b'{"v":1,"module_sha256":"' + b"0" * 64 + b'","files":{"../x":"00"}}'),
            "data file '../x'",
        ),
    ],
)
def test_malformed_sections_are_refused_with_a_reason(content: bytes, reason: str) -> None:
    data = MODULE + custom(SECTION_NAME, content)
    with pytest.raises(SignatureInvalid, match=r"malformed") as caught:
        verify_module(data, TRUSTED)
    assert reason in caught.value.message
    assert signer(data) is None


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\0asm",
        MODULE[:-3],
        MODULE + b"\x00\x05\x09abc",  # a custom name longer than its section
        MODULE + b"\x00\x03\x02\xff\xfe",  # a name that is not UTF-8
    ],
)
def test_broken_binaries_are_refused_not_crashed(data: bytes) -> None:
    with pytest.raises(SignatureInvalid):
        verify_module(data, TRUSTED)


def test_signed_message_is_domain_separated() -> None:
    found = verify_module(sign_module(MODULE, KEY), TRUSTED)
    assert KEY.public.verifies(found.signature, DOMAIN + found.manifest_bytes)
    assert not KEY.public.verifies(found.signature, found.manifest_bytes)


def test_keys_round_trip_through_pem_and_bad_pem_is_refused() -> None:
    again = private_key_from_pem(KEY.pem(), "k.key")
    assert again.key_id == KEY.key_id
    assert public_key_from_pem(KEY.public.pem(), "k.pub").key_id == KEY.key_id
    with pytest.raises(ConfigurationError, match=r"k.pub is not a PEM public key"):
        public_key_from_pem(b"nonsense", "k.pub")
    with pytest.raises(ConfigurationError, match=r"k.key is not an unencrypted PEM private key"):
        private_key_from_pem(KEY.public.pem(), "k.key")
    with pytest.raises(ConfigurationError, match=r"not a PEM public key"):
        public_key_from_pem(KEY.pem(), "k.pub")
