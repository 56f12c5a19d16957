"""bench/placement.py runs on a small fleet and reports every key (no timing assertions)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench" / "placement.py"
KEYS = {
    "devices",
    "steps",
    "runs",
    "seed",
    "placements_per_second",
    "p50_ms",
    "p99_ms",
    "baseline",
    "ratio",
    "agree_with_baseline",
    "python",
    "cpu_count",
}


def load_bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_placement", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("strategy", ["first", "spread", "pack"])
def test_bench_reports_every_key(capsys: pytest.CaptureFixture[str], strategy: str) -> None:
    bench = load_bench()
    args = ["--devices", "80", "--steps", "60", "--runs", "10", "--baseline-steps", "20"]
    result = bench.main([*args, "--baseline-runs", "1", "--strategy", strategy])
    printed = json.loads(capsys.readouterr().out)
    assert printed == result
    assert set(result) >= KEYS
    assert result["devices"] == 80 and result["steps"] == 60
    assert result["agree_with_baseline"] is True
    assert result["baseline"]["steps"] == 20
