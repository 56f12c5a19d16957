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
import email.parser
import json
import sys
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import wasmtime

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

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
RECORDED_PATHS = ("/deploy", "/modules/", "/request-history", "/module_results/")
TEXT_KEPT = 400
"""Characters kept of a text body (the rest of an HTML error page is its debugger)."""


# -- a recording reverse proxy ----------------------------------------------------------------


class Recorder:
    """Everything the proxies saw, in order, with the scenario it belongs to."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.exchanges: list[dict[str, Any]] = []
        self.scenario = ""

    def add(self, exchange: dict[str, Any]) -> None:
        """Keep one request and its answer (only the calls the contract is about)."""
        if not any(part in exchange["request"]["path"] for part in RECORDED_PATHS):
            return
        with self.lock:
            self.exchanges.append({"scenario": self.scenario, **exchange})

    def take(self, scenario: str) -> list[dict[str, Any]]:
        """The exchanges of ``scenario``, removed from the record."""
        with self.lock:
            mine = [e for e in self.exchanges if e["scenario"] == scenario]
            self.exchanges = [e for e in self.exchanges if e["scenario"] != scenario]
        for exchange in mine:
            del exchange["scenario"]
        return mine


def _body(content_type: str, data: bytes) -> Any:
    """A body as the fixtures keep it: JSON parsed, multipart summarised, text, or a size."""
    kind = content_type.split(";")[0].strip().lower()
    if not data:
        return None
    if kind == "application/json":
        try:
            return json.loads(data)
        except ValueError:
            pass
    if kind == "multipart/form-data":
        message = email.parser.BytesParser().parsebytes(
            b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + data
        )
        return {
            "multipart": [
                {
                    "name": part.get_param("name", header="content-disposition"),
                    "filename": part.get_filename(),
                    "content_type": part.get_content_type(),
                    "bytes": len(part.get_payload(decode=True) or b""),
                }
                for part in message.walk()
                if not part.is_multipart()
            ]
        }
    if kind.startswith("text/") or kind in ("application/xml", ""):
        text = data.decode("utf-8", "replace")
        if len(text) > TEXT_KEPT:  # Flask's error page: its <title> names the exception
            return {"text": text[:TEXT_KEPT], "chars": len(text)}
        return {"text": text}
    return {"bytes": len(data), "content_type": kind}


class RecordingProxy:
    """A reverse proxy on 127.0.0.1 in front of one device that records its traffic."""

    def __init__(self, device: str, target: str, recorder: Recorder) -> None:
        self.device = device
        self.target = target.rstrip("/")
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _forward(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                data = self.rfile.read(length) if length else b""
                headers = {
                    k: v
                    for k, v in self.headers.items()
                    if k.lower() not in ("content-length", "connection", "transfer-encoding")
                }
                with httpx.Client(timeout=60.0) as client:
                    answer = client.request(
                        self.command, proxy.target + self.path, content=data, headers=headers
                    )
                split = urlsplit(self.path)
                ctype = self.headers.get("content-type", "")
                recorder.add(
                    {
                        "device": proxy.device,
                        "request": {
                            "method": self.command,
                            "path": split.path,
                            "query": parse_qsl(split.query, keep_blank_values=True),
                            "content_type": ctype.split(";")[0] or None,
                            "user_agent": self.headers.get("user-agent", ""),
                            "body": _body(ctype, data),
                        },
                        "response": {
                            "status": answer.status_code,
                            "content_type": answer.headers.get("content-type", "").split(";")[0],
                            "body": _body(answer.headers.get("content-type", ""), answer.content),
                        },
                    }
                )
                self.send_response(answer.status_code)
                for key, value in answer.headers.items():
                    if key.lower() not in ("content-length", "connection", "transfer-encoding"):
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(answer.content)))
                self.end_headers()
                self.wfile.write(answer.content)

            do_GET = do_POST = do_PUT = do_DELETE = _forward

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        """The proxy's base URL (the device's address as the fleet knows it)."""
        return f"http://127.0.0.1:{self.port}"

    def close(self) -> None:
        """Stop serving."""
        self.server.shutdown()
        self.server.server_close()


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
            manifest = {
                "name": scenario,
                "sequence": [
                    {"device": devices[d]["id"], "module": modules[m]["id"], "func": f}
                    for d, m, f in sequence
                ],
            }
            created = http.post("/file/manifest", json=manifest)
            created.raise_for_status()
            deployment_id = created.json()
            deployed = http.post(f"/file/manifest/{deployment_id}")
            executed = http.post(f"/api/v1/deployments/{deployment_id}/execute", json=args)
            extra = _extra_calls(scenario, http, deployment_id, proxies["orig"].url)
            record_ = http.get(f"/api/v1/deployments/{deployment_id}").json()
            removed = http.delete(f"/api/v1/deployments/{deployment_id}")
            fixture = {
                "scenario": scenario,
                "recorded_with": {
                    "wasmiot_supervisor_commit": UPSTREAM_COMMIT,
                    "wasmfleet": __version__,
                },
                "orchestrator": orchestrator.url,
                "devices": {
                    name: {
                        "id": devices[name]["id"],
                        "url": proxies[name].url,
                        "description": http.get(
                            f"{proxies[name].url}/.well-known/wasmiot-device-description"
                        ).json(),
                    }
                    for name in proxies
                },
                "modules": {
                    m: _module_fields(modules[m]) for m in sorted({m for _, m, _ in sequence})
                },
                "manifest": manifest,
                "deployment": {
                    "id": deployment_id,
                    "epoch": record_["epoch"],
                    "plan": record_["plan"],
                    "deploy_answer": {"status": deployed.status_code, "body": deployed.json()},
                },
                "execution": {
                    "args": args,
                    "status": executed.status_code,
                    "body": executed.json(),
                    **extra,
                },
                "removed": {"status": removed.status_code, "body": removed.json()},
                "exchanges": recorder.take(scenario),
            }
            path = out / f"{scenario}.json"
            path.write_text(json.dumps(fixture, indent=1, sort_keys=False) + "\n")
            written.append(path)
        path = out / "refusals.json"
        fibo = json.loads((out / "fibo.json").read_text())
        accepted = next(
            e["request"]["body"]
            for e in fibo["exchanges"]
            if e["device"] == "orig" and e["request"]["path"] == "/deploy"
        )
        refusals = _refusals(accepted, http, recorder, devices, proxies, modules)
        path.write_text(json.dumps(refusals, indent=1) + "\n")
        written.append(path)
    return written


def _module_fields(module: dict[str, Any]) -> dict[str, Any]:
    return {k: module[k] for k in ("id", "name", "sha256", "description", "data_files")}


def _extra_calls(
    scenario: str, http: httpx.Client, deployment_id: str, orig: str
) -> dict[str, Any]:
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
