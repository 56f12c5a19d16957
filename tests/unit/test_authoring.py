"""wasmfleet new / build without a compiler: scaffolds, wasmfleet.toml, the build dispatcher
(with a stand-in toolchain and checker), guest paths and clang's hints.

The real toolchain, a real supervisor and real clang output: tests/integration/test_author_c.py.
"""

from __future__ import annotations

import json
import sys
import types
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from wasmfleet.authoring import build as build_mod
from wasmfleet.authoring import toolchain_c
from wasmfleet.authoring.guest_paths import guest_path, language_of, package_root
from wasmfleet.authoring.project import read_project
from wasmfleet.cli.author import identifier, scaffold
from wasmfleet.core.errors import BuildFailed, InvalidDocument
from wasmfleet.core.source_decl import DeclarationError

EMPTY_WASM = b"\0asm\x01\0\0\0"
FAKE = "wasmfleet_test_fake_toolchain"
FAKE_CHECKER = "wasmfleet_test_fake_checker"


def test_guest_paths_come_from_the_package_not_the_cwd(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert guest_path("c").is_absolute()
    assert (guest_path("c") / "wasmfleet.h").is_file()
    assert guest_path("c").parent.parent == package_root()
    assert guest_path("rust") == package_root() / "guest" / "rust" / "wasmfleet"
    assert guest_path("as") == package_root() / "guest" / "assemblyscript"


def test_languages_and_their_other_spellings() -> None:
    assert [language_of(n) for n in ("c", "C", "rust", "rs", "as", "ts")] == [
        "c", "c", "rust", "rust", "assemblyscript", "assemblyscript",
    ]  # fmt: skip
    with pytest.raises(ValueError, match="unknown language 'go': use one of c, rust, assemb"):
        language_of("go")


@pytest.mark.parametrize(
    ("name", "ident"), [("alarm", "alarm"), ("my-mod.v2", "my_mod_v2"), ("3d", "m_3d")]
)
def test_identifier(name: str, ident: str) -> None:
    assert identifier(name) == ident


def test_the_c_scaffold_is_filled_in(tmp_path: Path) -> None:
    written = scaffold("my-mod", "c", tmp_path / "my-mod")
    names = sorted(p.relative_to(tmp_path / "my-mod").as_posix() for p in written)
    assert names == ["README.md", "src/my-mod.c", "tests/test_my_mod.py", "wasmfleet.toml"]
    for path in written:
        text = path.read_text()
        assert "__NAME__" not in text and "__IDENT__" not in text, path
    project = read_project(tmp_path / "my-mod")
    assert (project.name, project.language, project.version) == ("my-mod", "c", "0.1.0")
    assert project.options == {"cflags": []}
    assert "build/my-mod.wasm" in (tmp_path / "my-mod" / "README.md").read_text()


def project_folder(tmp_path: Path, toml: str, source: str = "") -> Path:
    """A module folder with this wasmfleet.toml and one source file."""
    folder = tmp_path / "m"
    (folder / "src").mkdir(parents=True)
    (folder / "wasmfleet.toml").write_text(toml)
    (folder / "src" / "m.c").write_text(source)
    return folder


@pytest.mark.parametrize(
    ("toml", "expected"),
    [
        ('name = "a/b"\nlanguage = "c"\n', "name must be a module name"),
        ('name = "m"\nlanguage = "cobol"\n', "unknown language 'cobol'"),
        ('name = "m"\n', "unknown language ''"),
        ('name = "m"\nlanguage = "c"\nversion = 1\n', "version must be a string"),
        ('name = "m"\nlanguage = "c"\nc = 3\n', "[c] must be a table"),
        ('name = "m\nlanguage = "c"\n', "is not valid TOML"),
    ],
)
def test_a_wrong_project_file_is_a_sentence(tmp_path: Path, toml: str, expected: str) -> None:
    with pytest.raises(InvalidDocument) as info:
        read_project(project_folder(tmp_path, toml))
    assert expected in info.value.message


def test_a_folder_without_project_file_says_what_it_needs(tmp_path: Path) -> None:
    with pytest.raises(InvalidDocument) as info:
        read_project(tmp_path)
    assert "has no wasmfleet.toml, so it is not a module folder" in info.value.message
    assert "wasmfleet new NAME --lang c|rust|assemblyscript" in info.value.message


@dataclass(frozen=True)
class Finding:
    level: str
    code: str
    message: str


@pytest.fixture
def fake_toolchain(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    """A stand-in toolchain for language c that writes an empty module and records calls."""
    state: dict[str, Any] = {"missing": [], "built": []}
    module = types.ModuleType(FAKE)
    module.LANGUAGE = "c"  # type: ignore[attr-defined]
    module.SOURCE_SUFFIXES = (".c", ".h")  # type: ignore[attr-defined]
    module.missing_tools = lambda: list(state["missing"])  # type: ignore[attr-defined]

    def fake_build(folder: Path, name: str, out: Path, *, log: Callable[[str], None]) -> None:
        state["built"].append((folder, name, out))
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(EMPTY_WASM)

    module.build = fake_build  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, f"wasmfleet.authoring.{FAKE}", module)
    monkeypatch.setitem(build_mod.TOOLCHAINS, "c", FAKE)
    monkeypatch.setattr(build_mod, "CHECKER", "wasmfleet_test_no_such_checker")
    yield state


DECLARED = "// @wasmfleet module other 2.0.0\n// @wasmfleet function f\n// @wasmfleet returns i32\n"


def test_build_writes_wasm_and_generated_description(
    tmp_path: Path, fake_toolchain: dict[str, Any]
) -> None:
    folder = project_folder(tmp_path, 'name = "m"\nlanguage = "c"\n', DECLARED)
    lines: list[str] = []
    result = build_mod.build_folder(folder, log=lines.append)
    # the declared module name and version win over wasmfleet.toml's, with a note
    assert result.name == "other" and result.wasm == folder.resolve() / "build" / "other.wasm"
    assert fake_toolchain["built"] == [(folder.resolve(), "other", result.wasm)]
    doc = json.loads(result.description.read_text())
    assert doc["info"]["version"] == "2.0.0"
    assert list(doc["paths"]) == ["/{deployment}/modules/{module}/f"]
    assert result.functions == ("f",)
    assert result.notes == (
        "the sources declare module other, wasmfleet.toml says m: building other.",
    )
    assert (result.checked, result.findings, result.ok) == (False, (), True)
    assert any(line.startswith("wrote") and "1 function(s): f" in line for line in lines)


def test_build_out_dir_and_a_hand_written_description(
    tmp_path: Path, fake_toolchain: dict[str, Any]
) -> None:
    folder = project_folder(tmp_path, 'name = "m"\nlanguage = "c"\n', DECLARED)
    hand = {"openapi": "3.0.3", "paths": {"/{deployment}/modules/{module}/g": {"get": {}}}}
    (folder / "description.json").write_text(json.dumps(hand))
    result = build_mod.build_folder(folder, tmp_path / "out", log=lambda _: None)
    assert result.description == (tmp_path / "out" / "description.json").resolve()
    assert json.loads(result.description.read_text()) == hand
    assert result.functions == ("g",)
    assert (
        "copied the hand-written description.json (the @wasmfleet declarations are not used)"
        in (result.notes[-1])
    )


def test_declaration_mistakes_stop_before_the_toolchain_runs(
    tmp_path: Path, fake_toolchain: dict[str, Any]
) -> None:
    folder = project_folder(tmp_path, 'name = "m"\nlanguage = "c"\n', "// @wasmfleet functon f\n")
    with pytest.raises(DeclarationError, match=r"src/m\.c:1: unknown keyword 'functon'"):
        build_mod.build_folder(folder, log=lambda _: None)
    assert fake_toolchain["built"] == []


def test_missing_tools_and_missing_toolchains_are_sentences(
    tmp_path: Path, fake_toolchain: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = project_folder(tmp_path, 'name = "m"\nlanguage = "c"\n', DECLARED)
    fake_toolchain["missing"] = ["clang is missing: sudo apt-get install clang."]
    with pytest.raises(BuildFailed, match="cannot build c here: clang is missing"):
        build_mod.build_folder(folder, log=lambda _: None)
    monkeypatch.setitem(build_mod.TOOLCHAINS, "c", "toolchain_nothing_here")
    with pytest.raises(BuildFailed) as info:
        build_mod.build_folder(folder, log=lambda _: None)
    assert info.value.message.startswith("the c toolchain module is not installed")


def test_no_declaration_and_no_description_is_refused(
    tmp_path: Path, fake_toolchain: dict[str, Any]
) -> None:
    folder = project_folder(tmp_path, 'name = "m"\nlanguage = "c"\n', "int f(void);\n")
    with pytest.raises(
        BuildFailed, match=r"no function is declared in the sources of m \(src/m.c\)"
    ):
        build_mod.build_folder(folder, log=lambda _: None)


def test_sources_skip_outputs_tests_and_hidden_folders(tmp_path: Path) -> None:
    for name in ("src/a.c", "src/x/b.h", "build/c.c", "tests/d.c", ".git/e.c", "f.c", "g.py"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(name)
    assert list(build_mod.source_texts(tmp_path, (".c", ".h"))) == ["f.c", "src/a.c", "src/x/b.h"]


def test_the_checker_runs_when_installed(
    tmp_path: Path, fake_toolchain: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[tuple[bytes, dict[str, Any]]] = []

    def check_module(wasm: bytes, description: dict[str, Any]) -> Any:
        seen.append((wasm, description))
        finding = Finding("error", "missing_export", "f is described but not exported.")
        return types.SimpleNamespace(findings=(finding,), ok=False)

    checker = types.ModuleType(FAKE_CHECKER)
    checker.check_module = check_module  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, FAKE_CHECKER, checker)
    monkeypatch.setattr(build_mod, "CHECKER", FAKE_CHECKER)
    folder = project_folder(tmp_path, 'name = "m"\nlanguage = "c"\n', DECLARED)
    lines: list[str] = []
    result = build_mod.build_folder(folder, log=lines.append)
    assert seen[0][0] == EMPTY_WASM and "paths" in seen[0][1]
    assert (result.checked, result.ok) == (True, False)
    assert "error: f is described but not exported. [missing_export]" in lines
    assert lines[-1] == "checked: 1 error(s), 0 warning(s)"


@pytest.mark.parametrize(
    ("output", "expected"),
    [
        (
            "wasm-ld-14: error: /usr/lib/wasm32-wasi/libc.a(__main_argc_argv.o): "
            "undefined symbol: main",
            "must be built as a reactor: pass -mexec-model=reactor",
        ),
        ("wasm-ld: error: x.o: undefined symbol: __original_main", "built as a reactor"),
        ("wasm-ld-14: error: /tmp/c.o: undefined symbol: read_dht", "read_dht is declared but"),
        ("m.c:1:10: fatal error: 'wasmiot.hh' file not found", "did you mean wasmiot.h?"),
        ("m.c:1:10: fatal error: 'stdio.h' file not found", "sudo apt-get install wasi-libc"),
        (
            'clang: error: unable to execute command: Executable "wasm-ld" doesn\'t exist!',
            "sudo apt-get install lld",
        ),
        (
            "wasm-ld: error: cannot open /usr/lib/llvm-14/lib/clang/14.0.6/lib/wasi/"
            "libclang_rt.builtins-wasm32.a: No such file or directory",
            "sudo apt-get install libclang-rt-dev-wasm32",
        ),
        ("wasm-ld: error: cannot open crt1-reactor.o", "sudo apt-get install wasi-libc"),
    ],
)
def test_clang_output_gets_a_hint(output: str, expected: str) -> None:
    hint = toolchain_c.hint(output)
    assert hint is not None and expected in hint


def test_unknown_clang_output_gets_no_hint() -> None:
    assert toolchain_c.hint("m.c:3:5: error: use of undeclared identifier 'x'") is None
