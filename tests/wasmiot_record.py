"""Record what the ORIGINAL wasmiot supervisor accepts and answers, as contract fixtures.

    WASMIOT_SUPERVISOR_DIR=/path/to/wasmiot-supervisor \\
    WASMIOT_SUPERVISOR_PYTHON=/path/to/its/venv/bin/python \\
        python tests/wasmiot_record.py [--out tests/data/wasmiot-supervisor]

Starts, on 127.0.0.1 only, a wasmfleet orchestrator, one wasmfleet supervisor ("ours",
with a simulated camera) and the original ("orig", its camera a JPEG file), the two
supervisors each behind a recording proxy, so that every request either receives (from
the orchestrator or from the other supervisor) and every answer it gives is kept as it
was on the wire. Then it runs the wasmiot user flow per scenario (upload the .wasm,
describe it with bracket fields, POST a ``sequence`` manifest, deploy, execute) and
writes one JSON file per scenario (see tests/data/wasmiot-supervisor/README.md), plus
``refusals.json``: documents the original refuses, with its answers. The contract tests
(tests/unit/test_wasmiot_contract.py) read them on machines without the original.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

import httpx
import wasmtime

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.recording_proxy import Recorder, RecordingProxy
from tests.support import MODULES, OrchestratorProcess, SupervisorProcess
from tests.wasmiot_original import UPSTREAM_COMMIT, OriginalSupervisor, original_paths
from wasmfleet import __version__

OUT = Path(__file__).resolve().parent / "data" / "wasmiot-supervisor"
PROBE_WAT = """
(module
  (func (export "half") (param i32) (result f32)
    (f32.div (f32.convert_i32_s (local.get 0)) (f32.const 2)))
  (func (export "nothing")))
"""
"""A wasmiot-ABI module with a number result and a function without one."""
DESCRIPTIONS: dict[str, dict[str, str]] = {
    "fibo": {"fibo[method]": "GET", "fibo[param0]": "integer", "fibo[output]": "integer"},
    "camera": {
        "take_image[method]": "GET",
        "take_image[output]": "image/jpeg",
        "take_image[mounts][0][name]": "image.jpeg",
        "take_image[mounts][0][stage]": "output",
    },
    "imginfo": {
        "pixels[method]": "POST",
        "pixels[output]": "integer",
        "pixels[mounts][0][name]": "image.jpg",
        "pixels[mounts][0][stage]": "execution",
        "pixels[mounts][0][media_type]": "image/jpeg",
    },
    "probe": {
        "half[method]": "GET",
        "half[param0]": "integer",
        "half[output]": "float",
        "nothing[method]": "GET",
    },
}
"""Each module's description as the wasmiot GUI sends it (bracket form fields)."""
SCENARIOS: list[tuple[str, list[tuple[str, str, str]], dict[str, Any]]] = [
    ("fibo", [("orig", "fibo", "fibo")], {"param0": 7}),
    ("fibo-to-wasmfleet", [("orig", "fibo", "fibo"), ("ours", "fibo", "fibo")], {"param0": 7}),
    ("wasmfleet-to-fibo", [("ours", "fibo", "fibo"), ("orig", "fibo", "fibo")], {"param0": 7}),
    (
        "camera-to-wasmfleet",
        [("orig", "camera", "take_image"), ("ours", "imginfo", "pixels")],
        {},
    ),
    (
        "wasmfleet-camera-to-imginfo",
        [("ours", "camera", "take_image"), ("orig", "imginfo", "pixels")],
        {},
    ),
    ("number", [("orig", "probe", "half")], {"param0": 7}),
    ("void", [("orig", "probe", "nothing")], {}),
]
"""(name, [(device, module, function)...], execution arguments)."""


# -- the flow -------------------------------------------------------------------------------------


def _wasm(name: str) -> bytes:
    if name == "probe":
        return bytes(wasmtime.wat2wasm(PROBE_WAT))
    return (MODULES / name / f"{name}.wasm").read_bytes()


def _register(http: httpx.Client, name: str, port: int) -> None:
    body = {
        "name": name,
        "port": port,
        "properties": {"path": "/", "tls": "0", "address": "127.0.0.1"},
        "addresses": ["127.0.0.1"],
    }
    answer = http.post("/file/device/discovery/register", json=body)
    answer.raise_for_status()


