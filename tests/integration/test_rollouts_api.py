"""/api/v1/rollouts on a real orchestrator and supervisor: bad input is a 4xx with a sentence,
nothing is stored for it, and a second rollout of the same deployment is a 409."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.integration.fleet import Fleet, running_fleet


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    with running_fleet(tmp_path_factory.mktemp("rollouts"), ("r-dev", [])) as running:
        running.push("fibo")
        running.push("counter")
        r = running.http.post(
            "/api/v1/deployments",
            json={"name": "fib", "steps": [{"module": "fibo", "function": "fibo"}]},
        )
        assert r.status_code == 201, r.text
        yield running


def _error(r: httpx.Response, status: int) -> str:
    assert r.status_code == status, r.text
    error = r.json()["error"]
    assert error["status"] == status and len(error["message"]) > 20
    return str(error["message"])


@pytest.mark.parametrize(
    ("body", "status", "needle"),
    [
        ([1, 2], 400, "JSON object"),
        ({"to": "fibo"}, 400, "Name the deployment"),
        ({"deployment": "fib"}, 400, "Name the version"),
        ({"deployment": "nope", "to": "fibo"}, 404, "No deployment 'nope'"),
        ({"deployment": "fib", "to": "nothing"}, 404, "No module 'nothing'"),
        ({"deployment": "fib", "to": "counter"}, 400, "runs no copy of module 'counter'"),
        ({"deployment": "fib", "to": "fibo"}, 400, "already runs"),
        ({"deployment": "fib", "to": "fibo", "canary": 0}, 400, "canary"),
        ({"deployment": "fib", "to": "fibo", "waves": "all,1"}, 400, "last wave"),
        ({"deployment": "fib", "to": "fibo", "pause": "later"}, 400, "not a duration"),
        ({"deployment": "fib", "to": "fibo", "speed": 3}, 400, "Unknown rollout option"),
    ],
)
def test_bad_rollouts_are_refused_with_a_sentence(
    fleet: Fleet, body: object, status: int, needle: str
) -> None:
    message = _error(fleet.http.post("/api/v1/rollouts", json=body), status)
    assert needle in message
    assert fleet.http.get("/api/v1/rollouts").json() == []


def test_unknown_rollouts_are_404(fleet: Fleet) -> None:
    assert "No rollout" in _error(fleet.http.get("/api/v1/rollouts/abc"), 404)
    assert "No rollout" in _error(fleet.http.post("/api/v1/rollouts/abc/undo"), 404)
    assert "No deployment" in _error(fleet.http.get("/api/v1/rollouts?deployment=zz"), 404)


def test_versions_that_cannot_work_are_refused_at_planning(fleet: Fleet) -> None:
    """Runs last (it adds versions of fibo): a version without the function the deployment
    calls, and one importing a host function the device lacks, are refused with the reason."""
    import wasmtime

    for wat in (
        '(module (func (export "other") (param i64) (result i64) local.get 0))',
        '(module (import "gpio" "write" (func $w (param i32)))'
        ' (func (export "fibo") (param i64) (result i64) i32.const 1 call $w local.get 0))',
    ):
        r = fleet.http.post(
            "/api/v1/modules",
            data={"name": "fibo"},
            files={"wasm": ("fibo.wasm", bytes(wasmtime.wat2wasm(wat)), "application/wasm")},
        )
        assert r.status_code == 201, r.text
    lacking = _error(
        fleet.http.post("/api/v1/rollouts", json={"deployment": "fib", "to": "fibo@2"}), 400
    )
    assert "'fibo'" in lacking, lacking
    cannot = _error(
        fleet.http.post("/api/v1/rollouts", json={"deployment": "fib", "to": "fibo@3"}), 422
    )
    assert "r-dev" in cannot and "gpio.write" in cannot, cannot
    assert fleet.http.get("/api/v1/rollouts").json() == []
