"""Benchmark placement: steps placed per second by ``place`` on a large random fleet.

Run ``python bench/placement.py [--devices 1000] [--steps 1000] [--runs 20] [--seed 7]``
with the project venv. It prints one JSON object on stdout (progress goes to stderr);
bench/README.md explains every key. The baseline, measured in the same run on the same
fleet, is ``place_reference`` (the plain-Python solver) on the first ``--baseline-steps``
steps; both solvers must agree on every device of those steps.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import sys
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from wasmfleet.core.placement import (
    DeviceState,
    PlacementRequest,
    Plan,
    Resources,
    Snapshot,
    StepRequest,
    offers,
    place,
    place_reference,
)

TARGET_PLACEMENTS_PER_S = 10_000.0
LOCATIONS = ("hall", "lab", "roof", "yard")
BASE = ("sys.millis", "sys.delay", "sys.print", "sys.println", "communication.rpcCall")
CAMERA = ("camera.takeImageDynamicSize", "camera.takeImageStaticSize")
DHT = ("dht.getTemperature", "dht.getHumidity")
NN = ("wasi_ephemeral_nn.load", "wasi_ephemeral_nn.compute")
INTERFACE_SETS = (BASE, BASE + CAMERA, BASE + DHT, BASE + CAMERA + NN, BASE + DHT + NN)
STEP_NEEDS = ((), (), ("sys.millis",), CAMERA[1:], DHT, ("wasi_ephemeral_nn.compute",))


def say(message: str) -> None:
    """A progress line on stderr (stdout carries only the JSON result)."""
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def make_fleet(count: int, rng: random.Random) -> Snapshot:
    """A mixed fleet: 1-16 cores, 0.5-16 GB, ~30% accelerators, ~5% inactive, some load."""
    devices = []
    for i in range(count):
        cores = rng.choice((1, 2, 4, 4, 8, 16))
        per_core = rng.choice((1000, 1000, 1500, 2000))
        memory = rng.choice((512, 1024, 2048, 4096, 8192, 16384))
        accel = 100 if rng.random() < 0.3 else 0
        interfaces = rng.choice(INTERFACE_SETS)
        if rng.random() < 0.2:  # an original wasmiot supervisor lists bare names
            interfaces = tuple(name.rpartition(".")[2] for name in interfaces)
        devices.append(
            DeviceState(
                name=f"dev-{i:05d}",
                active=rng.random() >= 0.05,
                status_reason="inactive: health check failed 3 times",
                interfaces=frozenset(interfaces),
                labels={"location": rng.choice(LOCATIONS), "zone": rng.choice("ab")},
                core_capacity=(per_core,) * cores,
                core_used=tuple(rng.randrange(0, per_core // 3) for _ in range(cores)),
                memory_mb=memory,
                memory_used_mb=rng.randrange(0, memory // 4),
                accelerator_pct=accel,
                accelerator_used_pct=rng.randrange(0, 30) if accel else 0,
            )
        )
    return Snapshot(devices=tuple(devices))


def make_steps(count: int, fleet: Snapshot, rng: random.Random) -> tuple[StepRequest, ...]:
    """Small asks (1-3 cores of 20-300 m, 16-256 MB), some labels, needs and accelerators.

    Each step's constraints are drawn from a random active *anchor* device (its interfaces,
    its location, an accelerator only if it has one, no more cores than it has), so that
    every step fits somewhere whatever the size of the fleet.
    """
    anchors = [d for d in fleet.devices if d.active]
    steps = []
    for i in range(count):
        anchor = rng.choice(anchors)
        needs = [n for n in STEP_NEEDS if all(offers(anchor.interfaces, r) for r in n)]
        cores = min(rng.choice((1, 1, 2, 3)), len(anchor.core_capacity))
        wants_accel = anchor.accelerator_pct > 0 and rng.random() < 0.3
        steps.append(
            StepRequest(
                name=f"{i + 1}:mod{i % 17}.run",
                module=f"mod{i % 17}",
                function="run",
                requires=frozenset(rng.choice(needs)),
                labels={"location": anchor.labels["location"]} if rng.random() < 0.3 else {},
                resources=Resources(
                    cpu=tuple(rng.randrange(20, 300) for _ in range(cores)),
                    memory_mb=rng.randrange(16, 256),
                    accelerator_pct=rng.randrange(5, 20) if wants_accel else 0,
                ),
            )
        )
    return tuple(steps)


def timed(
    solver: Any, request: PlacementRequest, fleet: Snapshot, runs: int
) -> tuple[Any, list[float]]:
    """Solve ``runs`` times; the last answer and each solve's seconds."""
    times = []
    answer = None
    for _ in range(runs):
        start = time.perf_counter()
        answer = solver(request, fleet)
        times.append(time.perf_counter() - start)
    return answer, times


