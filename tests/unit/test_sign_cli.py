"""wasmfleet key generate, module sign and module verify: files, modes, sentences, exit codes."""

from __future__ import annotations

import stat
from pathlib import Path

from typer.testing import CliRunner

from tests.support import MODULES
from wasmfleet.cli.main import app
from wasmfleet.core.signing import read_signature

runner = CliRunner()


def run(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.output


def test_generate_sign_verify_and_refusals(tmp_path: Path) -> None:
    wasm = tmp_path / "stamp.wasm"
    wasm.write_bytes((MODULES / "stamp" / "stamp.wasm").read_bytes())
    prefix = tmp_path / "prefix.txt"
    prefix.write_bytes(b"hello, ")
    code, out = run("key", "generate", "--out", str(tmp_path / "dev"))
    assert code == 0, out
    assert stat.S_IMODE((tmp_path / "dev.key").stat().st_mode) == 0o600
    assert "key id" in out
    code, out = run("key", "generate", "--out", str(tmp_path / "dev"))
    assert code == 1 and "exists" in out

    code, out = run("module", "sign", str(wasm), "--key", str(tmp_path / "dev.key"),
                    "--data", f"prefix.txt={prefix}")  # fmt: skip
    assert code == 0, out
    found = read_signature(wasm.read_bytes())
    assert found is not None and set(found.manifest.files) == {"prefix.txt"}
    code, out = run("module", "verify", str(wasm), "--pub", str(tmp_path / "dev.pub"),
                    "--data", f"prefix.txt={prefix}")  # fmt: skip
    assert code == 0 and "verifies" in out, out

    prefix.write_bytes(b"hellO, ")
    code, out = run("module", "verify", str(wasm), "--pub", str(tmp_path / "dev.pub"),
                    "--data", f"prefix.txt={prefix}")  # fmt: skip
    assert code == 1 and "not the one that was signed" in out, out
    run("key", "generate", "--out", str(tmp_path / "other"))
    code, out = run("module", "verify", str(wasm), "--pub", str(tmp_path / "other.pub"))
    assert code == 1 and "not trusted" in out, out
    code, out = run("module", "sign", str(wasm), "--key", str(tmp_path / "dev.pub"))
    assert code == 1 and "not an unencrypted PEM private key" in out, out

    out_file = tmp_path / "again.wasm"
    code, out = run("module", "sign", str(wasm), "--key", str(tmp_path / "other.key"),
                    "--out", str(out_file))  # fmt: skip
    assert code == 0, out
    again = read_signature(out_file.read_bytes())
    assert again is not None and again.manifest.files == {}  # re-signed: old section replaced
