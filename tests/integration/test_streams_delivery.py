"""Delivery: durable sessions across restarts, TLS and passwords, backpressure."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from typing import Any

from tests.mqtt import MosquittoProcess, running_mosquitto
from tests.streams_support import (
    DEAD,
    Listener,
    Start,
    broker,
    listen,
    publish,
    streams,
    thermo,
    wait_subscribed,
)
from tests.support import FileServer, readme_body, wait_until
from wasmfleet.core.broker_url import parse_broker_url

__all__ = ["broker", "listen"]  # fixtures


def test_messages_sent_while_the_supervisor_is_down_are_handled_after_restart(
    start_supervisor: Start, files: FileServer, broker: MosquittoProcess, listen: Any
) -> None:
    out = listen("alerts/#")
    publish(broker.url, "site/old/temperature", "50", retain=True)
    sup = start_supervisor("durable", args=["--broker", broker.url])
    check = {"trigger": "site/+/temperature", "publish": "alerts/d"}
    assert sup.deploy(thermo(files, "d", {"check": check})).status_code == 200
    assert len(out.wait("alerts/", 1)) == 1  # the retained reading

    sup.stop()
    publish(broker.url, "site/a/temperature", "41")  # QoS 1, kept in the durable session
    publish(broker.url, "site/b/temperature", "42")
    sup.start()
    payloads = [json.loads(p)["celsius"] for _, p in out.wait("alerts/", 3)]
    assert payloads == [50, 41, 42]
    time.sleep(0.5)  # the restart did not subscribe again, so the retained one is not rerun
    assert len(out.on("alerts/")) == 3


def tls_files(directory: Path) -> dict[str, Path]:
    """A throw-away CA and a server certificate for 127.0.0.1, made with openssl."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = {n: directory / f"{n}.pem" for n in ("ca", "ca-key", "server", "server-key")}
    csr, ext = directory / "server.csr", directory / "san.ext"
    ext.write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")

    def openssl(*args: str | Path) -> None:
        subprocess.run(["openssl", *map(str, args)], check=True, capture_output=True, timeout=60)

    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=test-ca",
            "-keyout", paths["ca-key"], "-out", paths["ca"])  # fmt: skip
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1",
            "-keyout", paths["server-key"], "-out", csr)  # fmt: skip
    openssl("x509", "-req", "-in", csr, "-CA", paths["ca"], "-CAkey", paths["ca-key"],
            "-CAcreateserial", "-days", "2", "-extfile", ext, "-out", paths["server"])  # fmt: skip
    return paths


def test_a_tls_broker_with_a_password(
    start_supervisor: Start, files: FileServer, tmp_path: Path
) -> None:
    tls = tls_files(tmp_path / "tls")
    passwords = tmp_path / "passwords"
    subprocess.run(
        ["mosquitto_passwd", "-b", "-c", str(passwords), "edge", "s3cret"],
        check=True,
        capture_output=True,
        timeout=30,
    )
    extra = [
        f"cafile {tls['ca']}",
        f"certfile {tls['server']}",
        f"keyfile {tls['server-key']}",
        "allow_anonymous false",
        "user root",  # root-started mosquitto would drop to user mosquitto and not read the files
        f"password_file {passwords}",
    ]
    with running_mosquitto(tmp_path / "mosquitto", extra=extra) as broker:
        url = f"mqtts://127.0.0.1:{broker.port}"
        address = parse_broker_url(url, username="edge", password="s3cret", ca_file=str(tls["ca"]))
        out = Listener(address, "alerts/#")
        try:
            secure = ["--broker", url, "--broker-ca", str(tls["ca"])]
            sup = start_supervisor(
                "tls",
                args=[*secure, "--broker-username", "edge"],
                env={"WASMFLEET_BROKER_PASSWORD": "s3cret"},
            )
            check = {"trigger": "site/+/temperature", "publish": "alerts/tls"}
            assert sup.deploy(thermo(files, "t", {"check": check})).status_code == 200
            wait_subscribed(sup, "site/+/temperature")
            assert streams(sup)["broker"] == f"mqtts://edge@127.0.0.1:{broker.port}"
            publish(address, "site/s/temperature", "33")
            assert json.loads(out.wait("alerts/", 1)[0][1])["celsius"] == 33

            wrong = start_supervisor(
                "wrong", args=[*secure, "--broker-username", "edge", "--broker-password", "nope"]
            )
            assert wait_until(lambda: streams(wrong)["last_error"] is not None, 15)
            assert "refused" in streams(wrong)["last_error"]
            assert streams(wrong)["connected"] is False
        finally:
            out.close()


def test_a_slow_function_holds_back_the_broker_not_the_supervisor(
    start_supervisor: Start, files: FileServer, broker: MosquittoProcess, listen: Any
) -> None:
    out = listen(f"{DEAD}/#")
    sup = start_supervisor(
        "slow",
        args=["--broker", broker.url, "--call-timeout", "0.2"],
        env={"WASMFLEET_STREAM_QUEUE": "2"},
    )
    body = readme_body(files, "s", "faults", functions=["spin", "ok"])
    body["instructions"]["modules"]["faults"]["spin"]["trigger"] = "work/+"
    assert sup.deploy(body).status_code == 200
    wait_subscribed(sup, "work/+")
    for i in range(6):
        publish(broker.url, f"work/{i}", "")  # each run spins until its 0.2 s limit
    seen: list[int] = []

    def all_dead_lettered() -> bool:
        seen.append(streams(sup)["queued"])
        return len(out.on(DEAD)) == 6

    assert wait_until(all_dead_lettered, 20), streams(sup)
    assert max(seen) <= 2  # the rest waited at the broker
    assert [json.loads(p)["topic"] for _, p in out.on(DEAD)] == [f"work/{i}" for i in range(6)]
    assert {json.loads(p)["error"]["code"] for _, p in out.on(DEAD)} == {"timeout"}
    assert sup.get("/s/modules/faults/ok").json()["result"] == "7"  # HTTP was served meanwhile
    assert streams(sup)["queue_capacity"] == 2
