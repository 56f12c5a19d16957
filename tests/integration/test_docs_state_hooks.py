"""The module-author docs' state-hook example works as written: the C block under "New versions
and state" in docs/module-authors.md, compiled with the same flags as modules/build.sh, keeps
its count across a hot swap to a second build of itself."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support import REPO, FileServer, SupervisorProcess
from tests.swap_modules import serve_version, swap_body
from wasmfleet.ml.compile import check_toolchain
from wasmfleet.ml.errors import ToolchainMissing

DOC = REPO / "docs" / "module-authors.md"
PATH = "/docs/modules/ctr/count"


def _toolchain_missing() -> str:
    try:
        check_toolchain("clang")
    except ToolchainMissing as err:
        return err.message
    return ""


MISSING = _toolchain_missing()
pytestmark = [pytest.mark.clang, pytest.mark.skipif(bool(MISSING), reason=MISSING)]


def example_source() -> str:
    """The C block of the docs' state-hook section."""
    text = DOC.read_text()
    section = text[text.index("## New versions and state") :]
    found = re.search(r"```c\n(.*?)```", section, flags=re.S)
    assert found, "docs/module-authors.md lost its state-hook example"
    return found.group(1)


def build(source: Path, out: Path) -> bytes:
    """Compile like modules/build.sh."""
    command = [
        "clang",
        "--target=wasm32-wasi",
        "-mexec-model=reactor",
        "-O2",
        "-std=c11",
        "-Wall",
        "-Wextra",
        "-Werror",
        "-I",
        str(REPO / "modules" / "include"),
        "-Wl,--strip-debug",
        "-o",
        str(out),
        str(source),
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return out.read_bytes()


def test_the_documented_hooks_carry_the_count_across_a_swap(
    start_supervisor: Callable[..., SupervisorProcess], tmp_path: Path
) -> None:
    source = tmp_path / "counter.c"
    source.write_text(example_source())
    first = build(source, tmp_path / "counter.wasm")
    # A second version: the same code with a custom section "build" = "2" (other bytes).
    second = first + bytes([0, 7, 5]) + b"build" + b"2"
    (tmp_path / "served").mkdir()
    with FileServer(tmp_path / "served") as files:
        sup = start_supervisor("docs")

        def deploy(label: str, binary: bytes) -> None:
            served = serve_version(files, label, binary, ["count"])
            answer = sup.deploy(swap_body("docs", "ctr", served, ["count"]))
            assert answer.status_code == 200, answer.text

        def count() -> int:
            answer = sup.get(PATH)
            assert answer.status_code == 200, answer.text
            return int(answer.json()["result"])

        deploy("one", first)
        assert [count() for _ in range(3)] == [1, 2, 3]
        deploy("two", second)
        assert count() == 4  # carried by wasmfleet_snapshot / wasmfleet_restore
        assert sup.get("/api/v1/status").json()["swaps"]["states_carried"] == 1
