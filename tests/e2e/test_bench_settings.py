"""bench/settings_cost.py and bench/retention.py run end to end and report every figure (no
timing thresholds)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

from tests.support import REPO


def run_bench(*args: str) -> dict[str, Any]:
    """Run a benchmark with small parameters and return its JSON report."""
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    proc = subprocess.run(
        [sys.executable, *args], cwd=REPO, capture_output=True, text=True, timeout=180, env=env
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    report: dict[str, Any] = json.loads(proc.stdout)
    return report


def test_settings_cost_reports_every_case() -> None:
    report = run_bench("bench/settings_cost.py", "--rounds", "1")
    for case in ("interpreter", "mechanism", "dataclass", "pydantic_settings"):
        assert set(report[case]) == {"process_s", "load_s", "rss_mb"}, case
        assert report[case]["rss_mb"] > 0 and report[case]["process_s"] > 0
    assert set(report["pydantic_over_dataclass"]) == {"process_s", "load_s", "rss_mb"}
    assert report["importtime_us"] > 0


def test_retention_reports_batches_and_row_size() -> None:
    report = run_bench("bench/retention.py", "--rows", "6000")
    assert report["rows"] == 6000 and report["db_mb_per_100k_rows"] > 0
    assert set(report["prune_batch_ms"]) == {"500", "2000", "10000"}
    assert all(ms > 0 for ms in report["prune_batch_ms"].values())
    assert report["log_post_100_entries_ms"] > 0
