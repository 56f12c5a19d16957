"""The original wasmiot supervisor's recorded answers, replayed to today's code on loopback.

tests/data/wasmiot-supervisor/ holds what the real original (bd31c95) answered in mixed
fleets (tests/wasmiot_record.py). Without the original present:

- the orchestrator's execution walk (orchestrator/execution.py) runs against two loopback
  servers that answer what the original and our supervisor answered then, and shows each
  step's device, function and result as it did while recording;
- a real wasmfleet supervisor is sent what the original sent it when it forwarded a result
  (its query parameter, or its output file named after its own output mount) and answers.
"""

from __future__ import annotations

import asyncio
import json
import re
import threading
from collections import defaultdict, deque
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest

from tests.support import REPO, FileServer, SupervisorProcess, module_file_server
from wasmfleet.core.lifecycle import DeploymentStatus
from wasmfleet.orchestrator.execution import ExecutionFailed, ExecutionService
from wasmfleet.orchestrator.store import (
    DeploymentRecord,
    ExecutionRecord,
    open_store,
    sqlite_url,
)

DATA = REPO / "tests" / "data" / "wasmiot-supervisor"
SCENARIOS = sorted(p.stem for p in DATA.glob("*.json") if p.stem != "refusals")
Key = tuple[str, str, tuple[tuple[str, str], ...]]


