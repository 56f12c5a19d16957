"""A network partition, with real network namespaces: a device is cut off, then comes back.

The test makes two named namespaces joined by a veth pair (``tests/integration/netns.py``;
addresses exist only inside them, the root namespace is not touched). In the *fleet*
namespace run the orchestrator and supervisors ``a`` and ``b``; in the *dev* namespace runs
supervisor ``p``. The pipeline is fibo (pinned to ``a``) → a *stateful* counter pinned to
``p`` with ``b`` as its failover, so each execution adds fibo(10) = 55 to the counter of the
device that hosts it.

The scenario runs this module inside the fleet namespace (``python -m ... '<json>'``) and
prints what it saw as JSON; the test asserts on that:

1. three executions count 55, 110, 165 on ``p``;
2. the link is cut (the dev end of the veth goes down). ``p`` keeps running and cannot know it
   was replaced, so the test keeps calling its copy *from inside the dev namespace*: it must
   refuse (503 ``lease_expired``) before the orchestrator declares ``p`` dead (phi) and for
   as long as the link is cut — at no moment two devices serve the counter;
3. the step moves to ``b``, which counts from 55 again;
4. the link is healed: ``p`` is active again and its stale copy is removed (GET /deploy no
   longer lists it); in between it never serves a call (503 until the first heartbeat answer
   raises its fence, 409 after, 404 once removed). The counter carries on on ``b``: 110, 165.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import traceback
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.integration.fleet import FAST_HEALTH, Fleet
from tests.integration.healing import WORKER, deployment, held, host_of, status_log
from tests.integration.netns import NetnsPair, NetnsUnavailable, set_dev_link
from tests.support import (
    OrchestratorProcess,
    SupervisorProcess,
    free_port,
    wait_until,
)

REPO = Path(__file__).resolve().parents[2]
NAME = "partition"
ARGS = {"iterations": 10}
MANIFEST = {
    "name": NAME,
    "steps": [
        {"module": "fibo", "function": "fibo", "device": "a"},
        {
            "module": "counter",
            "function": "add",
            "stateful": True,
            "device": "p",
            "failovers": ["b"],
        },
    ],
}
LEASE_S = 1.5
"""The orchestrator's default lease of stateful steps."""
WAIT_S = 15.0
"""The bound of every wait for the fleet to notice the cut or the heal."""
SCENARIO_TIMEOUT_S = 110.0
PROBE = """
import json, sys, urllib.error, urllib.request
try:
    with urllib.request.urlopen(sys.argv[1], timeout=3) as r:
        print(json.dumps({"status": r.status, "body": r.read().decode()}))
except urllib.error.HTTPError as e:
    print(json.dumps({"status": e.code, "body": e.read().decode()}))
except Exception as e:
    print(json.dumps({"status": None, "body": repr(e)}))
"""
"""A call made from inside a namespace with the standard library only (fast to start)."""


# -- processes bound to namespace addresses ------------------------------------------------------


def _rebind(command: list[str], host: str) -> list[str]:
    """Listen on ``host``, a namespace address: wide on purpose, so ``--insecure`` (auth off)."""
    at = command.index("--host")
    return [*command[: at + 1], host, "--insecure", *command[at + 2 :]]


class HostedOrchestrator(OrchestratorProcess):
    """An orchestrator listening on (and reached at) a namespace address."""

    def __init__(self, data_dir: Path, *, address: str, **kw: Any) -> None:
        super().__init__(data_dir, **kw)
        self.address = address

    @property
    def url(self) -> str:
        """Base URL of this service."""
        return f"http://{self.address}:{self.port}"

    def command(self) -> list[str]:
        """The command line that starts it."""
        return _rebind(super().command(), self.address)


class HostedSupervisor(SupervisorProcess):
    """A supervisor reached at ``address``, listening on ``bind`` (default: the same)."""

    def __init__(self, data_dir: Path, *, address: str, bind: str | None = None, **kw: Any):
        super().__init__(data_dir, **kw)
        self.address = address
        self.bind = bind or address

    @property
    def url(self) -> str:
        """Base URL of this service."""
        return f"http://{self.address}:{self.port}"

    def command(self) -> list[str]:
        """The command line that starts it."""
        return _rebind(super().command(), self.bind)


