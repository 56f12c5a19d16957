"""A real local fleet with auth on, and Debian's Chromium driven by Playwright, for the
dashboard's browser tests: every console error and every request that would leave loopback
fails the test; ``screenshot`` writes ``docs/images/ui-<name>.png``."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from tests.integration.fleet import FAST_HEALTH
from tests.support import (
    MODULES,
    OrchestratorProcess,
    SupervisorProcess,
    description_upload,
    wait_until,
)
from wasmfleet.cli.local_fleet import DEVICES as UP_DEVICES
from wasmfleet.runtime.host.camera import bundled_assets

IMAGES = Path(
    os.environ.get("WASMFLEET_SCREENSHOTS") or Path(tempfile.gettempdir()) / "wasmfleet-ui"
)
"""Where the tests' screenshots go: a temporary folder, so a test run leaves the checkout as it
was; ``WASMFLEET_SCREENSHOTS=docs/images pytest tests/browser`` retakes the docs' pictures."""
LOOPBACK = {"127.0.0.1", "localhost", "::1", "[::1]"}
SPECS = {spec.name: spec for spec in UP_DEVICES}
"""The devices of ``wasmfleet up`` (labels, camera, sensors, capacity): the same fleet."""
DEVICES = tuple(SPECS)
VIEWPORT = {"width": 1360, "height": 860}


def chromium() -> str | None:
    """Debian's Chromium, if installed (never a browser Playwright downloads)."""
    for candidate in (
        "/usr/bin/chromium",
        shutil.which("chromium"),
        shutil.which("chromium-browser"),
    ):
        if candidate and Path(candidate).exists():
            return candidate
    return None


class LocalFleet:
    """An orchestrator with ``--auth on`` and three joined supervisors on loopback."""

    def __init__(self, root: Path) -> None:
        self.root = root
        token_file = root / "admin.token"
        sample = ["--metrics-sample", "0.5"]  # the plots fill in within seconds
        auth = ["--auth", "on", "--admin-token-file", str(token_file)]
        self.orchestrator = OrchestratorProcess(
            root / "orch", name="orch", args=[*FAST_HEALTH, *auth, *sample]
        )
        self.token_file = token_file
        self.supervisors: dict[str, SupervisorProcess] = {}
        self.tokens: dict[str, str] = {}

    @property
    def url(self) -> str:
        """The orchestrator's base URL."""
        return self.orchestrator.url

    def admin(self) -> dict[str, str]:
        """Headers with the first admin's token."""
        return {"authorization": f"Bearer {self.tokens['admin']}"}

    def call(self, method: str, path: str, **kw: Any) -> httpx.Response:
        """A request to the orchestrator as admin."""
        return httpx.request(method, self.url + path, headers=self.admin(), timeout=60.0, **kw)

    def start(self) -> LocalFleet:
        """Start everything and make one token per human role."""
        self.orchestrator.start()
        self.tokens["admin"] = self.token_file.read_text().strip()
        for role in ("developer", "operator", "viewer"):
            user = f"{role[:3]}-user"
            r = self.call("POST", "/api/v1/users", json={"name": user, "role": role})
            assert r.status_code == 201, r.text
            r = self.call("POST", "/api/v1/tokens", json={"name": "ui", "user": user})
            assert r.status_code == 201, r.text
            self.tokens[role] = r.json()["token"]
        for name in DEVICES:
            self.start_supervisor(name)
        ok = wait_until(lambda: self.active() >= set(DEVICES), timeout=30)
        assert ok, f"devices not active: {self.call('GET', '/api/v1/devices').text}"
        return self

    def start_supervisor(self, name: str) -> SupervisorProcess:
        """Join a supervisor with a single-use join token, set up as ``wasmfleet up`` does."""
        r = self.call(
            "POST", "/api/v1/tokens", json={"name": f"join@{name}", "role": "device-join"}
        )
        assert r.status_code == 201, r.text
        spec = SPECS[name]
        args = ["--join", self.url, "--camera", spec.camera, "--sensors", spec.sensors]
        args += ["--capacity", spec.capacity, *(f"--label={label}" for label in spec.labels)]
        args += [] if spec.nn else ["--no-nn"]
        if spec.camera_dir is not None:
            args += ["--camera-dir", str(bundled_assets() / spec.camera_dir)]
        sup = SupervisorProcess(
            self.root / name, name=name, args=args, env={"WASMFLEET_JOIN_TOKEN": r.json()["token"]}
        )
        sup.start()
        self.supervisors[name] = sup
        return sup

    def active(self) -> set[str]:
        """Names of the devices listed as active."""
        devices = self.call("GET", "/api/v1/devices").json()
        return {d["name"] for d in devices if d["status"] == "active"}

    def push(self, module: str) -> dict[str, Any]:
        """Upload an example module with its committed description."""
        wasm = (MODULES / module / f"{module}.wasm").read_bytes()
        described, files = description_upload(module)
        return self.upload(module, wasm, described, files)

    def upload(
        self,
        name: str,
        wasm: bytes,
        described: dict[str, Any],
        files: dict[str, tuple[str, bytes]] | None = None,
    ) -> dict[str, Any]:
        """Upload a module and its description through the API."""
        r = self.call(
            "POST", "/api/v1/modules", data={"name": name},
            files={"wasm": (f"{name}.wasm", wasm, "application/wasm")},
        )  # fmt: skip
        assert r.status_code in (200, 201), r.text
        made: dict[str, Any] = r.json()
        r = self.call(
            "POST", f"/api/v1/modules/{made['id']}/description",
            data={"description": json.dumps(described)}, files=files or None,
        )  # fmt: skip
        assert r.status_code == 200, r.text
        return made

    def deploy(self, manifest: dict[str, Any]) -> dict[str, Any]:
        """Deploy a manifest through the API; its view (with the plan)."""
        r = self.call("POST", "/api/v1/deployments", json=manifest)
        assert r.status_code == 201, r.text
        made: dict[str, Any] = r.json()
        return made

    def execute(self, deployment: str, **kw: Any) -> dict[str, Any]:
        """Run a deployment through the API; the execution record."""
        r = self.call("POST", f"/api/v1/deployments/{deployment}/execute", **kw)
        assert r.status_code == 200, r.text
        done: dict[str, Any] = r.json()
        return done

    def stop(self) -> None:
        """Stop every process."""
        for sup in self.supervisors.values():
            sup.stop()
        self.orchestrator.stop()


