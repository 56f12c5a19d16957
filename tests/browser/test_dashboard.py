"""The dashboard's pages one by one in a real browser against a real fleet with auth on: sign
in, the fleet live, modules (upload with progress, functions, signature), deployments (the
pipeline on devices, rejections, bad input), a rollout drawn wave by wave as it goes, logs live
with filters, the reconnect banner; no console error, nothing off loopback. test_scenario.py
walks them as one operator session (runs, waterfall, preview, plots, a dying device, roles) and
takes the main screenshots."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from tests.browser.browser_support import (
    DEVICES,
    MODULES,
    LocalFleet,
    Watch,
    go,
    screenshot,
    sign_in,
)
from tests.support import description_upload, wait_until

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


def _custom_section(name: str, payload: bytes) -> bytes:
    """A Wasm custom section: other bytes, the same code (a second version that still computes
    fibo)."""

    def leb(n: int) -> bytes:
        out = bytearray()
        while True:
            byte, n = n & 0x7F, n >> 7
            out.append(byte | (0x80 if n else 0))
            if not n:
                return bytes(out)

    body = leb(len(name)) + name.encode() + payload
    return b"\x00" + leb(len(body)) + body


def test_a_rollout_goes_out_wave_by_wave_on_the_deployment_page(
    fleet: LocalFleet, browser: Browser
) -> None:
    page, _ = browser
    first = fleet.push("fibo")
    wasm = (MODULES / "fibo" / "fibo.wasm").read_bytes() + _custom_section("ui-waves", b"v2")
    second = fleet.upload("fibo", wasm, *description_upload("fibo"))
    assert second["version"] > first["version"]
    fleet.deploy(
        {
            "name": "ui-waves",
            "steps": [
                {"module": f"fibo@{first['version']}", "function": "fibo", "replicas": "all"}
            ],
        }
    )
    sign_in(page, fleet.tokens["operator"])
    go(page, "#/deployments/ui-waves")
    page.wait_for_selector(".pipe-device[data-device='edge-box']")
    assert page.locator(".rollout").count() == 0
    page.evaluate("window.notReloaded = true")
    # canary then twice as many; the gate calls each new copy itself and judges its errors
    # (latency is left out: microsecond calls on a shared machine are too noisy to compare)
    options = {"canary": 1, "growth": 2, "pause": "1.5s", "min_calls": 1}
    options |= {"probe_args": {"iterations": "10"}, "max_latency_increase": 100}
    r = fleet.call(
        "POST", "/api/v1/rollouts",
        json={"deployment": "ui-waves", "to": f"fibo@{second['version']}", **options},
    )  # fmt: skip
    assert r.status_code == 201, r.text
    started = r.json()
    waves: list[list[str]] = started["waves"]
    assert [len(w) for w in waves] == [1, 2]  # canary 1, then twice as many
    assert sorted(d for w in waves for d in w) == sorted(DEVICES)
    # it appears live: the canary updated and observed before its gate, the next wave waiting
    rollout = page.locator(f".rollout[data-rollout='{started['id']}']")
    seen = page.wait_for_function(
        """id => {
            const box = document.querySelector(`.rollout[data-rollout='${id}']`);
            const wave = (n) => box?.querySelector(`.wave[data-wave='${n}']`);
            if (wave(1)?.dataset.state !== "observing") return null;
            const chips = [...wave(1).querySelectorAll(".chip.updated")].map((c) => c.textContent);
            return {second: wave(2).dataset.state, updated: chips};
        }""",
        arg=started["id"],
        timeout=10000,
    ).json_value()  # one look at the page, so both waves are seen at the same moment
    assert seen == {"second": "waiting", "updated": waves[0]}
    # then every wave has passed its gate and every copy runs the new version
    rollout.locator(".rollout-head .badge:has-text('succeeded')").wait_for(timeout=30000)
    done = fleet.call("GET", f"/api/v1/rollouts/{started['id']}").json()
    assert done["status"] == "succeeded" and [g["passed"] for g in done["gates"]] == [True, True]
    copies = fleet.call("GET", "/api/v1/deployments/ui-waves").json()["copies"]
    assert {c["device"]: c["version"] for c in copies} == dict.fromkeys(DEVICES, second["version"])
    for i, devices in enumerate(waves, start=1):
        wave = rollout.locator(f".wave[data-wave='{i}']")
        assert wave.locator(".wave-state").inner_text() == "passed"
        chips = wave.locator(".chip.updated")
        assert sorted(chips.all_inner_texts()) == sorted(devices)
        assert "calls to the new version" in wave.locator(".gate").inner_text()
    assert page.evaluate("window.notReloaded") is True
    screenshot(page, "deployment-rollout")


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
