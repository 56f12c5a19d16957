"""A supervisor process with an orchestrator: registration, health checks, log shipping."""

from __future__ import annotations

import json
from collections.abc import Callable

from tests.integration.fake_orchestrator import running_orchestrator
from tests.support import FileServer, SupervisorProcess, readme_body

Start = Callable[..., SupervisorProcess]


def test_registers_and_ships_logs(start_supervisor: Start, files: FileServer) -> None:
    with running_orchestrator() as orch:
        # The wasmiot environment name for the orchestrator works like --orchestrator.
        sup = start_supervisor(
            "edge-1", args=["--label", "zone=lab"], env={"WASMIOT_ORCHESTRATOR_URL": orch.url}
        )
        register = "/file/device/discovery/register"
        assert orch.wait_for(lambda: bool(orch.requests_to(register, "POST")), timeout=15)
        body = orch.requests_to(register, "POST")[0].json
        assert body["name"] == "edge-1"
        assert body["port"] == sup.port
        assert body["properties"] == {"path": "/", "tls": "0", "address": "127.0.0.1"}
        assert sup.get("/health").headers["Custom-Orchestrator-Set"] == "true"
        labels = sup.get("/.well-known/wasmiot-device-description").json()["wasmfleet"]["labels"]
        assert labels == {"zone": "lab"}

        # A deployment produces an info record; it reaches /device/logs as form field logData.
        assert sup.deploy(readme_body(files, "logs", "fibo")).status_code == 200

        def deployed_record_shipped() -> bool:
            for request in orch.requests_to("/device/logs", "POST"):
                record = json.loads(request.form["logData"])
                if record["message"] == "deployed" and record["deviceName"] == "edge-1":
                    return True
            return False

        assert orch.wait_for(deployed_record_shipped, timeout=15)
        assert sup.get("/api/v1/status").json()["logs"]["shipped"] >= 1