class PartitionFleet(Fleet):
    """A Fleet whose orchestrator listens on the fleet namespace's veth address."""

    def __init__(self, root: Path, address: str) -> None:
        super().__init__(root)
        self.http.close()
        port = free_port()
        self.orchestrator = HostedOrchestrator(
            root / "orchestrator",
            name="orch",
            port=port,
            address=address,
            args=[*FAST_HEALTH, "--public-url", f"http://{address}:{port}"],
        )
        self.http = httpx.Client(base_url=self.orchestrator.url, timeout=30.0)

    def start_hosted(
        self, name: str, address: str, *args: str, bind: str | None = None, namespace: str = ""
    ) -> SupervisorProcess:
        """Start a supervisor (in ``namespace`` if given) that registers with the orchestrator."""
        sup = HostedSupervisor(
            self.root / f"sv-{name}",
            name=name,
            address=address,
            bind=bind,
            args=["--orchestrator", self.url, *args],
            wrapper=NetnsPair.exec_in(namespace) if namespace else None,
        )
        self.supervisors[name] = sup
        sup.start()
        return sup


# -- the scenario, run inside the fleet namespace ------------------------------------------------


def probe(namespace: str, url: str) -> dict[str, Any]:
    """GET ``url`` from inside ``namespace``: status, error code or result, and when.

    ``sent`` is before the call started and ``at`` after its answer came (monotonic)."""
    command = NetnsPair.exec_in(namespace, sys.executable, "-c", PROBE, url)
    sent = time.monotonic()
    done = subprocess.run(command, capture_output=True, text=True, timeout=10)
    at = time.monotonic()
    try:
        answer = json.loads(done.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):
        return {"sent": sent, "at": at, "status": None, "code": None, "body": done.stderr[-500:]}
    try:
        body = json.loads(answer["body"])
    except ValueError:
        body = answer["body"]
    error = body.get("error") if isinstance(body, dict) else None
    return {
        "sent": sent,
        "at": at,
        "status": answer["status"],
        "code": error.get("code") if isinstance(error, dict) else None,
        "result": body.get("result") if isinstance(body, dict) else None,
        "body": str(answer["body"])[:300],
    }


def _execute(fleet: Fleet) -> dict[str, Any]:
    r = fleet.http.post(f"/api/v1/deployments/{NAME}/execute", json=ARGS)
    body = r.json()
    steps = body.get("steps") or [{}]
    error = (body.get("error") or {}).get("message") if r.status_code >= 300 else None
    return {
        "status": r.status_code,
        "result": body.get("result"),
        "device": steps[-1].get("device"),
        "error": error,
    }


def _status(fleet: Fleet, device: str) -> str | None:
    try:
        return str(fleet.devices().get(device, {}).get("status"))
    except httpx.HTTPError:
        return None


def _holds(sup: SupervisorProcess, dep_id: str) -> bool | None:
    try:
        return dep_id in held(sup)
    except (httpx.HTTPError, ValueError):
        return None


def _relative(probes: list[dict[str, Any]], origin: float) -> list[dict[str, Any]]:
    return [
        {**p, "sent": round(p["sent"] - origin, 3), "at": round(p["at"] - origin, 3)}
        for p in probes
    ]


