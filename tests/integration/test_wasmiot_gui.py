"""The orchestrator driven as the wasmiot web GUI drives it (its fileserv/frontend/index.js).

Each step sends what a tab of the GUI sends — browser FormData as multipart/form-data, JSON
from ``formToObject`` — and reads exactly the keys the GUI reads, so a key it looks up that is
missing or of another type fails here as it would break the page.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import httpx

from tests.integration.fleet import Fleet, running_fleet
from tests.support import MODULES

FIBO = (MODULES / "fibo" / "fibo.wasm").read_bytes()
FormPart = str | tuple[str, bytes, str]


def form_data(parts: list[tuple[str, FormPart]]) -> tuple[bytes, dict[str, str]]:
    """A browser's multipart encoding of FormData entries, in order (fields and files)."""
    boundary = f"----WebKitFormBoundary{uuid.uuid4().hex[:16]}"
    chunks: list[bytes] = []
    for name, value in parts:
        if isinstance(value, str):
            head = f'Content-Disposition: form-data; name="{name}"\r\n\r\n'
            data = value.encode()
        else:
            filename, data, media = value
            head = (
                f'Content-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
                f"Content-Type: {media}\r\n\r\n"
            )
        chunks.append(f"--{boundary}\r\n{head}".encode() + data + b"\r\n")
    chunks.append(f"--{boundary}--\r\n".encode())
    return b"".join(chunks), {"content-type": f"multipart/form-data; boundary={boundary}"}


def submit_form(http: httpx.Client, url: str, parts: list[tuple[str, FormPart]]) -> Any:
    """``submitFormData``: ':id' in the URL from the form's id field, then ``apiCall``."""
    fields = dict(p for p in parts if isinstance(p[1], str))
    if "id" in fields:
        url = url.replace(":id", str(fields["id"]))
        parts = [p for p in parts if p[0] != "id"]
    body, headers = form_data(parts)
    return api_call(http.post(url, content=body, headers=headers))


def api_call(response: httpx.Response) -> Any:
    """utils.js ``apiCall``: 204 is a success without data, else the body must parse as JSON."""
    assert response.is_success, response.text
    if response.status_code == 204:
        return None
    return response.json()


def test_a_gui_session(tmp_path: Path) -> None:
    with running_fleet(tmp_path, ("kitchen", [])) as fleet:
        gui_session(fleet)


def gui_session(fleet: Fleet) -> None:
    http = fleet.http
    # setupResourceListingTab: the three lists.
    for path in ("/file/device", "/file/module", "/file/manifest"):
        assert isinstance(http.get(path).json(), list)

    # #module-form: name + the file input "module" (a browser types .wasm application/wasm).
    created = submit_form(
        http,
        "/file/module",
        [("name", "fibo"), ("module", ("fibo.wasm", FIBO, "application/wasm"))],
    )
    assert isinstance(created["id"], str)

    # setupModuleUploadTab: options are (mod._id, mod.name); selecting one fetches it and
    # generateFunctionDescriptionFieldsFor builds a fieldset per export.
    options = {m["_id"]: m["name"] for m in http.get("/file/module").json()}
    module_id = next(i for i, n in options.items() if n == "fibo")
    module = http.get(f"/file/module/{module_id}").json()[0]
    parts: list[tuple[str, FormPart]] = [("id", module_id)]
    for export in module["exports"]:
        name, count = export["name"], export["parameterCount"]
        fields = {f"param{i}": "integer" for i in range(count)}
        fields |= {"output": "integer", "mountName": "", "method": "GET"}
        parts += [(f"{name}[{key}]", value) for key, value in fields.items()]
    described = submit_form(http, "/file/module/:id/upload", parts)
    assert "paths" in described["description"]

    # setupDeploymentCreateTab: a sequence item is {"device": device._id, "module": mod._id,
    # "func": export name}; formToObject sends name, the select's value and the sequence.
    devices = http.get("/file/device").json()
    modules = http.get("/file/module").json()
    kitchen = next(d for d in devices if d["name"] == "kitchen")
    fibo = next(m for m in modules if m["_id"] == module_id)
    assert any(e["name"] == "fibo" for e in fibo["exports"])
    item = {"device": kitchen["_id"], "module": fibo["_id"], "func": "fibo"}
    deployment = {"name": "gui", "proc0": json.dumps(item), "sequence": [item]}
    dep_id = api_call(http.post("/file/manifest", content=json.dumps(deployment), headers=JSON))
    assert isinstance(dep_id, str)

    # setupDeploymentActionTab: options (x._id, x.name); the form posts {"id"}.
    options = {d["_id"]: d["name"] for d in http.get("/file/manifest").json()}
    assert options[dep_id] == "gui"
    deployed = api_call(
        http.post(f"/file/manifest/{dep_id}", content=json.dumps({"id": dep_id}), headers=JSON)
    )
    assert deployed["deviceResponses"][kitchen["_id"]]["status"] == 200

    # setupExecutionParameterFields: utils.js getStartEndpoint reads the first step's node in
    # fullManifest by device id, the module by id, then the endpoint's parameters.
    shown = http.get(f"/file/manifest/{dep_id}").json()
    start = shown["sequence"][0]
    node = shown["fullManifest"][start["device"]]
    module_name = next(m["name"] for m in node["modules"] if m["id"] == start["module"])
    endpoint = node["endpoints"][module_name][start["func"]]
    assert httpx.URL(endpoint["url"]).host == "127.0.0.1"
    inputs = []
    for param in endpoint["request"]["parameters"]:
        assert param["schema"]["type"] in ("integer", "number", "string")  # an <input> type
        inputs.append((param["name"], "9"))
    if endpoint["request"].get("request_body"):
        first = http.get(f"/file/module/{start['module']}").json()[0]
        assert isinstance(first["mounts"][start["func"]], dict)
    result = submit_form(http, "/execute/:id", [("id", dep_id), *inputs])
    assert result["result"] == "34"  # fibo(9)

    # setupDeploymentUpdateFields: each step's device and module are looked up by _id.
    for step in shown["sequence"]:
        assert any(d["_id"] == step["device"] for d in http.get("/file/device").json())
        assert any(m["_id"] == step["module"] for m in http.get("/file/module").json())
    update = {"id": dep_id, "name": "gui", "proc0": json.dumps(item), "sequence": [item]}
    updated = api_call(
        http.put(f"/file/manifest/{dep_id}", content=json.dumps(update), headers=JSON)
    )
    assert list(updated["deviceResponses"]) == [kitchen["_id"]]

    # The resource listing's delete-all buttons read a JSON answer.
    for path in ("/file/manifest", "/file/module", "/file/device"):
        assert isinstance(http.delete(path).json()["deletedCount"], int)
    reset = http.post("/file/device/discovery/reset", content=b"{}", headers=JSON)
    assert reset.status_code == 204  # as the original answers (the GUI then fails to parse it)


JSON = {"content-type": "application/json"}
