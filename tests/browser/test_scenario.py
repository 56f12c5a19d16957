"""The issue's end-to-end scenario in Debian's Chromium against a real fleet (auth on, the three
devices of ``wasmfleet up``): sign in with a token, see the devices, deploy the repository's
camera pipeline (cam-gw -> edge-box) from the deployments page, run it from the executions
page and see one waterfall bar per hop on different devices, run fibo in the browser and on
a device with the same answer, watch call rate, latency and QoA plots fill in from real calls,
kill a device and watch it go dead and its step move, live. It writes the screenshots of the
main pages into docs/images/ (docs/dashboard.md shows them). A viewer then sees no control.

The conftest fixtures fail each test on an undeclared console error and on any request that
leaves loopback.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
import wasmtime

from tests.browser.browser_support import DEVICES, LocalFleet, Watch, go, screenshot, sign_in
from tests.integration.test_qoa import GUEST, probe_description
from tests.support import REPO

Browser = tuple[Any, Watch]
CAMERA_PIPELINE = REPO / "examples" / "camera-pipeline.yaml"
FIBO_CHAIN = {
    "name": "fibo-chain",
    "steps": [{"module": "fibo", "function": "fibo"}, {"module": "fibo", "function": "fibo"}],
}
PROBE_RUN = {"name": "probe-run", "steps": [{"module": "probe", "function": "probe"}]}
LONG = 30_000
"""ms to wait for what depends on the fleet's own clocks (health checks, sampling)."""


@pytest.fixture(scope="module")
def modules(fleet: LocalFleet) -> None:
    """The example modules, and a guest that reports QoA (wasmfleet.qoa_report)."""
    for name in ("fibo", "camera", "imginfo"):
        fleet.push(name)
    fleet.upload("probe", bytes(wasmtime.wat2wasm(GUEST)), probe_description())


def steps_of(view: dict[str, Any]) -> dict[int, str]:
    """Step index -> device of a deployment's plan."""
    return {s["step"]: s["device"] for s in view["plan"]["steps"]}


