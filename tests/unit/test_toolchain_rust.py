"""toolchain_rust without a compiler: what it tells an author, the names it gives rustc."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from wasmfleet.authoring import toolchain_rust
from wasmfleet.core.errors import BuildFailed


def test_no_rustc_with_the_wasi_target_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(toolchain_rust, "_candidates", lambda: [])
    [sentence] = toolchain_rust.missing_tools()
    assert "apt-get install rustc libstd-rust-dev-wasm32" in sentence
    assert "tried: none found" in sentence
    with pytest.raises(BuildFailed, match="apt-get install rustc libstd-rust-dev-wasm32"):
        toolchain_rust.build(tmp_path, "m", tmp_path / "build" / "m.wasm", log=print)


def test_the_interface_build_dispatches_on() -> None:
    assert toolchain_rust.LANGUAGE == "rust"
    assert toolchain_rust.SOURCE_SUFFIXES == (".rs",)
    assert (toolchain_rust.crate_dir() / "src" / "lib.rs").is_file()


@pytest.mark.parametrize(
    ("name", "crate"),
    [("hot", "hot"), ("my-mod", "my_mod"), ("a.b", "a_b"), ("7up", "m_7up")],
)
def test_module_names_become_crate_names(name: str, crate: str) -> None:
    assert toolchain_rust.crate_name(name) == crate


def test_cargo_config_points_cargo_at_the_compiler_and_the_crate() -> None:
    rustc = toolchain_rust.Rustc(
        path="/usr/bin/rustc", version="rustc 1.63.0", target="wasm32-wasi"
    )
    text = toolchain_rust.cargo_config(rustc)
    assert text.startswith(toolchain_rust.CARGO_MARKER)
    config = tomllib.loads(text)
    assert config["build"] == {"target": "wasm32-wasi", "rustc": "/usr/bin/rustc"}
    assert config["net"] == {"offline": True}
    assert config["patch"]["crates-io"]["wasmfleet"] == {"path": str(toolchain_rust.crate_dir())}


def test_an_unknown_edition_is_refused_with_the_ones_rustc_knows(tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "lib.rs").write_text("")
    (tmp_path / "Cargo.toml").write_text('[package]\nname = "m"\nedition = "2024"\n')
    with pytest.raises(BuildFailed, match=r"edition 2024.*2015, 2018, 2021"):
        toolchain_rust.edition_of(tmp_path)
