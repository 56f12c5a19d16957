"""``wasmfleet app ...``, ``user add --location`` and installs in ``wasmfleet status``, as a
person types them, against a real orchestrator and supervisor."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.up_process import WASMFLEET
from tests.integration.fleet import Fleet, running_fleet
from tests.support import MODULES
from wasmfleet.core.places import parse_thing
from wasmfleet.orchestrator.store import open_store, sqlite_url

APP = """name: cli-app
parameters:
  threshold: {type: "float -20..60", default: 26}
needs:
  room_temp: {sensor: temperature}
  logic: {module: cli-counter}
steps:
  - {module: logic, function: count, uses: [room_temp]}
"""


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    root = tmp_path_factory.mktemp("apps-cli")
    with running_fleet(root, ("edge-1", [])) as running:
        running.wait_active("edge-1")
        store = open_store(sqlite_url(root / "orchestrator"))
        store.add_location("campus/lab-1", "", "tester")
        doc = {"kind": "sensor", "name": "lab-temp", "type": "temperature",
               "location": "campus/lab-1", "device": "edge-1",
               "outputs": {"celsius": "float"}}  # fmt: skip
        store.add_thing(parse_thing(doc), "tester")
        store.close()
        yield running


def cli(fleet: Fleet, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "WASMFLEET_ORCHESTRATOR": fleet.url, "COLUMNS": "200"}
    for name in ("WASMFLEET_TOKEN", "WASMFLEET_TOKEN_FILE", "WASMFLEET_CONTEXT"):
        env.pop(name, None)
    return subprocess.run([*WASMFLEET, *args], capture_output=True, text=True, timeout=60, env=env)


def test_push_a_folder_install_run_and_uninstall(fleet: Fleet, tmp_path: Path) -> None:
    folder = tmp_path / "cli-app"
    folder.mkdir()
    (folder / "app.yaml").write_text(APP)
    shutil.copy(MODULES / "counter" / "counter.wasm", folder / "cli-counter.wasm")
    pushed = cli(fleet, "app", "push", str(folder))
    assert pushed.returncode == 0, pushed.stderr
    assert "published cli-app@1" in pushed.stdout and "cli-counter version 1" in pushed.stdout
    assert "cli-app@1" in cli(fleet, "app", "ls").stdout
    dry = cli(fleet, "app", "install", "cli-app", "--location", "campus/lab-1", "--dry-run")
    assert dry.returncode == 0 and "would install" in dry.stdout and "lab-temp" in dry.stdout
    done = cli(
        fleet, "app", "install", "cli-app", "--location", "campus/lab-1", "--param",
        "threshold=20", "--name", "lab-app",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "room_temp -> lab-temp (sensor temperature, campus/lab-1)" in done.stdout
    assert "runs cli-counter.count on edge-1" in done.stdout
    listed = cli(fleet, "app", "installs")
    assert "lab-app" in listed.stdout and "edge-1" in listed.stdout
    status = cli(fleet, "status")
    assert status.returncode == 0 and "installs" in status.stdout and "lab-app" in status.stdout
    ran = cli(fleet, "app", "run", "lab-app")
    assert ran.returncode == 0 and "lab-app: ok" in ran.stdout, ran.stdout + ran.stderr
    assert "ok" in cli(fleet, "app", "fires", "lab-app").stdout
    refused = cli(fleet, "app", "rm", "cli-app")
    assert refused.returncode != 0 and "uninstall" in refused.stderr
    assert cli(fleet, "app", "uninstall", "lab-app").returncode == 0
    assert "lab-app" not in cli(fleet, "app", "installs").stdout


def test_a_bad_schedule_is_a_sentence(fleet: Fleet) -> None:
    bad = cli(
        fleet, "app", "install", "cli-app", "--location", "campus/lab-1", "--cron", "0 25 * * *"
    )
    assert bad.returncode != 0 and "hour field" in bad.stderr


def test_users_get_locations(fleet: Fleet) -> None:
    added = cli(
        fleet, "user", "add", "eve", "--role", "end-user", "--location", "campus/lab-1",
        "--output", "json",
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    assert '"campus/lab-1"' in added.stdout
    assert "campus/lab-1" in cli(fleet, "user", "ls").stdout
