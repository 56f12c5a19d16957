"""A real local fleet with auth on, and Debian's Chromium driven by Playwright, for the
dashboard's browser tests: every console error and every request that would leave loopback
fails the test; ``screenshot`` writes ``docs/images/ui-<name>.png``."""

from __future__ import annotations

import json
import shutil
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

IMAGES = Path(__file__).resolve().parents[2] / "docs" / "images"
LOOPBACK = {"127.0.0.1", "localhost", "::1", "[::1]"}
DEVICES = ("cam-gw", "edge-box", "cloud-vm")
LABELS = {"cam-gw": "role=gateway", "edge-box": "role=edge", "cloud-vm": "role=cloud"}
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
        self.orchestrator = OrchestratorProcess(
            root / "orch",
            name="orch",
            args=[*FAST_HEALTH, "--auth", "on", "--admin-token-file", str(token_file)],
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
        """Join a supervisor with a single-use join token (its labels name its role)."""
        r = self.call(
            "POST", "/api/v1/tokens", json={"name": f"join@{name}", "role": "device-join"}
        )
        assert r.status_code == 201, r.text
        sup = SupervisorProcess(
            self.root / name,
            name=name,
            args=["--join", self.url, "--label", LABELS[name]],
            env={"WASMFLEET_JOIN_TOKEN": r.json()["token"]},
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
        r = self.call(
            "POST", "/api/v1/modules", data={"name": module},
            files={"wasm": (f"{module}.wasm", wasm, "application/wasm")},
        )  # fmt: skip
        assert r.status_code in (200, 201), r.text
        made: dict[str, Any] = r.json()
        described, files = description_upload(module)
        r = self.call(
            "POST", f"/api/v1/modules/{made['id']}/description",
            data={"description": json.dumps(described)}, files=files or None,
        )  # fmt: skip
        assert r.status_code == 200, r.text
        return made

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


def screenshot(page: Any, name: str) -> Path:
    """Save the page as ``docs/images/ui-<name>.png``."""
    IMAGES.mkdir(parents=True, exist_ok=True)
    path = IMAGES / f"ui-{name}.png"
    page.mouse.move(VIEWPORT["width"] - 5, VIEWPORT["height"] - 5)  # no hover highlight
    page.screenshot(path=str(path), full_page=False)
    return path


def sign_in(page: Any, token: str) -> None:
    """Open the dashboard and sign in with ``token``."""
    page.goto("/ui/")
    page.wait_for_selector("#token")
    page.fill("#token", token)
    page.click("form.login button[type=submit]")
    page.wait_for_selector(".page-fleet table.grid")


def settle(seconds: float) -> None:
    """Give live updates a moment (used only before screenshots, never as an assertion)."""
    time.sleep(seconds)
