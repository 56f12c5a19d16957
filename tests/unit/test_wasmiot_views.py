"""The wasmiot answer shapes built from stored records (orchestrator/wasmiot_views.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from tests.wasmiot_shapes import load, problems
from wasmfleet.core.lifecycle import DeploymentStatus
from wasmfleet.orchestrator.store import (
    DeploymentRecord,
    DeviceRecord,
    ExecutionRecord,
    LogRecord,
    StatusEntry,
)
from wasmfleet.orchestrator.wasmiot_views import (
    deploy_answer,
    execute_answer,
    function_mounts,
    in_failover,
    js_time,
    wasmiot_device,
    wasmiot_log,
    wasmiot_manifest,
)

T0 = datetime(2026, 3, 1, 12, 0, 0, 654321, tzinfo=UTC)
IDS = {"cam": "c" * 32, "edge": "e" * 32}


def test_times_are_written_as_javascript_writes_them() -> None:
    assert js_time(T0) == "2026-03-01T12:00:00.654Z"
    assert js_time(T0.astimezone(timezone(timedelta(hours=2)))) == "2026-03-01T12:00:00.654Z"
    assert js_time(datetime(2026, 3, 1, 12, 0, 0)) == "2026-03-01T12:00:00.000Z"  # naive = UTC
    assert js_time(None) is None


def test_a_device_has_two_statuses_and_logs_their_changes_newest_first() -> None:
    device = DeviceRecord(
        name="cam", id=IDS["cam"], addresses=["10.0.0.5"], port=5000, status="suspect"
    )
    log = [
        StatusEntry(T0, "active", "discovered"),
        StatusEntry(T0 + timedelta(seconds=1), "suspect", "late heartbeat"),
        StatusEntry(T0 + timedelta(seconds=2), "dead", "no heartbeat"),
        StatusEntry(T0 + timedelta(seconds=3), "active", "back"),
    ]
    view = wasmiot_device(device, log)
    assert view["status"] == "active"  # suspect is still active in the original's terms
    assert [(e["status"], e["time"][17:19]) for e in view["statusLog"]] == [
        ("active", "03"),
        ("inactive", "02"),
        ("active", "00"),
    ]
    assert "health" not in view  # never checked yet
    device.status, device.failures, device.last_seen = "dead", 3, T0
    device.health = {"cpuUsage": 0.5, "memoryUsage": 0.2}
    view = wasmiot_device(device, log)
    assert (view["status"], view["failedHealthCheckCount"], view["okHealthCheckCount"]) == (
        "inactive",
        3,
        0,
    )
    assert view["health"] == {"report": device.health, "timeOfQuery": js_time(T0)}
    assert problems([view], load("device-list")) == []


def test_mounts_come_from_the_description() -> None:
    op = {
        "x-mounts": [
            {"name": "prefix.txt", "stage": "deployment", "media_type": "text/plain"},
            {"name": "out.jpg", "stage": "output", "media_type": "image/jpeg"},
        ]
    }
    description = {
        "paths": {
            "/{deployment}/modules/stamp/stamp": {"post": op},
            "/{deployment}/modules/stamp/count": {"get": {}},
        }
    }
    assert function_mounts(description) == {
        "stamp": {
            "prefix.txt": {"mediaType": "text/plain", "stage": "deployment"},
            "out.jpg": {"mediaType": "image/jpeg", "stage": "output"},
        },
        "count": {},
    }


def deployment(**kw: object) -> DeploymentRecord:
    record = DeploymentRecord(
        name="pipe",
        id="d" * 32,
        manifest={
            "name": "pipe",
            "steps": [
                {"module": "fibo", "function": "fibo", "device": "cam", "failovers": ["edge"]},
                {"module": "counter", "function": "add"},
            ],
        },
        status=DeploymentStatus.ACTIVE,
        plan={
            "steps": [
                {"step": 0, "device": "cam", "module_id": "m1", "function": "fibo"},
                {"step": 1, "device": "edge", "module_id": "m2", "function": "add"},
            ]
        },
        documents={"cam": {"deploymentId": "d" * 32}, "edge": {"deploymentId": "d" * 32}},
        results={
            "cam": {"ok": True, "status": 200, "message": "deployed"},
            "edge": {"ok": False, "status": 413, "message": "413: too large"},
        },
    )
    for key, value in kw.items():
        setattr(record, key, value)
    return record


def test_a_deployment_is_keyed_by_device_id() -> None:
    view = wasmiot_manifest(deployment(), IDS, deployment().documents)
    assert list(view["fullManifest"]) == [IDS["cam"], IDS["edge"]]
    assert view["sequence"] == [
        {"device": IDS["cam"], "module": "m1", "func": "fibo"},
        {"device": IDS["edge"], "module": "m2", "func": "add"},
    ]
    assert view["failoversBySequence"] == [[IDS["cam"], IDS["edge"]], [None]]
    assert view["goalDeployment"] == [IDS["cam"], IDS["edge"]]
    assert view["active"] is True and "isInFailover" not in view
    assert not wasmiot_manifest(deployment(status=DeploymentStatus.FAILED), IDS, {})["active"]


def test_a_moved_step_is_in_failover_until_it_is_back() -> None:
    moved = deployment(moves=[{"step": 0, "from": "cam", "to": "edge"}])
    moved.plan = {"steps": [{**moved.plan["steps"][0], "device": "edge"}, moved.plan["steps"][1]]}  # type: ignore[index]
    view = wasmiot_manifest(moved, IDS, {})
    assert view["isInFailover"] is True
    assert view["goalDeployment"] == [IDS["cam"], IDS["edge"]]  # where it was meant to run
    assert view["sequence"][0]["device"] == IDS["edge"]  # where it runs
    back = deployment(moves=[{"step": 0, "from": "cam", "to": "edge"}])
    assert in_failover(back) is False and wasmiot_manifest(back, IDS, {})["isInFailover"] is False


def test_deploy_answers_are_keyed_by_device_id_with_each_answer() -> None:
    answer = deploy_answer(deployment(), IDS)
    assert answer == {
        "deviceResponses": {
            IDS["cam"]: {"status": 200, "data": {"status": "success"}},
            IDS["edge"]: {"status": 413, "data": {"status": "error", "message": "413: too large"}},
        }
    }
    kept = deployment(results={"cam": {"ok": True, "status": 200, "data": {"status": "x"}}})
    assert deploy_answer(kept, IDS)["deviceResponses"][IDS["cam"]]["data"] == {"status": "x"}


def test_execute_answers_the_last_result_and_its_host() -> None:
    run = ExecutionRecord(
        deployment_id="d" * 32, result="55", result_url="http://10.0.0.7:5000/request-history/x"
    )
    answer = execute_answer(run, deployment())
    assert answer == {
        "result": "55",
        "fetched_from_device": "10.0.0.7",
        "resultUrl": "http://10.0.0.7:5000/request-history/x",
        "isInFailover": False,
    }
    assert problems(answer, load("execute")) == []


def test_a_log_entry_is_what_was_sent_with_an_id_and_a_time() -> None:
    sent = {"message": "hi", "loglevel": "INFO", "deviceName": "cam"}
    entry = wasmiot_log(
        LogRecord(time=T0, device="cam", level="INFO", message="hi", data=sent, id=7)
    )
    assert entry == {**sent, "_id": "7", "dateReceived": "2026-03-01T12:00:00.654Z"}
