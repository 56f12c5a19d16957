"""A C module from nothing: `wasmfleet new x --lang c`, `wasmfleet build` from another folder,
deploy on a real supervisor, call both functions; the scaffold's own test passes; the
worked examples of docs/module-authors.md (modules/alarm/c, modules/hot/c) build; clang's
failures come back with a hint.

Needs Debian's wasm32-wasi toolchain (clang lld wasi-libc libclang-rt-dev-wasm32).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support import REPO, FileServer, SupervisorProcess
from wasmfleet.authoring import toolchain_c
from wasmfleet.core.openapi import description_operations

MISSING = toolchain_c.missing_tools()
pytestmark = [
    pytest.mark.clang,
    pytest.mark.skipif(bool(MISSING), reason=" ".join(MISSING)),
]
EXAMPLES = {"alarm": ["check", "highest"], "hot": ["hot"]}


def wasmfleet(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run the wasmfleet command (this checkout's) in ``cwd``."""
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    return subprocess.run(
        [sys.executable, "-m", "wasmfleet", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )


@pytest.fixture(scope="module")
def scaffold(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`wasmfleet new thermo-x --lang c` in one folder, built from another."""
    parent = tmp_path_factory.mktemp("authors")
    made = wasmfleet("new", "thermo-x", "--lang", "c", cwd=parent)
    assert made.returncode == 0, made.stderr
    folder = parent / "thermo-x"
    assert "wasmfleet build" in made.stdout and f"cd {Path('thermo-x')}" in made.stdout
    assert sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()) == [
        "README.md",
        "src/thermo-x.c",
        "tests/test_thermo_x.py",
        "wasmfleet.toml",
    ]
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    built = wasmfleet("build", str(folder), cwd=elsewhere)
    assert built.returncode == 0, built.stdout + built.stderr
    assert "fahrenheit, shout" in built.stdout
    return folder


@pytest.fixture(scope="module")
def deployed(
    scaffold: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SupervisorProcess]:
    """A real supervisor with the built scaffold deployed as lab/thermo-x."""
    build = scaffold / "build"
    sup = SupervisorProcess(tmp_path_factory.mktemp("sv") / "data", name="authors").start()
    try:
        with FileServer(build) as files:
            answer = sup.deploy(
                {
                    "deploymentId": "lab",
                    "modules": [
                        {
                            "id": "thermo-x",
                            "name": "thermo-x",
                            "urls": {
                                "binary": files.url("thermo-x.wasm"),
                                "description": files.url("description.json"),
                            },
                        }
                    ],
                }
            )
        assert answer.status_code == 200, answer.text
        yield sup
    finally:
        sup.stop()


def test_built_description_names_both_functions(scaffold: Path) -> None:
    doc = json.loads((scaffold / "build" / "description.json").read_text())
    assert list(description_operations(doc)) == ["fahrenheit", "shout"]


def test_deployed_scalar_function_answers(deployed: SupervisorProcess) -> None:
    scalar = deployed.get("/lab/modules/thermo-x/fahrenheit", params={"celsius": "100"})
    assert scalar.status_code == 200, scalar.text
    assert float(scalar.json()["result"]) == 212.0


def test_deployed_bytes_function_answers(deployed: SupervisorProcess) -> None:
    shouted = deployed.post(
        "/lab/modules/thermo-x/shout",
        content=b"hello, fleet",
        headers={"content-type": "text/plain"},
    )
    if shouted.status_code == 415 and "Cannot read a text/plain body" in shouted.text:
        # This supervisor predates HTTP bytes (issue 19, part E), which passes a bytes
        # function's raw body as its input; the scaffold's own test calls shout (below).
        pytest.skip(f"no HTTP bytes in this supervisor yet (part E): {shouted.text}")
    assert shouted.status_code == 200, shouted.text
    assert shouted.json()["result"] == "HELLO, FLEET"


def test_the_scaffold_test_passes(scaffold: Path, tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(scaffold / "tests")],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "3 passed" in done.stdout


@pytest.mark.parametrize("example", sorted(EXAMPLES))
def test_worked_examples_build(example: str, tmp_path: Path) -> None:
    built = wasmfleet(
        "build", str(REPO / "modules" / example / "c"), "--out", str(tmp_path), cwd=tmp_path
    )
    assert built.returncode == 0, built.stdout + built.stderr
    doc = json.loads((tmp_path / "description.json").read_text())
    assert list(description_operations(doc)) == EXAMPLES[example]
    assert (tmp_path / f"{example}.wasm").read_bytes()[:4] == b"\0asm"


def test_existing_folder_and_bad_name_are_refused(scaffold: Path) -> None:
    again = wasmfleet("new", "thermo-x", "--lang", "c", cwd=scaffold.parent)
    assert again.returncode == 1
    assert "already exists and is not an empty folder" in again.stderr
    bad = wasmfleet("new", "../x", "--lang", "c", cwd=scaffold.parent)
    assert bad.returncode == 1 and "is not a module name" in bad.stderr
    lang = wasmfleet("new", "y", "--lang", "cobol", cwd=scaffold.parent)
    assert lang.returncode == 1 and "unknown language 'cobol'" in lang.stderr.lower()
    assert not (scaffold.parent / "y").exists()


def test_guest_path_is_the_installed_headers(tmp_path: Path) -> None:
    done = wasmfleet("guest-path", "c", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    headers = Path(done.stdout.strip())
    assert (headers / "wasmfleet.h").is_file() and (headers / "wasmiot.h").is_file()
    assert (REPO / "modules" / "include").resolve() == headers.resolve()


def module_folder(tmp_path: Path, source: str, **toml: Any) -> Path:
    """A C module folder with one source file."""
    folder = tmp_path / "m"
    (folder / "src").mkdir(parents=True)
    (folder / "src" / "m.c").write_text(source)
    options = "".join(f"{k} = {json.dumps(v)}\n" for k, v in toml.items())
    (folder / "wasmfleet.toml").write_text(f'name = "m"\nlanguage = "c"\n\n[c]\n{options}')
    return folder


DECLARED = """#include "wasmiot.h"
// @wasmfleet function f
WASMIOT_EXPORT("f") int f(void) { return 1; }
"""


@pytest.mark.parametrize(
    ("source", "toml", "expected"),
    [
        (DECLARED, {"cflags": ["-mexec-model=command"]}, "must be built as a reactor"),
        ('#include "wasmfleet_bufer.h"\n' + DECLARED, {}, "did you mean wasmfleet_buffer.h?"),
        (
            "int g(void);\n" + DECLARED.replace("return 1", "return g()"),
            {},
            "g is declared but defined nowhere",
        ),
    ],
)
def test_clang_failures_get_a_hint(
    tmp_path: Path, source: str, toml: dict[str, Any], expected: str
) -> None:
    folder = module_folder(tmp_path, source, **toml)
    done = wasmfleet("build", str(folder), cwd=tmp_path)
    assert done.returncode == 1
    assert "clang could not build m" in done.stderr
    assert "hint: " in done.stderr and expected in done.stderr, done.stderr


def test_declaration_mistakes_stop_the_build_before_clang(tmp_path: Path) -> None:
    folder = module_folder(tmp_path, DECLARED + "// @wasmfleet param x flaot\n")
    done = wasmfleet("build", str(folder), cwd=tmp_path)
    assert done.returncode == 1
    assert "src/m.c:4: unknown type 'flaot' (did you mean f32?)" in done.stderr
    assert "clang" not in done.stdout and not (folder / "build").exists()


def test_a_hand_written_description_wins(tmp_path: Path) -> None:
    folder = module_folder(tmp_path, DECLARED)
    op = {
        "parameters": [],
        "responses": {"200": {"content": {"application/json": {"schema": {"type": "integer"}}}}},
        "x-mounts": [],
    }
    hand = {
        "openapi": "3.0.3",
        "info": {"title": "m", "version": "9"},
        "paths": {"/{deployment}/modules/{module}/f": {"get": op}},
    }
    (folder / "description.json").write_text(json.dumps(hand))
    done = wasmfleet("build", str(folder), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "note: copied the hand-written description.json" in done.stdout
    assert json.loads((folder / "build" / "description.json").read_text()) == hand


def test_no_declarations_and_no_description_is_refused(tmp_path: Path) -> None:
    folder = module_folder(tmp_path, "int f(void) { return 1; }\n")
    done = wasmfleet("build", str(folder), cwd=tmp_path)
    assert done.returncode == 1
    assert "no function is declared in the sources of m (src/m.c)" in done.stderr
