"""Epochs fence stale copies of a deployment; leases stop stateful functions without contact."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from tests.integration.fake_orchestrator import running_orchestrator
from tests.support import FileServer, SupervisorProcess, chain_fibo_to, readme_body, wait_until

Start = Callable[..., SupervisorProcess]
EPOCH = "X-Wasmfleet-Epoch"


def fibo(files: FileServer, dep_id: str, epoch: int | None) -> dict[str, Any]:
    """fibo deployed as ``dep_id`` at ``epoch`` (None: no epoch key, as wasmiot sends)."""
    body = readme_body(files, dep_id, "fibo")
    if epoch is not None:
        body["epoch"] = epoch
    return body


def counter(files: FileServer, dep_id: str, lease_s: float, epoch: int = 1) -> dict[str, Any]:
    """counter with ``count`` stateful under a lease; ``reset`` and ``add`` are not."""
    body = readme_body(files, dep_id, "counter")
    body["epoch"] = epoch
    body["fencing"] = {
        "lease_s": lease_s,
        "stateful": [{"module": "counter", "function": "count"}],
    }
    return body


def call(sup: SupervisorProcess, dep_id: str, epoch: int | str | None = None) -> httpx.Response:
    headers = {EPOCH: str(epoch)} if epoch is not None else {}
    return sup.get(f"/{dep_id}/modules/fibo/fibo?iterations=7", headers=headers)


def remove(sup: SupervisorProcess, dep_id: str) -> httpx.Response:
    return httpx.delete(f"{sup.url}/deploy/{dep_id}", timeout=30)


def error(response: httpx.Response) -> dict[str, Any]:
    body: dict[str, Any] = response.json()["error"]
    return body


def test_epochs_from_heartbeats_documents_and_callers(
    start_supervisor: Start, files: FileServer
) -> None:
    with running_orchestrator() as orch:
        sup = start_supervisor("fence", args=["--orchestrator", orch.url])
        assert sup.deploy(fibo(files, "f", 1)).status_code == 200
        assert call(sup, "f").json()["result"] == "13"
        assert [d["epoch"] for d in sup.get("/deploy").json()] == [1]

        # The orchestrator moved the work elsewhere: epoch 2 exists.
        orch.answer_heartbeats(epochs={"f": 2})
        assert wait_until(lambda: call(sup, "f").status_code == 409, timeout=10)
        refused = error(call(sup, "f"))
        assert refused["code"] == "fenced"
        assert refused["message"] == (
            "Deployment f on device fence is at epoch 1, but epoch 2 exists: this copy is "
            "stale and refuses calls (the orchestrator moved its work elsewhere)."
        )
        status = sup.get("/api/v1/status").json()
        assert status["fences"] == {"f": 2}
        assert status["epochs"] == {"f": 1}
        orch.answer_heartbeats()

        # Refused calls leave no history entry.
        assert not [e for e in sup.get("/request-history").json() if e["success"] is False]

        # The current document is accepted and served again.
        assert sup.deploy(fibo(files, "f", 2)).status_code == 200
        assert call(sup, "f").status_code == 200
        assert call(sup, "f", epoch=2).status_code == 200

        # A caller at an older epoch is refused; the copy stays servable.
        older = call(sup, "f", epoch=1)
        assert older.status_code == 409
        assert error(older)["code"] == "fenced"
        assert "comes from epoch 1" in error(older)["message"]
        assert call(sup, "f").status_code == 200

        # A caller at a newer epoch raises the fence: this copy is stale from now on.
        newer = call(sup, "f", epoch=3)
        assert newer.status_code == 409
        assert "is at epoch 2, but epoch 3 exists" in error(newer)["message"]
        assert call(sup, "f").status_code == 409
        assert sup.get("/api/v1/status").json()["fences"] == {"f": 3}

        # Replaying an old document is refused at POST /deploy.
        replay = sup.deploy(fibo(files, "f", 1))
        assert replay.status_code == 409
        assert error(replay)["code"] == "fenced"
        assert "a newer epoch 3 was already seen" in error(replay)["message"]
        assert call(sup, "f").status_code == 409  # the installed copy is unchanged

        bad = call(sup, "f", epoch="three")
        assert bad.status_code == 400
        assert EPOCH in error(bad)["message"]

        assert sup.deploy(fibo(files, "f", 3)).status_code == 200
        assert call(sup, "f", epoch=3).json()["result"] == "13"


def test_unfenced_documents_and_removal(start_supervisor: Start, files: FileServer) -> None:
    sup = start_supervisor("nofence")
    # wasmiot documents carry no epoch: never fenced, callers without a header are served.
    assert sup.deploy(fibo(files, "w", None)).status_code == 200
    assert call(sup, "w").status_code == 200
    assert call(sup, "w", epoch=0).status_code == 200
    assert sup.deploy(fibo(files, "w", None)).status_code == 200  # redeploy at 0 is fine
    assert [d["epoch"] for d in sup.get("/deploy").json()] == [0]

    # Removing a deployment keeps its fence: an older document replayed later is refused.
    assert sup.deploy(fibo(files, "r", 2)).status_code == 200
    assert remove(sup, "r").status_code == 200
    for stale in (1, None):
        replay = sup.deploy(fibo(files, "r", stale))
        assert replay.status_code == 409, replay.text
        assert "a newer epoch 2 was already seen" in error(replay)["message"]
    assert sup.deploy(fibo(files, "r", 2)).status_code == 200
    assert call(sup, "r").status_code == 200


def test_fences_survive_sigkill(start_supervisor: Start, files: FileServer, tmp_path: Path) -> None:
    data = tmp_path / "fenced-data"
    sup = start_supervisor("fence-kill", data_dir=data)
    assert sup.deploy(fibo(files, "k", 2)).status_code == 200
    assert sup.deploy(counter(files, "c", lease_s=30.0)).status_code == 200
    assert sup.get("/c/modules/counter/count").status_code == 200
    assert call(sup, "k", epoch=5).status_code == 409  # fence k -> 5
    assert sup.deploy(fibo(files, "gone", 4)).status_code == 200
    assert remove(sup, "gone").status_code == 200
    assert (data / "fences.json").is_file()

    sup.kill()
    again = start_supervisor("fence-kill", data_dir=data, port=sup.port)

    assert {d["deploymentId"]: d["epoch"] for d in again.get("/deploy").json()} == {"c": 1, "k": 2}
    refused = call(again, "k")
    assert refused.status_code == 409
    assert "epoch 5 exists" in error(refused)["message"]
    assert again.deploy(fibo(files, "k", 4)).status_code == 409
    assert again.deploy(fibo(files, "gone", 3)).status_code == 409
    assert again.get("/api/v1/status").json()["fences"] == {"c": 1, "gone": 4, "k": 5}
    # A restart is no proof of contact: the restored lease starts expired.
    stateful = again.get("/c/modules/counter/count")
    assert stateful.status_code == 503
    assert error(stateful)["code"] == "lease_expired"
    assert again.get("/c/modules/counter/reset").status_code == 200

    assert again.deploy(fibo(files, "k", 5)).status_code == 200
    assert call(again, "k").json()["result"] == "13"


def test_chain_hops_carry_the_epoch(start_supervisor: Start, files: FileServer) -> None:
    with running_orchestrator() as next_hop:  # records the hop's headers
        a = start_supervisor("chain-epoch-a")
        for epoch, header in ((2, "2"), (None, None)):
            body = fibo(files, f"h{epoch}", epoch)
            body["instructions"]["modules"]["fibo"]["fibo"]["to"] = (
                next_hop.url + "/x/modules/next/step"
            )
            assert a.deploy(body).status_code == 200
            assert call(a, f"h{epoch}").status_code == 200
            hop = next_hop.requests_to("/x/modules/next/step")[-1]
            assert hop.headers.get(EPOCH.lower()) == header
            assert hop.query == {"param0": "13"}

    # A stale copy downstream refuses the hop, and the caller sees the chain failure.
    b = start_supervisor("chain-epoch-b")
    assert b.deploy(fibo(files, "pipe", 1)).status_code == 200
    body = fibo(files, "pipe", 2)
    chain_fibo_to(body, b.url)
    assert a.deploy(body).status_code == 200
    failed = call(a, "pipe")
    assert failed.status_code == 502
    assert error(failed)["code"] == "chain_failed"
    assert "(409)" in error(failed)["message"]
    assert "is at epoch 1, but epoch 2 exists" in error(failed)["message"]
    entry = a.get("/request-history").json()[-1]
    assert entry["chain_status"] == "refused"  # the hop certainly did not run
    assert b.get("/api/v1/status").json()["fences"] == {"pipe": 2}
    assert call(b, "pipe").status_code == 409

    assert b.deploy(fibo(files, "pipe", 2)).status_code == 200
    chained = call(a, "pipe")
    assert chained.status_code == 200, chained.text
    assert chained.json()["result"] == "233"


def test_hop_statuses_say_whether_the_next_step_may_have_run(
    start_supervisor: Start, files: FileServer
) -> None:
    a = start_supervisor("hop-status")
    body = fibo(files, "gone", 1)
    body["instructions"]["modules"]["fibo"]["fibo"]["to"] = (
        "http://127.0.0.1:9/x/modules/next/step"  # nothing listens on port 9
    )
    assert a.deploy(body).status_code == 200
    failed = call(a, "gone")
    assert failed.status_code == 502
    assert "Could not reach the next hop" in error(failed)["message"]
    assert not error(failed)["message"].endswith(": .")
    assert a.get("/request-history").json()[-1]["chain_status"] == "unreachable"


def test_removing_a_stale_copy_raises_its_fence(start_supervisor: Start, files: FileServer) -> None:
    sup = start_supervisor("delete-epoch")
    assert sup.deploy(fibo(files, "old", 1)).status_code == 200
    assert httpx.delete(f"{sup.url}/deploy/old", params={"epoch": 3}).status_code == 200
    assert sup.get("/api/v1/status").json()["fences"] == {"old": 3}
    replay = sup.deploy(fibo(files, "old", 2))
    assert replay.status_code == 409 and "newer epoch 3" in error(replay)["message"]
    bad = httpx.delete(f"{sup.url}/deploy/old", params={"epoch": "x"})
    assert bad.status_code == 400 and "whole number" in error(bad)["message"]


def test_stateful_functions_need_a_live_lease(start_supervisor: Start, files: FileServer) -> None:
    with running_orchestrator() as orch:
        sup = start_supervisor("lease", args=["--orchestrator", orch.url])
        assert sup.deploy(counter(files, "c", lease_s=1.5)).status_code == 200

        def count() -> httpx.Response:
            return sup.get("/c/modules/counter/count")

        assert count().status_code == 200
        lease = sup.get("/api/v1/status").json()["leases"]["c"]
        assert lease["valid"] is True
        assert lease["lease_s"] == 1.5
        assert lease["stateful"] == ["counter.count"]

        for trouble in ({"status": 500}, {"known": False}):
            orch.answer_heartbeats(**trouble)  # type: ignore[arg-type]
            assert wait_until(lambda: count().status_code == 503, timeout=10), trouble
            refused = error(count())
            assert refused["code"] == "lease_expired"
            assert refused["message"].startswith("counter.count is stateful and this device")
            assert (
                "(lease 1.5 s): refusing to serve so that no two devices serve it at once"
                in (refused["message"])
            )
            assert sup.get("/api/v1/status").json()["leases"]["c"]["valid"] is False
            # Functions that are not stateful are served all along.
            assert sup.get("/c/modules/counter/reset").status_code == 200
            assert sup.get("/c/modules/counter/add?n=2").json()["result"] == "2"

            orch.answer_heartbeats()
            assert wait_until(lambda: count().status_code == 200, timeout=10), trouble


def test_lease_without_any_orchestrator_runs_out(
    start_supervisor: Start, files: FileServer
) -> None:
    sup = start_supervisor("lease-alone")
    assert sup.deploy(counter(files, "solo", lease_s=0.5)).status_code == 200
    assert wait_until(lambda: sup.get("/solo/modules/counter/count").status_code == 503, timeout=10)
    # Receiving the document again grants a fresh lease.
    assert sup.deploy(counter(files, "solo", lease_s=60)).status_code == 200
    assert sup.get("/solo/modules/counter/count").status_code == 200