def record(out: Path, work: Path) -> list[Path]:
    """Run every scenario; write the fixtures; the files written."""
    found = original_paths()
    if isinstance(found, str):
        raise SystemExit(found)
    src, python = found
    recorder = Recorder()
    # No POST /register to the devices: a supervisor told the orchestrator's URL registers
    # itself at its own address, and the traffic would bypass its proxy.
    orchestrator = OrchestratorProcess(
        work / "orchestrator", name="orch", args=["--no-register-devices"]
    )
    orchestrator.start()
    written: list[Path] = []
    with contextlib.ExitStack() as stack:
        stack.callback(orchestrator.stop)
        # Polled, not pushing heartbeats: it is registered at its proxy's address, not its own.
        ours = SupervisorProcess(
            work / "ours",
            name="ours",
            args=["--camera", "simulated", "--heartbeat-interval", "0"],
        )
        ours.start()
        stack.callback(ours.stop)
        orig = OriginalSupervisor(src, python, work, logs_to=orchestrator.url + "/device/logs")
        orig.start()
        stack.callback(orig.stop)
        proxies = {
            "ours": RecordingProxy("ours", ours.url, recorder),
            "orig": RecordingProxy("orig", orig.url, recorder),
        }
        for proxy in proxies.values():
            stack.callback(proxy.close)
        http = stack.enter_context(httpx.Client(base_url=orchestrator.url, timeout=120.0))
        for name, proxy in proxies.items():
            _register(http, name, proxy.port)
        devices = {d["name"]: d for d in http.get("/api/v1/devices").json()}
        modules = {}
        for name, fields in DESCRIPTIONS.items():
            wasm = _wasm(name)
            created = http.post(
                "/file/module",
                data={"name": name},
                files={"module": (f"{name}.wasm", wasm, "application/wasm")},
            )
            created.raise_for_status()
            module_id = created.json()["id"]
            http.post(f"/file/module/{module_id}/upload", data=fields).raise_for_status()
            modules[name] = http.get(f"/api/v1/modules/{module_id}").json()
        for scenario, sequence, args in SCENARIOS:
            recorder.scenario = scenario
            fixture = _scenario(scenario, sequence, args, http, devices, modules, proxies)
            fixture["orchestrator"] = orchestrator.url
            fixture["exchanges"] = recorder.take(scenario)
            path = out / f"{scenario}.json"
            path.write_text(json.dumps(fixture, indent=1) + "\n")
            written.append(path)
        path = out / "refusals.json"
        fibo = json.loads((out / "fibo.json").read_text())
        accepted = next(
            e["request"]["body"]
            for e in fibo["exchanges"]
            if e["device"] == "orig" and e["request"]["path"] == "/deploy"
        )
        refusals = _refusals(accepted, http, recorder, devices, proxies, modules)
        refusals["at_call"] = {
            "a to with an upper-case method": _upper_case_hop(out, recorder, proxies["orig"].url)
        }
        path.write_text(json.dumps(refusals, indent=1) + "\n")
        written.append(path)
    return written


def _scenario(
    scenario: str,
    sequence: list[tuple[str, str, str]],
    args: dict[str, Any],
    http: httpx.Client,
    devices: dict[str, Any],
    modules: dict[str, Any],
    proxies: dict[str, RecordingProxy],
) -> dict[str, Any]:
    """The wasmiot user flow for one pipeline: manifest, deploy, execute, remove."""
    manifest = {
        "name": scenario,
        "sequence": [
            {"device": devices[d]["id"], "module": modules[m]["id"], "func": f}
            for d, m, f in sequence
        ],
    }
    deployment_id = _ok(http.post("/file/manifest", json=manifest)).json()
    deployed = http.post(f"/file/manifest/{deployment_id}")
    executed = http.post(f"/api/v1/deployments/{deployment_id}/execute", json=args)
    extra = _extra_calls(scenario, deployment_id, proxies["orig"].url)
    stored = http.get(f"/api/v1/deployments/{deployment_id}").json()
    removed = http.delete(f"/api/v1/deployments/{deployment_id}")
    return {
        "scenario": scenario,
        "recorded_with": {"wasmiot_supervisor_commit": UPSTREAM_COMMIT, "wasmfleet": __version__},
        "devices": {
            name: {
                "id": devices[name]["id"],
                "url": proxy.url,
                "description": http.get(
                    f"{proxy.url}/.well-known/wasmiot-device-description"
                ).json(),
            }
            for name, proxy in proxies.items()
        },
        "modules": {m: _module_fields(modules[m]) for m in sorted({m for _, m, _ in sequence})},
        "manifest": manifest,
        "deployment": {
            "id": deployment_id,
            "epoch": stored["epoch"],
            "plan": stored["plan"],
            "deploy_answer": {"status": deployed.status_code, "body": deployed.json()},
        },
        "execution": {
            "args": args,
            "status": executed.status_code,
            "body": executed.json(),
            **extra,
        },
        "removed": {"status": removed.status_code, "body": removed.json()},
    }


def _module_fields(module: dict[str, Any]) -> dict[str, Any]:
    return {k: module[k] for k in ("id", "name", "sha256", "description", "data_files")}


