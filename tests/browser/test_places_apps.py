"""The Places and Apps pages in Debian's Chromium against a real fleet with auth on: a
configurer builds a location tree and registers a sensor from the page (a controller through
the API), bad input gets the API's sentence next to the field; an app developer publishes an
app; an operator checks its binding, installs it at the lab on a schedule in a named zone, and
its page shows the binding (need -> thing), the status, where it runs (step -> device, as the
API says) and the next fires in UTC and in the zone; a second install is refused naming the
holder; the place shows who holds its things; uninstalling frees them, live. An end user sees
only Places and Apps. No console error, nothing off loopback (conftest)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.browser.browser_support import LocalFleet, Watch, go, screenshot, sign_in

Browser = tuple[Any, Watch]

APP = """name: ui-warm
description: Turn the fan on when the lab is too warm.
parameters:
  threshold: {type: "float -20..60", default: 26}
  speed: "int 0..3"
needs:
  room_temp: {sensor: temperature}
  room_fan: {controller: fan, exclusive: true}
  logic: {module: fibo}
steps:
  - module: logic
    function: fibo
    uses: [room_temp, room_fan]
"""
FAN = {
    "name": "lab-fan",
    "type": "fan",
    "location": "campus/lab-1",
    "device": "edge-box",
    "inputs": {"speed": "int 0..3"},
}


def _refused(status: int, path: str) -> Callable[[str], bool]:
    """The browser's own console line for an API answer the page handles (a 4xx)."""
    return lambda line: f"status of {status}" in line and path in line


def _token(fleet: LocalFleet, user: str, role: str, **extra: Any) -> str:
    r = fleet.call("POST", "/api/v1/users", json={"name": user, "role": role, **extra})
    assert r.status_code == 201, r.text
    r = fleet.call("POST", "/api/v1/tokens", json={"name": "ui", "user": user})
    assert r.status_code == 201, r.text
    token: str = r.json()["token"]
    return token


@pytest.fixture(scope="module")
def people(fleet: LocalFleet) -> dict[str, str]:
    """Tokens of the issue's roles (the operator's comes with the fleet)."""
    fleet.push("fibo")
    return {
        "configurer": _token(fleet, "conf-user", "configurer"),
        "app-developer": _token(fleet, "appdev-user", "app-developer"),
        "operator": fleet.tokens["operator"],
        "viewer": fleet.tokens["viewer"],
    }


def test_a_configurer_builds_the_location_tree(
    fleet: LocalFleet, people: dict[str, str], browser: Browser
) -> None:
    page, watch = browser
    sign_in(page, people["configurer"])
    page.click("nav a[href='#/places']")
    page.wait_for_selector("form.add-location")
    # a location with its missing parent, from the page
    page.fill("form.add-location input[name=path]", "campus/lab-1")
    page.fill("form.add-location input[name=description]", "the lab")
    page.click("form.add-location button[type=submit]")
    lab = page.wait_for_selector(
        "details[data-location='campus'] details[data-location='campus/lab-1']"
    )
    assert "the lab" in lab.inner_text()
    r = fleet.call("POST", "/api/v1/locations", json={"path": "campus/hall"})
    assert r.status_code == 201, r.text
    # a sensor from the page; a parameter type that does not exist is refused with a sentence
    form = page.locator("form.add-thing")
    form.locator("select[name=location]").select_option("campus/lab-1")
    form.locator("input[name=name]").fill("lab-temp")
    form.locator("input[name=type]").fill("temperature")
    # attached to edge-box: this fleet has no broker, and a thing on a topic needs one
    form.locator("select[name=via]").select_option("device")
    form.locator("input[name=target]").fill("edge-box")
    form.locator("input[name=params]").fill("celsius=floaty")
    watch.expect(_refused(400, "/api/v1/sensors"))
    watch.expect(_refused(422, "/api/v1/sensors"))
    form.locator("button[type=submit]").click()
    error = page.wait_for_selector("form.add-thing .field-error")
    assert "floaty" in error.inner_text()
    assert fleet.call("GET", "/api/v1/sensors/lab-temp").status_code == 404  # nothing stored
    form.locator("input[name=params]").fill("celsius=float")
    form.locator("button[type=submit]").click()
    row = page.wait_for_selector(
        "details[data-location='campus/lab-1'] > table tr[data-thing='lab-temp']"
    )
    text = row.inner_text()
    assert "temperature" in text and "edge-box" in text and "celsius: float" in text
    # the devices whose location label is the lab (as in wasmfleet up: cam-gw and edge-box)
    devices = page.locator("details[data-location='campus/lab-1'] > summary .place-devices")
    assert devices.inner_text().split("devices", 1)[1].split() == ["cam-gw,", "edge-box"]
    assert "free" in text
    # a controller through the API appears after a reload of the page
    r = fleet.call("POST", "/api/v1/controllers", json=FAN)
    assert r.status_code == 201, r.text
    page.reload()
    fan = page.wait_for_selector("tr[data-thing='lab-fan'][data-kind='controller']")
    assert "edge-box" in fan.inner_text() and "speed: int 0..3" in fan.inner_text()
    counts = page.locator("details[data-location='campus'] > summary .place-counts")
    assert counts.inner_text() == "1 sensor · 1 controller"
    # a viewer sees the tree but no form and no remove button
    page.click(".who button")  # sign out
    sign_in(page, people["viewer"])
    go(page, "#/places")
    page.wait_for_selector("tr[data-thing='lab-fan']")
    for control in ("form.add-location", "form.add-thing", "button.link-danger", "td button"):
        assert page.locator(control).count() == 0, f"a viewer sees {control}"
    go(page, "#/apps")
    page.wait_for_selector(".page-apps .catalogue h2")
    for control in ("form.push-app", "form.install-form"):
        assert page.locator(control).count() == 0, f"a viewer sees {control}"