def _run(fleet: PartitionFleet, cfg: dict[str, str], out: dict[str, Any]) -> None:
    dev_ns, fleet_addr, dev_addr = cfg["dev_ns"], cfg["fleet_addr"], cfg["dev_addr"]
    fleet.orchestrator.start()
    fleet.start_hosted("a", fleet_addr)
    b = fleet.start_hosted("b", fleet_addr, *WORKER)
    # p listens on 0.0.0.0 so that calls from inside its namespace (127.0.0.1) still reach it
    # while the link is down; the fleet knows it by its veth address.
    p = fleet.start_hosted(
        "p", dev_addr, *WORKER, "--advertise-address", dev_addr, bind="0.0.0.0", namespace=dev_ns
    )
    fleet.wait_active("a", "b", "p", timeout=WAIT_S)
    out["p_url"] = fleet.devices()["p"]["url"]
    fleet.push("fibo")
    fleet.push("counter")
    r = fleet.http.post("/api/v1/deployments", json=MANIFEST)
    assert r.status_code == 201, r.text
    dep = deployment(fleet, NAME)
    dep_id = dep["id"]
    deployed = time.monotonic()
    out["placed_on"] = host_of(fleet, NAME, 1)
    out["epoch_before"] = dep["epoch"]
    out["before"] = [_execute(fleet) for _ in range(3)]
    out["held_before"] = held(p)

    # Steady state first: p's lease is held by acknowledged heartbeats, not by the deploy alone.
    def steady() -> bool:
        acked = p.get("/api/v1/status", timeout=5).json()["heartbeat"]["acked"]
        return bool(acked >= 4 and time.monotonic() > deployed + 2 * LEASE_S)

    out["steady"] = wait_until(steady, timeout=WAIT_S, interval=0.1)
    out["p_leases_before_cut"] = p.get("/api/v1/status", timeout=5).json()["leases"]
    stale_url = f"http://127.0.0.1:{p.port}/{dep_id}/modules/counter/add?n=0"
    out["probe_before_cut"] = probe(dev_ns, stale_url)
    out["probe_before_cut"]["after_deploy_s"] = round(out["probe_before_cut"]["at"] - deployed, 3)

    # -- cut: p keeps running but hears nothing; keep calling its copy from inside DEV.
    cut, cut_wall = time.monotonic(), time.time()
    set_dev_link(dev_ns, up=False)
    probes: list[dict[str, Any]] = []
    dead_at: float | None = None
    while time.monotonic() < cut + WAIT_S:
        probes.append(probe(dev_ns, stale_url))
        if dead_at is None and _status(fleet, "p") == "dead":
            dead_at = time.monotonic()
        if dead_at is not None and probes[-1]["sent"] > dead_at + 0.5:
            break
        time.sleep(0.05)
    out["p_log_when_dead"] = log = status_log(fleet, "p")
    # When the orchestrator declared p dead, by its own log (same host, same clock).
    dead_logged = [datetime.fromisoformat(e["time"]) for e in log if e["status"] == "dead"]
    out["cut"] = {
        "dead_seen_after_s": None if dead_at is None else round(dead_at - cut, 3),
        "dead_logged_after_s": (
            round(dead_logged[-1].timestamp() - cut_wall, 3) if dead_logged else None
        ),
        "probes": _relative(probes, cut),
    }

    def moved() -> bool:
        d = deployment(fleet, NAME)
        return bool(d["moves"]) and d["status"] == "active"

    out["moved"] = wait_until(moved, timeout=WAIT_S, interval=0.1)
    out["moved_after_s"] = round(time.monotonic() - cut, 3)
    dep = deployment(fleet, NAME)
    out["moves"] = dep["moves"]
    out["epoch_after_move"] = dep["epoch"]
    out["host_after_move"] = host_of(fleet, NAME, 1)
    out["after_move"] = [_execute(fleet)]
    out["probe_after_move"] = probe(dev_ns, stale_url)
    out["cut_lasted_s"] = round(time.monotonic() - cut, 3)

    # -- heal: p hears the orchestrator again; its copy must stay refused until removed.
    heal = time.monotonic()
    set_dev_link(dev_ns, up=True)
    heal_probes: list[dict[str, Any]] = []
    active_at: float | None = None
    removed_at: float | None = None
    while time.monotonic() < heal + WAIT_S:
        heal_probes.append(probe(dev_ns, stale_url))
        if active_at is None and _status(fleet, "p") == "active":
            active_at = time.monotonic()
        if removed_at is None and _holds(p, dep_id) is False:
            removed_at = time.monotonic()
        if active_at is not None and removed_at is not None:
            break
        time.sleep(0.05)
    heal_probes.append(probe(dev_ns, stale_url))
    out["heal"] = {
        "active_after_s": None if active_at is None else round(active_at - heal, 3),
        "removed_after_s": None if removed_at is None else round(removed_at - heal, 3),
        "probes": _relative(heal_probes, heal),
    }
    out["p_status_log"] = status_log(fleet, "p")
    out["held_after_heal"] = held(p)
    out["after_heal"] = [_execute(fleet) for _ in range(2)]
    out["host_after_heal"] = host_of(fleet, NAME, 1)
    out["b_held"] = held(b)
    p_status = p.get("/api/v1/status", timeout=5).json()
    out["p_heartbeats"] = p_status["heartbeat"]
    out["p_fences_after_heal"] = p_status["fences"]
    out["dep_id"] = dep_id


def scenario(cfg: dict[str, str]) -> dict[str, Any]:
    """Run the partition inside the fleet namespace; report everything observed."""
    root = Path(cfg["root"])
    out: dict[str, Any] = {}
    started = time.monotonic()
    fleet = PartitionFleet(root, cfg["fleet_addr"])
    try:
        _run(fleet, cfg, out)
    except Exception:
        out["error"] = traceback.format_exc()
    finally:
        fleet.stop()
        procs = [fleet.orchestrator, *fleet.supervisors.values()]
        out["logs"] = {proc.name: str(proc.log_path) for proc in procs}
        out["log_tails"] = {proc.name: proc.log()[-4000:] for proc in procs}
        out["duration_s"] = round(time.monotonic() - started, 3)
    return out


# -- the test ------------------------------------------------------------------------------------


def _explain(result: dict[str, Any]) -> str:
    tails = "\n".join(f"--- {n} ---\n{t}" for n, t in result.get("log_tails", {}).items())
    shown = {k: v for k, v in result.items() if k != "log_tails"}
    return f"{json.dumps(shown, indent=1)}\n{tails}"


