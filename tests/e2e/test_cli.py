"""The wasmfleet command as a user runs it: help, configuration errors, env names, the demo."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.support import SupervisorProcess, free_port

WASMFLEET = [sys.executable, "-m", "wasmfleet"]


def run(*args: str, timeout: float = 60, **kw: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*WASMFLEET, *args], capture_output=True, text=True, timeout=timeout, **kw
    )  # type: ignore[call-overload, no-any-return]


def test_help_lists_the_commands() -> None:
    done = run("--help")
    assert done.returncode == 0
    for word in ("supervisor", "demo", "version"):
        assert word in done.stdout
    sub = run("supervisor", "--help")
    assert sub.returncode == 0
    for option in (
        "--port",
        "--data-dir",
        "--orchestrator",
        "--label",
        "--no-mdns",
        "--call-timeout",
    ):
        assert option in sub.stdout


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--port", "70000"], "port must be between"),
        (["--label", "novalue"], "key=value"),
        (["--memory-limit", "lots"], "size such as"),
        (["--orchestrator", "orch:3000"], "http://"),
        (["--camera", "webcam"], "auto, simulated, opencv or none"),
        (["--capacity", "cores=0"], "--capacity cores must be a whole number"),
    ],
)
def test_bad_configuration_exits_2_with_a_sentence(
    args: list[str], words: str, tmp_path: Path
) -> None:
    done = run("supervisor", "--no-mdns", "--data-dir", str(tmp_path), *args, timeout=30)
    assert done.returncode == 2
    assert words in done.stderr
    assert "Traceback" not in done.stderr


def test_wasmiot_environment_names(tmp_path: Path) -> None:
    port = free_port()
    sup = SupervisorProcess(
        tmp_path / "data",
        name="ignored-by-env-test",
        env={"WASMIOT_SUPERVISOR_PORT": str(port), "WASMIOT_SUPERVISOR_NAME": "envdev"},
    )
    # Leave --port and --name to the environment: start the command by hand.
    env = {**os.environ, **sup.env}
    cmd = [
        *WASMFLEET,
        "supervisor",
        "--host",
        "127.0.0.1",
        "--no-mdns",
        "--data-dir",
        str(sup.data_dir),
    ]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        index = None
        while time.monotonic() < deadline and index is None:
            try:
                index = httpx.get(f"http://127.0.0.1:{port}/", timeout=1).json()
            except httpx.HTTPError:
                time.sleep(0.1)
        assert index is not None, "the supervisor did not come up on WASMIOT_SUPERVISOR_PORT"
        assert index["name"] == "envdev"
    finally:
        proc.terminate()
        proc.wait(timeout=15)


@pytest.mark.skipif(
    shutil.which("curl") is None, reason="the demo prints curl commands; needs curl"
)
def test_demo_prints_curl_commands_that_work(tmp_path: Path) -> None:
    port, files_port = free_port(), free_port()
    proc = subprocess.Popen(
        [*WASMFLEET, "demo", "--port", str(port), "--files-port", str(files_port),
         "--data-dir", str(tmp_path / "demo")],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    lines: list[str] = []
    try:
        deadline = time.monotonic() + 60
        assert proc.stdout is not None
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line.rstrip("\n"))
            if "Press Ctrl-C" in line:
                break
        output = "\n".join(lines)
        assert "fibo(7) = 13" in output, output
        commands = [
            line.strip().split("    #")[0]
            for line in lines
            if line.strip().startswith(("curl ", "echo "))
        ]
        by_function = {
            re.search(r"/modules/\w+/(\w+)", c).group(1): c for c in commands if "/modules/" in c
        }  # type: ignore[union-attr]
        for function in ("fibo", "count", "stamp", "take_image", "temperature", "divide"):
            assert function in by_function, output

        def sh(command: str) -> dict[str, object]:
            done = subprocess.run(["sh", "-c", command], capture_output=True, text=True, timeout=30)
            assert done.returncode == 0, done.stderr
            answer: dict[str, object] = json.loads(done.stdout)
            return answer

        assert sh(by_function["fibo"])["result"] == "13"
        assert [sh(by_function["count"])["result"] for _ in range(2)] == ["1", "2"]
        stamped = sh(by_function["stamp"])
        assert (
            httpx.get(str(stamped["result"]), timeout=10).text
            == "stamped by wasmfleet: HELLO FROM THE EDGE\n"
        )
        assert str(sh(by_function["take_image"])["result"]).endswith("image.jpeg")
        assert sh(by_function["divide"])["result"] == "7"
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            pytest.fail("the demo did not stop on Ctrl-C within 20 s")
    # 130 is the conventional status after Ctrl-C (uvicorn re-raises SIGINT after a clean stop).
    assert proc.returncode in (0, 130)
    assert proc.stdout is not None
    assert "Traceback" not in proc.stdout.read()