def _places_ready(fleet: LocalFleet) -> None:
    """The tree of the first test, when this test runs alone."""
    if fleet.call("GET", "/api/v1/controllers/lab-fan").status_code == 200:
        return
    for path in ("campus/lab-1", "campus/hall"):
        fleet.call("POST", "/api/v1/locations", json={"path": path})
    sensor = {"name": "lab-temp", "type": "temperature", "location": "campus/lab-1"}
    sensor |= {"device": "edge-box", "outputs": {"celsius": "float"}}
    assert fleet.call("POST", "/api/v1/sensors", json=sensor).status_code == 201
    assert fleet.call("POST", "/api/v1/controllers", json=FAN).status_code == 201


def test_an_app_is_published_installed_and_shown_where_it_runs(
    fleet: LocalFleet, people: dict[str, str], browser: Browser
) -> None:
    page, watch = browser
    _places_ready(fleet)
    # an app developer publishes the app from the page
    sign_in(page, people["app-developer"])
    page.click("nav a[href='#/apps']")
    page.fill("form.push-app textarea", APP)
    page.click("form.push-app button[type=submit]")
    row = page.wait_for_selector("tr[data-app='ui-warm']")
    assert "room_fan: controller fan" in row.inner_text()
    assert "speed: int 0..3" in row.inner_text()
    assert page.locator("form.install-form").count() == 0  # publishing is not installing
    page.click(".who button")
    # an operator checks the binding, then installs it on a schedule in Helsinki time
    sign_in(page, people["operator"])
    go(page, "#/apps/ui-warm")
    page.wait_for_selector(".needs tr[data-need='room_fan']")
    form = page.locator("form.install-form")
    form.locator("select[name=location]").select_option("campus/lab-1")
    form.locator("input[name=name]").fill("warm-lab")
    form.locator("textarea[name=params]").fill("speed=2")
    form.locator("input[name=scheduled]").check()
    form.locator("input[name=cron]").fill("0 8,20 * * *")
    form.locator("input[name=timezone]").fill("Europe/Helsinki")
    form.locator("button.check").click()
    page.wait_for_selector("form.install-form .install-result tr[data-need='room_fan']")
    assert fleet.call("GET", "/api/v1/installs/warm-lab").status_code == 404  # a dry run
    bound = {
        r.get_attribute("data-need"): r.get_attribute("data-bound")
        for r in form.locator(".install-result tr[data-need]").all()
    }
    module = fleet.call("GET", "/api/v1/apps/ui-warm").json()["modules"]["logic"]
    assert module.startswith("fibo@"), module
    assert bound == {"room_temp": "lab-temp", "room_fan": "lab-fan", "logic": module}, bound
    screenshot(page, "app")
    form.locator("button[type=submit]").click()
    page.wait_for_selector(".page-install .binding tr[data-need='room_fan'][data-bound='lab-fan']")
    shown = fleet.call("GET", "/api/v1/installs/warm-lab").json()
    head = page.locator(".page-install .page-head").inner_text()
    assert shown["status"] in head and "campus/lab-1" in head
    # where it runs: the devices the API names, step by step
    devices = sorted(
        d.get_attribute("data-device")
        for d in page.locator(".page-install .where .pipe-device").all()
    )
    expected = sorted(
        {d for r in _where_rows(shown["where"]) for d in r} if shown["where"] else set()
    )
    assert devices == expected and devices, (devices, shown["where"])
    # the next fires, in UTC and on Helsinki's clock (08:00 and 20:00 there)
    fires = page.locator(".page-install .schedule tr.next-fire")
    assert fires.count() == 3
    for line in fires.all_inner_texts():
        utc, local = line.split("\t")[:2]
        assert "UTC" in utc and local.split()[1] in ("08:00", "20:00"), line
        assert "EET" in local or "EEST" in local or "GMT+" in local, line
    # run it by hand: the fire is recorded with its outcome, as the API has it
    page.click(".page-install button.run")
    page.wait_for_selector(".page-install .fires tr.fire")
    fire = fleet.call("GET", "/api/v1/installs/warm-lab/fires").json()[0]
    row = page.locator(".page-install .fires tr.fire").first
    assert row.get_attribute("data-outcome") == fire["outcome"], fire
    screenshot(page, "install")
    # the place shows who holds its things
    go(page, "#/places")
    held = page.wait_for_selector("tr[data-thing='lab-fan'] a.chip.held")
    assert held.inner_text() == "warm-lab"
    screenshot(page, "places")
    # a second install at the lab is refused: its fan is held, and the sentence says by whom
    go(page, "#/apps")
    page.wait_for_selector("tr[data-install='warm-lab']")
    screenshot(page, "apps")
    watch.expect(_refused(409, "/api/v1/installs"))
    form = page.locator("form.install-form")
    form.locator("select[name=app]").select_option("ui-warm")
    form.locator("select[name=location]").select_option("campus/lab-1")
    form.locator("textarea[name=params]").fill("speed=1")
    form.locator("button[type=submit]").click()
    refusal = page.wait_for_selector("form.install-form .install-result .error")
    assert "warm-lab" in refusal.inner_text() and "lab-fan" in refusal.inner_text()
    # uninstall from its page: the fan is free again on the places page
    go(page, "#/installs/warm-lab")
    page.once("dialog", lambda dialog: dialog.accept())
    page.click(".page-install button.uninstall")
    page.wait_for_selector(".page-apps")
    page.wait_for_selector("tr[data-install='warm-lab']", state="detached")
    go(page, "#/places")
    page.wait_for_selector("tr[data-thing='lab-fan'] td:has-text('free')")
    # live: an install made elsewhere shows up as the fan's holder without a reload
    page.evaluate("window.notReloaded = true")
    again = {"app": "ui-warm", "location": "campus/lab-1", "name": "warm-api"}
    r = fleet.call("POST", "/api/v1/installs", json={**again, "params": {"speed": 1}})
    assert r.status_code == 201, r.text
    page.wait_for_selector("tr[data-thing='lab-fan'] a.chip.held:has-text('warm-api')")
    assert page.evaluate("window.notReloaded") is True


