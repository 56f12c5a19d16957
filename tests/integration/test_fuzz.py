"""Both services fuzzed from their own OpenAPI documents: 0 server errors, every 4xx in shape.

A bounded schemathesis run per service (a fixed number of examples per operation, all
phases that apply); bench/fuzz.py is the long run (docs/fuzzing.md). The orchestrator runs
with auth on: the harness sends its bootstrap admin token as WASMFLEET_TOKEN, a bearer token
(tests/fuzz_hooks.py), so every route is reached past the token check.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

pytest.importorskip("schemathesis", reason="pip install -e '.[dev]' brings schemathesis")

from tests.fuzz_support import STREAMS, FuzzedServices, fuzzed_services, run_schemathesis

MAX_EXAMPLES = 25
"""Examples per operation in the fuzzing phase (the coverage phase adds its boundary cases)."""


@pytest.fixture(scope="module")
def services(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FuzzedServices]:
    """An orchestrator with auth on and a supervisor that joined it (fibo deployed), shared
    by the runs."""
    root = tmp_path_factory.mktemp("fuzz")
    with fuzzed_services(root, root / "admin.token") as fleet:
        yield fleet


@contextlib.contextmanager
def bearer(token: str | None) -> Iterator[None]:
    """WASMFLEET_TOKEN = ``token`` meanwhile: the harness sends it (tests/fuzz_hooks.py)."""
    before = os.environ.get("WASMFLEET_TOKEN")
    os.environ["WASMFLEET_TOKEN"] = token or ""
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("WASMFLEET_TOKEN", None)
        else:
            os.environ["WASMFLEET_TOKEN"] = before


def _admin(services: FuzzedServices) -> dict[str, str]:
    return {"Authorization": f"Bearer {services.admin_token}"}


@pytest.mark.timeout(300)
@pytest.mark.parametrize("service", ["orchestrator", "supervisor"])
def test_fuzzing_finds_no_server_error_and_every_4xx_has_the_error_shape(
    services: FuzzedServices, service: str, tmp_path: Path
) -> None:
    proc = services.orchestrator if service == "orchestrator" else services.supervisor
    token = services.admin_token if service == "orchestrator" else services.control_bearer
    assert token, "auth is on for both services"
    with bearer(token):
        run = run_schemathesis(
            service, proc.url, tmp_path, max_examples=MAX_EXAMPLES, seed=15, timeout=240
        )
    assert run.report, f"schemathesis wrote no report:\n{run.output[-4000:]}"
    assert run.failures == [], "\n".join(run.failures) + "\n" + run.output[-4000:]
    assert run.exit_code == 0, run.output[-4000:]
    # it really ran: every operation of the document (schemathesis reads ``//deploy`` as
    # ``/deploy``: one operation fewer than the paths) but the event streams, hundreds of cases
    assert run.operations >= len(_operations(proc.url)) - 1
    assert run.cases >= run.operations * 5
    assert proc.proc is not None and proc.proc.poll() is None, "the service died under fuzzing"
    if service == "orchestrator":  # the cases got past the token check: admin made changes
        audit = proc.get(
            "/api/v1/audit", params={"actor": "admin", "limit": 5}, headers=_admin(services)
        )
        assert audit.status_code == 200, audit.text
        assert len(audit.json()) >= 1, audit.text


def test_an_encoded_body_is_refused_not_expanded(services: FuzzedServices) -> None:
    import gzip

    bomb = gzip.compress(b"0" * (64 * 1024 * 1024))  # 64 MiB of zeros in ~64 KiB
    for proc, path in (
        (services.supervisor, "/deploy"),
        (services.orchestrator, "/api/v1/heartbeat"),
    ):
        headers = {"Content-Encoding": "gzip", "Content-Type": "application/json"}
        answer = httpx.post(proc.url + path, content=bomb, headers=headers, timeout=30)
        assert answer.status_code == 415, answer.text
        error = answer.json()["error"]
        assert error["status"] == 415 and "Content-Encoding 'gzip'" in error["message"]
    control = {"Authorization": f"Bearer {services.control_bearer}"}
    plain = httpx.post(services.supervisor.url + "/register", json={}, headers=control, timeout=30)
    assert plain.status_code == 400  # no Content-Encoding: read as before


def test_integers_beyond_64_bits_are_refused_at_the_edge(services: FuzzedServices) -> None:
    huge = str(2**70)
    orch = services.orchestrator
    for path in (
        f"/api/v1/logs?after_id={huge}",
        "/api/v1/logs?after_id=-1",
        f"/api/v1/logs?limit={huge}",
        f"/api/v1/executions?limit={huge}",
        f"/api/v1/rollouts?limit={huge}",
        f"/api/v1/modules/fibo@{huge}",
        "/api/v1/modules/fibo@\u00b2",
    ):
        answer = orch.get(path, headers=_admin(services))
        assert answer.status_code == 400, (path, answer.text)
        assert answer.json()["error"]["message"]
    beat = {"name": "nobody", "deployments": {"d": 2**64}}
    answer = orch.post("/api/v1/heartbeat", json=beat, headers=_admin(services))
    assert answer.status_code == 400 and "epoch" in answer.json()["error"]["message"]
    control = {"Authorization": f"Bearer {services.control_bearer}"}
    answer = services.supervisor.deploy(
        {"deploymentId": "x", "modules": [], "epoch": 2**64}, headers=control
    )
    assert answer.status_code == 400, answer.text


def _operations(url: str) -> list[tuple[str, str]]:
    doc = httpx.get(url + "/openapi.json", timeout=30).json()
    methods = {"get", "post", "put", "delete", "patch"}
    streams = re.compile(STREAMS)
    return [
        (p, m)
        for p, item in doc["paths"].items()
        for m in item
        if m in methods and not streams.search(p)
    ]
