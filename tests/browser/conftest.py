"""Fixtures of the dashboard's browser tests: one real fleet per module, Debian's Chromium."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser.browser_support import LocalFleet, Watch, browser_page, chromium


@pytest.fixture(scope="module")
def executable() -> str:
    found = chromium()
    if found is None:
        pytest.skip("Debian's Chromium is not installed (apt-get install chromium)")
    pytest.importorskip("playwright.sync_api", reason="pip install playwright")
    return found


@pytest.fixture(scope="module")
def fleet(executable: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalFleet]:
    fleet = LocalFleet(tmp_path_factory.mktemp("ui-fleet"))
    try:
        yield fleet.start()
    finally:
        fleet.stop()


@pytest.fixture
def browser(executable: str, fleet: LocalFleet, tmp_path: Path) -> Iterator[tuple[Any, Watch]]:
    """A fresh page; after the test: no console error it did not declare, nothing off loopback."""
    with browser_page(executable, fleet.url, tmp_path / "profile") as (page, watch):
        yield page, watch
        assert not watch.outside, f"requests left loopback: {watch.outside}"
        assert not watch.unexpected(), f"console errors: {watch.unexpected()}"
