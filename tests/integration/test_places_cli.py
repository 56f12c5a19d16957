"""``wasmfleet location``, ``sensor register|ls|show|rm``, ``controller ...`` against a real
orchestrator, and the simulators registering themselves (real Mosquitto)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from tests.mqtt import MosquittoProcess, running_mosquitto
from tests.support import OrchestratorProcess
from wasmfleet.cli.main import app

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def orch(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OrchestratorProcess]:
    process = OrchestratorProcess(tmp_path_factory.mktemp("places-cli") / "data")
    process.start()
    try:
        yield process
    finally:
        process.stop()


@pytest.fixture
def cli(orch: OrchestratorProcess, tmp_path: Path) -> Iterator[Any]:
    """Run a command in-process against the orchestrator; (exit code, stdout, stderr).
    Things and locations are removed afterwards."""
    env = {
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "WASMFLEET_ORCHESTRATOR": orch.url,
        "WASMFLEET_TOKEN": None,
        "WASMFLEET_TOKEN_FILE": None,
        "WASMFLEET_CONTEXT": None,
        "WASMFLEET_OUTPUT": None,
        "COLUMNS": "200",
    }

    def run(*args: str) -> tuple[int, str, str]:
        result = CliRunner().invoke(app, list(args), env=env)
        assert "Traceback" not in result.output + result.stderr, result.output
        return result.exit_code, result.stdout, result.stderr

    yield run
    with httpx.Client(base_url=orch.url, timeout=30) as http:
        for kind in ("sensors", "controllers"):
            for thing in http.get(f"/api/v1/{kind}").json():
                http.delete(f"/api/v1/{kind}/{thing['name']}")
        for loc in sorted(http.get("/api/v1/locations").json(), key=lambda x: -len(x["path"])):
            http.delete(f"/api/v1/locations/{loc['path']}")


def test_locations_from_the_command_line(cli: Any) -> None:
    code, out, err = cli("location", "add", "campus/lab-1", "--description", "the lab")
    assert code == 0, err
    assert out.splitlines() == ["location campus added", "location campus/lab-1 added"]
    code, _, err = cli("location", "add", "campus/lab-1")
    assert code == 1 and "already exists" in err
    code, out, _ = cli("location", "ls")
    assert code == 0 and "campus/lab-1" in out and "the lab" in out
    code, out, _ = cli("location", "ls", "-o", "json")
    assert [p["path"] for p in json.loads(out)] == ["campus", "campus/lab-1"]
    code, out, _ = cli("location", "show", "campus/lab-1")
    assert code == 0 and "parent" in out and "campus" in out
    code, _, err = cli("location", "rm", "campus")
    assert code == 1 and "lie below it" in err
    code, _, err = cli("location", "show", "campus/nowhere")
    assert code == 1 and "wasmfleet location add campus/nowhere" in err
    assert cli("location", "rm", "campus/lab-1")[0] == 0
    assert cli("location", "rm", "campus")[0] == 0
    assert json.loads(cli("location", "ls", "-o", "json")[1]) == []


def test_sensors_and_controllers_from_the_command_line(cli: Any, tmp_path: Path) -> None:
    cli("location", "add", "campus/lab-1")
    code, out, err = cli(
        "sensor", "register", "--name", "lab-temp", "--type", "temperature",
        "--location", "campus/lab-1", "--topic", "campus/lab-1/temp",
        "--output", "celsius=float",
    )  # fmt: skip
    assert code == 0, err
    assert "sensor lab-temp (temperature) registered at campus/lab-1" in out
    code, out, err = cli(
        "controller", "register", "--name", "lab-fan", "--type", "fan",
        "--location", "campus/lab-1", "--device", "edge-1", "--input", "speed=int 0..3", "--json",
    )  # fmt: skip
    assert code == 0, err
    assert json.loads(out)["inputs"] == {"speed": "int 0..3"}
    file = tmp_path / "more.yaml"
    file.write_text(
        "- {name: door-cam, type: camera, location: campus/lab-1, topic: campus/lab-1/door}\n"
        "- {name: hall-temp, type: temperature, location: campus, topic: campus/t,"
        " outputs: {celsius: 'float -40..60'}}\n"
    )
    code, out, err = cli("sensor", "register", "--file", str(file))
    assert code == 0, err
    assert len(out.splitlines()) == 2
    code, out, _ = cli("sensor", "ls", "--location", "campus/lab-1", "-o", "json")
    assert [t["name"] for t in json.loads(out)] == ["door-cam", "lab-temp"]
    code, out, _ = cli("sensor", "ls", "--type", "temperature")
    assert "hall-temp" in out and "lab-temp" in out and "door-cam" not in out
    assert "celsius=float -40..60" in out
    code, out, _ = cli("controller", "show", "lab-fan")
    assert code == 0 and "device edge-1" in out and "speed=int 0..3" in out
    code, _, err = cli("sensor", "show", "lab-fan")
    assert code == 1 and "is a controller" in err
    assert cli("controller", "rm", "lab-fan") == (0, "controller lab-fan removed\n", "")
    code, _, err = cli("controller", "rm", "lab-fan")
    assert code == 1 and "No controller named 'lab-fan'" in err


@pytest.mark.parametrize(
    ("args", "code", "needle"),
    [
        (["--name", "x", "--type", "fan", "--location", "campus"], 2, "exactly one of --topic"),
        (["--name", "x", "--location", "campus", "--topic", "t"], 2, "Give --type"),
        (
            [
                "--name",
                "x",
                "--type",
                "t",
                "--location",
                "campus",
                "--topic",
                "t",
                "--output",
                "celsius",
            ],
            2,
            "must be FIELD=TYPE",
        ),
        (
            ["--name", "x", "--type", "t", "--location", "campus/lab-9", "--topic", "t"],
            1,
            "wasmfleet location add campus/lab-9",
        ),
        (
            [
                "--name",
                "x",
                "--type",
                "t",
                "--location",
                "campus",
                "--topic",
                "t",
                "--output",
                "c=flaot",
            ],
            1,
            "is not a type",
        ),
        (["--file", "nope.yaml"], 2, "Cannot read nope.yaml"),
        (["--file", "nope.yaml", "--name", "x"], 2, "not both"),
    ],
)
def test_bad_registrations_say_why(cli: Any, args: list[str], code: int, needle: str) -> None:
    cli("location", "add", "campus")
    got, _, err = cli("sensor", "register", *args)
    assert got == code and needle in err, err
    assert json.loads(cli("sensor", "ls", "-o", "json")[1]) == []


@pytest.fixture
def mosquitto(tmp_path: Path) -> Iterator[MosquittoProcess]:
    with running_mosquitto(tmp_path / "mosquitto") as broker:
        yield broker


def _run(*args: str, orch: OrchestratorProcess, tmp: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WASMFLEET_")}
    env["XDG_CONFIG_HOME"] = str(tmp / "config")
    return subprocess.run(
        [sys.executable, "-m", "wasmfleet", *args, "--orchestrator", orch.url],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )


def test_simulators_register_themselves(
    cli: Any, orch: OrchestratorProcess, mosquitto: MosquittoProcess, tmp_path: Path
) -> None:
    cli("location", "add", "campus/lab-1")
    sensor = [
        "sensor", "simulate", "--kind", "temperature", "--topic", "campus/lab-1/temp",
        "--count", "2", "--rate", "20/s", "--broker", mosquitto.url,
        "--register", "lab-temp", "--location", "campus/lab-1",
    ]  # fmt: skip
    for _ in range(2):  # the second start replaces its own registration
        done = _run(*sensor, orch=orch, tmp=tmp_path)
        assert done.returncode == 0, done.stderr
        assert "registered sensor lab-temp (temperature) at campus/lab-1" in done.stderr
    thing = httpx.get(orch.url + "/api/v1/sensors/lab-temp").json()
    assert thing["topic"] == "campus/lab-1/temp"
    assert thing["outputs"]["celsius"] == "float" and "seq" in thing["outputs"]

    fan = [
        "sensor", "controller", "--topic", "campus/lab-1/fan", "--duration", "0.5",
        "--broker", mosquitto.url, "--register", "lab-fan", "--type", "fan",
        "--location", "campus/lab-1", "--input", "speed=int 0..3",
    ]  # fmt: skip
    done = _run(*fan, orch=orch, tmp=tmp_path)
    assert done.returncode == 0, done.stderr
    thing = httpx.get(orch.url + "/api/v1/controllers/lab-fan").json()
    assert (thing["topic"], thing["inputs"]) == ("campus/lab-1/fan", {"speed": "int 0..3"})

    wild = [*fan[:3], "campus/+/fan", *fan[4:]]
    done = _run(*wild, orch=orch, tmp=tmp_path)
    assert done.returncode == 2 and "has a wildcard" in done.stderr
    nowhere = [*sensor[:-1], "campus/lab-9"]
    done = _run(*nowhere, orch=orch, tmp=tmp_path)
    assert done.returncode == 1 and "wasmfleet location add campus/lab-9" in done.stderr
    assert "publishing" not in done.stderr  # refused before a single reading
