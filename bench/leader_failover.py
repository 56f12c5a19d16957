"""Benchmark leader failover: two orchestrators on one PostgreSQL, the leader SIGKILLed or
SIGSTOPped, time until the other leads.

Run ``python bench/leader_failover.py [--runs 3] [--ttl 3]`` with the project venv. It prints
one JSON object on stdout (progress on stderr). It starts a throw-away PostgreSQL
(tests/postgres.py) and two orchestrator processes on it (``--leader-ttl``, default 3 s as
shipped). Each run stops the current leader — SIGKILL on even runs, SIGSTOP on odd ones — and
times (monotonic clock, this process) until the other reports ``leading`` in
``/api/v1/status``, polled every 20 ms; then the stopped one is restarted (SIGKILL) or woken
(SIGCONT, and its standing down is checked) and the next run stops the new leader. The
baseline of the same run is the bound the rules give: ``ttl + ttl/3`` after the last renewal.
Every wait is bounded; every process is stopped in ``finally``.
"""

from __future__ import annotations

import argparse
import json
import signal
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run as a script: make tests importable
    sys.path.insert(0, str(REPO))

from tests.postgres import PostgresServer  # noqa: E402
from tests.support import OrchestratorProcess, wait_until  # noqa: E402


def leader(orch: OrchestratorProcess) -> dict[str, Any]:
    """The ``leader`` part of an orchestrator's status (empty when it does not answer)."""
    try:
        info: dict[str, Any] = orch.get("/api/v1/status", timeout=2).json()["orchestrator"]
        return dict(info["leader"])
    except Exception:
        return {}


def main() -> None:
    """Run the benchmark and print its JSON."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=4)
    parser.add_argument("--ttl", type=float, default=3.0)
    options = parser.parse_args()
    runs: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp, PostgresServer() as pg:
        url = pg.create_database()
        args = ["--database-url", url, "--leader-ttl", str(options.ttl)]
        both = [OrchestratorProcess(Path(tmp) / n, name=f"orch-{n}", args=args) for n in "ab"]
        try:
            with ThreadPoolExecutor(2) as pool:
                list(pool.map(lambda o: o.start(), both))
            for run in range(options.runs):
                views = [leader(o) for o in both]
                current = next(o for o, v in zip(both, views, strict=True) if v.get("leading"))
                other = both[1 - both.index(current)]
                how = "SIGKILL" if run % 2 == 0 else "SIGSTOP"
                assert current.proc is not None
                fencing = views[both.index(current)]["fencing"]
                print(f"run {run + 1}: {how} {current.name}", file=sys.stderr)
                if how == "SIGKILL":
                    current.kill()
                else:
                    current.proc.send_signal(signal.SIGSTOP)
                stopped = time.monotonic()
                took = wait_until(lambda o=other: leader(o).get("leading"), 30, 0.02)
                took_s = time.monotonic() - stopped
                fenced = leader(other).get("fencing")
                stood_down = None
                if how == "SIGKILL":
                    current.start()
                else:
                    current.proc.send_signal(signal.SIGCONT)
                    stood_down = wait_until(lambda c=current: leader(c).get("lost", 0) >= 1, 15)
                    stood_down = stood_down and not leader(current).get("leading")
                runs.append(
                    {
                        "signal": how,
                        "took_over": took,
                        "takeover_s": round(took_s, 3),
                        "fencing_before": fencing,
                        "fencing_after": fenced,
                        **({"old_leader_stood_down": stood_down} if how == "SIGSTOP" else {}),
                    }
                )
        finally:
            for orch in both:
                if orch.proc is not None and orch.proc.poll() is None:
                    orch.proc.send_signal(signal.SIGCONT)
                orch.stop()
    times = [r["takeover_s"] for r in runs if r["took_over"]]
    print(
        json.dumps(
            {
                "leader_ttl_s": options.ttl,
                "bound_s": round(options.ttl * 4 / 3, 3),
                "runs": runs,
                "leader_failover_s_median": round(statistics.median(times), 3) if times else None,
                "leader_failover_s_max": max(times) if times else None,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
