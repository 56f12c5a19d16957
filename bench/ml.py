"""ML inference at the edge: models compiled into Wasm against native code and Python, same run.

Sections, each a function returning its keys (merged into one JSON object on stdout; progress
on stderr). ``targets`` and ``met`` of every section are merged too.

``digits`` (modules/digits, an MLP 64 -> 64 -> 10 on scikit-learn's 8x8 digits), on the 360
held-out images of the shared split:

- ``wasm_batch_us``: µs per image of one ``predict_batch_into`` call over all 360 images (raw
  export, no JSON), in a ``WasmInstance`` of the supervisor's engine (epoch deadline armed);
- ``native_batch_us``: µs per image of the same loop (``digits_classify`` in the same
  ``digits.c``) compiled with the host's clang ``-O2`` and timed by ``bench/digits_native.c``
  (``null`` with ``native_error`` when there is no host compiler);
- ``wasm_single_us``: µs per ``predict`` call on one image through the bytes ABI
  (``call_with_bytes``: alloc, copy in, call, JSON out), as a supervisor runs a triggered step;
- ``sklearn_single_us`` / ``sklearn_batch_us_per_sample``: the scikit-learn pipeline the
  weights came from (``predict`` of one image; of all 360, per image), BLAS limited to one
  thread like the Wasm and native loops;
- ``wasm_over_native`` = ``wasm_batch_us / native_batch_us`` (target at most 3); the Wasm and
  native batch repeats alternate, so a slow spell of a shared machine falls on both;
- ``wasm_batch_us_no_epoch``: the batch in stock wasmtime-py without epoch interruption (what
  the supervisor's call timeout costs).

``face`` (bench/ml_face.py): BlazeFace per image end to end, ``wasinn_face_ms`` through
modules/face and the supervisor's WASI-NN host, ``litert_face_ms`` doing the same work with
LiteRT from Python, and their ratio ``wasinn_over_litert`` (target at most 1.25).

    .venv/bin/python bench/ml.py [--quick] [--repeats N] [--section digits|face]

Every figure is the median of ``--repeats`` repeats (7; 3 with ``--quick``), each a timed loop
of at least 0.2 s (0.05 s with ``--quick``).
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import partial
from importlib.metadata import version
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import wasmtime

from wasmfleet.runtime.bytes_abi import call_with_bytes
from wasmfleet.runtime.engine import WasmEngine
from wasmfleet.runtime.host.functions import HostDevices
from wasmfleet.runtime.instance import WasmInstance
from wasmfleet.runtime.limits import RuntimeLimits

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run as a script: make bench.* and tests.* importable
    sys.path.insert(0, str(REPO))

from bench.ml_face import face_section  # noqa: E402
from bench.ml_timing import Settings, median, per_call_us, say  # noqa: E402

DIGITS = REPO / "modules" / "digits"
HARNESS = REPO / "bench" / "digits_native.c"
NATIVE_FLAGS = ["-O2", "-std=c11", "-Wno-unknown-attributes"]
WASM_OVER_NATIVE_MAX = 3.0


def load_train() -> ModuleType:
    """modules/digits/train.py as a module (split, train, forward)."""
    spec = importlib.util.spec_from_file_location("digits_train", DIGITS / "train.py")
    if spec is None or spec.loader is None:
        raise RuntimeError(f"cannot import {DIGITS / 'train.py'}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def host_compiler() -> tuple[str | None, str]:
    """(compiler, '') for the host's clang (or cc), else (None, why not)."""
    for name in ("clang", "cc", "gcc"):
        path = shutil.which(name)
        if path is not None:
            return path, ""
    return None, "no host C compiler (clang, cc or gcc) on PATH: apt-get install clang"


@dataclass(frozen=True)
class NativeBuild:
    """digits.c and the harness built for the host, with the samples written out for it."""

    binary: Path
    samples: Path
    compiler: str