def _run_scenario(tmp_path: Path) -> dict[str, Any]:
    pair = NetnsPair()
    try:
        pair.create()
    except NetnsUnavailable as err:
        pytest.skip(f"the partition test needs named network namespaces; {err}")
    with pair:
        cfg = {
            "root": str(tmp_path),
            "dev_ns": pair.dev,
            "fleet_addr": pair.fleet_addr,
            "dev_addr": pair.dev_addr,
        }
        command = pair.exec_in(
            pair.fleet, sys.executable, "-m", "tests.integration.test_partition_netns",
            json.dumps(cfg),
        )  # fmt: skip
        try:
            done = subprocess.run(
                command, capture_output=True, text=True, timeout=SCENARIO_TIMEOUT_S, cwd=REPO
            )
        except subprocess.TimeoutExpired as err:
            pytest.fail(f"the scenario did not finish within {SCENARIO_TIMEOUT_S} s: {err}")
    lines = done.stdout.strip().splitlines()
    assert done.returncode == 0 and lines, f"scenario failed ({done.returncode}):\n{done.stderr}"
    result: dict[str, Any] = json.loads(lines[-1])
    return result


@pytest.mark.netns
def test_a_cut_off_device_stops_serving_and_its_stale_copy_is_fenced(tmp_path: Path) -> None:
    result = _run_scenario(tmp_path)
    why = _explain(result)
    assert "error" not in result, why
    dep_id = result["dep_id"]

    # Before the cut: the counter runs on p.
    assert result["placed_on"] == "p", why
    assert [(e["result"], e["device"]) for e in result["before"]] == [
        ("55", "p"),
        ("110", "p"),
        ("165", "p"),
    ], why
    assert dep_id in result["held_before"], why
    # Heartbeats renew p's lease: its copy still serves well after the lease of the deploy.
    assert result["steady"], why
    assert result["p_leases_before_cut"][dep_id]["valid"], why
    assert result["p_leases_before_cut"][dep_id]["stateful"] == ["counter.add"], why
    before_cut = result["probe_before_cut"]
    assert before_cut["status"] == 200 and before_cut["result"] == "165", why
    assert before_cut["after_deploy_s"] > 2 * LEASE_S, why

    # The cut: p refuses on its own (lease) before the orchestrator declares it dead ...
    cut = result["cut"]
    dead_after = cut["dead_logged_after_s"]
    assert dead_after is not None and cut["dead_seen_after_s"] is not None, why
    assert all(pr["status"] in (200, 503, 409) for pr in cut["probes"]), why
    refusals = [pr for pr in cut["probes"] if pr["status"] != 200]
    assert refusals, why
    refused_by = refusals[0]["at"]  # p was refusing by the time this answer was back
    assert refused_by < dead_after, why
    # ... and from then on it never serves again while cut off.
    assert all(pr["status"] != 200 for pr in cut["probes"] if pr["sent"] >= refused_by), why
    assert all(
        (pr["status"], pr["code"]) in ((503, "lease_expired"), (409, "fenced")) for pr in refusals
    ), why
    dead = result["p_log_when_dead"][-1]
    assert dead["status"] == "dead" and "phi" in dead["reason"], why

    # The step moved to its failover, which counts from scratch.
    assert result["moved"], why
    move = result["moves"][-1]
    assert (move["from"], move["to"], move["step"]) == ("p", "b", 1), why
    assert "p is dead" in move["reason"] and "phi" in move["reason"], why
    assert result["epoch_after_move"] > result["epoch_before"], why
    assert result["host_after_move"] == "b", why
    assert [(e["result"], e["device"]) for e in result["after_move"]] == [("55", "b")], why
    assert (result["probe_after_move"]["status"], result["probe_after_move"]["code"]) in (
        (503, "lease_expired"),
        (409, "fenced"),
    ), why

    # The heal: p is back, its stale copy never served again and was removed.
    heal = result["heal"]
    assert heal["active_after_s"] is not None and heal["removed_after_s"] is not None, why
    assert all(pr["status"] in (503, 409, 404) for pr in heal["probes"]), why
    assert heal["probes"][-1]["status"] == 404, why
    assert [e["status"] for e in result["p_status_log"]][-2:] == ["dead", "active"], why
    assert dep_id not in result["held_after_heal"], why
    # p's fence rises to the new epoch when a heartbeat answer reaches it while it still
    # reports the copy; if the orchestrator's DELETE wins that race, it stays where it was.
    assert result["p_fences_after_heal"][dep_id] in (
        result["epoch_before"],
        result["epoch_after_move"],
    ), why
    assert result["b_held"].get(dep_id) == result["epoch_after_move"], why
    # ... and the counter carries on where it is now, on b.
    assert result["host_after_heal"] == "b", why
    assert [(e["result"], e["device"]) for e in result["after_heal"]] == [
        ("110", "b"),
        ("165", "b"),
    ], why


if __name__ == "__main__":
    print(json.dumps(scenario(json.loads(sys.argv[1]))))
