"""Benchmark a device's footprint: a supervisor's memory (idle, ten modules, WASI-NN), start time.

Run ``python bench/footprint.py [--quick] [--wasmiot SRC --wasmiot-python PY]`` with the
project venv. It prints one JSON object on stdout (progress goes to stderr); bench/README.md
explains every key. Baselines measured in the same run: a bare Python interpreter of the same
venv idling (the floor no Python service goes below), ``bench/_bare_app.py`` (uvicorn +
Starlette + wasmtime serving one Wasm function: the floor of a Python web server running
Wasm), and, when given, the original wasmiot supervisor (Flask) from a checkout and a venv of
its own.

The supervisor runs as a user starts it, ``wasmfleet supervisor`` with default flags (mDNS
on), plus ``--port`` and ``--data-dir`` so that it never touches a real one. As root the whole
benchmark re-runs itself in a private network namespace (``unshare -n``, loopback with
multicast), so the default wildcard address and mDNS reach no real network; elsewhere it adds
``--host 127.0.0.1``, which binds zeroconf to loopback only.

Every process it starts is stopped in a ``finally`` block and every wait has a timeout.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import re
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from importlib.metadata import version
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run as a script: make tests.support importable
    sys.path.insert(0, str(REPO))

from tests.support import free_port, module_file_server, readme_body  # noqa: E402

NETNS_MARK = "WASMFLEET_FOOTPRINT_NETNS"
LOOPBACK_MULTICAST = (
    "ip link set lo up && ip link set lo multicast on && ip route add 224.0.0.0/4 dev lo"
)
TEN_MODULES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("fibo", ()),
    ("counter", ()),
    ("faults", ()),
    ("relay", ()),
    ("sensors", ()),
    ("stamp", ("prefix.txt",)),
    ("camera", ()),
    ("imginfo", ()),
    ("digits", ()),
    ("digits_rf", ()),
)
"""Ten small example modules (prebuilt .wasm in modules/, 0.3-60 KB) and their deployment
data files: those a supervisor without a broker can run (thermo and crops need one)."""
FACE_IMAGE = REPO / "tests" / "data" / "astronaut.jpg"
TARGETS = {"idle_rss_mb_max": 60.0, "start_s_max": 1.0}
MB = 1024 * 1024


def say(message: str) -> None:
    """A progress line on stderr (stdout carries only the JSON result)."""
    print(f"[footprint] {message}", file=sys.stderr, flush=True)


# -- what a process holds -------------------------------------------------------------------


def memory_of(pid: int) -> dict[str, Any]:
    """VmRSS and its anonymous/file split (MB), and the thread count, from /proc."""
    fields: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "RssAnon", "RssFile", "RssShmem", "Threads"):
            fields[key] = int(value.split()[0])
    return {
        "rss_mb": round(fields["VmRSS"] / 1024, 1),
        "rss_anon_mb": round(fields.get("RssAnon", 0) / 1024, 1),
        "rss_file_mb": round(fields.get("RssFile", 0) / 1024, 1),
        "threads": fields.get("Threads", 0),
    }


def top_mappings(pid: int, count: int = 12) -> dict[str, float]:
    """Resident MB by mapping (a file's base name, ``[heap]``, ``[anon]``), largest first."""
    sizes: Counter[str] = Counter()
    current = "[anon]"
    mapping = re.compile(r"^[0-9a-f]+-[0-9a-f]+ ")
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/smaps").read_text().splitlines():
            if mapping.match(line):
                parts = line.split(maxsplit=5)
                current = Path(parts[5]).name if len(parts) > 5 else "[anon]"
            elif line.startswith("Rss:"):
                sizes[current] += int(line.split()[1])
    return {name: round(kb / 1024, 1) for name, kb in sizes.most_common(count)}


# -- processes ------------------------------------------------------------------------------


@contextlib.contextmanager
def running(
    argv: list[str], log: Path, *, env: dict[str, str] | None = None, cwd: Path | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    """A child process writing to ``log``, stopped (SIGTERM, then SIGKILL) on the way out."""
    with open(log, "ab") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=cwd)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)


def wait_answering(
    url: str, proc: subprocess.Popen[bytes], started: float, log: Path, timeout: float = 30.0
) -> float:
    """Poll ``url`` every 10 ms until it answers 200; seconds since ``started``."""
    deadline = started + timeout
    with httpx.Client(timeout=1.0) as client:
        while time.perf_counter() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"{proc.args} exited with {proc.returncode}:\n{tail(log)}")
            try:
                if client.get(url).status_code == 200:
                    return time.perf_counter() - started
            except httpx.HTTPError:
                pass
            time.sleep(0.01)
    raise RuntimeError(f"{url} did not answer within {timeout} s:\n{tail(log)}")


