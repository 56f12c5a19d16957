"""The dashboard's pages one by one in a real browser against a real fleet with auth on: sign
in, the fleet live, modules (upload with progress, functions, signature), deployments (the
pipeline on devices, rejections, bad input), logs live with filters, the reconnect banner; no
console error, nothing off loopback. test_scenario.py walks them as one operator session
(runs, waterfall, preview, plots, a dying device, roles) and takes the main screenshots."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from tests.browser.browser_support import DEVICES, MODULES, LocalFleet, Watch, screenshot, sign_in
from tests.support import wait_until

Browser = tuple[Any, Watch]


def _refused(status: int, path: str) -> Callable[[str], bool]:
    """The browser's own console line for an API answer the page handles (a 4xx)."""
    return lambda line: f"status of {status}" in line and path in line


def test_a_bad_token_gets_the_api_sentence_next_to_the_field(browser: Browser) -> None:
    page, watch = browser
    watch.expect(_refused(401, "/api/v1/whoami"))
    page.goto("/ui/")
    page.wait_for_selector("#token")
    page.fill("#token", "wf_" + "x" * 43)
    page.click("form.login button[type=submit]")
    error = page.wait_for_selector(".field-error")
    assert "not known" in error.inner_text()
    screenshot(page, "login")


def test_fleet_shows_the_three_devices_live(fleet: LocalFleet, browser: Browser) -> None:
    page, _ = browser
    sign_in(page, fleet.tokens["viewer"])
    for name in DEVICES:
        row = page.wait_for_selector(f"tr[data-device='{name}'][data-status='active']")
        assert "role=" in row.inner_text()
    assert page.locator(".who .role").inner_text() == "viewer"
    # a live heartbeat fills in the usage meters without a reload
    page.wait_for_selector("tr[data-device='cam-gw'] .meter", timeout=15000)


def test_upload_a_module_with_progress_and_see_its_functions(
    fleet: LocalFleet, browser: Browser
) -> None:
    page, watch = browser
    sign_in(page, fleet.tokens["developer"])
    page.click("nav a[href='#/modules']")
    page.wait_for_selector("form.upload")
    page.set_input_files("form.upload input[type=file]", str(MODULES / "fibo" / "fibo.wasm"))
    assert page.input_value("form.upload input[name=name]") == "fibo"
    page.click("form.upload button[type=submit]")
    page.wait_for_selector("tr[data-module='fibo']")
    assert page.locator("form.upload progress").evaluate("p => p.value") == 1
    assert "%" in page.locator("form.upload .progress-text").inner_text() or (
        "fibo" in page.locator("form.upload .progress-text").inner_text()
    )
    # not a wasm file: the API's sentence next to the field
    watch.expect(_refused(422, "/api/v1/modules"))
    page.set_input_files(
        "form.upload input[type=file]",
        files=[{"name": "bad.wasm", "mimeType": "application/wasm", "buffer": b"not wasm"}],
    )
    page.click("form.upload button[type=submit]")
    error = page.wait_for_selector("form.upload .field-error")
    assert error.inner_text().strip()
    # describe it from the CLI-side helper, then the page lists its function
    fleet.push("fibo")
    page.click("tr[data-module='fibo'] a")
    page.wait_for_selector(".functions table.grid")
    assert "fibo" in page.locator(".functions").inner_text()
    assert "unsigned" in page.locator(".page-head").inner_text()
    page.click("nav a[href='#/modules']")
    page.wait_for_selector("tr[data-module='fibo']")


def test_deploy_from_the_page_and_see_the_pipeline_and_rejections(
    fleet: LocalFleet, browser: Browser
) -> None:
    page, watch = browser
    fleet.push("fibo")
    sign_in(page, fleet.tokens["operator"])
    page.click("nav a[href='#/deployments']")
    page.wait_for_selector("form.deploy textarea")
    # bad input: the API's sentence next to the manifest
    watch.expect(_refused(400, "/api/v1/deployments"))
    page.fill("form.deploy textarea", "name: broken\nsteps: 3\n")
    page.click("form.deploy button[type=submit]")
    error = page.wait_for_selector("form.deploy .field-error")
    assert "steps" in error.inner_text()
    manifest = (
        "name: ui-fibo\nsteps:\n  - module: fibo\n    function: fibo\n"
        "    labels:\n      role: edge\n"
    )
    page.fill("form.deploy textarea", manifest)
    page.click("form.deploy button[type=submit]")
    page.wait_for_selector(".page-deployment .pipeline .pipe-device[data-device='edge-box']")
    rejected = page.locator("section.card", has_text="Why not the other devices").inner_text()
    assert "cam-gw" in rejected and "cloud-vm" in rejected
    r = fleet.call("POST", "/api/v1/deployments/ui-fibo/execute", json={"iterations": 10})
    assert r.status_code == 200, r.text
    page.wait_for_selector("section.card:has-text('Recent executions') td .badge")


def test_logs_follow_live_with_filters(fleet: LocalFleet, browser: Browser) -> None:
    page, _ = browser
    sign_in(page, fleet.tokens["viewer"])
    page.click("nav a[href='#/logs']")
    page.wait_for_selector(".live-state:has-text('live')")
    page.select_option("select[name=device]", "cam-gw")
    page.wait_for_selector(".live-state:has-text('live')")
    marker = "ui-tail-marker"
    for device, word in (("cam-gw", "one"), ("cloud-vm", "other")):
        entry = {"message": f"{marker} {word}", "levelname": "WARNING", "deviceName": device}
        r = fleet.call("POST", "/device/logs", data={"logData": json.dumps(entry)})
        assert r.status_code == 200, r.text
    page.wait_for_selector(f".log-lines li:has-text('{marker} one')")
    assert page.locator(f".log-lines li:has-text('{marker} other')").count() == 0


def test_a_lost_connection_shows_a_banner_and_reconnects(
    fleet: LocalFleet, browser: Browser
) -> None:
    """Last in this module: it restarts the orchestrator (same port, same data)."""
    page, watch = browser
    sign_in(page, fleet.tokens["viewer"])
    page.wait_for_function("() => document.getElementById('banner').hidden")
    watch.expect(lambda line: "ERR_CONNECTION_REFUSED" in line or "ERR_EMPTY_RESPONSE" in line)
    fleet.orchestrator.stop()
    try:
        banner = page.wait_for_selector("#banner:not([hidden])", timeout=30000)
        assert "Connection lost" in banner.inner_text() and "reconnecting" in banner.inner_text()
        screenshot(page, "reconnecting")
    finally:
        fleet.orchestrator.start()
    page.wait_for_function("() => document.getElementById('banner').hidden", timeout=30000)
    # and the page is live again: a new device event reaches it
    assert wait_until(lambda: fleet.active() >= set(DEVICES), timeout=30)
