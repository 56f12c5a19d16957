"""The isomorphic proof: example modules built from their C source in the test run unchanged in
the dashboard's in-browser preview (Debian's Chromium), in ``wasmfleet run`` and on a device of
a real fleet, and the three answers are equal.

The binaries are built here (modules/build.sh into a temporary folder), uploaded as they are,
and the browser is checked to have fetched those very bytes from the orchestrator.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.browser.browser_support import LocalFleet, Watch
from tests.browser.test_preview import open_preview, run_preview
from tests.support import MODULES, REPO, description

Browser = tuple[Any, Watch]
SAMPLE = REPO / "src" / "wasmfleet" / "assets" / "sample.jpg"
BUILT = ("fibo", "imginfo")
pytestmark = pytest.mark.clang


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """fibo and imginfo compiled from modules/*/ *.c with Debian's clang, for wasm32-wasi."""
    if shutil.which("clang") is None:
        pytest.skip("needs Debian's clang: apt-get install clang lld wasi-libc")
    out = tmp_path_factory.mktemp("built")
    done = subprocess.run(
        ["bash", str(MODULES / "build.sh"), "-o", str(out), *BUILT],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if done.returncode != 0 and "apt-get install" in done.stderr:
        pytest.skip(done.stderr.strip())  # the toolchain is incomplete, not the module
    assert done.returncode == 0, done.stderr
    return {name: out / f"{name}.wasm" for name in BUILT}


@pytest.fixture(scope="module")
def deployed(fleet: LocalFleet, built: dict[str, Path]) -> dict[str, str]:
    """The built binaries uploaded with their committed descriptions, one deployment each;
    module name -> the sha256 of the bytes uploaded."""
    shas = {}
    for name, (function, deployment) in {
        "fibo": ("fibo", "iso-fibo"),
        "imginfo": ("pixels", "iso-pixels"),
    }.items():
        wasm = built[name].read_bytes()
        fleet.upload(name, wasm, description(name))
        fleet.deploy({"name": deployment, "steps": [{"module": name, "function": function}]})
        shas[name] = hashlib.sha256(wasm).hexdigest()
    return shas


def local_run(wasm: Path, *args: str | Path, cwd: Path) -> dict[str, Any]:
    """``wasmfleet run WASM ARGS --json`` with the module's committed description."""
    described = MODULES / wasm.stem / "description.json"
    command = [sys.executable, "-m", "wasmfleet", "run", str(wasm), *map(str, args)]
    done = subprocess.run(
        [*command, "--json", "--description", str(described)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    line: dict[str, Any] = json.loads(done.stdout)
    return line


def served_wasm(page: Any) -> list[bytes]:
    """Collects the bodies of the .wasm responses the page receives."""
    bodies: list[bytes] = []
    page.on("response", lambda r: bodies.append(r.body()) if r.url.endswith("/wasm") else None)
    return bodies


def test_fibo_built_from_source_answers_the_same_in_three_places(
    fleet: LocalFleet, deployed: dict[str, str], built: dict[str, Path], browser: Browser,
    tmp_path: Path,
) -> None:  # fmt: skip
    page, _ = browser
    bodies = served_wasm(page)
    open_preview(page, fleet, "fibo")
    for n in ("7", "90", "100"):  # 100: past i64, wraps the same way everywhere
        results = run_preview(page, {"iterations": n})
        in_browser = results.locator("[data-side='browser']").get_attribute("data-result")
        on_device_cell = results.locator("[data-side='device']").get_attribute("data-result")
        on_device = fleet.execute("iso-fibo", json={"args": {"iterations": int(n)}})
        local = local_run(built["fibo"], "fibo", f"iterations={n}", cwd=tmp_path)
        assert in_browser == on_device_cell == on_device["steps"][0]["result"] == local["result"]
    assert local["result"] == "3736710778780434371"
    assert [hashlib.sha256(b).hexdigest() for b in bodies] == [deployed["fibo"]]


def test_imginfo_built_from_source_reads_the_same_file_in_three_places(
    fleet: LocalFleet, deployed: dict[str, str], built: dict[str, Path], browser: Browser,
    tmp_path: Path,
) -> None:  # fmt: skip
    page, _ = browser
    bodies = served_wasm(page)
    open_preview(page, fleet, "imginfo")
    results = run_preview(page, files={"image.jpg": SAMPLE})
    in_browser = results.locator("[data-side='browser']").get_attribute("data-result")
    on_device_cell = results.locator("[data-side='device']").get_attribute("data-result")
    jpeg = ("image.jpg", SAMPLE.read_bytes(), "image/jpeg")
    on_device = fleet.execute("iso-pixels", files={"image.jpg": jpeg})["steps"][0]["result"]
    local = local_run(built["imginfo"], "pixels", "--file", f"image.jpg={SAMPLE}", cwd=tmp_path)
    assert in_browser == on_device_cell == on_device == local["result"]
    from PIL import Image

    with Image.open(SAMPLE) as picture:
        assert local["result"] == str(picture.size[0] * picture.size[1])
    assert [hashlib.sha256(b).hexdigest() for b in bodies] == [deployed["imginfo"]]