def build_native(samples: np.ndarray, workdir: Path) -> NativeBuild | str:
    """Build digits.c natively with bench/digits_native.c; the build, or why there is none."""
    compiler, why = host_compiler()
    if compiler is None:
        return why
    binary, data = workdir / "digits_native", workdir / "samples.f32"
    np.ascontiguousarray(samples, dtype=np.float32).tofile(data)
    command = [
        compiler,
        *NATIVE_FLAGS,
        "-I",
        str(REPO / "modules" / "include"),
        "-I",
        str(DIGITS),
        str(HARNESS),
        str(DIGITS / "digits.c"),
        "-lm",
        "-o",
        str(binary),
    ]
    say(f"digits: compiling the native build ({Path(compiler).name} {' '.join(NATIVE_FLAGS)})")
    built = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    if built.returncode != 0:
        return f"building the native harness failed: {built.stderr.strip()[-500:]}"
    version_line = subprocess.run(
        [compiler, "--version"], capture_output=True, text=True, timeout=30, check=False
    ).stdout.splitlines()
    return NativeBuild(binary, data, version_line[0] if version_line else compiler)


def run_native(build: NativeBuild, min_seconds: float) -> tuple[float, list[int]]:
    """One repeat of the native batch loop: µs per image, and the classes."""
    run = [str(build.binary), str(build.samples), "1", str(min_seconds)]
    done = subprocess.run(run, capture_output=True, text=True, timeout=600, check=True)
    out = json.loads(done.stdout)
    return float(out["us_per_sample"][0]), list(out["classes"])


def wasm_batch_without_epoch(wasm: bytes, samples: np.ndarray, settings: Settings) -> float:
    """µs per image of the batch export in stock wasmtime-py without epoch interruption.

    A diagnostic beside ``wasm_batch_us``: the supervisor's engine checks an epoch deadline
    at every loop back-edge (its call timeout), which costs Cranelift registers in hot loops."""
    engine = wasmtime.Engine(wasmtime.Config())
    store = wasmtime.Store(engine)
    store.set_wasi(wasmtime.WasiConfig())
    linker = wasmtime.Linker(engine)
    linker.define_wasi()
    exports = linker.instantiate(store, wasmtime.Module(engine, wasm)).exports(store)
    init, alloc, run = exports["_initialize"], exports["alloc"], exports["predict_batch_into"]
    memory = exports["memory"]
    assert isinstance(init, wasmtime.Func) and isinstance(alloc, wasmtime.Func)
    assert isinstance(run, wasmtime.Func) and isinstance(memory, wasmtime.Memory)
    init(store)
    n = len(samples)
    in_ptr, out_ptr = alloc(store, samples.nbytes), alloc(store, n)
    memory.write(store, samples.tobytes(), in_ptr)
    return median([v / n for v in per_call_us(lambda: run(store, in_ptr, n, out_ptr), settings)])


