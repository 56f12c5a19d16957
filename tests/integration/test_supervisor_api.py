"""The wasmiot supervisor API against a real supervisor process and the example modules."""

from __future__ import annotations

import concurrent.futures
import re

import httpx

from tests import wasmiot_bodies as bodies
from tests.support import FileServer, SupervisorProcess, readme_body


def test_readme_fibo_walkthrough(shared_supervisor: SupervisorProcess, files: FileServer) -> None:
    """The seed README's curl sequence: deploy fibo, call it, follow resultUrl."""
    body = bodies.readme_fibo(files.url("fibo/fibo.wasm"), files.url("fibo/description.json"))
    answer = shared_supervisor.deploy(body)
    assert answer.status_code == 200, answer.text
    assert answer.json()["status"] == "success"

    call = shared_supervisor.get("/0/modules/fiboMod/fibo?iterations=7")
    assert call.status_code == 200, call.text
    assert call.json()["result"] == "13"
    result_url = call.json()["resultUrl"]
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+/request-history/0:fiboMod:fibo:\d+", result_url)

    entry = httpx.get(result_url, timeout=10).json()
    assert entry["result"] == "13"
    assert entry["success"] is True
    for key in ("request_id", "deployment_id", "module_name", "function_name", "method",
                "request_args", "request_files", "work_queued_at"):  # fmt: skip
        assert key in entry
    assert entry["request_args"] == {"iterations": "7"}
    assert entry["method"] == "GET"


def test_double_slash_deploy_and_post_call(
    shared_supervisor: SupervisorProcess, files: FileServer
) -> None:
    body = readme_body(files, "dbl", "fibo")
    answer = httpx.post(f"{shared_supervisor.url}//deploy", json=body, timeout=30)
    assert answer.status_code == 200, answer.text
    by_form = shared_supervisor.post("/dbl/modules/fibo/fibo", data={"iterations": "10"})
    assert by_form.json()["result"] == "55"
    by_json = shared_supervisor.post("/dbl/modules/fibo/fibo", json={"iterations": 20})
    assert by_json.json()["result"] == "6765"


def test_stateful_counter_keeps_state(
    shared_supervisor: SupervisorProcess, files: FileServer
) -> None:
    assert shared_supervisor.deploy(readme_body(files, "cnt", "counter")).status_code == 200
    values = [
        shared_supervisor.get("/cnt/modules/counter/count").json()["result"] for _ in range(3)
    ]
    assert values == ["1", "2", "3"]


def test_concurrent_calls_into_one_instance_are_serialized(
    shared_supervisor: SupervisorProcess, files: FileServer
) -> None:
    assert shared_supervisor.deploy(readme_body(files, "par", "counter")).status_code == 200
    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        results = list(
            pool.map(lambda _: shared_supervisor.get("/par/modules/counter/count"), range(64))
        )
    values = sorted(int(r.json()["result"]) for r in results)
    assert values == list(range(1, 65))  # no lost or duplicated increments


def test_list_and_delete_deployments(
    shared_supervisor: SupervisorProcess, files: FileServer
) -> None:
    assert shared_supervisor.deploy(readme_body(files, "gone", "fibo")).status_code == 200
    ids = [d["deploymentId"] for d in shared_supervisor.get("/deploy").json()]
    assert "gone" in ids
    assert httpx.delete(f"{shared_supervisor.url}/deploy/gone", timeout=10).status_code == 200
    ids = [d["deploymentId"] for d in shared_supervisor.get("/deploy").json()]
    assert "gone" not in ids
    missing = shared_supervisor.get("/gone/modules/fibo/fibo?iterations=1")
    assert missing.status_code == 404
    assert httpx.delete(f"{shared_supervisor.url}/deploy/gone", timeout=10).status_code == 404


def test_device_description_health_and_register(shared_supervisor: SupervisorProcess) -> None:
    desc = shared_supervisor.get("/.well-known/wasmiot-device-description").json()
    interfaces = desc["supervisorInterfaces"]
    for name in ("takeImageDynamicSize", "takeImageStaticSize", "millis", "rpcCall", "fd_write"):
        assert name in interfaces
    qualified = desc["wasmfleet"]["interfaces"]
    assert "camera.takeImageDynamicSize" in qualified
    assert "wasi_snapshot_preview1.fd_write" in qualified
    cpu = desc["platform"]["cpu"]
    assert cpu["coreCount"] >= 1
    assert desc["platform"]["memory"]["bytes"] > 0

    health = shared_supervisor.get("/health")
    assert health.status_code == 200
    assert 0.0 <= health.json()["cpuUsage"] <= 1.0
    assert 0.0 < health.json()["memoryUsage"] <= 1.0
    assert health.headers["Custom-Orchestrator-Set"] == "false"


def test_register_sets_the_orchestrator(start_supervisor: object) -> None:
    sup = start_supervisor("reg")  # type: ignore[operator]
    assert sup.get("/health").headers["Custom-Orchestrator-Set"] == "false"
    answer = sup.post("/register", json={"url": "http://127.0.0.1:9"})
    assert answer.status_code == 200, answer.text
    assert sup.get("/health").headers["Custom-Orchestrator-Set"] == "true"
    bad = sup.post("/register", json={"address": "x"})
    assert bad.status_code == 400
    assert "url" in bad.json()["error"]["message"]


def test_history_and_unknown_request(shared_supervisor: SupervisorProcess) -> None:
    history = shared_supervisor.get("/request-history")
    assert history.status_code == 200
    assert isinstance(history.json(), list)
    missing = shared_supervisor.get("/request-history/nope:1")
    assert missing.status_code == 404
    assert "history" in missing.json()["error"]["message"]


def test_index_and_unknown_route(shared_supervisor: SupervisorProcess) -> None:
    assert shared_supervisor.get("/").json()["service"] == "wasmfleet supervisor"
    unknown = shared_supervisor.get("/no/such/route")
    assert unknown.status_code == 404
    assert unknown.json()["error"]["code"] == "not_found"


def test_history_is_bounded(start_supervisor: object, files: FileServer) -> None:
    sup = start_supervisor("hist", args=["--history-size", "5"])  # type: ignore[operator]
    assert sup.deploy(readme_body(files, "h", "fibo")).status_code == 200
    urls = [sup.get(f"/h/modules/fibo/fibo?iterations={n}").json()["resultUrl"] for n in range(8)]
    kept = sup.get("/request-history").json()
    assert [e["request_args"]["iterations"] for e in kept] == ["3", "4", "5", "6", "7"]
    assert httpx.get(urls[0], timeout=10).status_code == 404  # the oldest was dropped
    assert httpx.get(urls[-1], timeout=10).json()["result"] == "13"