def _extra_calls(scenario: str, deployment_id: str, orig: str) -> dict[str, Any]:
    """More answers of the original: a bad argument (its failed entry comes with 500)."""
    if scenario != "fibo":
        return {}
    with httpx.Client(timeout=60.0) as client:
        called = client.get(f"{orig}/{deployment_id}/modules/fibo/fibo", params={"param0": "x"})
        entry = client.get(called.json()["resultUrl"])
    return {"bad_argument": {"status": entry.status_code, "entry": entry.json()}}


def _refusals(
    accepted: dict[str, Any],
    http: httpx.Client,
    recorder: Recorder,
    devices: dict[str, Any],
    proxies: dict[str, RecordingProxy],
    modules: dict[str, Any],
) -> dict[str, Any]:
    """What the original answers documents it cannot take: the full wasmfleet document of
    a function (as a wasmfleet supervisor gets it; fibo and imginfo described by their
    committed OpenAPI descriptions, with ``format``s), and a module it cannot fetch."""
    refused: dict[str, Any] = {}
    for name in ("fibo", "imginfo"):  # described as modules/*/description.json describes them
        wasm = (MODULES / name / f"{name}.wasm").read_bytes()
        created = _ok(
            http.post(
                "/file/module",
                data={"name": f"{name}-openapi"},
                files={"module": (f"{name}.wasm", wasm, "application/wasm")},
            )
        )
        module_id = created.json()["id"]
        described = (MODULES / name / "description.json").read_text()
        _ok(http.post(f"/api/v1/modules/{module_id}/description", data={"description": described}))
        modules[f"{name}-openapi"] = {"id": module_id}
    for module, function in (
        ("fibo-openapi", "fibo"),
        ("imginfo-openapi", "pixels"),
        ("probe", "half"),
    ):
        scenario = f"full-{module}"
        recorder.scenario = scenario
        manifest = {
            "name": scenario,
            "sequence": [
                {"device": devices["ours"]["id"], "module": modules[module]["id"], "func": function}
            ],
        }
        deployment_id = _ok(http.post("/file/manifest", json=manifest)).json()
        _ok(http.post(f"/file/manifest/{deployment_id}"))
        _ok(http.delete(f"/api/v1/deployments/{deployment_id}"))
        sent = next(
            e["request"]["body"]
            for e in recorder.take(scenario)
            if e["request"]["method"] == "POST" and e["request"]["path"] == "/deploy"
        )
        refused[f"{module}.{function} in the wasmfleet dialect"] = _post(
            recorder, scenario, proxies["orig"].url, sent
        )
    scenario = "unfetchable"
    document = json.loads(json.dumps(accepted))  # a document it took, its binary moved away
    document["deploymentId"] = "unfetchable"
    document["modules"][0]["urls"]["binary"] += "-missing"
    refused["a module it cannot fetch"] = _post(recorder, scenario, proxies["orig"].url, document)
    return {
        "recorded_with": {"wasmiot_supervisor_commit": UPSTREAM_COMMIT, "wasmfleet": __version__},
        "refused": refused,
    }


def _ok(answer: httpx.Response) -> httpx.Response:
    """``answer`` when it succeeded; else stop with what it said."""
    if answer.status_code >= 400:
        raise SystemExit(f"{answer.request.method} {answer.request.url}: {answer.text}")
    return answer


def _upper_case_hop(out: Path, recorder: Recorder, url: str) -> list[dict[str, Any]]:
    """A document it takes, whose ``to`` has an upper-case method: the call fails when it
    forwards (``requests.GET``). The exchanges: deploy, call, entry."""
    chained = json.loads((out / "fibo-to-wasmfleet.json").read_text())
    document = next(
        e["request"]["body"]
        for e in chained["exchanges"]
        if e["device"] == "orig" and e["request"]["path"] == "/deploy"
    )
    document["deploymentId"] = "upper-case-method"
    document["instructions"]["modules"]["fibo"]["fibo"]["to"]["method"] = "GET"
    recorder.scenario = "upper-case-method"
    with httpx.Client(timeout=60.0) as client:
        client.post(url + "/deploy", json=document)
        called = client.get(f"{url}/upper-case-method/modules/fibo/fibo", params={"param0": 7})
        client.get(called.json()["resultUrl"])
    return recorder.take("upper-case-method")


def _post(recorder: Recorder, scenario: str, url: str, document: dict[str, Any]) -> Any:
    """POST ``document`` to the original's /deploy; the exchange as the proxy saw it."""
    recorder.scenario = scenario
    with httpx.Client(timeout=60.0) as client:
        client.post(url + "/deploy", json=document)
    (exchange,) = recorder.take(scenario)
    return exchange


def main(argv: list[str] | None = None) -> int:
    """Record the fixtures; print the files written."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT, help=f"where to write (default {OUT})")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="wasmiot-record-") as tmp:
        for path in record(args.out, Path(tmp)):
            print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
