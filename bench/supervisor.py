"""Benchmark the supervisor's call path: in-process call overhead and HTTP calls per second.

Run ``python bench/supervisor.py [--quick] [--duration S]`` with the project venv. It
prints one JSON object on stdout (progress goes to stderr); bench/README.md explains every
key. The HTTP figures come with a baseline measured in the same run — a bare Starlette
route on uvicorn calling the same fibo export (bench/_bare_app.py) — and the ratios
between the two, so a figure from a noisy machine still says something.

Everything it starts (supervisor, file server, baseline app, load generator) is stopped in
a ``finally`` block, and every wait has a timeout.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from importlib.metadata import version
from pathlib import Path
from typing import Any

import httpx
import wasmtime

from wasmfleet.runtime.engine import WasmEngine
from wasmfleet.runtime.fastcall import make_fast_call
from wasmfleet.runtime.host.camera import SimulatedCamera
from wasmfleet.runtime.host.functions import HostDevices
from wasmfleet.runtime.host.sensors import SimulatedDht
from wasmfleet.runtime.instance import WasmInstance
from wasmfleet.runtime.limits import RuntimeLimits
from wasmfleet.supervisor.metrics import CallMetrics

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run as a script: make tests.support importable
    sys.path.insert(0, str(REPO))

from tests.support import SupervisorProcess, free_port, module_file_server, readme_body  # noqa: E402

from loadgen import run_python_load, run_wrk  # noqa: E402  (bench/ is on sys.path as a script)

FIBO_WASM = REPO / "modules" / "fibo" / "fibo.wasm"
ARG, EXPECTED = 7, 13
LEVELS = ((1, 1), (16, 2))  # (connections, wrk threads)
TARGETS = {"overhead_us_max": 5.0, "calls_per_s_c16_min": 5000.0, "p50_ms_c1_max": 0.5}


def say(message: str) -> None:
    """A progress line on stderr (stdout carries only the JSON result)."""
    print(f"[bench] {message}", file=sys.stderr, flush=True)


# -- in-process call overhead ---------------------------------------------------------------


def python_fibo(n: int) -> int:
    """The same loop as modules/fibo/fibo.c, in Python."""
    a, b = 0, 1
    for _ in range(n):
        a, b = b, a + b
    return a


def _time_loop(fn: Callable[..., Any], args: tuple[Any, ...], n: int) -> float:
    start = time.perf_counter()
    for _ in itertools.repeat(None, n):
        fn(*args)
    return time.perf_counter() - start


def per_call_us(
    fn: Callable[..., Any], args: tuple[Any, ...], repeats: int, target_s: float
) -> tuple[float, float, int]:
    """Median and minimum µs per call over ``repeats`` loops of about ``target_s`` each.

    Also returns the loop size. The minimum is the least disturbed repeat: on a shared
    machine it is the better estimate of the intrinsic cost; the median is the headline.
    """
    n = 64
    while (elapsed := _time_loop(fn, args, n)) < target_s / 8 and n < 50_000_000:
        n *= 4
    n = max(1, int(n * target_s / max(elapsed, 1e-9)))
    samples = [_time_loop(fn, args, n) / n * 1e6 for _ in range(repeats)]
    return statistics.median(samples), min(samples), n


def measure_call_overhead(tmp: Path, repeats: int, target_s: float) -> dict[str, Any]:
    """Per-call cost of fibo(7) through each path, built the way the supervisor builds it."""
    engine = WasmEngine(RuntimeLimits(), tmp / "cache")
    try:
        compiled = engine.compile(FIBO_WASM.read_bytes(), name="fibo")
        workdir = tmp / "work"
        workdir.mkdir()
        devices = HostDevices(SimulatedCamera(), SimulatedDht())
        instance = WasmInstance(
            engine, compiled, workdir, devices, deployment="bench", module="fibo"
        )
        # A second instance of the same compiled module for the direct paths, so the
        # benchmark needs nothing private from WasmInstance.
        store = wasmtime.Store(engine.engine)
        store.set_wasi(wasmtime.WasiConfig())
        store.set_epoch_deadline(1 << 40)  # the engine has epoch interruption on
        linker = wasmtime.Linker(engine.engine)
        linker.define_wasi()
        exports = linker.instantiate(store, compiled.module).exports(store)
        init, func = exports.get("_initialize"), exports["fibo"]
        assert isinstance(func, wasmtime.Func)
        if isinstance(init, wasmtime.Func):
            init(store)
        fast = make_fast_call(store, func, compiled.functions["fibo"])
        cases: dict[str, tuple[Callable[..., Any], tuple[Any, ...]]] = {
            "fast_path": (fast, (ARG,)),
            "instance_call": (instance.call, ("fibo", (ARG,))),
            "stock_path": (func, (store, ARG)),
            "python_baseline": (python_fibo, (ARG,)),
        }
        result: dict[str, Any] = {}
        iterations: dict[str, int] = {}
        minimum: dict[str, float] = {}
        for name, (fn, args) in cases.items():
            value = fn(*args)
            if value != EXPECTED:
                raise RuntimeError(f"{name} returned {value!r} for fibo({ARG}), not {EXPECTED}")
            result[name], minimum[name], iterations[name] = per_call_us(fn, args, repeats, target_s)
            say(f"in-process {name}: {result[name]:.3f} us/call")
        result["stock_over_fast"] = result["stock_path"] / result["fast_path"]
        # What --metrics adds per call on the call path: one CallMetrics.observe.
        counters = CallMetrics()
        key = ("bench", "fibo", "fibo")
        result["metrics_observe"], minimum["metrics_observe"], iterations["metrics_observe"] = (
            per_call_us(counters.observe, (key, 0, 0.0003), repeats, target_s)
        )
        say(f"in-process metrics_observe: {result['metrics_observe']:.3f} us/call")
        result.update(argument=ARG, repeats=repeats, iterations=iterations, min=minimum)
        return result
    finally:
        engine.close()


def measure_level(
    name: str, url: str, generator: str, connections: int, seconds: float, warmup: float
) -> dict[str, Any]:
    """One load level against one server: warm-up, measured run, then a response check."""
    threads = dict(LEVELS)[connections]
    level: dict[str, Any] = {"connections": connections}
    if generator == "wrk":
        level["wrk_threads"] = threads
        run_wrk(url, connections, threads, max(1, round(warmup)))
        level.update(run_wrk(url, connections, threads, max(1, round(seconds))))
    else:
        run_python_load(url, connections, warmup)
        level.update(run_python_load(url, connections, seconds))
    answer = httpx.get(url, timeout=10.0)
    body = answer.json() if answer.status_code == 200 else {}
    level["one_round_trip"] = body.get("result") == str(EXPECTED)
    level["response_sample"] = body
    say(
        f"{name} c={connections}: {level['calls_per_s']:.0f} calls/s, "
        f"p50 {level['p50_ms']:.3f} ms, p99 {level['p99_ms']:.3f} ms, {level['errors']} errors"
    )
    return level


# -- servers --------------------------------------------------------------------------------


@contextlib.contextmanager
def bare_app(tmp: Path) -> Iterator[str]:
    """Start bench/_bare_app.py and yield its fibo URL; stop it afterwards."""
    port = free_port()
    log_path = tmp / "bare-app.log"
    with open(log_path, "wb") as log:
        cmd = [sys.executable, str(REPO / "bench" / "_bare_app.py"), "--port", str(port)]
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/bench/modules/fibo/fibo?iterations={ARG}"
    try:
        deadline = time.monotonic() + 30
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"baseline app exited:\n{log_path.read_text()}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(url, timeout=1.0).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError(f"baseline app did not answer in 30 s:\n{log_path.read_text()}")
            time.sleep(0.05)
        yield url
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)


def start_supervisor(tmp: Path, files: Any, name: str, args: list[str]) -> SupervisorProcess:
    """A supervisor process with fibo deployed as ``bench``."""
    sup = SupervisorProcess(tmp / f"data-{name}", name=name, args=args)
    sup.start()
    answer = sup.deploy(readme_body(files, "bench", "fibo"), timeout=60.0)
    if answer.status_code != 200:
        raise RuntimeError(f"deploy failed: {answer.status_code} {answer.text}")
    return sup


def run_http(
    tmp: Path, generator: str, seconds: float, warmup: float, rounds: int = 1
) -> dict[str, Any]:
    """Supervisor (metrics on, the default), the same with --no-metrics, and the baseline
    under the same load, interleaved level by level."""
    sups: dict[str, SupervisorProcess] = {}
    try:
        with module_file_server(tmp) as files:
            sups["http"] = start_supervisor(tmp, files, "bench", [])
            sups["http_no_metrics"] = start_supervisor(tmp, files, "bench-off", ["--no-metrics"])
        results: dict[str, dict[str, Any]] = {}
        urls = {
            key: f"{sup.url}/bench/modules/fibo/fibo?iterations={ARG}" for key, sup in sups.items()
        }
        for key, url in urls.items():
            results[key] = {"generator": generator, "url": url}
        with bare_app(tmp) as base_url:
            urls["baseline_http"] = base_url
            results["baseline_http"] = {"generator": generator, "url": base_url}
            for connections, _ in LEVELS:
                level = f"c{connections}"
                args = (generator, connections, seconds, warmup)
                runs: dict[str, list[dict[str, Any]]] = {key: [] for key in urls}
                for turn in range(rounds):
                    # every round in another order, so no server always runs first
                    order = list(urls.items())
                    order = order[turn % len(order) :] + order[: turn % len(order)]
                    for key, url in order:
                        runs[key].append(measure_level(key, url, *args))
                for key, measured in runs.items():
                    results[key][level] = median_run(measured)
        for key, sup in sups.items():
            alive = sup.proc is not None and sup.proc.poll() is None
            results[key]["supervisor_alive_after"] = alive
            if not alive or any(results[key][f"c{c}"]["errors"] for c, _ in LEVELS):
                say(f"{key}: errors or exit; its log ends with:\n{sup.log()[-4000:]}")
        scrape = httpx.get(f"{sups['http'].url}/metrics", timeout=10.0)
        results["http"]["metrics_scrape_bytes"] = len(scrape.content)
        return results
    finally:
        for sup in sups.values():
            sup.stop()


def median_run(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The run with the median calls/s, with every round's calls/s beside it."""
    ordered = sorted(runs, key=lambda r: r["calls_per_s"])
    chosen = dict(ordered[(len(ordered) - 1) // 2])
    chosen["calls_per_s_rounds"] = [r["calls_per_s"] for r in runs]
    return chosen


# -- report ---------------------------------------------------------------------------------


def summarize(overhead: dict[str, Any], http: dict[str, Any]) -> dict[str, Any]:
    """Ratios to the baseline and the targets, as reported numbers and booleans."""
    sup, base = http["http"], http["baseline_http"]
    ratios = {
        f"calls_per_s_c{c}": sup[f"c{c}"]["calls_per_s"] / base[f"c{c}"]["calls_per_s"]
        for c, _ in LEVELS
    }
    ratios.update(
        {f"p50_c{c}": sup[f"c{c}"]["p50_ms"] / base[f"c{c}"]["p50_ms"] for c, _ in LEVELS}
    )
    meets = {
        "overhead_us_max": overhead["instance_call"] <= TARGETS["overhead_us_max"],
        "calls_per_s_c16_min": sup["c16"]["calls_per_s"] >= TARGETS["calls_per_s_c16_min"],
        "p50_ms_c1_max": sup["c1"]["p50_ms"] <= TARGETS["p50_ms_c1_max"],
    }
    off = http["http_no_metrics"]
    metrics_cost = {
        f"calls_per_s_c{c}": sup[f"c{c}"]["calls_per_s"] / off[f"c{c}"]["calls_per_s"]
        for c, _ in LEVELS
    }
    metrics_cost.update(
        {f"p50_c{c}": sup[f"c{c}"]["p50_ms"] / off[f"c{c}"]["p50_ms"] for c, _ in LEVELS}
    )
    return {
        "ratios": ratios,
        "metrics_on_over_off": metrics_cost,
        "targets": dict(TARGETS),
        "meets_targets": meets,
    }


def rounded(value: Any) -> Any:
    """``value`` with every float rounded to 4 decimals (µs and ms need no more)."""
    if isinstance(value, float):
        return round(value, 4)
    if isinstance(value, dict):
        return {k: rounded(v) for k, v in value.items()}
    if isinstance(value, list):
        return [rounded(v) for v in value]
    return value


def machine_info(generator: str) -> dict[str, Any]:
    """What the figures were measured on."""
    info: dict[str, Any] = {
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "wasmtime": version("wasmtime"),
        "platform": platform.platform(),
        "load_average_start": list(os.getloadavg()),
    }
    if generator == "wrk":
        out = subprocess.run(["wrk", "--version"], capture_output=True, text=True, timeout=10)
        info["wrk"] = (out.stdout or out.stderr).splitlines()[0].strip()
    return info


def main(argv: list[str] | None = None) -> int:
    """Run every measurement and print one JSON object."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short runs (for the test)")
    parser.add_argument("--duration", type=float, help="seconds per HTTP measurement")
    parser.add_argument("--warmup", type=float, default=1.0, help="warm-up seconds per run")
    parser.add_argument("--generator", choices=("auto", "wrk", "python"), default="auto")
    parser.add_argument(
        "--rounds", type=int, default=1, help="interleaved rounds per level (the median is kept)"
    )
    args = parser.parse_args(argv)
    seconds = args.duration if args.duration is not None else (1.0 if args.quick else 5.0)
    generator = args.generator
    if generator == "auto":
        generator = "wrk" if shutil.which("wrk") else "python"
    machine = machine_info(generator)
    repeats, target_s = (3, 0.02) if args.quick else (7, 0.2)
    with tempfile.TemporaryDirectory(prefix="wasmfleet-bench-") as tmp_name:
        tmp = Path(tmp_name)
        (tmp / "inproc").mkdir()
        say("measuring in-process call overhead")
        overhead = measure_call_overhead(tmp / "inproc", repeats, target_s)
        say(f"measuring HTTP with {generator}, {seconds:g} s per level")
        http = run_http(tmp, generator, seconds, args.warmup, max(1, args.rounds))
    report = {
        "benchmark": "supervisor",
        "quick": args.quick,
        "load_generator": generator,
        "rounds": max(1, args.rounds),
        "call_overhead_us": overhead,
        **http,
        **summarize(overhead, http),
        "machine": machine,
    }
    print(json.dumps(rounded(report), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
