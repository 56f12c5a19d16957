"""The isomorphic preview in Debian's Chromium: the same .wasm in the browser and on a device.

A real orchestrator (auth on) and a real supervisor on loopback; the harness page
(tests/browser/preview_support.py) mounts the preview, the executions page and the waterfall.
Every test fails on a console error and on a request that leaves loopback.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.browser.preview_support import HarnessServer
from tests.integration.fleet import Fleet
from tests.support import REPO, wait_until

CHROMIUM = Path("/usr/bin/chromium")
FAILED_LOAD = "Failed to load resource: the server responded with a status of"
SAMPLE = REPO / "src" / "wasmfleet" / "assets" / "sample.jpg"
SHOTS = REPO / "docs" / "images"
DEPLOYMENTS = {
    "fibo-run": ("fibo", "fibo"),
    "pixels-run": ("imginfo", "pixels"),
    "camera-run": ("camera", "take_image"),
}

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
if not CHROMIUM.exists():
    pytest.skip("Debian's Chromium (/usr/bin/chromium) is not installed", allow_module_level=True)


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    """One orchestrator with auth on and one device, three single-step deployments."""
    root = tmp_path_factory.mktemp("preview")
    token_file = root / "admin.token"
    fleet = Fleet(
        root, ["--auth", "on", "--admin-token-file", str(token_file), "--open-device-routes"]
    )
    try:
        fleet.orchestrator.start()
        assert wait_until(token_file.exists, timeout=10)
        fleet.token = token_file.read_text().strip()  # type: ignore[attr-defined]
        fleet.http.headers["Authorization"] = f"Bearer {fleet.token}"  # type: ignore[attr-defined]
        fleet.start_supervisor("dev1", "--camera", "simulated")
        fleet.wait_active("dev1")
        for name, (module, function) in DEPLOYMENTS.items():
            fleet.push(module)
            manifest = {"name": name, "steps": [{"module": module, "function": function}]}
            r = fleet.http.post("/api/v1/deployments", json=manifest)
            assert r.status_code == 201, r.text
        yield fleet
    finally:
        fleet.stop()


@pytest.fixture(scope="module")
def harness(fleet: Fleet) -> Iterator[HarnessServer]:
    with HarnessServer(fleet.url) as server:
        yield server


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        yield chromium
        chromium.close()


class Watch:
    """Console errors, page errors and requests off loopback seen by a page."""

    def __init__(self) -> None:
        self.errors: list[str] = []
        self.offsite: list[str] = []
        self.requests: list[str] = []
        self.allowed: set[int] = set()
        """HTTP statuses a test expects (Chromium logs every 4xx answer as a console error)."""

    def console(self, kind: str, text: str) -> None:
        """Record a console error unless it is the log line of an expected status."""
        if kind != "error":
            return
        for status in self.allowed:
            if text.startswith(
                f"Failed to load resource: the server responded with a status of {status} "
            ):
                return
        self.errors.append(text)


@pytest.fixture
def page(browser: Any, harness: HarnessServer, fleet: Fleet) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    watch = Watch()

    def guard(route: Any) -> None:
        url = route.request.url
        host = urlsplit(url).hostname or ""
        watch.requests.append(url)
        if url.startswith(("data:", "blob:")) or host == "127.0.0.1" or host == "localhost":
            route.continue_()
        else:
            watch.offsite.append(url)
            route.abort()

    context.route("**/*", guard)
    page = context.new_page()
    page.on("console", lambda m: watch.console(m.type, m.text))
    page.on("pageerror", lambda e: watch.errors.append(str(e)))
    page.add_init_script(f"sessionStorage.setItem('wasmfleet.token', {json.dumps(fleet.token)})")  # type: ignore[attr-defined]
    page.watch = watch
    yield page
    context.close()
    assert watch.errors == [], watch.errors
    assert watch.offsite == [], watch.offsite


def open_harness(page: Any, harness: HarnessServer, route: str) -> None:
    page.goto(f"{harness.url}/harness/index.html#{route}")
    page.wait_for_selector("body[data-ready='true']", timeout=30_000)


def device_result(fleet: Fleet, deployment: str, **kw: Any) -> Any:
    """The first step's result of an execution through the API (what the preview compares)."""
    r = fleet.http.post(f"/api/v1/deployments/{deployment}/execute", **kw)
    assert r.status_code == 200, r.text
    return r.json()["steps"][0]["result"]


