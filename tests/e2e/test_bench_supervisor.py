"""bench/supervisor.py runs end to end and reports every figure (no timing thresholds)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from typing import Any

import pytest

from tests.support import REPO

LEVEL_KEYS = ("calls_per_s", "p50_ms", "p99_ms", "duration_s")
OVERHEAD_KEYS = (
    "fast_path",
    "instance_call",
    "stock_path",
    "python_baseline",
    "stock_over_fast",
    "metrics_observe",
)
TARGET_KEYS = {"overhead_us_max", "calls_per_s_c16_min", "p50_ms_c1_max"}


def run_bench(*args: str) -> dict[str, Any]:
    """Run the benchmark in quick mode and return its JSON report."""
    proc = subprocess.run(
        [sys.executable, "bench/supervisor.py", "--quick", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    report: dict[str, Any] = json.loads(proc.stdout)
    return report


def positive(value: Any) -> bool:
    """A real number (not a bool) above zero."""
    return isinstance(value, int | float) and not isinstance(value, bool) and value > 0


def check_report(report: dict[str, Any], generator: str) -> None:
    """Every key the README documents is there, with a sane type."""
    overhead = report["call_overhead_us"]
    for key in OVERHEAD_KEYS:
        assert positive(overhead[key]), (key, overhead[key])
        if key != "stock_over_fast":
            assert positive(overhead["min"][key]), (key, overhead["min"])
    assert report["load_generator"] == generator
    for section in ("http", "http_no_metrics", "baseline_http"):
        assert report[section]["generator"] == generator
        for level, connections in (("c1", 1), ("c16", 16)):
            figures = report[section][level]
            assert figures["connections"] == connections
            for key in LEVEL_KEYS:
                assert positive(figures[key]), (section, level, key, figures[key])
            assert isinstance(figures["requests"], int) and figures["requests"] > 0
            assert isinstance(figures["errors"], int) and not isinstance(figures["errors"], bool)
            assert figures["errors"] >= 0
            assert figures["one_round_trip"] is True, figures
    assert report["http"]["supervisor_alive_after"] is True
    assert report["http_no_metrics"]["supervisor_alive_after"] is True
    assert positive(report["http"]["metrics_scrape_bytes"])
    assert report["http"]["c1"]["response_sample"]["success"] is True
    for key in ("calls_per_s_c1", "calls_per_s_c16", "p50_c1", "p50_c16"):
        assert positive(report["ratios"][key]), key
        assert positive(report["metrics_on_over_off"][key]), key
    assert set(report["targets"]) == TARGET_KEYS
    assert all(positive(v) for v in report["targets"].values())
    assert set(report["meets_targets"]) == TARGET_KEYS
    assert all(isinstance(v, bool) for v in report["meets_targets"].values())
    machine = report["machine"]
    assert positive(machine["cpu_count"])
    assert isinstance(machine["python"], str) and isinstance(machine["wasmtime"], str)
    assert len(machine["load_average_start"]) == 3


@pytest.mark.timeout(180)
def test_bench_supervisor_quick() -> None:
    """The default run: wrk when installed, else the built-in generator."""
    report = run_bench()
    check_report(report, "wrk" if shutil.which("wrk") else "python")
    assert report["quick"] is True


@pytest.mark.timeout(180)
def test_bench_supervisor_quick_python_generator() -> None:
    """The fallback load generator works too (it is what runs where wrk is missing)."""
    check_report(run_bench("--generator", "python"), "python")