def _where_rows(where: Any) -> list[list[str]]:
    """Devices per step from an install's ``where`` (a list of steps or a step -> device map)."""
    items = where if isinstance(where, list) else list(where.values())
    rows = []
    for item in items:
        if isinstance(item, str):
            rows.append([item])
        elif isinstance(item, list):
            rows.append([str(d) for d in item])
        else:
            rows.append(list(item.get("devices") or [item["device"]]))
    return rows


WATCH = """name: ui-watch
description: Read the lab's temperature (a shared sensor).
needs:
  room_temp: {sensor: temperature}
  logic: {module: fibo}
steps:
  - module: logic
    function: fibo
    uses: [room_temp]
"""


def _publish(fleet: LocalFleet, manifest: str) -> None:
    """Publish an app manifest (YAML) as admin."""
    headers = {**fleet.admin(), "content-type": "application/yaml"}
    r = httpx.post(fleet.url + "/api/v1/apps", content=manifest, headers=headers, timeout=60.0)
    assert r.status_code in (200, 201), r.text


def test_an_end_user_sees_places_apps_and_only_their_installs(
    fleet: LocalFleet, people: dict[str, str], browser: Browser
) -> None:
    page, watch = browser
    _places_ready(fleet)
    _publish(fleet, APP)
    _publish(fleet, WATCH)
    # someone else's install of the shared sensor
    r = fleet.call(
        "POST", "/api/v1/installs",
        json={"app": "ui-watch", "location": "campus/lab-1", "name": "ops-watch"},
    )  # fmt: skip
    assert r.status_code == 201, r.text
    token = _token(fleet, "enduser", "end-user", locations=["campus/lab-1"])
    sign_in(page, token, ready=".page-apps tr[data-app='ui-warm']")
    nav = page.locator("nav a").all_inner_texts()
    assert nav == ["Places", "Apps"], nav
    assert page.locator(".installs tr[data-install='ops-watch']").count() == 0
    # outside their locations: the API's sentence; inside: installed, and it is theirs
    watch.expect(_refused(403, "/api/v1/installs"))
    form = page.locator("form.install-form")
    form.locator("select[name=app]").select_option("ui-watch")
    form.locator("select[name=location]").select_option("campus/hall")
    form.locator("button[type=submit]").click()
    refusal = page.wait_for_selector("form.install-form .install-result .error")
    assert "campus/lab-1" in refusal.inner_text()
    form.locator("select[name=location]").select_option("campus/lab-1")
    form.locator("input[name=name]").fill("my-watch")
    form.locator("button[type=submit]").click()
    page.wait_for_selector(
        ".page-install .binding tr[data-need='room_temp'][data-bound='lab-temp']"
    )
    assert "enduser" in page.locator(".page-install .facts-card").inner_text()
    go(page, "#/apps")
    page.wait_for_selector(".installs tr[data-install='my-watch']")
    assert page.locator(".installs tr[data-install]").count() == 1
    # the tree, but not the fleet's sensors and controllers
    go(page, "#/places")
    page.wait_for_selector("details[data-location='campus/lab-1']")
    assert page.locator("tr[data-thing]").count() == 0
    # another's install is not theirs to see
    watch.expect(_refused(404, "/api/v1/installs/ops-watch"))
    go(page, "#/installs/ops-watch")
    page.wait_for_selector(".page-install .error")
