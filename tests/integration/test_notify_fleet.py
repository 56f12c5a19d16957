"""Notifications from a real orchestrator process: the test route, a rollout rolled back and
a device declared dead each reach a real webhook receiver and a real SMTP server, and
GET /api/v1/notifications records every delivery."""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import wasmtime

from tests.integration.fleet import Fleet, running_fleet
from tests.integration.notify_receivers import Mailbox, Receiver
from tests.support import OrchestratorProcess, wait_until

TRAPS = bytes(
    wasmtime.wat2wasm(
        '(module (memory (export "memory") 1)'
        ' (func (export "fibo") (param i64) (result i64) unreachable))'
    )
)
SECRET = "hook-secret"


class NotifyFleet:
    def __init__(self, fleet: Fleet, hooks: Receiver, box: Mailbox) -> None:
        self.fleet, self.hooks, self.box = fleet, hooks, box


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NotifyFleet]:
    root = tmp_path_factory.mktemp("notify")
    with Receiver() as hooks, Mailbox() as box:
        args = [
            "--notify-webhook", f"{hooks.url}/fleet",
            "--notify-webhook-secret", SECRET,
            "--notify-email", "ops@example.org",
            "--smtp-url", f"smtp://127.0.0.1:{box.port}",
            "--smtp-from", "fleet@example.org",
        ]  # fmt: skip
        with running_fleet(root, ("a", []), ("b", []), orchestrator_args=args) as fleet:
            fleet.push("fibo")
            r = fleet.http.post(
                "/api/v1/modules",
                data={"name": "fibo"},
                files={"wasm": ("fibo.wasm", TRAPS, "application/wasm")},
            )
            assert r.status_code == 201, r.text
            manifest = {
                "name": "daemon",
                "steps": [{"module": "fibo@1", "function": "fibo", "replicas": "all"}],
            }
            r = fleet.http.post("/api/v1/deployments", json=manifest)
            assert r.status_code == 201, r.text
            yield NotifyFleet(fleet, hooks, box)


def test_the_test_route_reaches_every_global_target(setup: NotifyFleet) -> None:
    r = setup.fleet.http.post("/api/v1/notifications/test")
    assert r.status_code == 200, r.text
    answer = r.json()
    assert answer["ok"] is True
    assert sorted((d["channel"], d["target"], d["status"]) for d in answer["deliveries"]) == [
        ("email", "ops@example.org", "sent"),
        ("webhook", f"{setup.hooks.url}/fleet", "sent"),
    ]
    hook = setup.hooks.wait("test")
    digest = hmac.new(SECRET.encode(), hook.body, hashlib.sha256).hexdigest()
    assert hook.headers["X-Wasmfleet-Signature"] == f"sha256={digest}"
    assert setup.box.wait("ops@example.org")["Subject"] == "[wasmfleet] wasmfleet test notification"


def test_the_test_route_takes_other_targets_and_refuses_bad_ones(setup: NotifyFleet) -> None:
    http = setup.fleet.http
    r = http.post("/api/v1/notifications/test", json={"webhook": [f"{setup.hooks.url}/other"]})
    assert r.status_code == 200, r.text
    assert [d["target"] for d in r.json()["deliveries"]] == [f"{setup.hooks.url}/other"]
    for body, needle in (
        ({"webhook": ["file:///etc/passwd"]}, "must be an http:// or https:// URL"),
        ({"email": ["root"]}, "must be an e-mail address"),
        ({"sms": ["+358"]}, "unknown key(s) sms"),
    ):
        r = http.post("/api/v1/notifications/test", json=body)
        assert r.status_code == 400, r.text
        assert needle in r.json()["error"]["message"]
    r = http.post("/api/v1/notifications/test", content=b"{not json")
    assert r.status_code == 400, r.text


def _mails(setup: NotifyFleet, event: str) -> list[Any]:
    return [m for m in setup.box.to("ops@example.org") if m["X-Wasmfleet-Event"] == event]


class Calls:
    """Calls every copy straight on its device until stopped (bounded), counting calls."""

    def __init__(self, fleet: Fleet, dep_id: str) -> None:
        self.urls = {n: f"{s.url}/{dep_id}/modules/fibo/fibo" for n, s in fleet.supervisors.items()}
        self.calls = dict.fromkeys(self.urls, 0)
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._run, args=(n,)) for n in self.urls]

    def _run(self, device: str) -> None:
        with httpx.Client(timeout=5.0) as client:
            for _ in range(20_000):
                if self.stop.is_set():
                    return
                with contextlib.suppress(httpx.HTTPError):
                    client.get(self.urls[device], params={"iterations": 5})
                self.calls[device] += 1

    def __enter__(self) -> Calls:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=30)


def test_a_rollout_rolled_back_is_notified(setup: NotifyFleet) -> None:
    fleet = setup.fleet
    dep_id = fleet.http.get("/api/v1/deployments/daemon").json()["id"]
    with Calls(fleet, dep_id) as load:
        assert wait_until(lambda: min(load.calls.values()) >= 3, timeout=20)
        r = fleet.http.post(
            "/api/v1/rollouts",
            json={"deployment": "daemon", "to": "fibo@2", "canary": 1, "pause": "1s",
                  "min_calls": 3},
        )  # fmt: skip
        assert r.status_code == 201, r.text
        rollout_id = r.json()["id"]
        hook = setup.hooks.wait("rollout.rolled_back", timeout=60)
    rollout = fleet.http.get(f"/api/v1/rollouts/{rollout_id}").json()
    assert rollout["status"] == "rolled_back", rollout
    assert hook.json["data"]["rollout"] == rollout_id
    assert hook.json["data"]["deployment"] == "daemon"
    assert hook.json["data"]["reason"] == rollout["reason"]
    assert rollout_id in hook.json["subject"]
    assert wait_until(lambda: _mails(setup, "rollout.rolled_back"), timeout=20)
    assert len(setup.hooks.events("rollout.rolled_back")) == 1


def test_a_dead_device_is_notified_once(setup: NotifyFleet) -> None:
    setup.fleet.supervisors["b"].kill()
    hook = setup.hooks.wait("device.dead", timeout=30)
    assert hook.json["data"]["device"] == "b"
    assert "b" in hook.json["subject"] and hook.json["data"]["reason"]
    assert wait_until(lambda: _mails(setup, "device.dead"), timeout=20)
    assert [h.json["data"]["device"] for h in setup.hooks.events("device.dead")] == ["b"]


def test_every_delivery_is_listed(setup: NotifyFleet) -> None:
    r = setup.fleet.http.get("/api/v1/notifications", params={"limit": 1000})
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    assert body["targets"] == {
        "webhook": [f"{setup.hooks.url}/fleet"],
        "email": ["ops@example.org"],
    }
    assert body["smtp"] == f"smtp://127.0.0.1:{setup.box.port}"
    assert body["signed"] is True
    listed = [(d["event"], d["channel"], d["status"]) for d in body["deliveries"]]
    for event in ("test", "rollout.rolled_back", "device.dead"):
        for channel in ("webhook", "email"):
            assert (event, channel, "sent") in listed, json.dumps(body, indent=1)
    assert setup.fleet.http.get("/api/v1/notifications", params={"limit": 0}).status_code == 400


def test_bad_notification_settings_stop_the_orchestrator_at_start(tmp_path: Path) -> None:
    proc = OrchestratorProcess(tmp_path / "o", name="bad", args=["--notify-webhook", "ftp://x/"])
    done = subprocess.run(proc.command(), capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, done.stderr
    assert "--notify-webhook 'ftp://x/' must be an http:// or https:// URL" in done.stderr
