"""mDNS discovery by the orchestrator, with real zeroconf inside a private network namespace.

The test runs this file as a script inside ``unshare -n`` (multicast on the namespace's own
loopback only): an orchestrator browsing mDNS and two supervisors advertising themselves,
none of them told about the other. The script prints what the orchestrator found as JSON.

The supervisors send no heartbeats and do not re-register on their own within the test
(``--heartbeat-interval 0``, ``--reregister-after 600``): a forgotten device that pushes
heartbeats is told it is unknown and registers again over HTTP at once (supervisor/heartbeat.py),
so "forgotten" would last only until its next heartbeat and "found again" would not show that
mDNS found it. Here mDNS is the only way a device gets known.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import httpx
import pytest

THIS_FILE = Path(__file__).resolve()
REPO = THIS_FILE.parents[2]


def scenario(timeout: float) -> dict[str, Any]:
    """Start the fleet in this namespace and report what discovery saw."""
    sys.path.insert(0, str(REPO))
    from tests.support import OrchestratorProcess, SupervisorProcess, wait_until

    root = Path(tempfile.mkdtemp(prefix="wasmfleet-mdns-"))
    orch = OrchestratorProcess(
        root / "orch", name="orch", mdns=True, args=["--health-interval", "0.5"]
    )
    quiet = ["--heartbeat-interval", "0", "--reregister-after", "600"]
    sups = [
        SupervisorProcess(root / n, name=n, mdns=True, args=quiet) for n in ("mdns-a", "mdns-b")
    ]
    result: dict[str, Any] = {}
    try:
        orch.start()
        for sup in sups:
            sup.start()

        def names() -> set[str]:
            devices = httpx.get(orch.url + "/api/v1/devices", timeout=5).json()
            return {d["name"] for d in devices if d["status"] == "active"}

        result["found"] = wait_until(lambda: names() >= {"mdns-a", "mdns-b"}, timeout=timeout)
        devices = httpx.get(orch.url + "/api/v1/devices", timeout=5).json()
        result["devices"] = {d["name"]: {"url": d["url"], "log": d.get("status")} for d in devices}
        detail = httpx.get(orch.url + "/api/v1/devices/mdns-a", timeout=5).json()
        result["reason"] = detail["status_log"][0]["reason"] if detail.get("status_log") else ""
        result["ports"] = {s.name: s.port for s in sups}
        # Forget everything, then rescan: mDNS finds them again.
        forgot = httpx.delete(orch.url + "/file/device", timeout=5).json()
        result["forgotten"] = forgot["deletedCount"]
        result["after_forget"] = sorted(names())
        httpx.post(orch.url + "/file/device/discovery/reset", timeout=30)
        result["rediscovered"] = wait_until(
            lambda: names() >= {"mdns-a", "mdns-b"}, timeout=timeout
        )
        result["reasons_again"] = {
            n: httpx.get(f"{orch.url}/api/v1/devices/{n}", timeout=5).json()["status_log"][0][
                "reason"
            ]
            for n in ("mdns-a", "mdns-b")
        }
    finally:
        for sup in sups:
            sup.stop()
        orch.stop()
        result["orchestrator_log_tail"] = orch.log()[-2000:]
    return result


def test_orchestrator_discovers_supervisors_over_mdns() -> None:
    from tests.integration.test_advertise_netns import netns_available, netns_command

    reason = netns_available()
    if reason is not None:
        pytest.skip(f"mDNS tests run only inside a private network namespace; {reason}")
    command = netns_command(sys.executable, str(THIS_FILE), "20")
    done = subprocess.run(command, capture_output=True, timeout=120, cwd=REPO)
    assert done.returncode == 0, done.stderr.decode()[-3000:]
    result = json.loads(done.stdout.decode().strip().splitlines()[-1])
    assert result["found"], result
    for name, port in result["ports"].items():
        assert result["devices"][name]["url"] == f"http://127.0.0.1:{port}"
    assert "discovered via mdns" in result["reason"]
    assert result["forgotten"] == 2
    assert result["after_forget"] == []
    assert result["rediscovered"], result
    for name, reason in result["reasons_again"].items():
        assert "discovered via mdns" in reason, (name, reason)


if __name__ == "__main__":
    print(json.dumps(scenario(float(sys.argv[1]))))
