"""What a settings mechanism costs on the supervisor's start path: ours against pydantic-settings.

Each case runs in a fresh interpreter (the same venv), several rounds interleaved so that
drifting machine load hits every case alike, and reports medians:

- ``interpreter``: ``python -c pass`` (the floor)
- ``mechanism``: import ``wasmfleet.service.settings`` alone (declarations, kinds, loader)
- ``dataclass``: import ``wasmfleet.supervisor.settings`` and ``SupervisorSettings.load(env={})``
  (the declarations, the loader, and what the settings module imports anyway)
- ``pydantic_settings``: the same import, then ``pydantic_settings``, a ``BaseSettings`` model
  with the same fields (``WASMFLEET_`` prefix) built with ``create_model`` and instantiated:
  what choosing pydantic-settings would add to the same path

Keys: ``<case>.process_s`` (spawn to exit, seen by this process), ``<case>.load_s`` (the
imports and the load, timed inside the child), ``<case>.rss_mb`` (VmRSS after loading);
``pydantic_over_dataclass`` gives the differences; ``importtime_us`` the cumulative
``-X importtime`` figure of ``pydantic_settings`` imported after the supervisor's settings.

    .venv/bin/python bench/settings_cost.py [--rounds 15] > settings_cost.json
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

SRC = str(Path(__file__).resolve().parents[1] / "src")

_MEASURE = """
import re, time
t0 = time.perf_counter()
{body}
load_s = time.perf_counter() - t0
rss_kb = int(re.search(r"VmRSS:\\s+(\\d+)", open("/proc/self/status").read()).group(1))
print(json.dumps({{"load_s": load_s, "rss_kb": rss_kb}}))
"""

CASES = {
    "interpreter": "pass",
    "mechanism": "import wasmfleet.service.settings",
    "dataclass": """
from wasmfleet.supervisor.settings import SupervisorSettings
settings = SupervisorSettings.load(env={})
""",
    "pydantic_settings": """
from pathlib import Path
from wasmfleet.service.settings import declared
from wasmfleet.supervisor.settings import SupervisorSettings
import pydantic, pydantic_settings
types = {"str": str, "int": int, "float": float, "bool": bool, "path": Path, "size": int,
         "duration": float, "labels": dict[str, str], "capacity": str,
         "nn_models": dict[str, str], "paths": tuple[Path, ...],
         "strings": tuple[str, ...]}
fields = {}
for item in declared(SupervisorSettings):
    default = item.default if isinstance(item.default, (str, int, float, bool)) else None
    fields[item.name] = (types[item.kind.name] | None, default)
Model = pydantic.create_model(
    "SupervisorModel",
    __base__=pydantic_settings.BaseSettings,
    __config__=None,
    **fields,
)
Model.model_config["env_prefix"] = "WASMFLEET_"
settings = Model()
""",
}


def run_case(body: str) -> dict[str, float]:
    """One fresh interpreter: its wall time, and the load time and RSS it reports."""
    code = "import json\n" + _MEASURE.format(body=body.strip())
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        env={"PYTHONPATH": SRC, "PATH": "/usr/bin:/bin"},
        check=False,
    )
    process_s = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"case failed:\n{done.stderr[-2000:]}")
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    return {"process_s": process_s, "load_s": figures["load_s"], "rss_mb": figures["rss_kb"] / 1024}


def importtime_us() -> int:
    """Cumulative µs of ``import pydantic_settings`` after the supervisor's settings."""
    code = "import wasmfleet.supervisor.settings\nimport pydantic_settings"
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        env={"PYTHONPATH": SRC, "PATH": "/usr/bin:/bin"},
        check=True,
    )
    for line in done.stderr.splitlines():
        match = re.match(r"import time:\s+\d+ \|\s+(\d+) \| pydantic_settings$", line)
        if match:
            return int(match.group(1))
    raise SystemExit("no pydantic_settings line in -X importtime output")


def main() -> None:
    """Measure every case, interleaved, and print the medians as JSON."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    samples: dict[str, list[dict[str, float]]] = {name: [] for name in CASES}
    for round_ in range(args.rounds):
        print(f"round {round_ + 1}/{args.rounds}", file=sys.stderr)
        for name, body in CASES.items():
            samples[name].append(run_case(body))
    result: dict[str, object] = {"rounds": args.rounds, "python": sys.version.split()[0]}
    medians = {}
    for name, runs in samples.items():
        medians[name] = {
            key: round(statistics.median(run[key] for run in runs), 4)
            for key in ("process_s", "load_s", "rss_mb")
        }
    result.update(medians)
    result["pydantic_over_dataclass"] = {
        key: round(medians["pydantic_settings"][key] - medians["dataclass"][key], 4)
        for key in ("process_s", "load_s", "rss_mb")
    }
    result["importtime_us"] = statistics.median(importtime_us() for _ in range(5))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
