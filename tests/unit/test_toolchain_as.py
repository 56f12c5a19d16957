"""authoring/toolchain_as.py without running asc: which asc, which command line, which hint."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from wasmfleet.authoring import toolchain_as
from wasmfleet.core.errors import BuildFailed


def module_folder(tmp_path: Path, config: dict[str, object] | None = None) -> Path:
    folder = tmp_path / "mod"
    (folder / "assembly").mkdir(parents=True)
    (folder / "assembly" / "index.ts").write_text("export function f(): i32 { return 1; }\n")
    if config is not None:
        (folder / "asconfig.json").write_text(json.dumps(config))
    return folder


def test_the_folders_own_asc_comes_first(tmp_path: Path) -> None:
    folder = module_folder(tmp_path)
    own = folder / "node_modules" / ".bin" / "asc"
    own.parent.mkdir(parents=True)
    own.write_text("#!/usr/bin/env node\n")
    assert toolchain_as.find_asc(folder) == own
    assert toolchain_as.find_asc(None) != own


def test_nothing_found_says_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(toolchain_as.shutil, "which", lambda _: None)
    monkeypatch.setattr(toolchain_as, "shared_tools", lambda: tmp_path / "none")
    missing = toolchain_as.missing_tools(tmp_path)
    assert len(missing) == 2
    assert missing[0].startswith("Node.js 20 or newer is not installed")
    assert "npm install" in missing[1] and "assemblyscript@0.28" in missing[1]
    with pytest.raises(BuildFailed, match=r"Node\.js 20"):
        toolchain_as.build(tmp_path, "m", tmp_path / "m.wasm", log=lambda _: None)


def test_the_command_line_with_and_without_asconfig(tmp_path: Path) -> None:
    asc, out, lookup = tmp_path / "asc", tmp_path / "out" / "m.wasm", tmp_path / "lookup"
    plain = module_folder(tmp_path)
    command = toolchain_as.asc_command(asc, "node", plain, out, lookup)
    assert command[:3] == ["node", str(asc.resolve()), "assembly/index.ts"]
    assert command[3:] == [
        "--outFile", str(out.resolve()), "--exportStart", "_initialize", "--noColors",
        "--path", str(lookup),
    ]  # fmt: skip
    (plain / "asconfig.json").write_text(
        json.dumps({"entries": ["assembly/index.ts"], "targets": {"release": {}}})
    )
    configured = toolchain_as.asc_command(asc, "node", plain, out, None)
    assert configured[2:6] == ["--config", "asconfig.json", "--target", "release"]
    assert "--path" not in configured


def test_bad_configurations_are_refused_with_a_sentence(tmp_path: Path) -> None:
    folder = module_folder(tmp_path, {"entries": ["src/main.ts"]})
    with pytest.raises(BuildFailed, match=r"lists src/main\.ts as an entry"):
        toolchain_as.asc_command(tmp_path / "asc", "node", folder, tmp_path / "m.wasm", None)
    (folder / "asconfig.json").write_text("{not json")
    with pytest.raises(BuildFailed, match="is not valid JSON"):
        toolchain_as.read_config(folder)
    (folder / "asconfig.json").unlink()
    (folder / "assembly" / "index.ts").unlink()
    with pytest.raises(BuildFailed, match=r"has no assembly/index\.ts"):
        toolchain_as.entries(folder, None)


def test_hints() -> None:
    missing_lib = "ERROR TS6054: File '~lib/wasmfleet/sys.ts' not found."
    assert 'import it as "wasmfleet"' in toolchain_as.hint(missing_lib, "m")
    missing_file = "ERROR TS6054: File 'assembly/util.ts' not found."
    assert "check its path" in toolchain_as.hint(missing_file, "m")
    assert "asconfig.json" in toolchain_as.hint("ERROR AS111: Element 'x' not found.", "m")
    assert toolchain_as.hint("ERROR TS2304: Cannot find name 'y'.", "m").startswith(
        "asc could not compile m"
    )


def test_the_guest_library_is_shipped_beside_the_code() -> None:
    library = toolchain_as.guest_library()
    assert (library / "index.ts").is_file()
    assert json.loads((library / "package.json").read_text())["name"] == "wasmfleet"
    sources = {p.name for p in (library / "assembly").glob("*.ts")}
    assert {"index.ts", "raw.ts", "bytes.ts", "abort.ts"} <= sources
