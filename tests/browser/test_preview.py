"""The isomorphic preview and the executions page in the real dashboard (/ui/), in Debian's
Chromium against a real fleet with auth on: the module page runs the very same .wasm in the
browser and on a device (fibo, imginfo with an uploaded JPEG, the camera with an uploaded
picture), bad input gets the API's sentence by its field, and the executions page runs a
deployment and draws its waterfall from GET /api/v1/executions/{id}/trace.

The conftest fixtures fail every test on an undeclared console error and on a request that
leaves loopback.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

import pytest

from tests.browser.browser_support import LocalFleet, Watch, go, screenshot, sign_in
from tests.support import REPO

Browser = tuple[Any, Watch]
SAMPLE = REPO / "src" / "wasmfleet" / "assets" / "sample.jpg"
DEPLOYMENTS = {
    "fibo-run": ("fibo", "fibo"),
    "pixels-run": ("imginfo", "pixels"),
    "camera-run": ("camera", "take_image"),
}


@pytest.fixture(scope="module")
def deployed(fleet: LocalFleet) -> dict[str, dict[str, Any]]:
    """Three single-step deployments the preview compares the browser with."""
    views = {}
    for name, (module, function) in DEPLOYMENTS.items():
        fleet.push(module)
        views[name] = fleet.deploy(
            {"name": name, "steps": [{"module": module, "function": function}]}
        )
    return views


def _refused(status: int, path: str) -> Callable[[str], bool]:
    """The browser's own console line for an API answer the page handles (a 4xx)."""
    return lambda line: f"status of {status}" in line and path in line


def open_preview(page: Any, fleet: LocalFleet, module: str) -> None:
    """Sign in as a developer and open the module's page, whose preview must load."""
    sign_in(page, fleet.tokens["developer"])
    go(page, f"#/modules/{module}")
    page.wait_for_selector(".page-module .preview-host .pv .pv-status[data-state='ready']")


def run_preview(
    page: Any, fill: dict[str, str] | None = None, files: dict[str, Any] | None = None
) -> Any:
    """Fill the preview's form, run it, and wait for the next pair of results."""
    form = page.locator(".pv .run-form")
    for name, value in (fill or {}).items():
        form.locator(f"[data-arg='{name}']").fill(value)
    for name, path in (files or {}).items():
        form.locator(f"[data-mount='{name}']").set_input_files(str(path))
    runs = int(page.locator(".pv-results").get_attribute("data-run") or 0)
    form.locator(".run-submit").click()
    page.wait_for_selector(f".pv-results[data-run='{runs + 1}']")
    return page.locator(".pv-results")


def step_result(fleet: LocalFleet, deployment: str, **kw: Any) -> Any:
    """The first step's result of an execution through the API (what the preview compares)."""
    return fleet.execute(deployment, **kw)["steps"][0]["result"]


def test_fibo_same_answer_in_the_browser_and_on_a_device(
    fleet: LocalFleet, deployed: dict[str, Any], browser: Browser
) -> None:
    page, _ = browser
    wasm_requests: list[str] = []
    page.on("request", lambda r: wasm_requests.append(r.url) if r.url.endswith("/wasm") else None)
    open_preview(page, fleet, "fibo")
    results = run_preview(page, {"iterations": "90"})
    browser_side = results.locator("[data-side='browser']").get_attribute("data-result")
    device_side = results.locator("[data-side='device']").get_attribute("data-result")
    expected = step_result(fleet, "fibo-run", json={"args": {"iterations": 90}})
    assert browser_side == device_side == expected == "2880067194370816120"
    assert results.locator(".pv-verdict").get_attribute("data-same") == "true"
    # the device cell names the device the deployment placed the step on
    placed = deployed["fibo-run"]["plan"]["steps"][0]["device"]
    assert placed in results.locator("[data-side='device'] h4").inner_text()
    # the module's .wasm came from the orchestrator (the same bytes the devices run)
    assert any("/file/module/" in u for u in wasm_requests)
    page.locator(".pv").scroll_into_view_if_needed()
    screenshot(page, "preview", element=".preview-host")

    # past i64: fibo wraps around the same way in both layers (i64 arithmetic, BigInt here)
    results = run_preview(page, {"iterations": "100"})
    browser_side = results.locator("[data-side='browser']").get_attribute("data-result")
    assert browser_side == step_result(fleet, "fibo-run", json={"args": {"iterations": 100}})


def test_bad_input_shows_the_apis_sentence_next_to_the_field(
    fleet: LocalFleet, deployed: dict[str, Any], browser: Browser
) -> None:
    page, watch = browser
    watch.expect(_refused(400, "/api/v1/deployments/fibo-run/execute"))  # the device's refusal
    open_preview(page, fleet, "fibo")
    run_preview(page, {"iterations": "seven"})
    error = page.locator(".pv .run-field:has([data-arg='iterations']) .run-field-error")
    error.wait_for()
    # the browser refuses it with the device's own words (the same argument rules), and the
    # device's cell shows the API's sentence for the same input
    answer = fleet.call(
        "POST", "/api/v1/deployments/fibo-run/execute", json={"args": {"iterations": "seven"}}
    )
    assert answer.status_code == 400
    sentence = answer.json()["error"]["message"]
    words = "Argument 'iterations' must be an integer (i64), got 'seven'."
    assert sentence.endswith(f"failed: 400: {words}")
    assert error.inner_text() == words
    assert page.locator("[data-side='device'] .pv-error").inner_text() == sentence
    assert page.locator("[data-arg='iterations']").get_attribute("aria-invalid") == "true"
    screenshot(page, "preview-bad-input", element=".preview-host")