def test_an_operator_runs_the_fleet_from_the_browser(
    fleet: LocalFleet, modules: None, browser: Browser
) -> None:
    page, watch = browser
    # 1. sign in with a token; the fleet shows the three devices, live
    sign_in(page, fleet.tokens["admin"])
    for name in DEVICES:
        page.wait_for_selector(f"tr[data-device='{name}'][data-status='active']")
    page.wait_for_selector("tr[data-device='edge-box'] .meter")
    screenshot(page, "fleet")
    # the plots ask the orchestrator for series: from now on it samples the devices
    go(page, "#/plots")
    page.wait_for_selector(".page-plots .charts > *")

    # 2. deploy the repository's example pipeline from the deployments page
    go(page, "#/deployments")
    page.fill("form.deploy textarea", CAMERA_PIPELINE.read_text())
    page.click("form.deploy button[type=submit]")
    pipeline = page.locator(".page-deployment .pipeline")
    pipeline.locator(".pipe-step[data-step='0'] .pipe-device[data-device='cam-gw']").wait_for()
    pipeline.locator(".pipe-step[data-step='1'] .pipe-device[data-device='edge-box']").wait_for()
    chain = fleet.deploy(FIBO_CHAIN)
    fleet.deploy(PROBE_RUN)

    # 3. run it from the executions page: one bar per hop, the hops on different devices
    go(page, "#/executions")
    page.locator(".ex-deployment").select_option("camera-pipeline")
    page.locator(".ex-run .run-form[data-function='take_image'] .run-submit").click()
    detail = page.locator(".ex-result-box .ex-detail")
    detail.wait_for()
    ex_id = detail.get_attribute("data-execution")
    pixels = int(detail.locator(".ex-result").inner_text())
    assert pixels > 0
    rows = detail.locator(".ex-trace .wf-row[data-span]")
    rows.first.wait_for()
    trace = fleet.call("GET", f"/api/v1/executions/{ex_id}/trace").json()
    assert rows.count() == len(trace["spans"]) == 3  # the orchestrator and two hops
    devices = [rows.nth(i).locator(".wf-device").inner_text() for i in range(3)]
    names = [rows.nth(i).locator(".wf-name").inner_text() for i in range(3)]
    assert devices == ["orchestrator", "cam-gw", "edge-box"]
    assert names[1:] == ["camera.take_image", "imginfo.pixels"]
    page.wait_for_selector(f".ex-list tr[data-execution='{ex_id}']")
    screenshot(page, "executions")
    screenshot(page, "waterfall", element=".ex-result-box .ex-trace")

    # 4. fibo in the browser and on a device (the chain's first step): the same answer
    go(page, "#/modules/fibo")
    page.wait_for_selector(".preview-host .pv-status[data-state='ready']")
    page.locator(".pv-target").select_option("fibo-chain")
    page.locator(".pv .run-form [data-arg='iterations']").fill("30")
    page.locator(".pv .run-form .run-submit").click()
    results = page.locator(".pv-results[data-run='1']")
    results.wait_for()
    in_browser = results.locator("[data-side='browser']").get_attribute("data-result")
    on_device = results.locator("[data-side='device']").get_attribute("data-result")
    assert in_browser == on_device == "832040"
    assert steps_of(chain)[0] in results.locator("[data-side='device'] h4").inner_text()
    assert results.locator(".pv-verdict").get_attribute("data-same") == "true"
    page.locator(".preview-host").scroll_into_view_if_needed()
    screenshot(page, "module")

    # 5. calls for the plots: the pipeline, the chain, and a guest that reports its quality
    for i in range(8):
        fleet.execute("probe-run", json={"args": {"latency": 4.0 + i, "confidence": 0.6 + i / 40}})
        fleet.execute("fibo-chain", json={"args": {"iterations": 6}})
        fleet.execute("camera-pipeline", json={})
        time.sleep(0.3)  # spread over several samples (every 0.5 s in this fleet)
    go(page, "#/plots")
    for metric in ("calls_per_s", "latency_mean_ms", "qoa_latency_ms", "qoa_confidence"):
        page.wait_for_selector(f".page-plots .chart[data-metric='{metric}'] canvas", timeout=LONG)
    legend = page.locator(".page-plots .chart[data-metric='qoa_confidence']").inner_text()
    assert "probe.probe" in legend
    screenshot(page, "plots")

    # 6. a device's page: usage over time and its functions' plots, from real data
    go(page, "#/devices/edge-box")
    page.wait_for_selector(".page-device .usage .chart canvas")
    page.wait_for_selector(".page-device .series .chart[data-metric='calls_per_s'] canvas")
    assert "imginfo.pixels" in page.locator(".page-device .series").inner_text()
    screenshot(page, "device")

    # 7. modules and logs
    go(page, "#/modules")
    page.wait_for_selector("tr[data-module='probe']")
    screenshot(page, "modules")
    go(page, "#/logs")
    page.wait_for_selector(".live-state:has-text('live')")
    page.wait_for_selector(".log-lines li")
    screenshot(page, "logs")

    # 8. the deployment: its pipeline, and its executions linked to their waterfalls
    go(page, "#/deployments/camera-pipeline")
    link = page.locator(
        f"section.card:has-text('Recent executions') a[href='#/executions/{ex_id}']"
    )
    link.wait_for()
    screenshot(page, "deployment")
    link.click()
    page.wait_for_selector(f".ex-detail[data-execution='{ex_id}'] .wf-row[data-span]")

    # 9. kill a device of the chain: it goes dead and its step moves to the spare device, live
    placed = steps_of(chain)
    victim = placed[1] if placed[1] != "cam-gw" else placed[0]
    moved_step = 1 if victim == placed[1] else 0
    (spare,) = set(DEVICES) - set(placed.values())
    watch.expect(lambda line: victim in line and "ERR_" in line)  # a poll that meets the kill
    go(page, "#/deployments/fibo-chain")
    page.wait_for_selector(f".pipe-device.status-active[data-device='{victim}']")
    fleet.supervisors[victim].kill()
    page.wait_for_selector(f".moves td:has-text('{victim}')", timeout=LONG)
    step = page.locator(f".pipe-step[data-step='{moved_step}']")
    step.locator(f".pipe-device[data-device='{spare}']").wait_for()
    assert step.locator(f".pipe-device[data-device='{victim}']").count() == 0
    screenshot(page, "deployment-moved")
    go(page, "#/fleet")
    page.wait_for_selector(f"tr[data-device='{victim}'][data-status='dead']", timeout=LONG)
    screenshot(page, "fleet-dead")
    # the moved chain still answers (6 -> 8 -> 21)
    assert fleet.execute("fibo-chain", json={"args": {"iterations": 6}})["result"] in (21, "21")


def _no_control(page: Any, selector: str) -> None:
    assert page.locator(selector).count() == 0, f"a viewer sees {selector}"


def test_a_viewer_sees_no_control(fleet: LocalFleet, modules: None, browser: Browser) -> None:
    page, _ = browser
    sign_in(page, fleet.tokens["viewer"])
    assert page.locator(".who .role").inner_text() == "viewer"
    checks: list[tuple[str, str, Callable[[], None]]] = [
        ("#/modules", "tr[data-module='fibo']", lambda: _no_control(page, "form.upload")),
        ("#/deployments", ".page-deployments h1", lambda: _no_control(page, "form.deploy")),
        ("#/deployments/fibo-chain", ".pipeline", lambda: _no_control(page, ".actions button")),
        ("#/executions", ".ex-readonly", lambda: _no_control(page, ".ex-run .run-form")),
    ]
    for route, ready, check in checks:
        go(page, route)
        page.wait_for_selector(ready)
        check()
    # the module page: no description upload; the preview runs in the browser only
    go(page, "#/modules/fibo")
    page.wait_for_selector(".preview-host .pv-status[data-state='ready']")
    _no_control(page, "form.describe")
    assert page.locator(".pv-target").is_disabled()
    assert page.locator(".pv-target option").count() == 1
    page.locator(".pv .run-form [data-arg='iterations']").fill("12")
    page.locator(".pv .run-form .run-submit").click()
    page.wait_for_selector(".pv-results[data-run='1'] [data-side='browser'][data-result='144']")
    assert page.locator(".pv-results [data-side='device']").count() == 0