def shot(page: Any, name: str) -> Path:
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"ui-{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def run_preview(
    page: Any, fill: dict[str, str] | None = None, files: dict[str, Path] | None = None
) -> Any:
    page.wait_for_selector(".pv-status[data-state='ready']", timeout=30_000)
    form = page.locator(".pv .run-form")
    for name, value in (fill or {}).items():
        form.locator(f"[data-arg='{name}']").fill(value)
    for name, path in (files or {}).items():
        form.locator(f"[data-mount='{name}']").set_input_files(str(path))
    runs = int(page.locator(".pv-results").get_attribute("data-run") or 0)
    form.locator(".run-submit").click()
    page.wait_for_selector(f".pv-results[data-run='{runs + 1}']", timeout=30_000)
    return page.locator(".pv-results")


def test_fibo_same_answer_in_the_browser_and_on_a_device(
    page: Any, harness: HarnessServer, fleet: Fleet
) -> None:
    open_harness(page, harness, "/preview/fibo")
    results = run_preview(page, {"iterations": "90"})
    browser = results.locator("[data-side='browser']").get_attribute("data-result")
    device = results.locator("[data-side='device']").get_attribute("data-result")
    expected = device_result(fleet, "fibo-run", json={"args": {"iterations": 90}})
    assert browser == device == expected == "2880067194370816120"
    assert results.locator(".pv-verdict").get_attribute("data-same") == "true"
    # the module's .wasm came through the API, and nothing ran off loopback
    assert any("/file/module/" in u and u.endswith("/wasm") for u in page.watch.requests)
    shot(page, "preview")

    # past i64: fibo wraps around the same way in both layers (i64 arithmetic, BigInt here)
    results = run_preview(page, {"iterations": "100"})
    browser = results.locator("[data-side='browser']").get_attribute("data-result")
    assert browser == device_result(fleet, "fibo-run", json={"args": {"iterations": 100}})


def test_bad_input_shows_the_apis_sentence_next_to_the_field(
    page: Any, harness: HarnessServer, fleet: Fleet
) -> None:
    page.watch.allowed = {400}  # the device refuses the input too (shown in its cell)
    open_harness(page, harness, "/preview/fibo")
    run_preview(page, {"iterations": "seven"})
    error = page.locator(".pv .run-field:has([data-arg='iterations']) .run-field-error")
    error.wait_for(timeout=10_000)
    # the supervisor's own sentence for the same input
    sup = fleet.supervisors["dev1"]
    dep_id = fleet.http.get("/api/v1/deployments/fibo-run").json()["id"]
    answer = sup.get(f"/{dep_id}/modules/fibo/fibo", params={"iterations": "seven"})
    assert answer.status_code == 400
    assert error.inner_text() == answer.json()["error"]["message"]
    assert page.locator("[data-arg='iterations']").get_attribute("aria-invalid") == "true"
    shot(page, "preview-bad-input")


