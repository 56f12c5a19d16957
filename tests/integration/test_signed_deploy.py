"""A supervisor with --trusted-key runs only modules signed by a trusted key over their exact
bytes and data files; every refusal is a 422 naming the module and the reason, made before
anything is compiled or stored, and the running version keeps answering."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.support import FileServer, SupervisorProcess
from tests.swap_modules import serve_file, serve_version, swap_body, version_module
from wasmfleet.core.signing import sign_module
from wasmfleet.core.signing_keys import SigningKey, generate_key
from wasmfleet.core.wasm_sections import sections

Start = Callable[..., SupervisorProcess]
PREFIX = b"hello, "


def deploy_version(
    sup: SupervisorProcess,
    files: FileServer,
    label: str,
    binary: bytes,
    data: dict[str, bytes] | None = None,
    epoch: int = 1,
) -> Any:
    served = serve_version(files, label, binary, ["version"])
    data_files = [
        serve_file(files, f"{label}-{n}", d) | {"name": n} for n, d in (data or {}).items()
    ]
    return sup.deploy(
        swap_body("signed", "ver", served, ["version"], epoch=epoch, data_files=data_files)
    )


def answer(sup: SupervisorProcess) -> str:
    response = sup.get("/signed/modules/ver/version")
    assert response.status_code == 200, response.text
    return str(response.json()["result"])


def write_pub(tmp_path: Path, key: SigningKey, name: str) -> Path:
    path = tmp_path / f"{name}.pub"
    path.write_bytes(key.public.pem())
    return path


def refused(response: Any, *words: str) -> None:
    assert response.status_code == 422, response.text
    body = response.json()["error"]
    assert body["code"] == "signature_invalid", body
    for word in words:
        assert word in body["message"], body["message"]


def flip_code_byte(binary: bytes) -> bytes:
    code = next(s for s in sections(binary) if s.id == 10)
    tampered = bytearray(binary)
    tampered[code.end - 2] ^= 0x04  # the i32.const the function answers
    return bytes(tampered)


def test_only_signed_modules_and_data_files_are_deployed(
    start_supervisor: Start, files: FileServer, tmp_path: Path
) -> None:
    key, stranger = generate_key(), generate_key()
    sup = start_supervisor("signed", args=["--trusted-key", str(write_pub(tmp_path, key, "dev"))])
    v1 = sign_module(version_module(1), key, {"prefix.txt": PREFIX})
    first = deploy_version(sup, files, "v1", v1, {"prefix.txt": PREFIX})
    assert first.status_code == 200, first.text
    assert answer(sup) == "1"
    stored = sorted(p.name for p in (sup.data_dir / "modules").iterdir())

    v2 = version_module(2)
    refused(deploy_version(sup, files, "u2", v2, epoch=2), "'ver'", "not signed")
    refused(
        deploy_version(sup, files, "o2", sign_module(v2, stranger), epoch=2),
        "'ver'",
        f"signed by key {stranger.key_id}",
        "not trusted",
    )
    tampered = flip_code_byte(sign_module(v2, key))
    refused(deploy_version(sup, files, "t2", tampered, epoch=2), "changed after it was signed")
    signed_v2 = sign_module(v2, key, {"prefix.txt": PREFIX})
    refused(
        deploy_version(sup, files, "d2", signed_v2, {"prefix.txt": b"hellO, "}, epoch=2),
        "'prefix.txt'",
        "not the one that was signed",
    )
    refused(
        deploy_version(sup, files, "e2", signed_v2, {"extra.bin": b"x"}, epoch=2),
        "'extra.bin'",
        "not covered",
    )

    assert answer(sup) == "1"  # the running version never stopped
    assert sorted(p.name for p in (sup.data_dir / "modules").iterdir()) == stored
    assert sup.get("/api/v1/status").json()["signatures"] == {"trusted_keys": 1, "refused": 5}

    swapped = deploy_version(sup, files, "s2", signed_v2, {"prefix.txt": PREFIX}, epoch=2)
    assert swapped.status_code == 200, swapped.text
    assert answer(sup) == "2"
    back = deploy_version(sup, files, "v1", v1, {"prefix.txt": PREFIX}, epoch=3)
    assert back.status_code == 200, back.text  # a known version: checked from memory
    assert answer(sup) == "1"


def test_a_restart_restores_signed_deployments(
    start_supervisor: Start, files: FileServer, tmp_path: Path
) -> None:
    key = generate_key()
    args = ["--trusted-key", str(write_pub(tmp_path, key, "dev"))]
    sup = start_supervisor("restart", args=args)
    deployed = deploy_version(sup, files, "r1", sign_module(version_module(7), key))
    assert deployed.status_code == 200, deployed.text
    sup.stop()
    again = start_supervisor("restart", data_dir=sup.data_dir, args=args)
    assert answer(again) == "7"


def test_an_unsigned_deployment_is_not_restored_under_trusted_keys(
    start_supervisor: Start, files: FileServer, tmp_path: Path
) -> None:
    sup = start_supervisor("open")
    assert deploy_version(sup, files, "n1", version_module(3)).status_code == 200
    sup.stop()
    pub = write_pub(tmp_path, generate_key(), "dev")
    again = start_supervisor("open", data_dir=sup.data_dir, args=["--trusted-key", str(pub)])
    assert again.get("/signed/modules/ver/version").status_code == 404
    assert "not signed" in again.log()


@pytest.mark.parametrize("content", [None, b"not a key"])
def test_a_bad_trusted_key_file_stops_the_supervisor_with_a_sentence(
    tmp_path: Path, content: bytes | None
) -> None:
    path = tmp_path / "dev.pub"
    if content is not None:
        path.write_bytes(content)
    done = subprocess.run(
        [sys.executable, "-m", "wasmfleet", "supervisor", "--trusted-key", str(path),
         "--no-mdns", "--data-dir", str(tmp_path / "data"), "--port", "1"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert f"--trusted-key {path}" in done.stderr
    assert "Traceback" not in done.stderr
