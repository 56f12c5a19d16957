"""Real supervisor and orchestrator processes configured by a --config file: the file's
settings take effect, flags still win, logs are JSON, and the orchestrator prunes."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.support import OrchestratorProcess, SupervisorProcess, wait_until

pytestmark = pytest.mark.timeout(120)


def only_json(log: str) -> list[dict[str, object]]:
    records = []
    for line in log.splitlines():
        if line.strip():
            assert line.startswith("{"), f"not a JSON line: {line!r}\n{log}"
            records.append(json.loads(line))
    return records


def test_a_supervisor_reads_its_config_file_and_flags_still_win(tmp_path: Path) -> None:
    config = tmp_path / "supervisor.toml"
    config.write_text(
        'name = "from-file"\n'  # SupervisorProcess passes --name sv: the flag wins
        'labels = { zone = "lab", role = "gateway" }\n'
        'max-request-size = "1KiB"\n'
        "heartbeat-interval = 0\n"
        'camera = "none"\n'
        'sensors = "none"\n'
        "nn = false\n"
        'log-format = "json"\n'
        'log-level = "debug"\n'
    )
    sup = SupervisorProcess(
        tmp_path / "data",
        name="sv",
        args=["--config", str(config)],
        env={"WASMFLEET_LOG_LEVEL": "info"},  # the variable beats the file's debug
    ).start()
    try:
        described = sup.get("/.well-known/wasmiot-device-description").json()["wasmfleet"]
        assert described["labels"] == {"zone": "lab", "role": "gateway"}
        assert described["name"] == "sv" and described["heartbeat_interval_s"] == 0
        assert sup.get("/health").status_code == 200
        refused = sup.post(
            "/deploy", content=b"x" * 2048, headers={"content-type": "application/json"}
        )
        assert refused.status_code == 413, refused.text
        message = refused.json()["error"]["message"]
        assert "--max-request-size or WASMFLEET_MAX_REQUEST_SIZE" in message
    finally:
        sup.stop()
    records = only_json(sup.log())
    assert records and not any(r["level"] == "debug" for r in records), sup.log()


def test_an_orchestrator_configured_by_file_prunes_old_logs(tmp_path: Path) -> None:
    config = tmp_path / "orchestrator.toml"
    config.write_text('keep-logs = 2\nprune-interval = 0.2\nlog-format = "json"\n')
    orch = OrchestratorProcess(tmp_path / "orch", args=["--config", str(config)]).start()
    now = datetime.now(UTC)
    try:
        entries = [
            {
                "message": f"line {i}",
                "deviceName": "cam",
                "timestamp": (now - timedelta(seconds=6 - i)).isoformat(),
            }
            for i in range(6)
        ]
        stored = orch.post("/device/logs", data={"logData": json.dumps(entries)})
        assert stored.status_code == 200, stored.text
        assert stored.json() == {"message": "Log received and saved"}

        def kept() -> list[str]:
            return [e["message"] for e in orch.get("/device/logs").json()]

        assert wait_until(lambda: len(kept()) == 2, 20), kept()
        assert kept() == ["line 4", "line 5"]
    finally:
        orch.stop()
    records = only_json(orch.log())
    assert any("pruned 4 log entries" in str(r["message"]) for r in records), orch.log()