def _fixture(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((DATA / f"{name}.json").read_text())
    return data


class ReplayServer:
    """Answers each (method, path, query) with what was recorded for it, in order (the last
    answer again when they run out); 404 for anything never recorded."""

    def __init__(self, exchanges: list[dict[str, Any]], rewrite: Any) -> None:
        self.answers: dict[Key, deque[dict[str, Any]]] = defaultdict(deque)
        for exchange in exchanges:
            request = exchange["request"]
            key = (request["method"], request["path"], _query(request["query"]))
            self.answers[key].append(rewrite(exchange["response"]))
        self.seen: list[Key] = []
        replay = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _answer(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                if length:
                    self.rfile.read(length)
                split = urlsplit(self.path)
                key = (self.command, split.path, _query(parse_qsl(split.query)))
                replay.seen.append(key)
                queue = replay.answers.get(key)
                if not queue:
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                answer = queue.popleft() if len(queue) > 1 else queue[0]
                payload = json.dumps(answer["body"]).encode()
                self.send_response(answer["status"])
                self.send_header("Content-Type", answer["content_type"] or "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_DELETE = _answer

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        """Stop answering."""
        self.server.shutdown()
        self.server.server_close()


def _query(pairs: list[Any]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((str(k), str(v)) for k, v in pairs))


def _rewriter(urls: dict[str, str]) -> Any:
    """Replace recorded device URLs (and only those) everywhere in a JSON value."""
    pattern = re.compile("|".join(re.escape(u) for u in sorted(urls, key=len, reverse=True)))

    def rewrite(value: Any) -> Any:
        text = json.dumps(value)
        return json.loads(pattern.sub(lambda m: urls[m.group(0)], text))

    return rewrite


@pytest.fixture
def replayed(
    request: pytest.FixtureRequest,
) -> Iterator[tuple[dict[str, Any], Any, dict[str, str]]]:
    """A scenario's fixture, a rewriter to the replay servers, and the servers' URLs."""
    fx = _fixture(request.param)
    servers: dict[str, ReplayServer] = {}
    recorded = {name: d["url"] for name, d in fx["devices"].items()}
    placeholder = {url: f"@@{name}@@" for name, url in recorded.items()}
    to_placeholder = _rewriter(placeholder)
    for name in recorded:
        mine = [e for e in to_placeholder(fx["exchanges"]) if e["device"] == name]
        servers[name] = ReplayServer(mine, lambda v: v)
    urls = {name: server.url for name, server in servers.items()}
    final = _rewriter({f"@@{name}@@": url for name, url in urls.items()})
    for server in servers.values():
        for key, queue in server.answers.items():
            server.answers[key] = deque(final(a) for a in queue)
    try:
        yield fx, lambda value: final(to_placeholder(value)), urls
    finally:
        for server in servers.values():
            server.close()


def _execute(
    fx: dict[str, Any], rewrite: Any, args: dict[str, Any], tmp_path: Path
) -> ExecutionRecord:
    """Run the recorded deployment with today's ExecutionService against the replay."""
    sent = {
        e["device"]: rewrite(e["request"]["body"])
        for e in fx["exchanges"]
        if e["request"]["method"] == "POST" and e["request"]["path"] == "/deploy"
    }
    store = open_store(sqlite_url(tmp_path / "data"))
    deployment = fx["deployment"]
    record = store.add_deployment(
        DeploymentRecord(
            name=fx["scenario"],
            manifest=fx["manifest"],
            id=deployment["id"],
            status=DeploymentStatus.ACTIVE,
            plan=deployment["plan"],
            documents=sent,
            epoch=deployment["epoch"],
        )
    )

    async def run() -> ExecutionRecord:
        async with httpx.AsyncClient() as client:
            service = ExecutionService(store, client, timeout_s=30.0, retries=3)
            pairs = [(k, str(v)) for k, v in args.items()]
            try:
                return await service.execute(record, pairs, {})
            except ExecutionFailed as failed:
                return failed.execution

    return asyncio.run(run())


@pytest.mark.parametrize("replayed", SCENARIOS, indirect=True)
def test_the_execution_walk_reads_the_originals_answers(
    replayed: tuple[dict[str, Any], Any, dict[str, str]], tmp_path: Path
) -> None:
    fx, rewrite, _urls = replayed
    execution = _execute(fx, rewrite, fx["execution"]["args"], tmp_path)
    expected = rewrite(fx["execution"]["body"])
    shown = [(s["device"], s["function"], s["result"], s["success"]) for s in execution.steps]
    assert shown == [
        (s["device"], s["function"], s["result"], s["success"]) for s in expected["steps"]
    ]
    assert execution.success and execution.result == expected["result"]


@pytest.mark.parametrize("replayed", ["fibo"], indirect=True)
def test_a_failed_call_on_the_original_shows_its_reason(
    replayed: tuple[dict[str, Any], Any, dict[str, str]], tmp_path: Path
) -> None:
    # The original answers 200 with a resultUrl, then the entry with HTTP 500.
    fx, rewrite, _urls = replayed
    execution = _execute(fx, rewrite, {"param0": "x"}, tmp_path)
    assert not execution.success
    (step,) = execution.steps
    assert (step["device"], step["success"]) == ("orig", False)
    assert step["result"] == "invalid literal for int() with base 10: 'x'"
    assert execution.error == (
        "Step 1 (fibo on orig) failed: invalid literal for int() with base 10: 'x'"
    )


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FileServer]:
    with module_file_server(tmp_path_factory.mktemp("files")) as server:
        yield server


@pytest.mark.parametrize(
    ("scenario", "payload"),
    [("fibo-to-wasmfleet", None), ("camera-to-wasmfleet", REPO / "tests/data/coffee.jpg")],
)
def test_our_supervisor_takes_what_the_original_forwards(
    scenario: str, payload: Path | None, files: FileServer, tmp_path: Path
) -> None:
    fx = _fixture(scenario)
    (forwarded,) = [  # the original's hop, as it sent it (python-requests)
        e
        for e in fx["exchanges"]
        if e["device"] == "ours" and e["request"]["user_agent"].startswith("python-requests")
    ]
    document = next(
        e["request"]["body"]
        for e in fx["exchanges"]
        if e["device"] == "ours" and e["request"]["path"] == "/deploy"
    )
    for module in document["modules"]:  # the binaries, from a file server instead
        name = module["name"]
        module["urls"] = {"binary": files.url(f"{name}/{name}.wasm"), "other": {}}
        module.pop("sha256", None)
    sup = SupervisorProcess(tmp_path / "ours", name="ours").start()
    try:
        assert sup.deploy(document).status_code == 200
        request = forwarded["request"]
        parts = (request["body"] or {}).get("multipart") or []
        sent = {
            p["name"]: (p["filename"], payload.read_bytes() if payload else b"", p["content_type"])
            for p in parts
        }
        answer = httpx.request(
            request["method"],
            sup.url + request["path"],
            params=request["query"],
            files=sent or None,
            timeout=30.0,
        )
    finally:
        sup.stop()
    recorded = forwarded["response"]
    assert answer.status_code == recorded["status"] == 200, answer.text
    assert answer.json()["result"] == recorded["body"]["result"]
    if parts:  # named after the original's output mount, not the function's execution mount
        assert [p["name"] for p in parts] == ["image.jpeg"]
