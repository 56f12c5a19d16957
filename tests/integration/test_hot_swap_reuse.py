"""A redeploy reuses what the device holds by sha256 — descriptions and data files — and
downloads again what the document does not name by its sha256; a wrong sha256 is refused.

The files a redeploy could reuse are deleted from the file server first: a download would
answer 404 and fail the deploy, so success shows nothing was downloaded."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import wasmtime

from tests.support import FileServer, SupervisorProcess
from tests.swap_modules import serve_file, serve_version, swap_body, version_module

Start = Callable[..., SupervisorProcess]
PATH = "/live/modules/ver/version"


def answer(sup: SupervisorProcess) -> str:
    response = sup.get(PATH)
    assert response.status_code == 200, response.text
    return str(response.json()["result"])


def served_dir(tmp_path: Path) -> Path:
    root = tmp_path / "served"
    root.mkdir()
    return root


def test_description_named_by_sha256_is_not_downloaded_again(
    start_supervisor: Start, tmp_path: Path
) -> None:
    root = served_dir(tmp_path)
    with FileServer(root) as files:
        sup = start_supervisor("reuse-desc")
        versions = [serve_version(files, f"v{v}", version_module(v), ["version"]) for v in (1, 2)]
        bodies = [swap_body("live", "ver", v, ["version"]) for v in versions]
        for body in bodies:
            assert sup.deploy(body).status_code == 200
        for served in root.glob("swap/*"):
            served.unlink()  # nothing left to download

        assert sup.deploy(bodies[0]).status_code == 200
        assert answer(sup) == "1"
        status = sup.get("/api/v1/status").json()
        # Both versions have the same description (same bytes, same sha256): the second
        # deploy reused it already, the third is the one after the files were deleted.
        assert status["reuse"]["descriptions"]["hits"] == 2

        # The cache is seeded from the stored deployment after a restart.
        sup.stop()
        sup.start()
        assert sup.deploy(bodies[0]).status_code == 200
        assert answer(sup) == "1"


def test_description_without_sha256_is_downloaded_each_time(
    start_supervisor: Start, tmp_path: Path
) -> None:
    root = served_dir(tmp_path)
    with FileServer(root) as files:
        sup = start_supervisor("no-sha")
        served = serve_version(files, "v1", version_module(1), ["version"])
        body = swap_body("live", "ver", served, ["version"], description_sha=False)
        assert sup.deploy(body).status_code == 200
        (root / "swap" / "v1.json").unlink()

        again = sup.deploy(body)
        assert again.status_code == 422, again.text
        assert "description of module 'ver'" in again.json()["error"]["message"]
        assert answer(sup) == "1"  # the installed version is untouched


def test_wrong_description_sha256_is_refused_and_the_old_version_stays(
    start_supervisor: Start, tmp_path: Path
) -> None:
    with FileServer(served_dir(tmp_path)) as files:
        sup = start_supervisor("bad-sha")
        versions = [serve_version(files, f"v{v}", version_module(v), ["version"]) for v in (1, 2)]
        assert sup.deploy(swap_body("live", "ver", versions[0], ["version"])).status_code == 200
        wrong = dict(versions[1], description_sha256=hashlib.sha256(b"other").hexdigest())

        refused = sup.deploy(swap_body("live", "ver", wrong, ["version"]))
        assert refused.status_code == 422, refused.text
        error = refused.json()["error"]
        assert error["code"] == "checksum_mismatch"
        assert "description of module 'ver'" in error["message"]
        assert answer(sup) == "1"


def test_data_files_named_by_sha256_are_reused_and_changed_ones_downloaded(
    start_supervisor: Start, tmp_path: Path
) -> None:
    root = served_dir(tmp_path)
    with FileServer(root) as files:
        sup = start_supervisor("reuse-files")
        versions = [serve_version(files, f"v{v}", version_module(v), ["version"]) for v in (1, 2)]
        model = serve_file(files, "model.bin", bytes(range(256)) * 64)
        first = sup.deploy(swap_body("live", "ver", versions[0], ["version"], data_files=[model]))
        assert first.status_code == 200, first.text
        (root / "swap" / "files" / "model.bin").unlink()

        reused = sup.deploy(swap_body("live", "ver", versions[1], ["version"], data_files=[model]))
        assert reused.status_code == 200, reused.text
        assert answer(sup) == "2"
        laid_out = sup.data_dir / "deployments" / "live" / "files" / "ver" / "model.bin"
        assert laid_out.read_bytes() == bytes(range(256)) * 64
        assert sup.get("/api/v1/status").json()["reuse"]["files_reused"] == 1

        # New bytes under the same name have a new sha256: downloaded, then laid out.
        changed = serve_file(files, "model.bin", b"second model")
        body = swap_body("live", "ver", versions[0], ["version"], data_files=[changed])
        assert sup.deploy(body).status_code == 200
        assert answer(sup) == "1"
        assert laid_out.read_bytes() == b"second model"

        # A wrong sha256 for a data file the device does not hold is refused.
        wrong = dict(changed, sha256=hashlib.sha256(b"third").hexdigest())
        body = swap_body("live", "ver", versions[1], ["version"], data_files=[wrong])
        refused = sup.deploy(body)
        assert refused.status_code == 422, refused.text
        assert refused.json()["error"]["code"] == "checksum_mismatch"
        assert answer(sup) == "1"


START_WAT = """
(module
  (global $base (mut i32) (i32.const 0))
  (func $start (global.set $base (i32.const 100)))
  (start $start)
  (func (export "version") (result i32) (i32.add (global.get $base) (i32.const VERSION))))
"""


def start_module(version: int) -> bytes:
    return bytes(wasmtime.wat2wasm(START_WAT.replace("VERSION", str(version))))


def test_versions_with_a_start_function_still_swap_and_run_it(
    start_supervisor: Start, tmp_path: Path
) -> None:
    # Instantiating these runs guest code, so their swaps build on a worker thread, never
    # on the event loop; the start function must have run in every new instance.
    with FileServer(served_dir(tmp_path)) as files:
        sup = start_supervisor("start-fn")
        versions = [serve_version(files, f"s{v}", start_module(v), ["version"]) for v in (1, 2)]
        bodies = [swap_body("live", "ver", v, ["version"]) for v in versions]
        for body, expected in zip([*bodies, *bodies], ["101", "102", "101", "102"], strict=True):
            assert sup.deploy(body).status_code == 200
            assert answer(sup) == expected
        assert sup.get("/api/v1/status").json()["runtime"]["compiled"] == 2
