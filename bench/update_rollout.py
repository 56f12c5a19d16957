"""Benchmark a rollout to a bad version: it must roll back by itself, fast, hurting no one else.

``measure_rollout(devices=10)`` (called by bench/update.py; ``python bench/update_rollout.py
[--devices N]`` prints its JSON alone) starts an orchestrator and ``devices`` supervisors on
loopback (real processes, tests/support.py), uploads fibo (the good version) and a bad
version under the same name whose ``fibo`` traps on every call (built here from WAT with
wasmtime), deploys one copy per device, calls every copy continuously from a thread pool,
and starts a rollout to the bad version (canary 1, doubling, 1 s observation). It reports:

- ``rolled_back``: the rollout ended ``rolled_back`` by itself;
- ``rollback_s``: from the first failed gate (its stored time) until every device's
  ``GET /deploy`` shows the good module again (target <= 5 s);
- ``failed_calls_on_untouched_copies``: failed calls to copies the rollout never updated
  (must be 0), beside the calls made to them, and the failed calls of the updated copies.

Needs the issue-14 pieces the lead wires in: ``replicas: all`` (one plan entry per copy)
and the real ``CopyUpdater``. Until then it prints ``{"error": ...}`` with the reason and
exits 0. Every process is stopped in a ``finally`` block; every wait is bounded.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from tests.support import (  # noqa: E402
    MODULES,
    OrchestratorProcess,
    SupervisorProcess,
    description_upload,
)

BAD_FIBO_WAT = '(module (func (export "fibo") (param i64) (result i64) unreachable))'
"""The bad version: same export as fibo, traps on every call."""
FAST = ["--health-interval", "0.3", "--health-failures", "2", "--health-timeout", "1"]
TERMINAL = {"succeeded", "rolled_back", "undone", "failed"}


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _push(http: httpx.Client, name: str, wasm: bytes) -> str:
    r = http.post(
        "/file/module",
        data={"name": name},
        files={"module": ("m.wasm", bytes(wasm), "application/wasm")},
    )
    r.raise_for_status()
    module_id = str(r.json()["id"])
    described, files = description_upload("fibo")
    r = http.post(
        f"/api/v1/modules/{module_id}/description",
        data={"description": json.dumps(described)},
        files=files or None,
    )
    r.raise_for_status()
    return module_id


class Load:
    """Calls every copy back to back from a thread pool; counts calls and failures per device."""

    def __init__(self, targets: dict[str, str]) -> None:
        self.targets = targets
        self.calls: dict[str, int] = defaultdict(int)
        self.failed: dict[str, int] = defaultdict(int)
        self.stop = threading.Event()
        self.pool = ThreadPoolExecutor(max_workers=len(targets))

    def _call(self, device: str, url: str) -> None:
        with httpx.Client(timeout=5.0) as client:
            for _ in range(1_000_000):
                if self.stop.is_set():
                    return
                try:
                    ok = client.get(url, params={"iterations": 10}).status_code == 200
                except httpx.HTTPError:
                    ok = False
                self.calls[device] += 1
                self.failed[device] += 0 if ok else 1

    def __enter__(self) -> Load:
        for device, url in self.targets.items():
            self.pool.submit(self._call, device, url)
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.pool.shutdown(wait=True)


def _running(http: httpx.Client, url: str, deployment_id: str) -> str | None:
    """The module id the device runs for the deployment, or None."""
    try:
        for dep in http.get(url + "/deploy", timeout=2.0).json():
            if dep.get("deploymentId") == deployment_id:
                return str(dep["modules"][0]["id"])
    except (httpx.HTTPError, ValueError, KeyError, IndexError):
        return None
    return None


def measure_rollout(devices: int = 10) -> dict[str, Any]:
    """Roll out a bad version over ``devices`` supervisors; how the automatic rollback went."""
    import wasmtime

    root = Path(tempfile.mkdtemp(prefix="wf-rollout-"))
    orch = OrchestratorProcess(root / "orch", name="orch", args=[*FAST, "--no-mdns"])
    sups: list[SupervisorProcess] = []
    try:
        orch.start()
        for i in range(devices):
            sup = SupervisorProcess(
                root / f"sv{i}", name=f"sv{i:02}", args=["--orchestrator", orch.url]
            )
            sups.append(sup.start())
        http = httpx.Client(base_url=orch.url, timeout=60.0)
        for _ in range(400):
            listed = http.get("/api/v1/devices").json()
            if sum(1 for d in listed if d["status"] == "active") >= devices:
                break
            time.sleep(0.05)
        good = _push(http, "fibo", (MODULES / "fibo" / "fibo.wasm").read_bytes())
        manifest = {
            "name": "roll",
            # TODO(lead, issue 14): needs the replicas branch (one copy per device).
            "steps": [{"module": "fibo", "function": "fibo", "replicas": "all"}],
        }
        r = http.post("/api/v1/deployments", json=manifest)
        if r.status_code != 201:
            return {"error": f"deploying replicas: all failed: {r.text[:300]}"}
        dep = r.json()
        copies = {s["device"] for s in dep["plan"]["steps"]}
        if len(copies) < devices:
            return {"error": f"the deployment has {len(copies)} copies, not {devices}"}
        bad = _push(http, "fibo", wasmtime.wat2wasm(BAD_FIBO_WAT))
        urls = {s.name: s.url for s in sups}
        targets = {name: f"{urls[name]}/{dep['id']}/modules/fibo/fibo" for name in sorted(copies)}
        with Load(targets) as load:
            time.sleep(1.0)
            r = http.post(
                "/api/v1/rollouts",
                json={"deployment": "roll", "to": bad, "pause": "1s", "min_calls": 3},
            )
            if r.status_code != 201:
                return {"error": f"starting the rollout failed: {r.text[:300]}"}
            rollout_id = r.json()["id"]
            rollout: dict[str, Any] = {}
            for _ in range(1200):  # 60 s
                rollout = http.get(f"/api/v1/rollouts/{rollout_id}").json()
                if rollout["status"] in TERMINAL:
                    break
                time.sleep(0.05)
            back_at = None
            for _ in range(400):  # 20 s
                if all(_running(http, urls[d], dep["id"]) == good for d in copies):
                    back_at = time.time()
                    break
                time.sleep(0.05)
        failed_gates = [g for g in rollout.get("gates", []) if not g["passed"]]
        first = failed_gates[0]["at"] if failed_gates else None
        gate_at = datetime.fromisoformat(first).timestamp() if first else None
        untouched = sorted(copies - set(rollout.get("updated", {})))
        return {
            "rollout_devices": devices,
            "status": rollout.get("status"),
            "reason": rollout.get("reason"),
            "rolled_back": rollout.get("status") == "rolled_back",
            "rollback_s": round(back_at - gate_at, 3) if back_at and gate_at else None,
            "waves_updated": len({u["wave"] for u in rollout.get("updated", {}).values()}),
            "untouched_copies": len(untouched),
            "calls_on_untouched_copies": sum(load.calls[d] for d in untouched),
            "failed_calls_on_untouched_copies": sum(load.failed[d] for d in untouched),
            "failed_calls_on_updated_copies": sum(
                load.failed[d] for d in copies if d not in untouched
            ),
        }
    finally:
        for sup in sups:
            sup.stop()
        orch.stop()


def main(argv: list[str] | None = None) -> int:
    """Print the rollout section's JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=10)
    args = parser.parse_args(argv)
    _say(f"rollout over {args.devices} supervisors ...")
    print(json.dumps(measure_rollout(args.devices), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