def ms(seconds: float) -> float:
    """Seconds as milliseconds, rounded for the report."""
    return round(seconds * 1000, 3)


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Run the benchmark, print the JSON result and return it."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=1000)
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=20, help="timed solves (10 or more)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--strategy", default="spread", choices=("first", "spread", "pack"))
    parser.add_argument("--scorer", default="least_allocated")
    parser.add_argument("--baseline-steps", type=int, default=100)
    parser.add_argument("--baseline-runs", type=int, default=3)
    args = parser.parse_args(argv)

    load_at_start = os.getloadavg()
    rng = random.Random(args.seed)
    fleet = make_fleet(args.devices, rng)
    steps = make_steps(args.steps, fleet, rng)
    request = PlacementRequest("bench", steps, strategy=args.strategy, scorer=args.scorer)
    say(f"{args.devices} devices x {args.steps} steps, {args.runs} runs")

    place(request, fleet)  # warm-up: imports, numpy dispatch caches
    plan, times = timed(place, request, fleet, args.runs)
    if not isinstance(plan, Plan):
        raise SystemExit(f"the generated steps do not all fit: {plan.message}")
    median = statistics.median(times)
    start = time.perf_counter()
    last_rejections = len(plan.placements[-1].rejections)
    explain_s = time.perf_counter() - start

    base_steps = min(args.baseline_steps, args.steps)
    say(f"baseline: place_reference on the first {base_steps} steps")
    base_request = PlacementRequest("bench", steps[:base_steps], args.strategy, args.scorer)
    base_plan, base_times = timed(place_reference, base_request, fleet, args.baseline_runs)
    base_median = statistics.median(base_times)
    agree = isinstance(base_plan, Plan) and base_plan.placements == plan.placements[:base_steps]

    rate = args.steps / median
    base_rate = base_steps / base_median
    result = {
        "devices": args.devices,
        "steps": args.steps,
        "runs": args.runs,
        "seed": args.seed,
        "strategy": args.strategy,
        "scorer": args.scorer,
        "placements_per_second": round(rate),
        "p50_ms": ms(median),
        "p99_ms": ms(float(np.percentile(times, 99))),
        "min_ms": ms(min(times)),
        "us_per_placement": round(median / args.steps * 1e6, 2),
        "mean_fit": round(statistics.fmean(p.fit for p in plan.placements), 1),
        "explain_last_step_ms": ms(explain_s),
        "explain_last_step_rejections": last_rejections,
        "baseline": {
            "solver": "place_reference (pure Python)",
            "steps": base_steps,
            "runs": args.baseline_runs,
            "placements_per_second": round(base_rate),
            "p50_ms": ms(base_median),
        },
        "ratio": round(rate / base_rate, 1),
        "agree_with_baseline": agree,
        "target_placements_per_second": TARGET_PLACEMENTS_PER_S,
        "meets_target": rate >= TARGET_PLACEMENTS_PER_S,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
        "load_average_at_start": [round(x, 2) for x in load_at_start],
    }
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
