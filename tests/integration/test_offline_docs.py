"""The orchestrator's ``/docs`` and ``/redoc`` work on an offline site: their pages reference only
assets the orchestrator serves itself, and (when Chromium and Playwright are installed) Swagger UI
renders the API in a headless browser that may reach nothing but loopback."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.support import OrchestratorProcess

CONTENT_TYPES = {".js": "text/javascript", ".css": "text/css", ".png": "image/png"}
LOOPBACK = {"127.0.0.1", "localhost", "::1"}


class AssetLinks(HTMLParser):
    """The ``src`` and ``href`` attributes of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.urls += [value for name, value in attrs if name in ("src", "href") and value]


@pytest.fixture(scope="module")
def orchestrator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OrchestratorProcess]:
    orch = OrchestratorProcess(tmp_path_factory.mktemp("docs") / "data", name="docs").start()
    yield orch
    orch.stop()


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_docs_pages_use_only_assets_served_here(
    orchestrator: OrchestratorProcess, page: str
) -> None:
    answer = orchestrator.get(page)
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/html")
    assert "https://" not in answer.text and "http://" not in answer.text
    links = AssetLinks()
    links.feed(answer.text)
    assert links.urls, answer.text
    for url in links.urls:
        parts = urlsplit(url)
        assert not parts.scheme and not parts.netloc and url.startswith("/"), url
        asset = orchestrator.get(url)
        assert asset.status_code == 200, url
        expected = CONTENT_TYPES[Path(parts.path).suffix]
        assert asset.headers["content-type"].startswith(expected), (url, asset.headers)
        assert len(asset.content) > 0


def chromium_path() -> str | None:
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    return None


def test_swagger_ui_renders_the_api_with_the_network_blocked(
    orchestrator: OrchestratorProcess,
) -> None:
    executable = chromium_path()
    if executable is None:
        pytest.skip("Chromium is not installed (apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright")
    outside: list[str] = []
    with tempfile.TemporaryDirectory() as profile, sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch_persistent_context(
            profile,
            executable_path=executable,
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        try:
            page = browser.new_page()

            def only_loopback(route: object) -> None:
                request = route.request  # type: ignore[attr-defined]
                if urlsplit(request.url).hostname in LOOPBACK:
                    route.continue_()  # type: ignore[attr-defined]
                else:
                    outside.append(request.url)
                    route.abort()  # type: ignore[attr-defined]

            page.route("**/*", only_loopback)
            page.goto(orchestrator.url + "/docs")
            page.wait_for_selector(".opblock", timeout=20_000)
            paths = page.locator(".opblock-summary-path").all_inner_texts()
            title = page.locator(".info .title").first.inner_text()
        finally:
            browser.close()
    assert outside == []
    assert "wasmfleet orchestrator" in title
    assert {"/readyz", "/livez", "/api/v1/status"} <= {p.strip() for p in paths}, paths
