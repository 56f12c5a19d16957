"""A device found without an orchestrator set is told about this one (POST /register)."""

from __future__ import annotations

from pathlib import Path

from tests.integration.fleet import Fleet
from tests.support import wait_until


def test_orchestrator_sets_itself_on_devices_that_have_none(tmp_path: Path) -> None:
    fleet = Fleet(tmp_path)
    try:
        fleet.orchestrator.start()
        sup = fleet.start_supervisor("lonely", register=False)
        assert sup.get("/health").headers["custom-orchestrator-set"] == "false"
        body = {"name": "lonely", "port": sup.port, "properties": {"address": "127.0.0.1"}}
        r = fleet.http.post("/file/device/discovery/register", json=body)
        assert r.status_code == 204, r.text  # as the wasmiot orchestrator answers
        assert wait_until(
            lambda: sup.get("/health").headers["custom-orchestrator-set"] == "true", timeout=10
        ), sup.log()
        # From now on the supervisor ships its logs here.
        assert wait_until(
            lambda: any(e["device"] == "lonely" for e in fleet.http.get("/api/v1/logs").json()),
            timeout=10,
        )
    finally:
        fleet.stop()