def tail(log: Path, lines: int = 30) -> str:
    """The last lines a process printed."""
    text = log.read_text(errors="replace") if log.exists() else ""
    return "\n".join(text.splitlines()[-lines:])


def clean_env(**extra: str) -> dict[str, str]:
    """The environment without wasmfleet settings that would change what is measured."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WASMFLEET_", "WASMIOT_"))}
    return {**env, "PYTHONUNBUFFERED": "1", **extra}


def wasmfleet_command() -> list[str]:
    """``wasmfleet`` as a user runs it: the console script of this venv (or ``-m``)."""
    script = Path(sys.executable).parent / "wasmfleet"
    return [str(script)] if script.exists() else [sys.executable, "-m", "wasmfleet"]


def supervisor_argv(port: int, data_dir: Path, netns: bool) -> list[str]:
    """Default flags, plus a port and a data directory (and loopback outside a namespace)."""
    argv = [*wasmfleet_command(), "supervisor", "--port", str(port), "--data-dir", str(data_dir)]
    # In its own namespace the supervisor listens wide, as on a device: open on purpose.
    return [*argv, "--insecure"] if netns else [*argv, "--host", "127.0.0.1"]


# -- measurements ---------------------------------------------------------------------------


def measure_floor(tmp: Path, settle: float) -> dict[str, Any]:
    """A bare interpreter of this venv: time to run its first line, RSS idling."""
    code = "import sys, time; print('ready', flush=True); time.sleep(600)"
    started = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, env=clean_env(), text=True
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()  # bounded: the interpreter prints at once or dies
        start_s = time.perf_counter() - started
        if line.strip() != "ready":
            raise RuntimeError("the bare interpreter did not start")
        time.sleep(settle)
        return {"start_s": round(start_s, 3), **memory_of(proc.pid)}
    finally:
        proc.kill()
        proc.wait(timeout=10)


def measure_bare_app(tmp: Path, settle: float) -> dict[str, Any]:
    """bench/_bare_app.py: uvicorn + Starlette + wasmtime serving fibo, idle after one call."""
    port = free_port()
    log = tmp / "bare-app.log"
    argv = [sys.executable, str(REPO / "bench" / "_bare_app.py"), "--port", str(port)]
    started = time.perf_counter()
    with running(argv, log, env=clean_env()) as proc:
        url = f"http://127.0.0.1:{port}/bench/modules/fibo/fibo?iterations=7"
        start_s = wait_answering(url, proc, started, log)
        time.sleep(settle)
        return {"start_s": round(start_s, 3), **memory_of(proc.pid)}


VARIANTS = (("--no-mdns",), ("--no-nn", "--camera", "none"))
"""Idle supervisors with flags that switch a part off, measured once each."""


def measure_idle(
    tmp: Path, run: int | str, settle: float, netns: bool, flags: tuple[str, ...] = ()
) -> dict[str, Any]:
    """One supervisor start: seconds to /health answering, then RSS after ``settle``."""
    port = free_port()
    log = tmp / f"idle-{run}.log"
    argv = [*supervisor_argv(port, tmp / f"idle-{run}", netns), *flags]
    started = time.perf_counter()
    with running(argv, log, env=clean_env()) as proc:
        start_s = wait_answering(f"http://127.0.0.1:{port}/health", proc, started, log)
        time.sleep(settle)
        figures = {"start_s": round(start_s, 3), **memory_of(proc.pid)}
        if run == 0:
            figures["top_mappings_mb"] = top_mappings(proc.pid)
            figures["command"] = shlex.join(argv)
        return figures


def measure_loaded(tmp: Path, settle: float, netns: bool) -> dict[str, Any]:
    """One supervisor: idle, then ten modules deployed, then the first WASI-NN module used;
    then the same supervisor started again on its data directory (all restored)."""
    log = tmp / "loaded.log"
    data = tmp / "loaded"
    with module_file_server(tmp) as files:
        out = _deploy_all(free_port(), data, files, log, settle, netns)
    port = free_port()
    started = time.perf_counter()
    with running(supervisor_argv(port, data, netns), log, env=clean_env()) as proc:
        start_s = wait_answering(f"http://127.0.0.1:{port}/health", proc, started, log)
        deployments = httpx.get(f"http://127.0.0.1:{port}/deploy", timeout=30).json()
        time.sleep(settle)
        out["restored"] = {
            "start_s": round(start_s, 3),
            "deployments": len(deployments),
            **memory_of(proc.pid),
        }
    return out


def _deploy_all(
    port: int, data: Path, files: Any, log: Path, settle: float, netns: bool
) -> dict[str, Any]:
    """Idle, ten modules, then WASI-NN, in one supervisor (stopped on the way out)."""
    base = f"http://127.0.0.1:{port}"
    started = time.perf_counter()
    with (
        running(supervisor_argv(port, data, netns), log, env=clean_env()) as proc,
        httpx.Client(base_url=base, timeout=60.0) as client,
    ):
        wait_answering(f"{base}/health", proc, started, log)
        time.sleep(settle)
        out: dict[str, Any] = {"idle": memory_of(proc.pid)}
        for module, other in TEN_MODULES:
            body = readme_body(files, f"fp-{module}", module, other=list(other))
            answer = client.post("/deploy", json=body)
            if answer.status_code != 200:
                raise RuntimeError(f"deploying {module} failed: {answer.text}\n{tail(log)}")
        called = client.get("/fp-fibo/modules/fibo/fibo", params={"iterations": 7})
        if called.status_code != 200:
            raise RuntimeError(f"calling fibo failed: {called.text}")
        time.sleep(settle)
        out["ten_modules"] = {"modules": [m for m, _ in TEN_MODULES], **memory_of(proc.pid)}
        out["nn"] = measure_nn(client, files, proc.pid, settle, log)
        return out


def measure_nn(
    client: httpx.Client, files: Any, pid: int, settle: float, log: Path
) -> dict[str, Any]:
    """Deploy modules/face, RSS; call it once (the backend loads), RSS again."""
    described = client.get("/.well-known/wasmiot-device-description").json()
    nn = described.get("wasmfleet", {}).get("nn") or {}
    if "face" not in nn.get("models", []):
        return {"skipped": f"the device offers no 'face' model (nn: {nn})"}
    body = readme_body(files, "fp-face", "face", functions=["detect_file"])
    answer = client.post("/deploy", json=body)
    if answer.status_code != 200:
        raise RuntimeError(f"deploying face failed: {answer.text}\n{tail(log)}")
    time.sleep(settle)
    deployed = memory_of(pid)
    image = FACE_IMAGE.read_bytes()
    started = time.perf_counter()
    answer = client.post(
        "/fp-face/modules/face/detect_file", files={"image.jpg": ("image.jpg", image)}
    )
    first_call_s = time.perf_counter() - started
    if answer.status_code != 200:
        raise RuntimeError(f"calling face failed: {answer.text}\n{tail(log)}")
    started = time.perf_counter()
    client.post("/fp-face/modules/face/detect_file", files={"image.jpg": ("image.jpg", image)})
    second_call_s = time.perf_counter() - started
    time.sleep(settle)
    return {
        "deployed": deployed,
        "after_first_call": memory_of(pid),
        "first_call_s": round(first_call_s, 3),
        "second_call_s": round(second_call_s, 3),
        "top_mappings_mb": top_mappings(pid, 8),
    }


def measure_wasmiot(src: Path, python: Path, tmp: Path, settle: float) -> dict[str, Any]:
    """The original wasmiot supervisor (``python -m host_app``), default settings."""
    port = free_port()
    log = tmp / "wasmiot.log"
    instance = tmp / "wasmiot-instance"
    env = clean_env(INSTANCE_PATH=str(instance), WASMIOT_SUPERVISOR_PORT=str(port))
    env.pop("PYTHONPATH", None)
    started = time.perf_counter()
    with running([str(python), "-m", "host_app"], log, env=env, cwd=src) as proc:
        start_s = wait_answering(f"http://127.0.0.1:{port}/health", proc, started, log)
        time.sleep(settle)
        return {"start_s": round(start_s, 3), **memory_of(proc.pid)}


def median(values: list[float]) -> float:
    """The median, rounded for the report."""
    return round(statistics.median(values), 3)


def machine_info() -> dict[str, Any]:
    """What the figures were measured on."""
    return {
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "wasmtime": version("wasmtime"),
        "platform": platform.platform(),
        "load_average_start": [round(x, 2) for x in os.getloadavg()],
    }


# -- the run --------------------------------------------------------------------------------


def netns_reason() -> str | None:
    """None when this process may run the benchmark in a private namespace, else why not."""
    if os.environ.get(NETNS_MARK) == "1":
        return None
    if shutil.which("unshare") is None or shutil.which("ip") is None:
        return "no unshare (util-linux) or ip (iproute2)"
    if os.geteuid() != 0:
        return "not root"
    done = subprocess.run(["unshare", "-n", "true"], capture_output=True, timeout=10)
    return None if done.returncode == 0 else f"unshare -n failed: {done.stderr.decode().strip()}"


def main(argv: list[str] | None = None) -> int:
    """Run every measurement and print one JSON object."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one start, short settling")
    parser.add_argument("--repeats", type=int, help="idle starts measured (default 5, quick 1)")
    parser.add_argument("--settle", type=float, help="seconds to wait before reading RSS")
    parser.add_argument("--no-netns", action="store_true", help="stay in this namespace")
    parser.add_argument("--wasmiot", type=Path, help="a checkout of wasmiot-supervisor")
    parser.add_argument("--wasmiot-python", type=Path, help="the python of its own venv")
    args = parser.parse_args(argv)
    inside = os.environ.get(NETNS_MARK) == "1"
    reason = "--no-netns" if args.no_netns else netns_reason()
    if reason is None and not inside:
        command = shlex.join([sys.executable, str(Path(__file__).resolve()), *sys.argv[1:]])
        env = {**os.environ, NETNS_MARK: "1"}
        say("re-running in a private network namespace (unshare -n)")
        done = subprocess.run(
            ["unshare", "-n", "sh", "-c", f"{LOOPBACK_MULTICAST} && exec {command}"],
            env=env,
            timeout=900,
        )
        return done.returncode
    netns = inside
    repeats = args.repeats or (1 if args.quick else 5)
    settle = args.settle if args.settle is not None else (1.0 if args.quick else 3.0)
    result: dict[str, Any] = {"machine": machine_info()}
    with tempfile.TemporaryDirectory(prefix="wasmfleet-footprint-") as tmp_name:
        tmp = Path(tmp_name)
        say("floor: a bare interpreter")
        floor = measure_floor(tmp, settle)
        say("floor: bench/_bare_app.py")
        bare = measure_bare_app(tmp, settle)
        runs = []
        for run in range(repeats):
            say(f"supervisor start {run + 1}/{repeats}")
            runs.append(measure_idle(tmp, run, settle, netns))
        variants = {}
        for flags in VARIANTS:
            say(f"supervisor {' '.join(flags)}")
            variants[" ".join(flags)] = measure_idle(tmp, "-".join(flags), settle, netns, flags)
        say("supervisor with ten modules, then WASI-NN")
        loaded = measure_loaded(tmp, settle, netns)
        wasmiot: dict[str, Any] | None = None
        if args.wasmiot and args.wasmiot_python:
            say("the original wasmiot supervisor")
            wasmiot = measure_wasmiot(args.wasmiot, args.wasmiot_python, tmp, settle)
    idle = median([r["rss_mb"] for r in runs])
    start = median([r["start_s"] for r in runs])
    nn = loaded["nn"]
    result.update(
        {
            "idle_rss_mb": idle,
            "start_s": start,
            "rss_mb_10_modules": loaded["ten_modules"]["rss_mb"],
            "nn_rss_mb": nn["after_first_call"]["rss_mb"] if "after_first_call" in nn else None,
            "idle_runs": runs,
            "idle_variants": variants,
            "loaded": loaded,
            "baseline": {
                "python_floor": floor,
                "bare_app": bare,
                "wasmiot": wasmiot
                if wasmiot is not None
                else {"skipped": "pass --wasmiot SRC --wasmiot-python PY"},
            },
            "ratios": {
                "idle_over_python_floor": round(idle / floor["rss_mb"], 2),
                "idle_over_bare_app": round(idle / bare["rss_mb"], 2),
                "start_over_bare_app": round(start / bare["start_s"], 2),
                "idle_over_wasmiot": round(idle / wasmiot["rss_mb"], 2) if wasmiot else None,
                "start_over_wasmiot": round(start / wasmiot["start_s"], 2) if wasmiot else None,
            },
            "targets": TARGETS,
            "met": {
                "idle_rss_mb": idle <= TARGETS["idle_rss_mb_max"],
                "start_s": start <= TARGETS["start_s_max"],
            },
            "private_netns": netns,
            "netns_skipped": None if netns else reason,
            "repeats": repeats,
            "settle_s": settle,
        }
    )
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