@dataclass
class Watch:
    """What a page did that a test must see: console errors, page errors, outside requests."""

    errors: list[str] = field(default_factory=list)
    outside: list[str] = field(default_factory=list)
    expected: list[Callable[[str], bool]] = field(default_factory=list)
    """Console lines a test declared it provokes (say, the browser's note of a 401 answer)."""

    def expect(self, predicate: Callable[[str], bool]) -> None:
        """Declare a console error line this test provokes on purpose."""
        self.expected.append(predicate)

    def unexpected(self) -> list[str]:
        """Console and page errors nobody declared."""
        return [e for e in self.errors if not any(p(e) for p in self.expected)]


@contextmanager
def browser_page(executable: str, base_url: str, profile: Path) -> Iterator[tuple[Any, Watch]]:
    """A headless Chromium page whose network stops at loopback; yields (page, watch)."""
    from playwright.sync_api import sync_playwright

    watch = Watch()
    with sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(profile),
            executable_path=executable,
            headless=True,
            viewport=VIEWPORT,
            args=["--no-sandbox", "--disable-dev-shm-usage"],
            base_url=base_url,
        )
        try:

            def guard(route: Any) -> None:
                host = urlsplit(route.request.url).hostname or ""
                if route.request.url.startswith(("data:", "blob:")) or host in LOOPBACK:
                    route.continue_()
                else:
                    watch.outside.append(route.request.url)
                    route.abort()

            context.route("**/*", guard)
            page = context.pages[0] if context.pages else context.new_page()

            def on_console(message: Any) -> None:
                if message.type == "error":
                    where = message.location.get("url", "") if message.location else ""
                    watch.errors.append(f"{message.text} [{where}]")

            page.on("console", on_console)
            page.on("pageerror", lambda exc: watch.errors.append(f"page error: {exc}"))
            yield page, watch
        finally:
            context.close()


def screenshot(page: Any, name: str, element: str | None = None) -> Path:
    """Save the page (or one element of it) as ``ui-<name>.png`` in ``IMAGES``."""
    IMAGES.mkdir(parents=True, exist_ok=True)
    path = IMAGES / f"ui-{name}.png"
    page.mouse.move(VIEWPORT["width"] - 5, VIEWPORT["height"] - 5)  # no hover highlight
    page.evaluate("document.getElementById('toasts')?.replaceChildren()")  # passing notes
    if element is None:
        page.screenshot(path=str(path), full_page=False)
    else:
        page.locator(element).first.screenshot(path=str(path))
    return path


def go(page: Any, route: str) -> None:
    """Follow a dashboard route (``#/modules/fibo``) without reloading the page."""
    page.evaluate("route => { location.hash = route; }", route)
    page.wait_for_selector(f".page-{page_of(route)}")


def page_of(route: str) -> str:
    """The shell's page name for a route (its root element is ``.page-<name>``)."""
    parts = route.lstrip("#/").split("?")[0].split("/")
    singular = {
        "devices": "device",
        "modules": "module",
        "deployments": "deployment",
        "installs": "install",
    }
    if len(parts) > 1 and parts[0] in singular:
        return singular[parts[0]]
    return parts[0]


def sign_in(page: Any, token: str, ready: str = ".page-fleet table.grid") -> None:
    """Open the dashboard and sign in with ``token``; wait for ``ready`` (the role's first
    page: the fleet, or the apps for an end user)."""
    page.goto("/ui/")
    page.wait_for_selector("#token")
    page.fill("#token", token)
    page.click("form.login button[type=submit]")
    page.wait_for_selector(ready)


def settle(seconds: float) -> None:
    """Give live updates a moment (used only before screenshots, never as an assertion)."""
    time.sleep(seconds)