def digits_section(settings: Settings) -> dict[str, Any]:
    """modules/digits: Wasm (batch and single) against native C and scikit-learn."""
    from threadpoolctl import threadpool_limits  # comes with scikit-learn (pip install .[ml])

    say("digits: training the scikit-learn model (modules/digits/train.py)")
    train = load_train()
    model, (_, x_test, _, y_test) = train.train()
    samples = np.ascontiguousarray(x_test, dtype="<f4")
    n = len(samples)
    wasm = (DIGITS / "digits.wasm").read_bytes()

    engine = WasmEngine(RuntimeLimits())
    try:
        with tempfile.TemporaryDirectory(prefix="wasmfleet-bench-ml-") as tmp:
            workdir = Path(tmp)
            (workdir / "instance").mkdir()
            instance = WasmInstance(
                engine,
                engine.compile(wasm, name="digits"),
                workdir / "instance",
                HostDevices(None, None),
                deployment="bench",
                module="digits",
            )
            in_ptr = instance.call("alloc", (samples.nbytes,))
            out_ptr = instance.call("alloc", (n,))
            instance.write_memory(in_ptr, samples.tobytes())

            native = build_native(samples, workdir)
            say(f"digits: Wasm batch ({n} images per call of predict_batch_into) and native,")
            say("        alternating repeat by repeat")
            batch: list[float] = []
            native_runs: list[float] = []
            native_classes: list[int] | None = None
            one_repeat = replace(settings, repeats=1)
            instance.call("predict_batch_into", (in_ptr, n, out_ptr))  # warm-up
            for _ in range(settings.repeats):
                call = partial(instance.call, "predict_batch_into", (in_ptr, n, out_ptr))
                batch += per_call_us(call, one_repeat)
                if isinstance(native, NativeBuild):
                    us, native_classes = run_native(native, settings.min_seconds)
                    native_runs.append(us)
            wasm_classes = list(instance.read_memory(out_ptr, n))

            say("digits: Wasm single image (predict through the bytes ABI)")
            images = [s.tobytes() for s in samples]
            counter = iter(range(1 << 62))

            def single() -> object:
                return call_with_bytes(instance, "predict", images[next(counter) % n], None)

            single_us = per_call_us(single, settings)

            say("digits: the same binary in stock wasmtime-py, no epoch interruption")
            no_epoch = wasm_batch_without_epoch(wasm, samples, settings)
    finally:
        engine.close()

    say("digits: scikit-learn predict (one image; all images), BLAS on one thread")
    one = x_test[:1]
    # Wasm and native run on one thread; so does BLAS here. (With its default threads on a busy
    # 2-core VM, the batch flipped between 1 and 22 µs per image from run to run.)
    with threadpool_limits(limits=1):
        sk_single = per_call_us(lambda: model.predict(one), settings)
        sk_batch = per_call_us(lambda: model.predict(x_test), settings)
    sk_accuracy = float(model.score(x_test, y_test))

    report: dict[str, Any] = {
        "wasm_batch_us": median([v / n for v in batch]),
        "native_batch_us": median(native_runs) if native_runs else None,
        "wasm_single_us": median(single_us),
        "sklearn_single_us": median(sk_single),
        "sklearn_batch_us_per_sample": median([v / n for v in sk_batch]),
        "wasm_batch_us_no_epoch": no_epoch,
    }
    if report["native_batch_us"]:
        report["wasm_over_native"] = round(report["wasm_batch_us"] / report["native_batch_us"], 2)
    else:
        report["wasm_over_native"] = None
    report["sklearn_single_over_wasm_single"] = round(
        report["sklearn_single_us"] / report["wasm_single_us"], 1
    )
    if isinstance(native, NativeBuild):
        report["native_compiler"] = native.compiler
        report["native_flags"] = " ".join(NATIVE_FLAGS)
        report["native_runs_us"] = [round(v, 3) for v in native_runs]
    else:
        report["native_error"] = native
    report.update(
        {
            "digits_samples": n,
            "wasm_accuracy": round(float(np.mean(np.asarray(wasm_classes) == y_test)), 4),
            "sklearn_accuracy": round(sk_accuracy, 4),
            "native_agrees_with_wasm": None
            if native_classes is None
            else native_classes == wasm_classes,
            "wasm_size_bytes": len(wasm),
            "wasm_batch_runs_us": [round(v / n, 3) for v in batch],
            "wasm_over_native_runs": [
                round(w / n / c, 2) for w, c in zip(batch, native_runs, strict=False)
            ],
            "targets": {"wasm_over_native_max": WASM_OVER_NATIVE_MAX},
            "met": {
                "wasm_over_native": report["wasm_over_native"] is not None
                and report["wasm_over_native"] <= WASM_OVER_NATIVE_MAX
            },
        }
    )
    return report


SECTIONS: dict[str, Callable[[Settings], dict[str, Any]]] = {
    "digits": digits_section,
    "face": face_section,
}
"""Sections by name, run in this order; each returns keys for the report (targets/met merged)."""


def machine() -> dict[str, Any]:
    """The machine the figures come from."""
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu": model or platform.processor(),
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "wasmtime": version("wasmtime"),
        "numpy": np.__version__,
        "scikit_learn": version("scikit-learn"),
        "load_average_at_start": [round(v, 2) for v in os.getloadavg()],
    }


def main(argv: list[str] | None = None) -> int:
    """Run the sections and print one JSON object."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 repeats of >= 0.05 s each")
    parser.add_argument("--repeats", type=int, help="repeats per figure (default 7, 3 --quick)")
    parser.add_argument("--section", action="append", choices=sorted(SECTIONS), help="only these")
    args = parser.parse_args(argv)
    settings = Settings(
        repeats=max(1, args.repeats or (3 if args.quick else 7)),
        min_seconds=0.05 if args.quick else 0.2,
        quick=args.quick,
    )
    report: dict[str, Any] = {"benchmark": "ml", "repeats": settings.repeats}
    targets: dict[str, Any] = {}
    met: dict[str, bool] = {}
    for name, section in SECTIONS.items():
        if args.section and name not in args.section:
            continue
        keys = section(settings)
        gc.collect()  # free each section's Wasm stores before the next one starts
        targets.update(keys.pop("targets", {}))
        met.update(keys.pop("met", {}))
        report.update(keys)
    report["targets"] = targets
    report["met"] = met
    report["machine"] = machine()
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
