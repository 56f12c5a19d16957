"""An orchestrator with --require-signatures stores only modules signed by a trusted key
(on /api/v1/modules, on the wasmiot /file/module and for new versions) and only data files
their signature lists; refusals are 422 with nothing stored. Module views name the signer."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support import MODULES, OrchestratorProcess
from wasmfleet.core.signing import sign_module
from wasmfleet.core.signing_keys import SigningKey, generate_key
from wasmfleet.core.wasm_sections import sections

KEY = generate_key()
STRANGER = generate_key()
STAMP = (MODULES / "stamp" / "stamp.wasm").read_bytes()
PREFIX = (MODULES / "stamp" / "prefix.txt").read_bytes()


def write_pub(directory: Path, key: SigningKey) -> Path:
    path = directory / f"{key.key_id}.pub"
    path.write_bytes(key.public.pem())
    return path


@pytest.fixture(scope="module")
def strict(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OrchestratorProcess]:
    root = tmp_path_factory.mktemp("strict")
    args = ["--require-signatures", "--trusted-key", str(write_pub(root, KEY))]
    orch = OrchestratorProcess(root / "data", name="strict", args=args).start()
    yield orch
    orch.stop()


def push(orch: OrchestratorProcess, wasm: bytes, name: str = "stamp") -> httpx.Response:
    files = {"wasm": (f"{name}.wasm", wasm, "application/wasm")}
    return orch.post("/api/v1/modules", data={"name": name}, files=files)


def push_wasmiot(orch: OrchestratorProcess, wasm: bytes, name: str = "stamp") -> httpx.Response:
    files = {"module": (f"{name}.wasm", wasm, "application/wasm")}
    return orch.post("/file/module", data={"name": name}, files=files)


def refused(response: httpx.Response, *words: str) -> None:
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "signature_invalid", error
    for word in words:
        assert word in error["message"], error["message"]


def stored(orch: OrchestratorProcess) -> tuple[list[str], list[str]]:
    modules = sorted(
        f"{m['name']}@{m['version']}" for m in orch.get("/api/v1/modules?all=true").json()
    )
    blobs = sorted(p.name for p in (orch.data_dir / "blobs").rglob("*") if p.is_file())
    return modules, blobs


def flip_code_byte(binary: bytes) -> bytes:
    code = next(s for s in sections(binary) if s.id == 10)
    tampered = bytearray(binary)
    tampered[code.start + 40] ^= 0x01
    return bytes(tampered)


def test_unsigned_and_wrongly_signed_uploads_are_refused_with_nothing_stored(
    strict: OrchestratorProcess,
) -> None:
    before = stored(strict)
    refused(push(strict, STAMP), "'stamp'", "not signed")
    refused(push_wasmiot(strict, STAMP), "not signed")
    refused(push(strict, sign_module(STAMP, STRANGER)), f"key {STRANGER.key_id}", "not trusted")
    refused(push(strict, flip_code_byte(sign_module(STAMP, KEY))), "changed after it was signed")
    assert stored(strict) == before


def test_a_signed_module_is_stored_with_its_signer_and_only_signed_data_files(
    strict: OrchestratorProcess,
) -> None:
    signed = sign_module(STAMP, KEY, {"prefix.txt": PREFIX})
    created = push(strict, signed, "signed-stamp")
    assert created.status_code == 201, created.text
    assert created.json()["signed_by"] == KEY.key_id
    assert strict.get("/api/v1/modules/signed-stamp").json()["signed_by"] == KEY.key_id
    assert push_wasmiot(strict, signed, "signed-wasmiot").status_code == 201

    before = stored(strict)
    refused(push(strict, STAMP, "signed-stamp"), "not signed")  # an unsigned new version
    described = "/api/v1/modules/signed-stamp/description"
    bad = strict.post(described, files={"prefix.txt": ("prefix.txt", b"altered")})
    refused(bad, "'prefix.txt'", "not the one that was signed")
    extra = strict.post(described, files={"extra.bin": ("extra.bin", b"x")})
    refused(extra, "'extra.bin'", "not covered")
    assert stored(strict) == before
    good = strict.post(described, files={"prefix.txt": ("prefix.txt", PREFIX)})
    assert good.status_code == 200, good.text
    assert "prefix.txt" in good.json()["data_files"]


def test_without_required_signatures_uploads_show_who_signed_them(tmp_path: Path) -> None:
    orch = OrchestratorProcess(tmp_path / "data", name="open").start()
    try:
        assert push(orch, STAMP, "plain").json()["signed_by"] is None
        assert push(orch, sign_module(STAMP, STRANGER), "signed").json()["signed_by"] == (
            STRANGER.key_id
        )
        listed = {m["name"]: m["signed_by"] for m in orch.get("/api/v1/modules").json()}
        assert listed == {"plain": None, "signed": STRANGER.key_id}
    finally:
        orch.stop()


@pytest.mark.parametrize(
    ("args", "sentence"),
    [
        (["--require-signatures"], "--require-signatures needs at least one --trusted-key"),
        (["--trusted-key", "KEY"], "without --require-signatures"),
        (["--require-signatures", "--trusted-key", "MISSING"], "cannot be read"),
    ],
)
def test_signature_settings_that_cannot_work_stop_the_orchestrator(
    tmp_path: Path, args: list[str], sentence: str
) -> None:
    key = write_pub(tmp_path, KEY)
    args = [
        str(key) if a == "KEY" else str(tmp_path / "none.pub") if a == "MISSING" else a
        for a in args
    ]
    done = subprocess.run(
        [sys.executable, "-m", "wasmfleet", "orchestrator", "--no-mdns", "--port", "1",
         "--data-dir", str(tmp_path / "data"), *args],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert sentence in done.stderr
    assert "Traceback" not in done.stderr