def test_uploaded_file_same_answer(
    fleet: LocalFleet, deployed: dict[str, Any], browser: Browser
) -> None:
    page, watch = browser
    watch.expect(_refused(400, "/api/v1/deployments/pixels-run/execute"))  # no file: refused
    open_preview(page, fleet, "imginfo")
    results = run_preview(page, files={"image.jpg": SAMPLE})
    browser_side = results.locator("[data-side='browser']").get_attribute("data-result")
    device_side = results.locator("[data-side='device']").get_attribute("data-result")
    jpeg = ("image.jpg", SAMPLE.read_bytes(), "image/jpeg")
    expected = step_result(fleet, "pixels-run", files={"image.jpg": jpeg})
    assert browser_side == device_side == expected
    assert int(browser_side or 0) > 0
    # without the file: the sentence about the missing mount, next to it
    page.locator(".pv .run-form [data-mount='image.jpg']").set_input_files([])
    page.locator(".pv .run-form .run-submit").click()
    error = page.locator(".pv .run-field:has([data-mount='image.jpg']) .run-field-error")
    error.wait_for()
    assert "needs the file(s) 'image.jpg'" in error.inner_text()


def test_camera_takes_the_uploaded_picture(
    fleet: LocalFleet, deployed: dict[str, Any], browser: Browser
) -> None:
    page, _ = browser
    open_preview(page, fleet, "camera")
    offered = page.locator(".pv-import.pv-offered", has_text="camera.takeImageDynamicSize")
    assert offered.count() == 1
    page.locator(".pv-camera-file").set_input_files(str(SAMPLE))
    results = run_preview(page)
    browser_side = results.locator("[data-side='browser']")
    assert browser_side.get_attribute("data-result") == "file:image.jpeg"
    # the module wrote the picture it was handed, byte for byte, into its output mount
    digest = hashlib.sha256(SAMPLE.read_bytes()).hexdigest()
    assert browser_side.locator(".pv-hash").inner_text() == f"sha256 {digest[:16]}…"
    assert (browser_side.locator("img.pv-image").get_attribute("src") or "").startswith("blob:")
    device_side = results.locator("[data-side='device']")
    assert device_side.get_attribute("data-result") == "file:image.jpeg"
    assert "cam-gw" in device_side.locator("h4").inner_text()  # the only device with a camera
    screenshot(page, "preview-camera", element=".preview-host")


def test_executions_page_runs_and_draws_the_trace(
    fleet: LocalFleet, deployed: dict[str, Any], browser: Browser
) -> None:
    page, watch = browser
    watch.expect(_refused(400, "/api/v1/deployments/fibo-run/execute"))  # the bad input below
    sign_in(page, fleet.tokens["developer"])
    go(page, "#/executions")
    page.locator(".ex-deployment").select_option("fibo-run")
    form = page.locator(".ex-run .run-form")
    form.locator("[data-arg='iterations']").fill("12")
    form.locator(".run-submit").click()
    detail = page.locator(".ex-result-box .ex-detail")
    detail.wait_for()
    assert detail.locator(".ex-result").inner_text() == "144"
    ex_id = detail.get_attribute("data-execution")
    page.wait_for_selector(f".ex-list tr[data-execution='{ex_id}']")
    # the waterfall of the real trace: the orchestrator's span, then the step on its device
    rows = detail.locator(".ex-trace .wf-row[data-span]")
    rows.first.wait_for()
    trace = fleet.call("GET", f"/api/v1/executions/{ex_id}/trace").json()
    assert rows.count() == len(trace["spans"]) == 2
    placed = deployed["fibo-run"]["plan"]["steps"][0]["device"]
    assert rows.nth(0).locator(".wf-device").inner_text() == "orchestrator"
    assert rows.nth(1).locator(".wf-device").inner_text() == placed
    assert rows.nth(1).locator(".wf-name").inner_text() == "fibo.fibo"

    # bad input: the device's sentence next to the field, and the failed hop drawn as failed
    form.locator("[data-arg='iterations']").fill("twelve")
    form.locator(".run-submit").click()
    error = form.locator(".run-field:has([data-arg='iterations']) .run-field-error")
    error.wait_for()
    assert error.inner_text().endswith(
        "failed: 400: Argument 'iterations' must be an integer (i64), got 'twelve'."
    )  # the API's sentence: the step, its device, and the device's own words
    failed = page.locator(".ex-result-box .ex-detail")
    assert failed.get_attribute("data-execution") != ex_id
    page.locator(".ex-result-box .wf-bar.wf-step.wf-failed").wait_for()

    # the execution's own page, from the list
    page.locator(f".ex-list tr[data-execution='{ex_id}'] a").click()
    page.wait_for_selector(f".ex-detail[data-execution='{ex_id}'] .wf-row[data-span]")
