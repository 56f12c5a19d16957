"""A device's supervisor imports what it runs, not what it might run one day.

A real supervisor process, started the way a user starts it (``wasmfleet supervisor``,
through ``cli.main.main``), reports the modules it has loaded once ``/health`` answers: no
numpy, no WASI-NN backend, no CLI rendering (rich, pygments), no pydantic, nothing of the
orchestrator. WASI-NN itself still works on first use: test_wasi_nn.py and test_face.py run
real supervisors through it. No timing or memory thresholds here: bench/footprint.py
measures those.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.support import free_port

NOT_ON_A_DEVICE = (
    "numpy",
    "onnxruntime",
    "ai_edge_litert",
    "rich",
    "pygments",
    "pydantic",
    "pydantic_core",
    "sqlalchemy",
    "fastapi",
    "psycopg",
    "yaml",
    "PIL",
    "websockets",
    "wasmfleet.orchestrator",
    "wasmfleet.ml",
    "wasmfleet.cli.client",
)
"""Top-level packages (or wasmfleet packages) an idle supervisor must not have imported."""

REPORTER = """
import json, os, signal, sys, threading, time, urllib.request

URL, OUT, ARGS = sys.argv[1], sys.argv[2], sys.argv[3:]

def report():
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(URL + "/health", timeout=1) as answer:
                    if answer.status == 200:
                        loaded = sorted(sys.modules)
                        with open(OUT, "w") as out:
                            json.dump({"modules": loaded}, out)
                        return
            except OSError:
                time.sleep(0.05)
    finally:
        os.kill(os.getpid(), signal.SIGINT)

threading.Thread(target=report, daemon=True).start()
sys.argv = ["wasmfleet", *ARGS]
from wasmfleet.cli.main import main
main()
"""
"""Runs ``wasmfleet ARGS`` in this process; once /health answers, writes ``sys.modules``."""


def loaded_modules(tmp_path: Path, *args: str) -> list[str]:
    """The modules a supervisor started with ``args`` has loaded once it answers /health."""
    port = free_port()
    out = tmp_path / "modules.json"
    argv = [
        sys.executable, "-c", REPORTER, f"http://127.0.0.1:{port}", str(out),
        "supervisor", "--host", "127.0.0.1", "--port", str(port),
        "--data-dir", str(tmp_path / "data"), "--no-mdns", *args,
    ]  # fmt: skip
    done = subprocess.run(argv, capture_output=True, text=True, timeout=90)
    assert out.exists(), f"the supervisor never answered /health:\n{done.stderr}"
    modules: list[str] = json.loads(out.read_text())["modules"]
    return modules


def offending(modules: list[str]) -> list[str]:
    """The modules of ``modules`` that belong to a package of NOT_ON_A_DEVICE."""
    return [m for m in modules if any(m == p or m.startswith(p + ".") for p in NOT_ON_A_DEVICE)]


def test_an_idle_supervisor_imports_only_what_a_device_runs(tmp_path: Path) -> None:
    modules = loaded_modules(tmp_path)
    assert "wasmfleet.supervisor.service" in modules  # the real thing ran
    assert "wasmfleet.runtime.host.wasi_nn" in modules  # WASI-NN is offered...
    assert offending(modules) == []  # ...and nothing heavy came with it
    assert "typer._adapters" not in modules  # typer's parser (pydantic) was not used


def test_a_configured_model_is_not_loaded_at_start(tmp_path: Path) -> None:
    model = tmp_path / "m.onnx"
    model.write_bytes(b"\x08\x07 not parsed before its first use")
    modules = loaded_modules(tmp_path, "--nn-model", f"m={model}", "--camera", "simulated")
    assert offending(modules) == []


def test_help_and_bad_options_still_go_through_typer(tmp_path: Path) -> None:
    wasmfleet = [sys.executable, "-m", "wasmfleet", "supervisor"]
    shown = subprocess.run([*wasmfleet, "--help"], capture_output=True, text=True, timeout=60)
    assert shown.returncode == 0 and "--nn-model" in shown.stdout
    bad = subprocess.run([*wasmfleet, "--port", "abc"], capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "Invalid value for '--port'" in bad.stderr


# -- a device install: the extras' commands say what to install -------------------------------

WITHOUT_EXTRAS = """
import importlib.util, sys
BLOCKED = ("sqlalchemy", "fastapi", "psycopg", "numpy", "amqtt", "sklearn")
for name in BLOCKED:
    sys.modules[name] = None  # "import numpy" raises ModuleNotFoundError, as on a device
real_find_spec = importlib.util.find_spec
def find_spec(name, package=None):
    return None if name.split(".")[0] in BLOCKED else real_find_spec(name, package)
importlib.util.find_spec = find_spec
sys.argv = ["wasmfleet", *sys.argv[1:]]
from wasmfleet.cli.main import main
main()
"""
"""``wasmfleet ARGS`` as on ``pip install wasmfleet`` (no orchestrator, broker or ml extra)."""


def without_extras(*args: str) -> subprocess.CompletedProcess[str]:
    """Run ``wasmfleet ARGS`` with the extras' packages hidden."""
    argv = [sys.executable, "-c", WITHOUT_EXTRAS, *args]
    return subprocess.run(argv, capture_output=True, text=True, timeout=60)


def test_commands_of_a_missing_extra_say_what_to_install() -> None:
    for args, extra in [
        (["orchestrator", "--port", "1"], "orchestrator"),
        (["up"], "orchestrator"),
        (["broker"], "broker"),
        (["ml", "build", "model.pkl"], "ml"),
    ]:
        done = without_extras(*args)
        assert done.returncode == 2, (args, done.stderr)
        assert f"pip install 'wasmfleet[{extra}]'" in done.stderr, (args, done.stderr)
        assert "Traceback" not in done.stderr
    listed = without_extras("--help")  # every command listed, none imported
    assert listed.returncode == 0, listed.stderr
    assert "orchestrator" in listed.stdout and "pip install 'wasmfleet[ml]'" in listed.stdout
    assert "Traceback" not in listed.stderr


def test_a_device_install_still_runs_the_client_and_the_supervisor() -> None:
    shown = without_extras("supervisor", "--help")
    assert shown.returncode == 0 and "--nn-model" in shown.stdout, shown.stderr
    assert without_extras("version").returncode == 0
    status = without_extras("status", "--orchestrator", "http://127.0.0.1:9")
    assert "Traceback" not in status.stderr and "wasmfleet[" not in status.stderr
