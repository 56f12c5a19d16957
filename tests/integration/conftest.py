"""Fixtures for integration tests: real supervisors and a real module file server."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support import FileServer, SupervisorProcess, module_file_server


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FileServer]:
    """The example modules served over HTTP on loopback."""
    with module_file_server(tmp_path_factory.mktemp("files")) as server:
        yield server


@pytest.fixture
def start_supervisor(tmp_path: Path) -> Iterator[Callable[..., SupervisorProcess]]:
    """Start supervisors for one test; all are stopped afterwards."""
    started: list[SupervisorProcess] = []

    def start(name: str = "sv", **kw: Any) -> SupervisorProcess:
        data_dir = kw.pop("data_dir", None) or tmp_path / f"data-{name}"
        sup = SupervisorProcess(data_dir, name=name, **kw).start()
        started.append(sup)
        return sup

    yield start
    for sup in started:
        sup.stop()


@pytest.fixture(scope="module")
def shared_supervisor(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SupervisorProcess]:
    """One supervisor shared by the tests of a module (tests must not depend on order)."""
    sup = SupervisorProcess(tmp_path_factory.mktemp("shared") / "data", name="shared")
    sup.start()
    yield sup
    sup.stop()