def test_uploaded_file_same_answer(page: Any, harness: HarnessServer, fleet: Fleet) -> None:
    open_harness(page, harness, "/preview/imginfo")
    results = run_preview(page, files={"image.jpg": SAMPLE})
    browser = results.locator("[data-side='browser']").get_attribute("data-result")
    device = results.locator("[data-side='device']").get_attribute("data-result")
    expected = device_result(
        fleet, "pixels-run", files={"image.jpg": ("image.jpg", SAMPLE.read_bytes(), "image/jpeg")}
    )
    assert browser == device == expected
    assert int(browser) > 0
    page.watch.allowed = {400}
    # without the file: the supervisor's sentence about the missing mount, next to it
    page.locator(".pv .run-form [data-mount='image.jpg']").set_input_files([])
    page.locator(".pv .run-form .run-submit").click()
    error = page.locator(".pv .run-field:has([data-mount='image.jpg']) .run-field-error")
    error.wait_for(timeout=10_000)
    assert "needs the file(s) 'image.jpg'" in error.inner_text()


def test_camera_takes_the_uploaded_picture(page: Any, harness: HarnessServer, fleet: Fleet) -> None:
    open_harness(page, harness, "/preview/camera")
    page.wait_for_selector(".pv-status[data-state='ready']", timeout=30_000)
    assert (
        page.locator(".pv-import.pv-offered", has_text="camera.takeImageDynamicSize").count() == 1
    )
    page.locator(".pv-camera-file").set_input_files(str(SAMPLE))
    results = run_preview(page)
    browser = results.locator("[data-side='browser']")
    assert browser.get_attribute("data-result") == "file:image.jpeg"
    # the module wrote the picture it was handed, byte for byte, into its output mount
    digest = hashlib.sha256(SAMPLE.read_bytes()).hexdigest()
    assert browser.locator(".pv-hash").inner_text() == f"sha256 {digest[:16]}…"
    src = browser.locator("img.pv-image").get_attribute("src")
    assert src.startswith("blob:")
    assert results.locator("[data-side='device']").get_attribute("data-result") == "file:image.jpeg"
    shot(page, "preview-camera")


def test_executions_page_runs_the_first_function(
    page: Any, harness: HarnessServer, fleet: Fleet
) -> None:
    page.watch.allowed = {404}  # GET /api/v1/executions/{id}/trace arrives with "traces" (H2)
    open_harness(page, harness, "/executions")
    page.locator(".ex-deployment").select_option("fibo-run")
    form = page.locator(".ex-run .run-form")
    form.wait_for(timeout=10_000)
    form.locator("[data-arg='iterations']").fill("12")
    form.locator(".run-submit").click()
    detail = page.locator(".ex-result-box .ex-detail")
    detail.wait_for(timeout=30_000)
    assert detail.locator(".ex-result").inner_text() == "144"
    ex_id = detail.get_attribute("data-execution")
    page.wait_for_selector(f".ex-list tr[data-execution='{ex_id}']", timeout=10_000)
    page.locator(".ex-trace").filter(has_not_text="Loading").wait_for(timeout=10_000)
    shot(page, "executions")
    # bad input: the device's sentence next to the field
    page.watch.allowed = {400, 404}
    form.locator("[data-arg='iterations']").fill("twelve")
    form.locator(".run-submit").click()
    error = form.locator(".run-field:has([data-arg='iterations']) .run-field-error")
    error.wait_for(timeout=30_000)
    sentence = "Argument 'iterations' must be an integer (i64), got 'twelve'."
    assert error.inner_text().endswith(f"failed: 400: {sentence}")  # the API's own words
    # the execution's own page
    page.locator(f".ex-list tr[data-execution='{ex_id}'] a").click()
    page.wait_for_selector(f".ex-detail[data-execution='{ex_id}']", timeout=10_000)


def test_waterfall_draws_one_bar_per_span(page: Any, harness: HarnessServer) -> None:
    open_harness(page, harness, "/waterfall")
    rows = page.locator(".wf-row[data-span]")
    assert rows.count() == 4
    # children are indented under their parents, in start order
    names = [rows.nth(i).locator(".wf-name").inner_text() for i in range(4)]
    assert names == ["execute pipeline", "camera.take_image", "imginfo.pixels", "fibo.fibo"]
    assert page.locator(".wf-bar.wf-failed").count() == 1
    shot(page, "waterfall")
